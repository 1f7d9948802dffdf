use std::time::Duration;

use mercato::{
    catalog::v1::{self as catalog, catalog_service_client::CatalogServiceClient},
    orders::v1::{self as pb, cart_service_client::CartServiceClient, order_service_client::OrderServiceClient},
    payments::v1::{self as payments, payment_service_client::PaymentServiceClient},
};
use mercato_catalog::Catalog;
use mercato_identity::testing::TestIdentity;
pub(crate) use mercato_kit::on_both_databases;
use mercato_kit::{
    auth::service_token::Bearer,
    service::Service,
    testing::{Backend, Bus, Running, TestDatabase, TestNats, eventually, http_get, metric, service_args},
};
use mercato_payments::Payments;
use tonic::{codegen::InterceptedService, transport::Channel};

pub(crate) type Authed = InterceptedService<Channel, Bearer>;

pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// identity, catalog, payments and orders on one nats-server, each service on a database of
/// the backend under test.
pub(crate) struct Stack {
    pub backend: Backend,
    pub identity: TestIdentity,
    pub nats: TestNats,
    pub bus: Bus,
    pub admin_token: String,
    pub catalog: Option<Running>,
    pub payments: Option<Running>,
    pub orders: Option<Running>,
}

/// Flags for each service beyond the test defaults.
#[derive(Default)]
pub(crate) struct Flags<'a> {
    pub orders: &'a [&'a str],
    pub payments: &'a [&'a str],
}

impl Stack {
    pub(crate) async fn start(backend: Backend) -> Self {
        Self::start_with(backend, Flags::default()).await
    }

    pub(crate) async fn start_with(backend: Backend, flags: Flags<'_>) -> Self {
        let identity = TestIdentity::spawn(Backend::Sqlite, &[]).await.expect("identity starts");
        let nats = TestNats::start().await.expect("nats-server starts");
        let bus = Bus::connect(&nats.url()).await.expect("bus connects");
        let admin_token = identity.admin_token().await.expect("admin token");
        let mut stack = Self { backend, identity, nats, bus, admin_token, catalog: None, payments: None, orders: None };
        stack.catalog = Some(stack.spawn_catalog().await);
        stack.payments = Some(stack.spawn_payments(flags.payments).await);
        stack.orders = Some(stack.spawn_orders(flags.orders).await);
        for stream in ["CATALOG", "PAYMENTS", "ORDERS"] {
            eventually(WAIT, stream, || async { stack.bus.jetstream().get_stream(stream).await.ok() }).await;
        }
        stack
    }

    fn common(&self, name: &str, db: &TestDatabase) -> Vec<String> {
        let mut args = service_args(name, db);
        args.extend(["--identity-url", &self.identity.url(), "--nats-url", &self.nats.url()].map(str::to_string));
        args
    }

    pub(crate) async fn spawn_catalog(&self) -> Running {
        let db = TestDatabase::create(self.backend).await.expect("catalog database");
        let args = self.common(Catalog::DEFAULTS.name, &db);
        let running = Running::service::<Catalog>(args, Some(db)).await.expect("catalog starts");
        running.wait_ready().await.expect("catalog ready");
        running
    }

    pub(crate) async fn spawn_payments(&self, extra: &[&str]) -> Running {
        let db = TestDatabase::create(self.backend).await.expect("payments database");
        let mut args = self.common(Payments::DEFAULTS.name, &db);
        args.extend(extra.iter().map(|a| a.to_string()));
        let running = Running::service::<Payments>(args, Some(db)).await.expect("payments starts");
        running.wait_ready().await.expect("payments ready");
        running
    }

    pub(crate) async fn spawn_orders(&self, extra: &[&str]) -> Running {
        let db = TestDatabase::create(self.backend).await.expect("orders database");
        let catalog = self.catalog.as_ref().map_or_else(|| mercato_kit::testing::dead_url("http"), Running::url);
        mercato_orders::testing::spawn(db, &self.identity.url(), &catalog, &self.nats.url(), extra)
            .await
            .expect("orders starts")
    }

