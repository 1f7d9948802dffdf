#!/usr/bin/env bash
# Fuzzes the gateway's REST API from its own OpenAPI document (/openapi.json) with schemathesis
# and fails on any server error (5xx): whatever a client sends, the edge and the services must
# answer with a 2xx/4xx, never crash or leak an INTERNAL.
#
#   deploy/local/schemathesis.sh [BASE_URL]      (default http://127.0.0.1:8080, as `just dev` runs it)
#
# Environment:
#   MERCATO_TOKEN     bearer token sent with every request; by default a throwaway customer is
#                     registered and signed in, so the signed-in routes are reached too
#   ST_EXAMPLES       test cases per operation and phase (default 25)
#   ST_MAX_SECONDS    hard bound on the whole run (default 300); exceeding it fails the run
#   ST_WORKERS        concurrent workers (default 1, see below)
#   ST_EXCLUDE_PATHS  regex of the paths left out; see the default below
#
# The gateway's rate limits (RATE_LIMIT_PER_MINUTE=600, AUTH_RATE_LIMIT_PER_MINUTE=10 by default)
# turn much of a fuzzing run into 429s, which pass but test nothing: raise them for the gateway
# under test, e.g. `RATE_LIMIT_PER_MINUTE=100000 AUTH_RATE_LIMIT_PER_MINUTE=100000 just dev`.
set -euo pipefail
cd "$(dirname "$0")/../.."

base="${1:-http://127.0.0.1:8080}"
base="${base%/}"
venv=.tools/venv
examples="${ST_EXAMPLES:-25}"
max_seconds="${ST_MAX_SECONDS:-300}"
# One worker: on Python 3.11 concurrent workers trip CPython's "AST constructor recursion depth
# mismatch" (python/cpython#106905) inside Hypothesis, failing the run for nothing the API did.
workers="${ST_WORKERS:-1}"
# Operations left out, by path (one regex: schemathesis ANDs separate exclude filters):
# - server-streaming routes (`…:watch`): a stream stays open for as long as the client listens;
#   once schemathesis finds a real id (it reuses ids from earlier responses) the call can only
#   end in a read timeout, which it counts as an error. gateway/tests/api covers their framing.
exclude="${ST_EXCLUDE_PATHS:-:watch$}"

if [[ ! -x $venv/bin/st ]]; then
    echo "installing schemathesis into $venv"
    [[ -x $venv/bin/pip ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi

curl -fsS -o /dev/null "$base/openapi.json" || { echo "no OpenAPI document at $base/openapi.json; is the gateway up?" >&2; exit 1; }

token="${MERCATO_TOKEN:-}"
if [[ -z $token ]]; then
    token=$("$venv/bin/python" - "$base" <<'PY'
import json, secrets, sys, urllib.request

base = sys.argv[1]

def post(path, body):
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)

email = f"schemathesis-{secrets.token_hex(6)}@example.com"
password = secrets.token_urlsafe(18)
post("/v1/users", {"email": email, "password": password, "displayName": "schemathesis"})
print(post("/v1/sessions", {"email": email, "password": password})["tokens"]["accessToken"])
PY
    ) || { echo "could not register a test user; fuzzing without a token" >&2; token=""; }
fi

args=(
    run "$base/openapi.json"
    --url "$base"
    --checks not_a_server_error
    --max-examples "$examples"
    --workers "$workers"
    --request-timeout 15
    --exclude-path-regex "$exclude"
    --generation-database none
)
[[ -n $token ]] && args+=(--header "Authorization: Bearer $token")

# Not --max-time: under it schemathesis keeps fuzzing until the budget is spent, ignoring
# --max-examples. `timeout` bounds the run instead and makes an overrun a failure.
set +e
timeout --signal=INT --kill-after=30 "$max_seconds" "$venv/bin/st" "${args[@]}"
status=$?
set -e
if ((status == 124)); then
    echo "schemathesis did not finish within ${max_seconds}s" >&2
fi
exit "$status"
