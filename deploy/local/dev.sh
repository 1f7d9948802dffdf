#!/usr/bin/env bash
# Runs every service binary that exists in target/debug with embedded defaults: SQLite files
# under ./data, a JetStream-enabled nats-server of our own, pretty logs. Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=target/debug
mkdir -p data/nats
export LOG_FORMAT="${LOG_FORMAT:-pretty}"
export DATA_DIR="${DATA_DIR:-data}"
# Locally a line per request is what one wants to see; production's default is failures only.
export ACCESS_LOG="${ACCESS_LOG:-all}"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
stop_all() {
    trap - INT TERM EXIT
    if ((${#pids[@]})); then
        echo "stopping ${#pids[@]} processes…"
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
}
trap stop_all INT TERM EXIT

# NATS: 4222 unless something else (an older system nats-server, say) has it.
nats_port=4222
if port_in_use "$nats_port"; then
    nats_port=$(free_port)
    echo "port 4222 is taken; starting our nats-server on $nats_port"
fi
nats-server -a 127.0.0.1 -p "$nats_port" -js -sd data/nats >data/nats/nats.log 2>&1 &
pids+=($!)
export NATS_URL="nats://127.0.0.1:$nats_port"

# Dev credentials, generated once and kept in data/ (ignored by git): each service's client
# secret for service tokens, and the dev administrator's password.
secrets=data/dev-secrets.env
names=(catalog orders payments shipping notifications gateway)
if [[ ! -f $secrets ]]; then
    gen() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
    umask 077
    { for n in "${names[@]}"; do echo "SECRET_${n^^}=$(gen)"; done; echo "DEV_ADMIN_PASSWORD=$(gen)"; } >"$secrets"
fi
source "$secrets"
service_clients=""
for n in "${names[@]}"; do
    var="SECRET_${n^^}"
    service_clients+="${service_clients:+,}$n=${!var}"
done
admin_email=admin@mercato.local
if [[ -x $bin/identity ]]; then
    ADMIN_PASSWORD="$DEV_ADMIN_PASSWORD" "$bin/identity" create-admin --email "$admin_email" --display-name "Dev Admin" >/dev/null
fi

# name:grpc:admin — the defaults every binary also has built in.
services=(identity:50051:9081 catalog:50052:9082 orders:50053:9083 payments:50054:9084
          shipping:50055:9085 notifications:50056:9086 gateway:8080:9080)
started=()
for entry in "${services[@]}"; do
    IFS=: read -r name grpc admin <<<"$entry"
    [[ -x "$bin/$name" ]] || continue
    for port in "$grpc" "$admin"; do
        if port_in_use "$port"; then echo "port $port (for $name) is already in use; stop whatever holds it" >&2; exit 1; fi
    done
    args=()
    # catalog loads its seed catalog on start: only missing rows, so restarts keep stock as it is.
    [[ $name == catalog ]] && args+=(--seed-on-start)
    # Notifications writes each e-mail as an .eml file to read (or open in a mail client).
    [[ $name == notifications ]] && args+=(--notification-sink file --mail-dir data/mail)
    # The gateway routes to every context whose binary is built (identity and catalog always).
    if [[ $name == gateway ]]; then
        for upstream in orders:50053 payments:50054 shipping:50055 notifications:50056; do
            IFS=: read -r up port <<<"$upstream"
            [[ -x "$bin/$up" ]] && args+=("--$up-url" "http://127.0.0.1:$port")
        done
    fi
    if [[ $name == identity ]]; then
        SERVICE_CLIENTS="$service_clients" "$bin/$name" "${args[@]}" &
    else
        var="SECRET_${name^^}"
        SERVICE_CLIENT_SECRET="${!var}" "$bin/$name" "${args[@]}" &
    fi
    pids+=($!)
    started+=("$name:$grpc:$admin")
done

# Wait (bounded) until every service is ready.
deadline=$((SECONDS + 60))
for entry in "${started[@]}"; do
    IFS=: read -r name grpc admin <<<"$entry"
    until curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1; do
        if ((SECONDS > deadline)); then echo "$name did not become ready within 60s" >&2; exit 1; fi
        sleep 0.2
    done
done

echo
echo "mercato is up (Ctrl-C stops everything):"
if [[ -x "$bin/gateway" ]]; then
    echo "  gateway        http://127.0.0.1:8080   (REST, grpc-web and gRPC)"
else
    echo "  gateway        not built yet — call the services directly:"
fi
for entry in "${started[@]}"; do
    IFS=: read -r name grpc admin <<<"$entry"
    [[ $name == gateway ]] && continue
    printf '  %-14s grpc 127.0.0.1:%s   admin http://127.0.0.1:%s/readyz\n' "$name" "$grpc" "$admin"
done
echo "  nats           $NATS_URL (JetStream, store in data/nats)"
[[ -x $bin/notifications ]] && echo "  e-mails        data/mail/*.eml (one file per notification)"
if [[ -x $bin/identity ]]; then
    echo "  dev admin      $admin_email / $DEV_ADMIN_PASSWORD   (from $secrets)"
fi
echo
echo "try: grpcurl -plaintext 127.0.0.1:8080 list"
[[ -x $bin/gateway && -x $bin/shipping && -x $bin/notifications ]] &&
    echo "     just demo    (in another terminal: a shopper's whole journey, step by step)"
wait -n "${pids[@]}" || true
echo "a process exited; stopping the rest" >&2