    fn channel(running: &Option<Running>) -> Channel {
        let running = running.as_ref().expect("the service is running");
        Channel::from_shared(running.url()).expect("uri").connect_lazy()
    }

    pub(crate) fn orders_as(&self, token: &str) -> OrderServiceClient<Authed> {
        OrderServiceClient::with_interceptor(Self::channel(&self.orders), Bearer::new(token).unwrap())
    }

    pub(crate) fn cart_as(&self, token: &str) -> CartServiceClient<Authed> {
        CartServiceClient::with_interceptor(Self::channel(&self.orders), Bearer::new(token).unwrap())
    }

    pub(crate) fn catalog_admin(&self) -> CatalogServiceClient<Authed> {
        CatalogServiceClient::with_interceptor(Self::channel(&self.catalog), Bearer::new(&self.admin_token).unwrap())
    }

    pub(crate) fn payments_admin(&self) -> PaymentServiceClient<Authed> {
        PaymentServiceClient::with_interceptor(Self::channel(&self.payments), Bearer::new(&self.admin_token).unwrap())
    }

    /// A signed-in customer: (token, user id).
    pub(crate) async fn customer(&self, email: &str) -> (String, String) {
        let token = self.identity.customer_token(email).await.unwrap();
        (token.clone(), mercato_kit::testing::token_subject(&token))
    }

    /// A new product at `units` USD with `stock` units on hand; its id.
    pub(crate) async fn product(&self, units: i64, stock: i64) -> String {
        let sku = format!("T-{}", uuid::Uuid::now_v7().simple()).to_uppercase();
        let product = catalog::Product {
            sku: sku[..30].to_string(),
            name: format!("Test product {}", &sku[..30]),
            price: Some(usd(units)),
            ..Default::default()
        };
        let created = self
            .catalog_admin()
            .create_product(catalog::CreateProductRequest { product: Some(product), initial_stock: stock })
            .await
            .expect("product created")
            .into_inner();
        created.product.expect("product").id
    }

    /// The stock of a product, as catalog's database has it: (on hand, reserved).
    pub(crate) async fn stock(&self, product_id: &str) -> (i64, i64) {
        let level = self
            .catalog_admin()
            .batch_get_products(catalog::BatchGetProductsRequest { ids: vec![product_id.to_string()] })
            .await
            .expect("products")
            .into_inner()
            .products
            .pop()
            .and_then(|p| p.stock)
            .expect("a stock level");
        (level.on_hand, level.reserved)
    }

    /// Waits until the product's stock is (on hand, reserved).
    pub(crate) async fn wait_stock(&self, product_id: &str, expected: (i64, i64)) {
        eventually(WAIT, &format!("stock {expected:?} of {product_id}"), || async {
            (self.stock(product_id).await == expected).then_some(())
        })
        .await;
    }

    /// Adds `quantity` of each product to the customer's cart.
    pub(crate) async fn fill_cart(&self, token: &str, items: &[(&str, i32)]) {
        for (product_id, quantity) in items {
            self.cart_as(token)
                .add_cart_item(pb::AddCartItemRequest { product_id: product_id.to_string(), quantity: *quantity })
                .await
                .expect("item added");
        }
    }

    /// Checks out the customer's cart.
    pub(crate) async fn place(&self, token: &str, key: &str, payment_token: &str) -> pb::Order {
        self.orders_as(token)
            .place_order(place_request(key, payment_token))
            .await
            .expect("order placed")
            .into_inner()
            .order
            .expect("an order")
    }

    /// Waits until the order is CONFIRMED or CANCELLED; the order and its log.
    pub(crate) async fn settled(&self, token: &str, id: &str) -> pb::GetOrderResponse {
        let orders = self.orders_as(token);
        eventually(WAIT, &format!("order {id} to settle"), || {
            let mut orders = orders.clone();
            async move {
                let got = orders.get_order(pb::GetOrderRequest { id: id.to_string() }).await.ok()?.into_inner();
                let status = got.order.as_ref()?.status;
                [pb::OrderStatus::Confirmed as i32, pb::OrderStatus::Cancelled as i32].contains(&status).then_some(got)
            }
        })
        .await
    }

