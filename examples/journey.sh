#!/usr/bin/env bash
# A shopper's whole journey through the gateway's REST API, printed step by step for a person
# to watch (`just demo` runs it against `just dev`; the e2e tests run it against a shop of
# their own): sign up and in, browse and search the catalog, fill the cart, check out with a
# card that works (watching the order to CONFIRMED, then its shipment leave) and with one that
# is declined (the order CANCELLED, the stock back), then the e-mails the shop sent.
#
# Needs curl and jq. Exits non-zero at the first answer that is not what the journey expects.
#   GATEWAY   where the gateway listens (default http://127.0.0.1:8080)
#   MAIL_DIR  the notifications file sink's folder (default data/mail)
#   WAIT      seconds to wait for each asynchronous step (default 90)
set -euo pipefail

GATEWAY="${GATEWAY:-http://127.0.0.1:8080}"
MAIL_DIR="${MAIL_DIR:-data/mail}"
WAIT="${WAIT:-90}"
for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "journey: $tool is needed (apt-get install $tool)" >&2; exit 2; }
done

bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'
[[ -t 1 ]] || { bold='' dim='' off=''; }
body=$(mktemp)
trap 'rm -f "$body"' EXIT

step() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
show() { printf '   %s\n' "$@"; }
fail() { echo "journey: $*" >&2; exit 1; }

# call EXPECTED METHOD PATH [JSON] [extra curl args…]: prints the request and the status, leaves
# the response in $body, and stops the journey on any other status.
token=""
call() {
    local expected=$1 method=$2 path=$3 data=${4:-}
    shift 4 2>/dev/null || shift $#
    local args=(-sS -o "$body" -w '%{http_code}' -X "$method" "$GATEWAY$path")
    [[ -n $token ]] && args+=(-H "Authorization: Bearer $token")
    [[ -n $data ]] && args+=(-H 'Content-Type: application/json' -d "$data")
    printf '   %s→ %s %s%s\n' "$dim" "$method" "$path" "$off"
    local status
    status=$(curl "${args[@]}" "$@") || fail "$method $path: no answer from $GATEWAY"
    printf '   %s← %s%s\n' "$dim" "$status" "$off"
    [[ $status == "$expected" ]] || fail "$method $path answered $status, not $expected: $(cat "$body")"
}
field() { jq -r "$1" "$body"; }

# poll SECONDS WHAT COMMAND…: runs COMMAND until it succeeds, at most SECONDS.
poll() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        ((SECONDS < deadline)) || fail "$what: not within ${seconds}s"
        sleep 0.5
    done
}

# watch ORDER_ID FINAL: the order's status changes as Server-Sent Events, until FINAL.
watch_order() {
    local id=$1 final=$2 last=""
    printf '   %s→ GET /v1/orders/%s:watch (Accept: text/event-stream)%s\n' "$dim" "$id" "$off"
    while IFS= read -r line; do
        [[ $line == data:* ]] || continue
        last=$(jq -r '.order.status | sub("ORDER_STATUS_"; "")' <<<"${line#data:}")
        show "event: $last"
    done < <(curl -sSN --max-time "$WAIT" -H "Authorization: Bearer $token" -H 'Accept: text/event-stream' \
        "$GATEWAY/v1/orders/$id:watch" || true)
    [[ $last == "$final" ]] || fail "order $id: the stream ended at ${last:-nothing}, not $final"
}

address='{"recipientName":"Ada Lovelace","addressLines":["12 St James'\''s Square"],"city":"London","postalCode":"SW1Y 4JH","countryCode":"GB"}'
email="ada.$(date +%s).$RANDOM@example.com"
password="correct horse battery staple"

step "1. Sign up"
call 200 POST /v1/users "{\"email\":\"$email\",\"password\":\"$password\",\"displayName\":\"Ada Lovelace\"}"
user_id=$(field .user.id)
show "user $user_id <$email>"

step "2. Sign in"
call 200 POST /v1/sessions "{\"email\":\"$email\",\"password\":\"$password\"}"
token=$(field .tokens.accessToken)
show "access token ${token:0:24}… (expires in $(field .tokens.expiresIn))"

step "3. Browse the catalog"
call 200 GET "/v1/products?pageSize=5"
jq -r '.products[] | "   \(.name) — \(.price.currencyCode) \(.price.units) (\(.stock.available) in stock)"' "$body"

