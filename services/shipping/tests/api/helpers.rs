use std::time::Duration;

use mercato::{
    orders::v1 as orders,
    shipping::v1::{self as pb, shipping_service_client::ShippingServiceClient},
};
use mercato_identity::testing::TestIdentity;
pub(crate) use mercato_kit::on_both_databases;
use mercato_kit::{
    auth::service_token::Bearer,
    testing::{Backend, Bus, TestDatabase, TestNats, eventually, http_get},
};
use mercato_shipping::{
    storage::shipments::{self, ShipmentRecord},
    testing::TestShipping,
};
use tonic::{codegen::InterceptedService, transport::Channel};

pub(crate) type ShippingClient = ShippingServiceClient<InterceptedService<Channel, Bearer>>;

pub(crate) const WAIT: Duration = Duration::from_secs(20);
pub(crate) const STREAM: &str = "SHIPPING";
pub(crate) const ORDERS: &str = "ORDERS";

/// Moves made at once, and looked for often, so a test never waits long.
pub(crate) const QUICK: &[&str] =
    &["--dispatch-delay", "200ms", "--delivery-delay", "200ms", "--shipping-timer-interval", "50ms"];

/// shipping running in this process on its own database, with an identity for tokens and a
/// bus to publish orders' events on.
pub(crate) struct TestApp {
    pub identity: TestIdentity,
    pub admin_token: String,
    pub bus: Bus,
    pub nats: TestNats,
    pub database: TestDatabase,
    pub shipping: Option<TestShipping>,
    flags: Vec<String>,
}

impl TestApp {
    pub(crate) async fn spawn(backend: Backend, flags: &[&str]) -> Self {
        let nats = TestNats::start().await.unwrap();
        let identity =
            TestIdentity::spawn(Backend::Sqlite, &["--nats-url", &nats.url()]).await.expect("identity starts");
        let bus = Bus::connect(&nats.url()).await.unwrap();
        // The stream orders would have created.
        bus.create_stream(ORDERS, "orders.v1.>").await.unwrap();
        let database = TestDatabase::create(backend).await.expect("test database");
        let admin_token = identity.admin_token().await.expect("admin token");
        let mut app = Self {
            identity,
            admin_token,
            bus,
            nats,
            database,
            shipping: None,
            flags: flags.iter().map(|f| f.to_string()).collect(),
        };
        app.start().await;
        app
    }

    /// Starts shipping (again) on the same database and broker.
    pub(crate) async fn start(&mut self) {
        let flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        let shipping = TestShipping::spawn(&self.database, &self.identity.url(), &self.nats.url(), &flags)
            .await
            .expect("shipping starts");
        eventually(WAIT, "the SHIPPING stream", || async { self.bus.jetstream().get_stream(STREAM).await.ok() }).await;
        self.shipping = Some(shipping);
    }

    /// Stops shipping cleanly, keeping its database.
    pub(crate) async fn stop_shipping(&mut self) {
        if let Some(shipping) = self.shipping.take() {
            shipping.stop().await.expect("shipping stops cleanly");
        }
    }

    fn running(&self) -> &TestShipping {
        self.shipping.as_ref().expect("shipping is running")
    }

    pub(crate) async fn client_as(&self, token: &str) -> ShippingClient {
        let channel = Channel::from_shared(self.running().url()).unwrap().connect().await.unwrap();
        ShippingServiceClient::with_interceptor(channel, Bearer::new(token).unwrap())
    }

    /// The shipment of `order_id` as stored, read straight from shipping's database.
    pub(crate) async fn stored(&self, order_id: &str) -> Option<ShipmentRecord> {
        let db = self.running().db.clone().unwrap();
        shipments::by_order(&db, order_id).await.unwrap()
    }

    /// Waits until the shipment of `order_id` reaches `status`.
    pub(crate) async fn wait_status(&self, order_id: &str, status: &str) -> ShipmentRecord {
        eventually(WAIT, &format!("shipment of {order_id} {status}"), || async {
            self.stored(order_id).await.filter(|r| r.row.status == status)
        })
        .await
    }

    /// Shipments counted as dispatched on shipping's /metrics (since this process started).
    pub(crate) async fn dispatched_total(&self) -> f64 {
        let (code, body) = http_get(self.running().admin_addr, "/metrics").await.expect("shipping's /metrics");
        assert_eq!(code, 200, "{body}");
        mercato_kit::testing::series(&body, "mercato_shipments_dispatched_total")
            .unwrap_or_else(|| panic!("no mercato_shipments_dispatched_total in {body}"))
    }

    /// Waits until `expected` shipments are counted as dispatched: the counter moves just
    /// after the commit that the test sees on the bus.
    pub(crate) async fn wait_dispatched_total(&self, expected: f64) {
        eventually(WAIT, &format!("{expected} shipments counted as dispatched"), || async {
            (self.dispatched_total().await == expected).then_some(())
        })
        .await;
    }

    pub(crate) async fn stop(mut self) {
        self.stop_shipping().await;
        self.identity.stop().await.expect("identity stops cleanly");
    }
}

/// A signed-in customer: (token, user id).
pub(crate) async fn customer(app: &TestApp, email: &str) -> (String, String) {
    let token = app.identity.customer_token(email).await.unwrap();
    let user_id = mercato_kit::testing::token_subject(&token);
    (token, user_id)
}

pub(crate) fn new_order_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn confirmed(order_id: &str, user_id: &str, country: &str) -> orders::OrderConfirmed {
    orders::OrderConfirmed {
        order_id: order_id.into(),
        user_id: user_id.into(),
        lines: vec![
            orders::OrderLine {
                product_id: "p-cup".into(),
                product_name: "Espresso cup".into(),
                quantity: 2,
                ..Default::default()
            },
            orders::OrderLine {
                product_id: "p-mug".into(),
                product_name: "Mug".into(),
                quantity: 1,
                ..Default::default()
            },
        ],
        shipping_address: Some(orders::Address {
            recipient_name: "Ada Lovelace".into(),
            address_lines: vec!["12 St James's Square".into()],
            city: "London".into(),
            postal_code: "SW1Y 4JH".into(),
            country_code: country.into(),
            ..Default::default()
        }),
        payment_id: "payment-1".into(),
        ..Default::default()
    }
}

pub(crate) fn cancelled(order_id: &str, user_id: &str) -> orders::OrderCancelled {
    orders::OrderCancelled { order_id: order_id.into(), user_id: user_id.into(), ..Default::default() }
}

pub(crate) async fn get(client: &mut ShippingClient, order_id: &str) -> Result<pb::Shipment, tonic::Status> {
    client
        .get_shipment(pb::GetShipmentRequest { order_id: order_id.into() })
        .await
        .map(|r| r.into_inner().shipment.expect("a shipment"))
}
