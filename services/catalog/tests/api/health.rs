use mercato_kit::testing::next;
use mercato_kit::testing::{Backend, http_get};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tonic_reflection::pb::{v1, v1alpha};

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_reports_serving_for_the_server_and_each_service() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in ["", "mercato.catalog.v1.CatalogService", "mercato.catalog.v1.StockService"] {
        let status = health.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner().status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }
    let unknown = health.check(HealthCheckRequest { service: "nope.Service".into() }).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    app.stop().await;
}

#[tokio::test]
async fn reflection_lists_exactly_the_served_services_in_v1_and_v1alpha() {
    let app = spawn_app(Backend::Sqlite).await;
    let expected = [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "mercato.catalog.v1.CatalogService",
        "mercato.catalog.v1.StockService",
    ];

    let mut client = v1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(String::new())),
    };
    let mut stream = client.server_reflection_info(tokio_stream::once(request)).await.unwrap().into_inner();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        next(&mut stream).await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let mut names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(names, expected);

    // grpcurl 1.8 speaks v1alpha only; it must also be able to fetch the file for a symbol.
    let mut alpha = v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
            "mercato.catalog.v1.CatalogService".into(),
        )),
    };
    let mut stream = alpha.server_reflection_info(tokio_stream::once(request)).await.unwrap().into_inner();
    let response = next(&mut stream).await.unwrap().unwrap().message_response;
    assert!(
        matches!(response, Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "{response:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn admin_port_serves_probes_and_metrics() {
    let app = spawn_app(Backend::Sqlite).await;
    let (code, body) = http_get(app.admin_addr, "/healthz").await.unwrap();
    assert_eq!((code, body.contains("ok")), (200, true), "{body}");
    let (code, body) = http_get(app.admin_addr, "/readyz").await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""database":"ok""#), "{body}");
    let (code, _) = http_get(app.admin_addr, "/startupz").await.unwrap();
    assert_eq!(code, 200);

    // One call, then its RED metrics are visible.
    app.catalog().list_categories(mercato::catalog::v1::ListCategoriesRequest {}).await.unwrap();
    let (code, body) = http_get(app.admin_addr, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(
        body.contains(r#"grpc_server_handled_total{grpc_code="OK",grpc_method="ListCategories",grpc_service="mercato.catalog.v1.CatalogService"} 1"#),
        "{body}"
    );
    assert!(body.contains(r#"mercato_build_info{service="catalog""#), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_well_formed_request_id_is_echoed_and_a_missing_one_is_generated() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut request = tonic::Request::new(mercato::catalog::v1::ListCategoriesRequest {});
    request.metadata_mut().insert("x-request-id", "test-req-42".parse().unwrap());
    let response = app.catalog().list_categories(request).await.unwrap();
    assert_eq!(response.metadata().get("x-request-id").unwrap(), "test-req-42");

    let mut request = tonic::Request::new(mercato::catalog::v1::ListCategoriesRequest {});
    request.metadata_mut().insert("x-request-id", "bad id with spaces".parse().unwrap());
    let response = app.catalog().list_categories(request).await.unwrap();
    let generated = response.metadata().get("x-request-id").unwrap().to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
    app.stop().await;
}
