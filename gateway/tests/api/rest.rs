//! REST/JSON through the gateway, one test per transcoding feature.

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use mercato_kit::testing::next;

use crate::helpers::{SEEDED_ID, Stack, bearer, get, http, violated_fields};

#[tokio::test]
async fn register_login_browse_and_read_a_product_like_curl() {
    let stack = Stack::start().await;
    let register = http(
        Method::POST,
        &stack.url("/v1/users"),
        &[],
        r#"{"email": "curl@example.com", "password": "correct horse battery", "display_name": "Curl User"}"#,
    )
    .await;
    assert_eq!(register.status, StatusCode::OK, "{:?}", register.body);
    assert_eq!(register.json()["user"]["displayName"], "Curl User", "both spellings in, lowerCamelCase out");

    let login = http(
        Method::POST,
        &stack.url("/v1/sessions"),
        &[],
        r#"{"email": "curl@example.com", "password": "correct horse battery"}"#,
    )
    .await;
    assert_eq!(login.status, StatusCode::OK);
    let tokens = &login.json()["tokens"];
    assert_eq!(tokens["tokenType"], "Bearer");
    let access = tokens["accessToken"].as_str().unwrap().to_string();

    let me = http(Method::GET, &stack.url("/v1/users/me"), &[("authorization", &bearer(&access))], "").await;
    assert_eq!(me.json()["user"]["email"], "curl@example.com");

    let list = get(&stack.url("/v1/products?category=coffee&page_size=3")).await;
    assert_eq!(list.status, StatusCode::OK);
    let page = list.json();
    assert_eq!(page["products"].as_array().unwrap().len(), 3);
    let token = page["nextPageToken"].as_str().unwrap();
    let next = get(&stack.url(&format!("/v1/products?category=coffee&pageSize=3&pageToken={token}"))).await.json();
    assert_ne!(next["products"][0]["id"], page["products"][0]["id"]);

    let product = get(&stack.url(&format!("/v1/products/{SEEDED_ID}"))).await.json();
    assert_eq!(product["product"]["sku"], "COF-0001");
    assert_eq!(product["product"]["stock"]["onHand"], "142", "int64 travels as a string");
    assert_eq!(product["product"]["price"]["units"], "16");
    stack.stop().await;
}

