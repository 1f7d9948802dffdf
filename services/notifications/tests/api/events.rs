//! The real notifications service on a real nats-server: events published as the other
//! contexts' relays publish them become one .eml each, and are counted once as sent, whatever
//! the redeliveries, including events that waited in JetStream while notifications was down.

use std::{path::Path, time::Duration};

use mercato::{
    google::r#type::Money, identity::v1 as identity, orders::v1 as orders, payments::v1 as payments,
    shipping::v1 as shipping,
};
use mercato_kit::{
    on_both_databases,
    service::Service,
    testing::{Backend, Bus, Running, TestDatabase, TestNats, dead_url, eventually, http_get, metric, service_args},
};
use mercato_notifications::{
    Notifications,
    storage::notifications::{self, Listing, NotificationRow},
};

/// The streams the other contexts would have created.
async fn streams(bus: &Bus) {
    for (name, subject) in [
        ("IDENTITY", "identity.v1.>"),
        ("ORDERS", "orders.v1.>"),
        ("PAYMENTS", "payments.v1.>"),
        ("SHIPPING", "shipping.v1.>"),
    ] {
        bus.create_stream(name, subject).await.unwrap();
    }
}

async fn start(database: &TestDatabase, nats: &TestNats, mail: &Path) -> Running {
    let mut args = service_args(Notifications::DEFAULTS.name, database);
    let identity = dead_url("http");
    args.extend(
        [
            "--nats-url",
            &nats.url(),
            "--identity-url",
            &identity,
            "--notification-sink",
            "file",
            "--mail-dir",
            mail.to_str().unwrap(),
            // A notification for a contact not yet known is retried soon, not in a second.
            "--consumer-backoff",
            "100ms,200ms,400ms,800ms",
            "--consumer-max-deliver",
            "8",
        ]
        .map(str::to_string),
    );
    Running::service::<Notifications>(args, None).await.unwrap()
}

async fn sent(running: &Running, user_id: &str, count: usize) -> Vec<NotificationRow> {
    let db = running.db.clone().unwrap();
    eventually(Duration::from_secs(20), &format!("{count} notifications for {user_id}"), || {
        let db = db.clone();
        async move {
            let listing = Listing { user_id: user_id.into(), limit: 100, ..Default::default() };
            let rows = notifications::list(&db, &listing).await.ok()?;
            (rows.len() >= count).then_some(rows)
        }
    })
    .await
}

/// The messages counted as sent on notifications' /metrics.
async fn sent_total(running: &Running) -> f64 {
    let (code, body) = http_get(running.admin_addr, "/metrics").await.unwrap();
    assert_eq!(code, 200, "{body}");
    metric(&body, "mercato_notifications_sent_total", ("channel", "email"))
}

/// Waits until `expected` messages are counted as sent: the counter moves just after the
/// commit that makes the rows visible.
async fn wait_sent_total(running: &Running, expected: f64) {
    eventually(Duration::from_secs(20), &format!("{expected} messages counted as sent"), || async {
        (sent_total(running).await == expected).then_some(())
    })
    .await;
}

