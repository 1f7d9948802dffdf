//! The real binary as a process: bad config, graceful shutdown with a call in flight.

use std::time::Duration;

use mercato::catalog::v1::{self as pb, ReservationStatus, stock_service_client::StockServiceClient};
use mercato_identity::testing::TestIdentity;
use mercato_kit::{
    auth::service_token::Bearer,
    testing::{Backend, FREE_PORTS, ServiceProcess, TestDatabase, eventually, http_get, next, next_within},
};
use sea_orm::sqlx::{Connection, SqliteConnection};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

const BIN: &str = env!("CARGO_BIN_EXE_catalog");
pub(crate) const SEEDED_ID: &str = "364dc957-51ca-4f13-889e-665df2d6633f";

/// No broker: these tests are about the process, not its events.
fn unused_nats_url() -> String {
    mercato_kit::testing::dead_url("nats")
}

#[tokio::test]
async fn bad_config_exits_non_zero_naming_every_problem_before_binding() {
    let output = tokio::process::Command::new(BIN)
        .args(["--grpc-addr", "127.0.0.1:70000", "--database-url", "definitely not a url"])
        .args(["--nats-url", "http://127.0.0.1:4222"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GRPC_ADDR") && stderr.contains("70000"), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(stderr.contains("NATS_URL") && stderr.contains("nats://"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("serving"));
}

type Stock = StockServiceClient<tonic::codegen::InterceptedService<tonic::transport::Channel, Bearer>>;

/// Holds SQLite's write lock from outside (until the returned connection rolls back), so a
/// reservation `id` made now is genuinely in flight; returns once the process reports it is.
async fn reservation_in_flight(
    process: &ServiceProcess,
    db: &TestDatabase,
    mut stock: Stock,
    id: &str,
) -> (SqliteConnection, tokio::task::JoinHandle<Result<tonic::Response<pb::ReserveStockResponse>, tonic::Status>>) {
    let mut blocker = SqliteConnection::connect(db.url()).await.unwrap();
    sea_orm::sqlx::query("BEGIN IMMEDIATE").execute(&mut blocker).await.unwrap();
    let request = pb::ReserveStockRequest {
        reservation_id: id.into(),
        order_id: "order-1".into(),
        lines: vec![pb::StockLine { product_id: SEEDED_ID.into(), quantity: 1 }],
    };
    let in_flight = tokio::spawn(async move { stock.reserve_stock(request).await });
    let admin = process.admin_addr;
    eventually(Duration::from_secs(5), "the reservation to be in flight", || async move {
        let (_, metrics) = http_get(admin, "/metrics").await.ok()?;
        metrics
            .lines()
            .any(|l| l.starts_with("grpc_server_in_flight") && l.contains("ReserveStock") && l.ends_with(" 1"))
            .then_some(())
    })
    .await;
    (blocker, in_flight)
}

#[tokio::test]
async fn sigterm_reports_not_serving_lets_the_in_flight_call_finish_and_exits_zero() {
    let identity = TestIdentity::spawn(Backend::Sqlite, &[]).await.unwrap();
    let identity_url = identity.url();
    let service_token = identity.service_token("orders").await.unwrap();
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let nowhere = unused_nats_url();
    let mut process = ServiceProcess::spawn(
        BIN,
        &[
            &FREE_PORTS[..],
            &[
                "--database-url",
                db.url(),
                "--seed-on-start",
                "--shutdown-timeout",
                "15s",
                "--identity-url",
                &identity_url,
            ],
            &["--nats-url", &nowhere],
        ]
        .concat(),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", process.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut watch = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut watch).await.unwrap().unwrap().status, ServingStatus::Serving as i32);

    let stock = StockServiceClient::with_interceptor(channel.clone(), Bearer::new(&service_token).unwrap());
    let (mut blocker, in_flight) = reservation_in_flight(&process, &db, stock, "in-flight").await;
    let admin = process.admin_addr;

    process.terminate().unwrap();
    let status = next_within(&mut watch, Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(status.status, ServingStatus::NotServing as i32);
    drop(watch);
    let (code, body) = http_get(admin, "/readyz").await.unwrap();
    assert_eq!(code, 503, "{body}");

    sea_orm::sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    let reservation = in_flight.await.unwrap().expect("the in-flight call completes").into_inner().reservation.unwrap();
    assert_eq!(reservation.status, ReservationStatus::Reserved as i32);

    let exit = process.wait(Duration::from_secs(15)).await.unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    assert!(process.log_lines().iter().any(|l| l.contains("drained")), "{:#?}", process.log_lines());
}

#[tokio::test]
async fn every_log_line_of_a_call_carries_its_request_id() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let nowhere = unused_nats_url();
    let mut process = ServiceProcess::spawn(
        BIN,
        &[
            &FREE_PORTS[..],
            &["--nats-url", &nowhere],
            &[
                "--database-url",
                db.url(),
                "--log-level",
                "debug,sqlx=warn,sea_orm=warn,h2=warn,hyper=warn,tower=warn,sea_orm_migration=warn",
            ],
        ]
        .concat(),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let mut catalog = mercato::catalog::v1::catalog_service_client::CatalogServiceClient::connect(format!(
        "http://{}",
        process.grpc_addr
    ))
    .await
    .unwrap();
    let mut request = tonic::Request::new(pb::GetProductRequest { id: "00000000-0000-4000-8000-000000000000".into() });
    request.metadata_mut().insert("x-request-id", "trace-me-123".parse().unwrap());
    assert_eq!(catalog.get_product(request).await.unwrap_err().code(), tonic::Code::NotFound);
    eventually(Duration::from_secs(5), "the call's log line", || {
        let lines = process.log_lines();
        async move {
            lines
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|l| l["message"] == "rpc finished" && l["request_id"] == "trace-me-123")
                .map(|l| {
                    assert_eq!(l["service"], "catalog");
                    assert_eq!(l["code"], "NOT_FOUND");
                })
        }
    })
    .await;
    process.terminate().unwrap();
    assert!(process.wait(Duration::from_secs(15)).await.unwrap().success());
}

#[tokio::test]
async fn the_dlq_subcommand_lists_and_purges_this_services_dead_letters() {
    use mercato_kit::{events::headers, testing::TestNats};
    let nats = TestNats::start().await.unwrap();
    let jetstream = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: "DLQ".into(),
            subjects: vec!["dlq.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut letter = async_nats::HeaderMap::new();
    letter.insert(headers::DLQ_CONSUMER, "catalog-reservations");
    letter.insert(headers::EVENT_TYPE, "mercato.catalog.v1.ReserveStockCommand");
    letter.insert(headers::DLQ_ATTEMPTS, "5");
    letter.insert(headers::DLQ_ERROR, "no such product");
    jetstream.publish_with_headers("dlq.catalog.reservations", letter, "".into()).await.unwrap().await.unwrap();
    // Another service's dead letters are not catalog's to see.
    jetstream.publish("dlq.orders.saga", "".into()).await.unwrap().await.unwrap();

    let run = |args: &[&str]| {
        let mut command = tokio::process::Command::new(BIN);
        command.args(["dlq"]).args(args).args(["--nats-url", &nats.url()]);
        command.output()
    };
    let listed = run(&["list", "--json"]).await.unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&listed.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["consumer"], "catalog-reservations");
    assert_eq!(lines[0]["attempts"], 5);
    assert_eq!(lines[0]["error"], "no such product");

    let purged = run(&["purge", "--all"]).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&purged.stdout).trim(), "1 dead letter(s) purged");
    let table = run(&["list"]).await.unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).contains("0 dead letter(s)"));
}