#[tokio::test]
async fn body_mapping_query_params_and_custom_verbs() {
    let stack = Stack::start().await;
    let admin = bearer(&stack.identity.admin_token().await.unwrap());
    let auth = [("authorization", admin.as_str())];

    // body: "product" — the JSON body is the product; initial_stock comes from the query.
    let created = http(
        Method::POST,
        &stack.url("/v1/products?initialStock=7"),
        &auth,
        r#"{"sku": "REST-1", "name": "Via REST", "categoryIds": ["tea"], "price": {"currencyCode": "EUR", "units": "9"}}"#,
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
    let product = created.json()["product"].clone();
    let id = product["id"].as_str().unwrap().to_string();
    assert_eq!(product["stock"]["onHand"], "7");

    // PATCH with a path variable, a named body field and update_mask as a query parameter.
    let patched = http(
        Method::PATCH,
        &stack.url(&format!("/v1/products/{id}?updateMask=name")),
        &auth,
        r#"{"name": "Renamed", "sku": "IGNORED"}"#,
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(
        (patched.json()["product"]["name"].as_str(), patched.json()["product"]["sku"].as_str()),
        (Some("Renamed"), Some("REST-1"))
    );

    // A custom verb with body "*".
    let adjusted =
        http(Method::POST, &stack.url(&format!("/v1/products/{id}:adjustStock")), &auth, r#"{"delta": "-2"}"#).await;
    assert_eq!(adjusted.status, StatusCode::OK, "{:?}", adjusted.body);
    assert_eq!(adjusted.json()["stock"]["onHand"], "5");

    // Query params: free-text search (case-insensitive) narrowed by category.
    let found = get(&stack.url("/v1/products?query=RENAMED&category=tea")).await.json();
    assert_eq!(found["products"][0]["id"], id.as_str());
    stack.stop().await;
}

#[tokio::test]
async fn errors_map_to_http_codes_with_google_rpc_status_bodies() {
    let stack = Stack::start().await;
    let customer = bearer(&stack.identity.customer_token("errors@example.com").await.unwrap());

    let bad_id = get(&stack.url("/v1/products/not-a-uuid")).await;
    assert_eq!(violated_fields(&bad_id), ["id"]);
    assert_eq!(bad_id.json()["code"], 3);

    let missing = get(&stack.url("/v1/products/00000000-0000-4000-8000-000000000000")).await;
    assert_eq!((missing.status, missing.json()["code"].as_i64()), (StatusCode::NOT_FOUND, Some(5)));

    let unknown_field =
        http(Method::POST, &stack.url("/v1/users"), &[], r#"{"email": "x@example.com", "colour": "red"}"#).await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST, "{:?}", unknown_field.body);
    let malformed = http(Method::POST, &stack.url("/v1/users"), &[], r#"{"email": "#).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let unknown_param = get(&stack.url("/v1/products?colour=red")).await;
    assert_eq!(unknown_param.status, StatusCode::BAD_REQUEST);
    let negative = get(&stack.url("/v1/products?pageSize=-1")).await;
    assert_eq!(violated_fields(&negative), ["page_size"]);

    let no_route = get(&stack.url("/v2/nothing")).await;
    assert_eq!((no_route.status, no_route.json()["code"].as_i64()), (StatusCode::NOT_FOUND, Some(5)));
    let wrong_method = http(Method::DELETE, &stack.url(&format!("/v1/products/{SEEDED_ID}")), &[], "").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong_method.headers["allow"].to_str().unwrap().contains("GET"));

    let anonymous = get(&stack.url("/v1/users/me")).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let forged = http(Method::GET, &stack.url("/v1/users/me"), &[("authorization", "Bearer a.b.c")], "").await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert!(forged.headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    let forbidden = http(
        Method::POST,
        &stack.url("/v1/products"),
        &[("authorization", customer.as_str())],
        r#"{"sku": "NOPE-1", "name": "No", "price": {"currencyCode": "EUR", "units": "1"}}"#,
    )
    .await;
    assert_eq!((forbidden.status, forbidden.json()["code"].as_i64()), (StatusCode::FORBIDDEN, Some(7)));
    stack.stop().await;
}

#[tokio::test]
async fn server_streams_become_server_sent_events_or_ndjson() {
    let stack = Stack::start().await;
    let admin = bearer(&stack.identity.admin_token().await.unwrap());
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let watch = |accept: &'static str| {
        http::Request::get(stack.url(&format!("/v1/products/{SEEDED_ID}/stock:watch")))
            .header("accept", accept)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    let response = client.request(watch("text/event-stream")).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut frames = response.into_body().into_data_stream();
    let first = String::from_utf8(next(&mut frames).await.unwrap().unwrap().to_vec()).unwrap();
    assert!(first.starts_with("data: {") && first.ends_with("\n\n"), "{first:?}");
    assert!(first.contains(r#""onHand":"142""#), "{first}");

    let adjusted = http(
        Method::POST,
        &stack.url(&format!("/v1/products/{SEEDED_ID}:adjustStock")),
        &[("authorization", admin.as_str())],
        r#"{"delta": 3}"#,
    )
    .await;
    assert_eq!(adjusted.status, StatusCode::OK);
    let second = String::from_utf8(next(&mut frames).await.unwrap().unwrap().to_vec()).unwrap();
    assert!(second.contains(r#""onHand":"145""#), "{second}");
    // The client hangs up: the upstream stream is cancelled, not left running.
    drop(frames);
    let admin = stack.catalog_admin;
    mercato_kit::testing::eventually(
        std::time::Duration::from_secs(5),
        "the upstream WatchStock to end",
        || async move {
            let (_, metrics) = mercato_kit::testing::http_get(admin, "/metrics").await.ok()?;
            metrics
                .lines()
                .any(|l| l.starts_with("grpc_server_in_flight") && l.contains("WatchStock") && l.ends_with(" 0"))
                .then_some(())
        },
    )
    .await;

    let response = client.request(watch("application/json")).await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let mut frames = response.into_body().into_data_stream();
    let line = String::from_utf8(next(&mut frames).await.unwrap().unwrap().to_vec()).unwrap();
    let json: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(json["result"]["stock"]["onHand"], "145");
    drop(frames);
    stack.stop().await;
}

#[tokio::test]
async fn home_aggregates_profile_products_and_categories() {
    let stack = Stack::start().await;
    let anonymous = get(&stack.url("/v1/home")).await.json();
    assert_eq!(anonymous["featuredProducts"].as_array().unwrap().len(), 8);
    assert_eq!(anonymous["categories"].as_array().unwrap().len(), 8);
    assert!(anonymous.get("user").is_none());
    assert_eq!(anonymous["degraded"], serde_json::json!([]));

    let token = bearer(&stack.identity.customer_token("home@example.com").await.unwrap());
    let signed_in = http(Method::GET, &stack.url("/v1/home"), &[("authorization", token.as_str())], "").await.json();
    assert_eq!(signed_in["user"]["email"], "home@example.com");
    stack.stop().await;
}

#[tokio::test]
async fn home_degrades_instead_of_failing_when_catalog_is_down() {
    let dead = crate::helpers::dead_url();
    let stack = Stack::start_with(&["--catalog-url", &dead]).await;
    let token = bearer(&stack.identity.customer_token("degraded@example.com").await.unwrap());
    let reply = http(Method::GET, &stack.url("/v1/home"), &[("authorization", token.as_str())], "").await;
    assert_eq!(reply.status, StatusCode::OK);
    let home = reply.json();
    assert_eq!(home["user"]["email"], "degraded@example.com");
    assert!(home.get("featuredProducts").is_none() && home.get("categories").is_none());
    assert_eq!(home["degraded"], serde_json::json!(["featuredProducts", "categories"]));
    stack.stop().await;
}

#[tokio::test]
async fn rest_reconnects_when_upstream_connections_break() {
    let stack = Stack::start_behind_relay().await;
    let relay = stack.relay.as_ref().unwrap();
    let product = stack.url(&format!("/v1/products/{SEEDED_ID}"));
    for _ in 0..4 {
        assert_eq!(get(&product).await.status, StatusCode::OK);
    }
    assert!(relay.cut() >= 1, "the gateway had connections to cut");

    // A call that meets a dead connection before the gateway noticed gets at worst a quick 503
    // (the upstream may have seen it); after that, fresh connections serve every call.
    let reply = mercato_kit::testing::eventually(std::time::Duration::from_secs(10), "a 200 after the cut", || {
        let product = product.clone();
        async move {
            let reply = get(&product).await;
            assert!(matches!(reply.status, StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE), "{:?}", reply.body);
            (reply.status == StatusCode::OK).then_some(reply)
        }
    })
    .await;
    assert_eq!(reply.json()["product"]["id"], SEEDED_ID);
    for _ in 0..8 {
        assert_eq!(get(&product).await.status, StatusCode::OK, "stays connected");
    }
    assert!(relay.cut() >= 1, "the calls went over new connections");
    stack.stop().await;
}
