use std::{net::SocketAddr, time::Duration};

use clap::Parser;
use mercato::catalog::v1::{
    self as pb, catalog_service_client::CatalogServiceClient,
    stock_service_client::StockServiceClient,
};
use mercato_catalog::{App, Cli};
use mercato_kit::{
    Shutdown,
    testing::{Backend, TestDatabase},
};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// Runs a test body once on SQLite and once on PostgreSQL, as two tests.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn on_sqlite() {
                super::$name(mercato_kit::testing::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn on_postgres() {
                super::$name(mercato_kit::testing::Backend::Postgres).await
            }
        }
    )*};
}
pub(crate) use on_both_databases;

/// A seeded catalog running in this process on free ports.
pub struct TestApp {
    pub admin_addr: SocketAddr,
    pub channel: Channel,
    shutdown: Shutdown,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _db: TestDatabase,
}

impl TestApp {
    pub fn catalog(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::new(self.channel.clone())
    }

    pub fn stock(&self) -> StockServiceClient<Channel> {
        StockServiceClient::new(self.channel.clone())
    }

    /// Triggers shutdown and waits for the app to finish draining.
    pub async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("app stops within 10s")
                .expect("app task")
                .expect("app ran cleanly");
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    let db = TestDatabase::create(backend).await.expect("test database");
    let cli = Cli::try_parse_from([
        "catalog",
        "--grpc-addr",
        "127.0.0.1:0",
        "--admin-addr",
        "127.0.0.1:0",
        "--database-url",
        db.url(),
        "--seed-on-start",
    ])
    .expect("arguments parse");
    let app = App::build(cli.config().expect("valid config"))
        .await
        .expect("app builds");
    let (grpc_addr, admin_addr) = (app.grpc_addr(), app.admin_addr());
    let shutdown = Shutdown::new();
    let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    // The listener is bound already: connecting succeeds at once, no waiting needed.
    let channel = Channel::from_shared(format!("http://{grpc_addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connects");
    TestApp {
        admin_addr,
        channel,
        shutdown,
        task: Some(task),
        _db: db,
    }
}

/// A valid new product; `sku` must be unique per test.
pub fn new_product(sku: &str, units: i64) -> pb::Product {
    pb::Product {
        sku: sku.to_string(),
        name: format!("Test product {sku}"),
        description: "Made for tests".into(),
        category_ids: vec!["coffee".into()],
        price: Some(mercato::google::r#type::Money {
            currency_code: "USD".into(),
            units,
            nanos: 500_000_000,
        }),
        image_url: "https://images.mercato.example/products/test.jpg".into(),
        ..Default::default()
    }
}

/// Creates a product with `stock` units on hand and returns its id.
pub async fn create_product(app: &TestApp, sku: &str, stock: i64) -> String {
    app.catalog()
        .create_product(pb::CreateProductRequest {
            product: Some(new_product(sku, 10)),
            initial_stock: stock,
        })
        .await
        .expect("product created")
        .into_inner()
        .product
        .expect("product")
        .id
}

/// The field paths of an INVALID_ARGUMENT status's BadRequest detail.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("a BadRequest detail")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}