/// The catalog binary with its broker and `extra` flags, as a process a test can kill.
pub(crate) async fn catalog_process(
    db: &TestDatabase,
    identity_url: &str,
    nats_url: &str,
    extra: &[&str],
) -> ServiceProcess {
    ServiceProcess::spawn(
        BIN,
        &[
            &FREE_PORTS[..],
            &["--database-url", db.url(), "--seed-on-start", "--identity-url", identity_url, "--nats-url", nats_url],
            extra,
        ]
        .concat(),
        Duration::from_secs(20),
    )
    .await
    .unwrap()
}

async fn events_committed_before_a_sigkill_are_published_exactly_once_after_the_restart(backend: Backend) {
    use std::collections::HashSet;

    use mercato_kit::{events::headers, testing::TestNats};

    let identity = TestIdentity::spawn(Backend::Sqlite, &[]).await.unwrap();
    let admin = identity.admin_token().await.unwrap();
    let nats = TestNats::start().await.unwrap();
    let db = TestDatabase::create(backend).await.unwrap();
    let adjust = |process: &ServiceProcess, count: usize| {
        let url = format!("http://{}", process.grpc_addr);
        let admin = admin.clone();
        async move {
            let channel = tonic::transport::Channel::from_shared(url).unwrap().connect().await.unwrap();
            let mut catalog = mercato::catalog::v1::catalog_service_client::CatalogServiceClient::with_interceptor(
                channel,
                Bearer::new(&admin).unwrap(),
            );
            for _ in 0..count {
                catalog.adjust_stock(pb::AdjustStockRequest { product_id: SEEDED_ID.into(), delta: 1 }).await.unwrap();
            }
        }
    };

    let first = catalog_process(&db, &identity.url(), &nats.url(), &[]).await;
    adjust(&first, 150).await;
    // Killed the moment the last change committed: its relay is somewhere between publishing
    // and marking rows sent.
    first.kill().unwrap();
    let mut first = first;
    first.wait(Duration::from_secs(10)).await.unwrap();

    let mut second = catalog_process(&db, &identity.url(), &nats.url(), &[]).await;
    adjust(&second, 150).await;

    let jetstream = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let stream = jetstream.get_stream("CATALOG").await.unwrap();
    eventually(Duration::from_secs(30), "300 stock events in the stream", || async {
        (stream.get_info().await.ok()?.state.messages >= 300).then_some(())
    })
    .await;
    let count = stream.get_info().await.unwrap().state.messages;
    let mut ids = HashSet::new();
    for sequence in 1..=count {
        let message = stream.get_raw_message(sequence).await.unwrap();
        ids.insert(message.headers.get(headers::EVENT_ID).unwrap().as_str().to_string());
    }
    assert_eq!((count, ids.len()), (300, 300), "every committed change once, none lost, none twice");
    second.terminate().unwrap();
    assert!(second.wait(Duration::from_secs(15)).await.unwrap().success());
}

