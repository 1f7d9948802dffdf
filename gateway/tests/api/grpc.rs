//! Native gRPC and grpc-web through the gateway: the same services, one endpoint.

use mercato::{
    catalog::v1::{
        GetProductRequest, GetReservationRequest, catalog_service_client::CatalogServiceClient,
        stock_service_client::StockServiceClient,
    },
    identity::v1::{LoginRequest, RegisterRequest, identity_service_client::IdentityServiceClient},
};
use mercato_kit::testing::next;
use tonic::Code;

use crate::helpers::{SEEDED_ID, Stack};

#[tokio::test]
async fn native_grpc_clients_reach_public_services_and_nothing_internal() {
    let stack = Stack::start().await;
    let endpoint = format!("http://{}", stack.gateway);
    let mut catalog = CatalogServiceClient::connect(endpoint.clone()).await.unwrap();
    let mut request = tonic::Request::new(GetProductRequest { id: SEEDED_ID.into() });
    request.metadata_mut().insert("x-request-id", "through-the-edge-1".parse().unwrap());
    let response = catalog.get_product(request).await.unwrap();
    assert_eq!(response.metadata().get("x-request-id").unwrap(), "through-the-edge-1", "one id across hops");
    assert_eq!(response.into_inner().product.unwrap().sku, "COF-0001");

    let mut identity = IdentityServiceClient::connect(endpoint.clone()).await.unwrap();
    identity
        .register(RegisterRequest {
            email: "grpc@example.com".into(),
            password: "correct horse battery".into(),
            display_name: "G".into(),
        })
        .await
        .unwrap();
    let login = identity
        .login(LoginRequest { email: "grpc@example.com".into(), password: "correct horse battery".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(!login.tokens.unwrap().access_token.is_empty());

    // Internal services are not reachable from outside, whatever the caller holds.
    let mut stock = StockServiceClient::connect(endpoint.clone()).await.unwrap();
    let refused = stock.get_reservation(GetReservationRequest { reservation_id: "x".into() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unimplemented);

    // An upstream that is down is UNAVAILABLE at once, not a hang.
    let mut orders =
        mercato::orders::v1::order_service_client::OrderServiceClient::connect(endpoint.clone()).await.unwrap();
    let started = std::time::Instant::now();
    let down = orders.get_order(mercato::orders::v1::GetOrderRequest { id: "o".into() }).await.unwrap_err();
    assert_eq!(down.code(), Code::Unavailable);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    stack.stop().await;
}

#[tokio::test]
async fn reflection_through_the_gateway_lists_public_services() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let stack = Stack::start().await;
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", stack.gateway)).unwrap().connect().await.unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client.server_reflection_info(tokio_stream::once(request)).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = next(&mut stream).await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"mercato.catalog.v1.CatalogService".to_string()));
    assert!(names.contains(&"mercato.identity.v1.IdentityService".to_string()));
    assert!(!names.iter().any(|n| n.ends_with("StockService") || n.ends_with("ServiceAuthService")), "{names:?}");
    stack.stop().await;
}

#[tokio::test]
async fn grpc_web_clients_use_the_same_port() {
    let stack = Stack::start().await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let service = tower::ServiceBuilder::new().layer(tonic_web::GrpcWebClientLayer::new()).service(client);
    let mut catalog = CatalogServiceClient::with_origin(service, format!("http://{}", stack.gateway).parse().unwrap());
    let product =
        catalog.get_product(GetProductRequest { id: SEEDED_ID.into() }).await.unwrap().into_inner().product.unwrap();
    assert_eq!(product.sku, "COF-0001");
    let invalid = catalog.get_product(GetProductRequest { id: String::new() }).await.unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    stack.stop().await;
}

#[tokio::test]
async fn grpc_web_text_is_understood_too() {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use prost::Message;
    let stack = Stack::start().await;
    let message = GetProductRequest { id: SEEDED_ID.into() }.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&message);
    let reply = crate::helpers::http(
        http::Method::POST,
        &stack.url("/mercato.catalog.v1.CatalogService/GetProduct"),
        &[("content-type", "application/grpc-web-text"), ("accept", "application/grpc-web-text"), ("x-grpc-web", "1")],
        &STANDARD.encode(&frame),
    )
    .await;
    assert_eq!(reply.status, http::StatusCode::OK, "{:?}", reply.headers);
    assert!(!reply.body.is_empty(), "{:?}", reply.headers);
    // The body is base64 of: a data frame (flag 0), then a trailer frame (flag 0x80).
    let raw = STANDARD
        .decode(reply.body.as_ref())
        .or_else(|_| {
            // Some servers base64 each frame separately; decode chunk by chunk.
            let text = String::from_utf8_lossy(&reply.body).to_string();
            let mut out = Vec::new();
            for chunk in text.split_inclusive('=') {
                out.extend(STANDARD.decode(chunk)?);
            }
            Ok::<_, base64::DecodeError>(out)
        })
        .unwrap();
    assert_eq!(raw[0], 0);
    let length = u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]]) as usize;
    let product = mercato::catalog::v1::GetProductResponse::decode(&raw[5..5 + length]).unwrap().product.unwrap();
    assert_eq!(product.sku, "COF-0001");
    let trailers = String::from_utf8_lossy(&raw[5 + length + 5..]).to_string();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    stack.stop().await;
}
