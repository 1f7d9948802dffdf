use std::time::Duration;

use mercato::payments::v1::{self as pb, payment_service_client::PaymentServiceClient};
use mercato_identity::testing::TestIdentity;
pub(crate) use mercato_kit::on_both_databases;
use mercato_kit::{
    auth::service_token::Bearer,
    testing::{Backend, Bus, TestDatabase, eventually, http_get},
};
use mercato_payments::testing::TestPayments;
use tonic::{codegen::InterceptedService, transport::Channel};

pub(crate) type PaymentClient = PaymentServiceClient<InterceptedService<Channel, Bearer>>;

pub(crate) const WAIT: Duration = Duration::from_secs(10);
pub(crate) const STREAM: &str = "PAYMENTS";

/// payments running in this process, with an identity for tokens and a bus for commands.
pub(crate) struct TestApp {
    pub channel: Channel,
    pub identity: TestIdentity,
    pub admin_token: String,
    pub bus: Bus,
    payments: TestPayments,
}

impl TestApp {
    pub(crate) fn payments_as(&self, token: &str) -> PaymentClient {
        PaymentServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token).unwrap())
    }

    /// A signed-in customer: (token, user id).
    pub(crate) async fn customer(&self, email: &str) -> (String, String) {
        let token = self.identity.customer_token(email).await.unwrap();
        (token.clone(), mercato_kit::testing::token_subject(&token))
    }

    /// payments' /metrics, as Prometheus scrapes it.
    pub(crate) async fn metrics(&self) -> String {
        let (code, body) = http_get(self.payments.admin_addr, "/metrics").await.expect("payments' /metrics");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Waits until `read` finds `expected` in payments' /metrics. Business counters move just
    /// after the commit that a test sees on the bus, so they are waited for.
    pub(crate) async fn wait_metric(&self, what: &str, expected: f64, read: impl Fn(&str) -> f64) {
        eventually(WAIT, &format!("{what} to be {expected}"), || async {
            (read(&self.metrics().await) == expected).then_some(())
        })
        .await;
    }

    pub(crate) async fn stop(self) {
        self.payments.stop().await.expect("payments stops cleanly");
        self.identity.stop().await.expect("identity stops cleanly");
    }
}

pub(crate) async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

pub(crate) async fn spawn_app_with(backend: Backend, extra: &[&str]) -> TestApp {
    let identity = TestIdentity::spawn(Backend::Sqlite, &[]).await.expect("identity starts");
    let db = TestDatabase::create(backend).await.expect("test database");
    let payments = TestPayments::spawn_with(db, &identity.url(), extra).await.expect("payments starts");
    let channel = Channel::from_shared(payments.url()).expect("uri").connect().await.expect("connects");
    let admin_token = identity.admin_token().await.expect("admin token");
    let bus = Bus::connect(&payments.nats.url()).await.unwrap();
    eventually(WAIT, "the PAYMENTS stream", || async { bus.jetstream().get_stream(STREAM).await.ok() }).await;
    TestApp { channel, identity, admin_token, bus, payments }
}

pub(crate) fn usd(units: i64) -> mercato::google::r#type::Money {
    mercato::google::r#type::Money { currency_code: "USD".into(), units, nanos: 0 }
}

pub(crate) fn charge(payment_id: &str, user_id: &str, units: i64, token: &str) -> pb::ChargePaymentCommand {
    pb::ChargePaymentCommand {
        payment_id: payment_id.into(),
        order_id: format!("order-{payment_id}"),
        user_id: user_id.into(),
        amount: Some(usd(units)),
        payment_method_token: token.into(),
    }
}

pub(crate) fn refund(payment_id: &str, user_id: &str) -> pb::RefundPaymentCommand {
    pb::RefundPaymentCommand {
        payment_id: payment_id.into(),
        order_id: format!("order-{payment_id}"),
        user_id: user_id.into(),
        reason: "order cancelled: out of stock".into(),
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) const USD: (&str, &str) = ("currency", "USD");
pub(crate) const AUTHORIZED: &str = "mercato_payments_authorized_total";
pub(crate) const DECLINES: &str = "mercato_payment_declines_total";

/// Declines counted, whatever the code.
pub(crate) fn all_declines(exposition: &str) -> f64 {
    ["card_declined", "insufficient_funds", "invalid_payment_method", "processing_error"]
        .iter()
        .map(|code| mercato_kit::testing::metric(exposition, DECLINES, ("reason", code)))
        .sum()
}

/// Messages payments' consumer `consumer` finished with `outcome` (processed, duplicate, ...).
pub(crate) fn consumed(exposition: &str, consumer: &str, outcome: &str) -> f64 {
    let series = format!(r#"mercato_consumer_messages_total{{consumer="{consumer}",outcome="{outcome}"}}"#);
    mercato_kit::testing::series(exposition, &series).unwrap_or(0.0)
}
