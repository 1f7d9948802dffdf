use std::net::SocketAddr;

use mercato::catalog::v1::{
    self as pb, catalog_service_client::CatalogServiceClient, stock_service_client::StockServiceClient,
};
use mercato_catalog::testing::TestCatalog;
use mercato_identity::testing::TestIdentity;
pub(crate) use mercato_kit::on_both_databases;
pub(crate) use mercato_kit::testing::violated_fields;
use mercato_kit::{
    auth::service_token::Bearer,
    testing::{Backend, TestDatabase},
};
use tonic::{codegen::InterceptedService, transport::Channel};

pub(crate) type CatalogClient = CatalogServiceClient<InterceptedService<Channel, Bearer>>;
pub(crate) type StockClient = StockServiceClient<InterceptedService<Channel, Bearer>>;

/// A seeded catalog running in this process on free ports.
pub(crate) struct TestApp {
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub channel: Channel,
    pub identity: TestIdentity,
    pub admin_token: String,
    pub service_token: String,
    catalog: TestCatalog,
}

impl TestApp {
    /// Catalog as an administrator (who may also do everything the public may).
    pub(crate) fn catalog(&self) -> CatalogClient {
        self.catalog_as(&self.admin_token)
    }

    pub(crate) fn catalog_as(&self, token: &str) -> CatalogClient {
        CatalogServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token).unwrap())
    }

    /// The stock API as another mercato service.
    pub(crate) fn stock(&self) -> StockClient {
        self.stock_as(&self.service_token)
    }

    pub(crate) fn stock_as(&self, token: &str) -> StockClient {
        StockServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token).unwrap())
    }

    /// The catalog under test (its nats-server; replicas of it).
    pub(crate) fn test_catalog(&self) -> &TestCatalog {
        &self.catalog
    }

    /// Triggers shutdown and waits for the app to finish draining.
    pub(crate) async fn stop(self) {
        self.catalog.stop().await.expect("catalog stops cleanly within 10s");
        self.identity.stop().await.expect("identity stops cleanly");
    }
}

pub(crate) async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// A catalog with `extra` flags.
pub(crate) async fn spawn_app_with(backend: Backend, extra: &[&str]) -> TestApp {
    // identity's own database is SQLite: the backend under test is catalog's.
    let identity = TestIdentity::spawn(Backend::Sqlite, &[]).await.expect("identity starts");
    let db = TestDatabase::create(backend).await.expect("test database");
    let catalog = TestCatalog::spawn_with(db, &identity.url(), extra).await.expect("catalog starts");
    let (grpc_addr, admin_addr) = (catalog.grpc_addr, catalog.admin_addr);
    // The listener is bound already: connecting succeeds at once, no waiting needed.
    let channel = Channel::from_shared(catalog.url()).expect("uri").connect().await.expect("connects");
    let admin_token = identity.admin_token().await.expect("admin token");
    let service_token = identity.service_token("orders").await.expect("service token");
    TestApp { grpc_addr, admin_addr, channel, identity, admin_token, service_token, catalog }
}

/// A valid new product; `sku` must be unique per test.
pub(crate) fn new_product(sku: &str, units: i64) -> pb::Product {
    pb::Product {
        sku: sku.to_string(),
        name: format!("Test product {sku}"),
        description: "Made for tests".into(),
        category_ids: vec!["coffee".into()],
        price: Some(mercato::google::r#type::Money { currency_code: "USD".into(), units, nanos: 500_000_000 }),
        image_url: "https://images.mercato.example/products/test.jpg".into(),
        ..Default::default()
    }
}

/// Creates a product with `stock` units on hand and returns its id.
pub(crate) async fn create_product(app: &TestApp, sku: &str, stock: i64) -> String {
    app.catalog()
        .create_product(pb::CreateProductRequest { product: Some(new_product(sku, 10)), initial_stock: stock })
        .await
        .expect("product created")
        .into_inner()
        .product
        .expect("product")
        .id
}