    /// The payments of an order, as an admin sees them.
    pub(crate) async fn payments_of(&self, order_id: &str) -> Vec<payments::Payment> {
        self.payments_admin()
            .list_payments(payments::ListPaymentsRequest { order_id: order_id.to_string(), ..Default::default() })
            .await
            .expect("payments listed")
            .into_inner()
            .payments
    }

    /// orders' /metrics, as Prometheus scrapes it.
    pub(crate) async fn orders_metrics(&self) -> String {
        let running = self.orders.as_ref().expect("orders is running");
        let (code, body) = http_get(running.admin_addr, "/metrics").await.expect("orders' /metrics");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Waits until `read` finds `expected` in orders' /metrics. Business counters move just
    /// after the commit that a test sees through the API, so they are waited for.
    pub(crate) async fn wait_metric(&self, what: &str, expected: f64, read: impl Fn(&str) -> f64) {
        eventually(WAIT, &format!("{what} to be {expected}"), || async {
            (read(&self.orders_metrics().await) == expected).then_some(())
        })
        .await;
    }

    pub(crate) async fn stop(mut self) {
        for running in [self.orders.take(), self.payments.take(), self.catalog.take()].into_iter().flatten() {
            running.stop().await.expect("stops cleanly");
        }
        self.identity.stop().await.expect("identity stops");
    }
}

pub(crate) fn place_request(key: &str, payment_token: &str) -> pb::PlaceOrderRequest {
    pb::PlaceOrderRequest {
        idempotency_key: key.to_string(),
        shipping_address: Some(address()),
        payment_method_token: payment_token.to_string(),
    }
}

pub(crate) fn address() -> pb::Address {
    pb::Address {
        recipient_name: "Ada Lovelace".into(),
        address_lines: vec!["12 St James's Square".into()],
        city: "London".into(),
        postal_code: "SW1Y 4JH".into(),
        country_code: "GB".into(),
        ..Default::default()
    }
}

pub(crate) fn usd(units: i64) -> mercato::google::r#type::Money {
    mercato::google::r#type::Money { currency_code: "USD".into(), units, nanos: 0 }
}

pub(crate) fn key() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn status(order: &pb::Order) -> pb::OrderStatus {
    pb::OrderStatus::try_from(order.status).unwrap()
}

pub(crate) fn reason(order: &pb::Order) -> pb::CancellationReason {
    pb::CancellationReason::try_from(order.cancellation_reason).unwrap()
}

pub(crate) const USD: (&str, &str) = ("currency", "USD");
pub(crate) const PLACED: &str = "mercato_orders_placed_total";
pub(crate) const CONFIRMED: &str = "mercato_orders_confirmed_total";
pub(crate) const CANCELLED: &str = "mercato_orders_cancelled_total";
pub(crate) const REVENUE: &str = "mercato_revenue_total";

/// How many confirmations the time-to-confirmed histogram has seen.
pub(crate) fn timed_confirmations(exposition: &str) -> f64 {
    metric(exposition, "mercato_checkout_time_to_confirmed_seconds_bucket", ("le", "+Inf"))
}

/// Cancellations counted for `reason`.
pub(crate) fn cancelled(exposition: &str, reason: &str) -> f64 {
    metric(exposition, CANCELLED, ("reason", reason))
}

/// Cancellations counted, whatever the reason.
pub(crate) fn all_cancelled(exposition: &str) -> f64 {
    ["out_of_stock", "payment_declined", "timeout", "customer"].iter().map(|r| cancelled(exposition, r)).sum()
}

/// Messages orders' consumer `consumer` finished with `outcome` (processed, duplicate, ...).
pub(crate) fn consumed(exposition: &str, consumer: &str, outcome: &str) -> f64 {
    let series = format!(r#"mercato_consumer_messages_total{{consumer="{consumer}",outcome="{outcome}"}}"#);
    mercato_kit::testing::series(exposition, &series).unwrap_or(0.0)
}