step "4. Search for \"mug\""
call 200 GET "/v1/products?query=mug&pageSize=10"
jq -r '.products[] | "   \(.name) — \(.price.currencyCode) \(.price.units)"' "$body"
# Two products with enough stock for the journey (3 of the first, 1 of the second).
mapfile -t picked < <(jq -r '[.products[] | select((.stock.available | tonumber) >= 4)] | .[0:2][] | .id' "$body")
((${#picked[@]} == 2)) || fail "the search found fewer than two mugs in stock"
first=${picked[0]} second=${picked[1]}

step "5. Two products into the cart"
call 200 POST /v1/cart/items "{\"productId\":\"$first\",\"quantity\":2}"
call 200 POST /v1/cart/items "{\"productId\":\"$second\",\"quantity\":1}"
call 200 GET /v1/cart
jq -r '.cart.items[] | "   \(.quantity) × \(.productName) at \(.unitPrice.currencyCode) \(.unitPrice.units)"' "$body"

step "6. Check out with a card that works (tok_visa), with an Idempotency-Key"
key="journey-$(date +%s)-$RANDOM"
checkout="{\"shippingAddress\":$address,\"paymentMethodToken\":\"tok_visa\"}"
call 200 POST /v1/orders "$checkout" -H "Idempotency-Key: $key"
order=$(field .order.id)
show "order $order: $(field .order.status), total $(field '.order.total | "\(.currencyCode) \(.units)"')"
call 200 POST /v1/orders "$checkout" -H "Idempotency-Key: $key"
[[ $(field .order.id) == "$order" ]] || fail "the same Idempotency-Key made a second order"
show "sent again with the same key: the same order, not a second one"

step "7. Watch the order to CONFIRMED (Server-Sent Events)"
watch_order "$order" CONFIRMED

step "8. The shipment leaves"
shipped() { call 200 GET "/v1/shipments/$order" >/dev/null 2>&1 && [[ $(field .shipment.status) != SHIPMENT_STATUS_PENDING ]]; }
poll "$WAIT" "order $order's shipment dispatched" shipped
show "$(field '.shipment | "\(.status | sub("SHIPMENT_STATUS_"; "")) with \(.carrier), tracking number \(.trackingNumber)"')"
jq -r '.shipment.items[] | "   \(.quantity) × \(.productName)"' "$body"

step "9. Check out with a card that is declined (tok_chargeDeclined)"
call 200 GET "/v1/products/$first"
before=$(field .product.stock.available)
show "$(field .product.name): $before available"
call 200 POST /v1/cart/items "{\"productId\":\"$first\",\"quantity\":1}"
call 200 POST /v1/orders "{\"shippingAddress\":$address,\"paymentMethodToken\":\"tok_chargeDeclined\"}" \
    -H "Idempotency-Key: $key-declined"
declined=$(field .order.id)
watch_order "$declined" CANCELLED
call 200 GET "/v1/orders/$declined"
show "cancelled: $(field '.order.cancellationReason | sub("CANCELLATION_REASON_"; "")') — $(field .order.cancellationMessage)"
restored() { call 200 GET "/v1/products/$first" >/dev/null && [[ $(field .product.stock.available) == "$before" ]]; }
poll "$WAIT" "the declined order's stock back" restored
show "$(field .product.name): $before available again"

step "10. The e-mails the shop sent"
expected=(WELCOME ORDER_PLACED PAYMENT_COMPLETED SHIPMENT_DISPATCHED PAYMENT_FAILED ORDER_CANCELLED)
all_sent() {
    call 200 GET "/v1/notifications?pageSize=50" >/dev/null || return 1
    local kind
    for kind in "${expected[@]}"; do
        jq -e --arg k "NOTIFICATION_KIND_$kind" 'any(.notifications[]; .kind == $k)' "$body" >/dev/null || return 1
    done
}
poll "$WAIT" "the notifications ${expected[*]}" all_sent
jq -r '.notifications | reverse[] | "   \(.kind | sub("NOTIFICATION_KIND_"; "") | ascii_downcase | .[0:22] | . + " " * (22 - length)) \(.subject)"' "$body"
echo
mapfile -t ids < <(jq -r '.notifications | reverse[] | .id' "$body")
found=0
for id in "${ids[@]}"; do
    if [[ -f "$MAIL_DIR/$id.eml" ]]; then show "$MAIL_DIR/$id.eml"; found=$((found + 1)); fi
done
((found > 0)) || show "(no .eml files in $MAIL_DIR: is notifications running with --notification-sink file?)"

printf '\n%sThe journey is complete:%s order %s confirmed and shipped, order %s declined and cancelled.\n' \
    "$bold" "$off" "$order" "$declined"
