//! A checkout through the gateway's REST API, as a browser makes it: the cart, PlaceOrder
//! with the standard Idempotency-Key header, the order's progress as Server-Sent Events.

use mercato::catalog::v1::{self as catalog, catalog_service_client::CatalogServiceClient};
use mercato_e2e::shop::{Part, Shop};
use mercato_kit::{
    auth::service_token::Bearer,
    testing::{Backend, http},
};
use serde_json::Value;
use tonic::transport::Channel;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_checkout_is_idempotent_by_header_and_watchable_as_server_sent_events() {
    let shop = Shop::start(Backend::Sqlite, &[], &[], &[], true).await.unwrap();
    let gateway = shop.gateway.as_ref().unwrap().grpc_addr;
    let admin = shop.identity.admin_token().await.unwrap();
    let channel = Channel::from_shared(shop.url(Part::Catalog)).unwrap().connect_lazy();
    let mut catalog_admin = CatalogServiceClient::with_interceptor(channel, Bearer::new(&admin).unwrap());
    let product = catalog::Product {
        sku: format!("REST-{}", &uuid::Uuid::now_v7().simple().to_string()[..12]).to_uppercase(),
        name: "Pour-over kettle".into(),
        price: Some(mercato::google::r#type::Money { currency_code: "EUR".into(), units: 35, nanos: 500_000_000 }),
        ..Default::default()
    };
    let created = catalog_admin
        .create_product(catalog::CreateProductRequest { product: Some(product), initial_stock: 5 })
        .await
        .unwrap();
    let product_id = created.into_inner().product.unwrap().id;

    let token = shop.identity.customer_token("rest@example.com").await.unwrap();
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let (code, body) =
        http(gateway, "POST", "/v1/cart/items", &auth, &format!(r#"{{"productId":"{product_id}","quantity":2}}"#))
            .await
            .unwrap();
    assert_eq!(code, 200, "{body}");

    let checkout = r#"{"shippingAddress":{"recipientName":"Ada","addressLines":["1 Main St"],"city":"Berlin","countryCode":"DE"},"paymentMethodToken":"tok_visa"}"#;
    let (code, body) = http(gateway, "POST", "/v1/orders", &auth, checkout).await.unwrap();
    assert_eq!(code, 400, "no key in the body nor the header: {body}");
    assert!(body.contains("idempotency"), "{body}");

    let keyed = [auth[0], ("Idempotency-Key", "checkout-7f3a")];
    let (code, first) = http(gateway, "POST", "/v1/orders", &keyed, checkout).await.unwrap();
    assert_eq!(code, 200, "{first}");
    let first: Value = serde_json::from_str(&first).unwrap();
    let id = first["order"]["id"].as_str().unwrap().to_string();
    assert_eq!(first["order"]["total"]["units"], "71");
    let (code, again) = http(gateway, "POST", "/v1/orders", &keyed, checkout).await.unwrap();
    assert_eq!(code, 200, "{again}");
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["order"]["id"], id.as_str(), "the same key is the same order");

    // The stream ends by itself at the final state.
    let sse = [auth[0], ("Accept", "text/event-stream")];
    let (code, events) = http(gateway, "GET", &format!("/v1/orders/{id}:watch"), &sse, "").await.unwrap();
    assert_eq!(code, 200, "{events}");
    let statuses: Vec<String> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .filter_map(|e| e["order"]["status"].as_str().map(String::from))
        .collect();
    assert_eq!(statuses.last().map(String::as_str), Some("ORDER_STATUS_CONFIRMED"), "{events}");

    let (code, order) = http(gateway, "GET", &format!("/v1/orders/{id}"), &auth, "").await.unwrap();
    assert_eq!(code, 200);
    let order: Value = serde_json::from_str(&order).unwrap();
    assert!(order["steps"].as_array().is_some_and(|s| s.len() >= 7), "{order}");

    let other = shop.identity.customer_token("other@example.com").await.unwrap();
    let other = format!("Bearer {other}");
    let (code, body) =
        http(gateway, "GET", &format!("/v1/orders/{id}"), &[("Authorization", &other)], "").await.unwrap();
    assert_eq!(code, 404, "{body}");
    let (code, _) = http(gateway, "GET", "/v1/payments", &auth, "").await.unwrap();
    assert_eq!(code, 200);
}