mercato_kit::on_both_databases!(events_committed_before_a_sigkill_are_published_exactly_once_after_the_restart);

/// Beyond `--max-in-flight`, a call is refused at once instead of waiting behind the others;
/// the admitted ones finish, and capacity freed is capacity given.
#[tokio::test]
async fn beyond_its_capacity_a_call_is_refused_at_once_with_resource_exhausted() {
    let identity = TestIdentity::spawn(Backend::Sqlite, &[]).await.unwrap();
    let service_token = identity.service_token("orders").await.unwrap();
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let nowhere = unused_nats_url();
    let process = ServiceProcess::spawn(
        BIN,
        &[
            &FREE_PORTS[..],
            &["--database-url", db.url(), "--seed-on-start", "--identity-url", &identity.url()],
            &["--nats-url", &nowhere, "--max-in-flight", "1"],
        ]
        .concat(),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", process.grpc_addr)).unwrap().connect_lazy();
    let mut stock = StockServiceClient::with_interceptor(channel.clone(), Bearer::new(&service_token).unwrap());
    let (mut blocker, in_flight) = reservation_in_flight(&process, &db, stock.clone(), "held").await;

    let lookup = pb::GetReservationRequest { reservation_id: "held".into() };
    let refused = stock.get_reservation(lookup.clone()).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("capacity"), "{refused:?}");

    sea_orm::sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    in_flight.await.unwrap().expect("the admitted call completes");
    stock.get_reservation(lookup).await.expect("capacity freed is capacity given");
    process.terminate().unwrap();
}

/// A database that refuses connections is reported at once, with the reason, not after the
/// pool's acquire timeout as "pool timed out".
#[tokio::test]
async fn an_unreachable_database_is_reported_at_once_with_its_cause() {
    let nowhere = mercato_kit::testing::dead_url("postgres").replace("://", "://postgres@") + "/catalog";
    let started = std::time::Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(BIN)
            .args(&FREE_PORTS[..])
            .args(["--database-url", &nowhere, "--db-acquire-timeout", "10s", "--nats-url", &unused_nats_url()])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let took = started.elapsed();
    assert!(!output.status.success());
    let said = [output.stdout, output.stderr].concat();
    let said = String::from_utf8_lossy(&said).to_lowercase();
    assert_eq!(said.matches("connection refused").count(), 1, "the cause, once: {said}");
    assert!(!said.contains("pool timed out"), "{said}");
    assert!(took < Duration::from_secs(5), "it waited {took:?} (the acquire timeout is 10s)");
}
