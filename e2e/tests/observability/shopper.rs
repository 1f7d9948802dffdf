//! A shopper's checkout through the gateway's REST API, as the stack tests make it.

use std::{net::SocketAddr, time::Duration};

use mercato_e2e::SEEDED_PRODUCT;
use mercato_kit::testing::{http, http_response, patience};
use serde_json::Value;

/// How long the asynchronous parts (events, the shipment) may take.
const SETTLE: Duration = Duration::from_secs(20);

/// What a checkout left behind.
#[derive(Debug)]
pub(crate) struct Checkout {
    pub(crate) order: String,
    /// The bearer token it used, to look for where it must not be.
    pub(crate) token: String,
    /// The `traceparent` the gateway answered PlaceOrder with.
    pub(crate) traceparent: Option<String>,
}

/// Sign up, sign in, a seeded product into the cart, PlaceOrder (carrying `traceparent` when
/// given, as a traced client would), its Server-Sent Events to CONFIRMED, then its shipment
/// dispatched.
pub(crate) async fn checkout(gateway: SocketAddr, traceparent: Option<&str>) -> Checkout {
    let email = format!("observed.{}@example.com", std::process::id());
    let password = "correct horse battery staple";
    let body = format!(r#"{{"email":"{email}","password":"{password}","displayName":"Observed Shopper"}}"#);
    let (code, text) = http(gateway, "POST", "/v1/users", &[], &body).await.unwrap();
    assert_eq!(code, 200, "sign-up: {text}");
    let (code, text) =
        http(gateway, "POST", "/v1/sessions", &[], &format!(r#"{{"email":"{email}","password":"{password}"}}"#))
            .await
            .unwrap();
    assert_eq!(code, 200, "sign-in: {text}");
    let session: Value = serde_json::from_str(&text).unwrap();
    let token = session["tokens"]["accessToken"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let item = format!(r#"{{"productId":"{SEEDED_PRODUCT}","quantity":1}}"#);
    let (code, text) = http(gateway, "POST", "/v1/cart/items", &auth, &item).await.unwrap();
    assert_eq!(code, 200, "cart: {text}");
    let order = r#"{"shippingAddress":{"recipientName":"Ada","addressLines":["1 Main St"],"city":"Berlin","countryCode":"DE"},"paymentMethodToken":"tok_visa"}"#;
    let mut headers = vec![auth[0], ("Idempotency-Key", "observed-checkout")];
    headers.extend(traceparent.map(|value| ("traceparent", value)));
    let (code, fields, text) = http_response(gateway, "POST", "/v1/orders", &headers, order).await.unwrap();
    assert_eq!(code, 200, "PlaceOrder: {text}");
    let answered = fields.into_iter().find(|(name, _)| name == "traceparent").map(|(_, value)| value);
    let placed: Value = serde_json::from_str(&text).unwrap();
    let id = placed["order"]["id"].as_str().unwrap().to_string();

    // The stream ends by itself at the order's final state.
    let sse = [auth[0], ("Accept", "text/event-stream")];
    let (code, events) = http(gateway, "GET", &format!("/v1/orders/{id}:watch"), &sse, "").await.unwrap();
    assert_eq!(code, 200, "{events}");
    let last = events
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .filter_map(|e| e["order"]["status"].as_str().map(String::from))
        .next_back();
    assert_eq!(last.as_deref(), Some("ORDER_STATUS_CONFIRMED"), "{events}");

    let deadline = tokio::time::Instant::now() + patience(SETTLE);
    loop {
        let (_, text) = http(gateway, "GET", &format!("/v1/shipments/{id}"), &auth, "").await.unwrap();
        let shipment: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let status = shipment["shipment"]["status"].as_str().unwrap_or_default().to_string();
        if !status.is_empty() && status != "SHIPMENT_STATUS_PENDING" {
            return Checkout { order: id, token, traceparent: answered };
        }
        assert!(tokio::time::Instant::now() < deadline, "order {id}'s shipment never left: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