/// Messages the consumer `consumer` found it had handled already.
async fn duplicates(running: &Running, consumer: &str) -> f64 {
    let (_, body) = http_get(running.admin_addr, "/metrics").await.unwrap();
    let series = format!(r#"mercato_consumer_messages_total{{consumer="{consumer}",outcome="duplicate"}}"#);
    mercato_kit::testing::series(&body, &series).unwrap_or(0.0)
}

fn registered(user_id: &str, email: &str, name: &str) -> identity::UserRegistered {
    identity::UserRegistered {
        user_id: user_id.into(),
        email: email.into(),
        display_name: name.into(),
        roles: vec!["customer".into()],
        occurred_at: None,
    }
}

fn usd(units: i64) -> Option<Money> {
    Some(Money { currency_code: "USD".into(), units, nanos: 0 })
}

fn placed(order_id: &str, user_id: &str) -> orders::OrderPlaced {
    orders::OrderPlaced {
        order_id: order_id.into(),
        user_id: user_id.into(),
        lines: vec![orders::OrderLine {
            product_id: "p1".into(),
            product_name: "Espresso cup".into(),
            unit_price: usd(9),
            quantity: 2,
            line_total: usd(18),
        }],
        subtotal: usd(18),
        total: usd(18),
        ..Default::default()
    }
}

fn eml(mail: &Path, row: &NotificationRow) -> String {
    std::fs::read_to_string(mail.join(format!("{}.eml", row.id))).unwrap()
}

async fn each_event_is_one_message_whatever_the_redeliveries_and_none_is_lost_while_down(backend: Backend) {
    let nats = TestNats::start().await.unwrap();
    let bus = Bus::connect(&nats.url()).await.unwrap();
    streams(&bus).await;
    let database = TestDatabase::create(backend).await.unwrap();
    let mail = tempfile::tempdir().unwrap();
    let running = start(&database, &nats, mail.path()).await;

    bus.publish(&registered("u1", "ada@example.com", "Ada")).await.unwrap();
    let order = bus.publish(&placed("order-1", "u1")).await.unwrap();
    // The same event again, as a relay that died before marking it sent would publish it.
    bus.publish_as(&placed("order-1", "u1"), &order).await.unwrap();
    let rows = sent(&running, "u1", 2).await;
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["ORDER_PLACED", "WELCOME"], "newest first");
    let receipt = eml(mail.path(), &rows[0]);
    assert!(receipt.contains("order-1") && receipt.contains("ada@example.com"), "{receipt}");
    assert_eq!(rows[0].status, "SENT");
    assert!(rows[0].body.contains("2 × Espresso cup at USD 9.00: USD 18.00"), "{}", rows[0].body);
    eventually(Duration::from_secs(20), "the redelivered event", || async {
        (duplicates(&running, "order-placed").await == 1.0).then_some(())
    })
    .await;
    wait_sent_total(&running, 2.0).await;

    // A payment for a user whose registration is behind: retried until the contact arrives.
    let declined = payments::PaymentFailed {
        payment_id: "pay-2".into(),
        order_id: "order-2".into(),
        user_id: "u2".into(),
        amount: usd(5),
        failure_code: "card_declined".into(),
        failure_message: "Your card was declined.".into(),
        occurred_at: None,
    };
    bus.publish(&declined).await.unwrap();
    bus.publish(&registered("u2", "bob@example.com", "Bob")).await.unwrap();
    let rows = sent(&running, "u2", 2).await;
    let failed = rows.iter().find(|r| r.kind == "PAYMENT_FAILED").expect("the decline's notification");
    assert!(eml(mail.path(), failed).contains("bob@example.com"));
    // The retries while the contact was missing sent nothing, so counted nothing.
    wait_sent_total(&running, 4.0).await;

    // Down: events wait in JetStream and are all delivered once it is back.
    running.stop().await.unwrap();
    let cancelled = orders::OrderCancelled {
        order_id: "order-1".into(),
        user_id: "u1".into(),
        reason: orders::CancellationReason::UserCancelled as i32,
        total: usd(18),
        ..Default::default()
    };
    bus.publish(&cancelled).await.unwrap();
    let paid = payments::PaymentCompleted {
        payment_id: "pay-3".into(),
        order_id: "order-3".into(),
        user_id: "u2".into(),
        amount: usd(7),
        ..Default::default()
    };
    bus.publish(&paid).await.unwrap();
    let dispatched = shipping::ShipmentDispatched {
        shipment_id: "ship-3".into(),
        order_id: "order-3".into(),
        user_id: "u2".into(),
        carrier: "UPS".into(),
        tracking_number: "MC1234567890128".into(),
        occurred_at: None,
    };
    bus.publish(&dispatched).await.unwrap();
    let running = start(&database, &nats, mail.path()).await;
    let rows = sent(&running, "u1", 3).await;
    assert_eq!(rows.len(), 3, "nothing twice: {rows:#?}");
    assert_eq!(rows[0].kind, "ORDER_CANCELLED");
    let rows = sent(&running, "u2", 4).await;
    let receipt = rows.iter().find(|r| r.kind == "PAYMENT_COMPLETED").expect("the receipt");
    assert!(eml(mail.path(), receipt).contains("USD 7.00"));
    let shipped = rows.iter().find(|r| r.kind == "SHIPMENT_DISPATCHED").expect("the dispatch notice");
    assert!(eml(mail.path(), shipped).contains("MC1234567890128"));
    // A new process counts from zero: the three sent since it started.
    wait_sent_total(&running, 3.0).await;

    // And the delivery, while it runs.
    let delivered = shipping::ShipmentDelivered {
        shipment_id: "ship-3".into(),
        order_id: "order-3".into(),
        user_id: "u2".into(),
        carrier: "UPS".into(),
        tracking_number: "MC1234567890128".into(),
        occurred_at: None,
    };
    bus.publish(&delivered).await.unwrap();
    let rows = sent(&running, "u2", 5).await;
    assert_eq!(rows[0].kind, "SHIPMENT_DELIVERED");
    assert_eq!(rows[0].order_id, "order-3");
    let files = std::fs::read_dir(mail.path()).unwrap().count();
    assert_eq!(files, 8, "one file per notification");
    wait_sent_total(&running, 4.0).await;
    running.stop().await.unwrap();
}

on_both_databases!(each_event_is_one_message_whatever_the_redeliveries_and_none_is_lost_while_down);

async fn a_sink_that_keeps_failing_is_retried_then_dead_lettered(backend: Backend) {
    let nats = TestNats::start().await.unwrap();
    let bus = Bus::connect(&nats.url()).await.unwrap();
    streams(&bus).await;
    let database = TestDatabase::create(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    let running = start(&database, &nats, &mail).await;
    bus.publish(&registered("u1", "ada@example.com", "Ada")).await.unwrap();
    sent(&running, "u1", 1).await;
    wait_sent_total(&running, 1.0).await;

    // The sink's folder is gone and a file has its name: every write fails from now on.
    std::fs::remove_dir_all(&mail).unwrap();
    std::fs::write(&mail, "not a folder").unwrap();
    bus.publish(&placed("order-9", "u1")).await.unwrap();
    let errors = bus.dead_letter_errors(1, Duration::from_secs(30)).await;
    assert!(errors[0].contains("writing") && errors[0].contains(".eml"), "{errors:?}");
    let db = running.db.clone().unwrap();
    let rows =
        notifications::list(&db, &Listing { user_id: "u1".into(), limit: 100, ..Default::default() }).await.unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["WELCOME"], "a message the sink never took is not recorded as sent");
    assert_eq!(sent_total(&running).await, 1.0, "nor counted as sent");
    running.stop().await.unwrap();
}

on_both_databases!(a_sink_that_keeps_failing_is_retried_then_dead_lettered);
