//! A caller that hangs up mid-call is CANCELLED in the server's metrics and logs, never
//! INTERNAL or UNKNOWN: those are what 5xx alerts count.

use std::time::Duration;

use bytes::Bytes;
use mercato_kit::testing::{Backend, eventually, http_get};

use crate::helpers::spawn_app;

/// How the caller goes away, half-way through sending its request.
#[derive(Debug, Clone, Copy)]
enum Hangup {
    Reset(h2::Reason),
    CloseConnection,
}

const METHOD: &str = "/mercato.catalog.v1.CatalogService/ListCategories";

async fn codes_after(hangup: Hangup) -> String {
    let app = spawn_app(Backend::Sqlite).await;
    let tcp = tokio::net::TcpStream::connect(app.grpc_addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let connection = tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::post(format!("http://{}{METHOD}", app.grpc_addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (_response, mut body) = client.send_request(request, false).unwrap();
    // A gRPC frame header promising 10 bytes, and 2 of them: the server is left reading.
    body.send_data(Bytes::from_static(&[0, 0, 0, 0, 10, 1, 2]), false).unwrap();
    let admin = app.admin_addr;
    eventually(Duration::from_secs(10), "the call started", || async {
        let (_, metrics) = http_get(admin, "/metrics").await.ok()?;
        metrics
            .lines()
            .any(|l| l.starts_with("grpc_server_started_total") && l.contains("ListCategories"))
            .then_some(())
    })
    .await;
    match hangup {
        Hangup::Reset(reason) => body.send_reset(reason),
        Hangup::CloseConnection => {
            drop(body);
            drop(client);
            connection.abort();
        }
    }
    let handled = eventually(Duration::from_secs(10), "the call finished", || async {
        let (_, metrics) = http_get(admin, "/metrics").await.ok()?;
        let lines: Vec<String> = metrics
            .lines()
            .filter(|l| l.starts_with("grpc_server_handled_total") && l.contains("ListCategories"))
            .map(str::to_string)
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    })
    .await;
    app.stop().await;
    handled
}

async fn is_cancelled(hangup: Hangup) {
    let handled = codes_after(hangup).await;
    assert!(
        handled.contains(r#"grpc_code="CANCELLED""#) && !handled.contains("INTERNAL") && !handled.contains("UNKNOWN"),
        "{hangup:?}: {handled}"
    );
}

#[tokio::test]
async fn a_caller_that_resets_its_stream_is_cancelled() {
    is_cancelled(Hangup::Reset(h2::Reason::CANCEL)).await;
}

#[tokio::test]
async fn a_caller_that_resets_with_no_error_is_cancelled() {
    is_cancelled(Hangup::Reset(h2::Reason::NO_ERROR)).await;
}

#[tokio::test]
async fn a_caller_that_closes_its_connection_is_cancelled() {
    is_cancelled(Hangup::CloseConnection).await;
}
