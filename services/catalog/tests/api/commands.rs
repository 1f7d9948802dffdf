//! The checkout saga's commands, as orders sends them over the CATALOG stream: each handled
//! once, all lines or none, answered by a reply event that is published with the change.

use std::time::Duration;

use mercato::catalog::v1::{self as pb, ReservationStatus};
use mercato_kit::testing::{Backend, Bus, eventually, http_get};

use crate::helpers::{TestApp, create_product, on_both_databases, spawn_app};

on_both_databases!(
    a_reserve_command_holds_every_line_once_and_replies_stock_reserved,
    a_reserve_command_that_cannot_be_met_takes_nothing_and_replies_with_the_shortages,
    release_and_commit_commands_move_the_reservation_and_reply,
    a_release_that_overtakes_its_reservation_leaves_nothing_reserved,
    a_command_that_can_never_succeed_is_dead_lettered,
    crossed_reservations_in_concurrent_batches_never_roll_a_batch_back,
);

const WAIT: Duration = Duration::from_secs(10);

async fn bus(app: &TestApp) -> Bus {
    let bus = Bus::connect(&app.test_catalog().nats.url()).await.unwrap();
    // The stream is provisioned by catalog's relay at start; commands need it to land.
    eventually(WAIT, "the CATALOG stream", || async { bus.jetstream().get_stream("CATALOG").await.ok() }).await;
    bus
}

fn reserve(reservation_id: &str, lines: &[(&str, i32)]) -> pb::ReserveStockCommand {
    pb::ReserveStockCommand {
        reservation_id: reservation_id.into(),
        order_id: format!("order-{reservation_id}"),
        lines: lines
            .iter()
            .map(|(id, quantity)| pb::StockLine { product_id: id.to_string(), quantity: *quantity })
            .collect(),
    }
}

async fn stock_of(app: &TestApp, id: &str) -> pb::StockLevel {
    let product = app.catalog().get_product(pb::GetProductRequest { id: id.into() }).await.unwrap().into_inner();
    product.product.unwrap().stock.unwrap()
}

/// Waits until `id`'s stock is `expected` (the read cache follows the change's events).
async fn stock_becomes(app: &TestApp, id: &str, expected: pb::StockLevel) {
    eventually(WAIT, "the stock level", || async { (stock_of(app, id).await == expected).then_some(()) }).await;
}

async fn reservation(app: &TestApp, id: &str) -> Option<pb::Reservation> {
    let reply = app.stock().get_reservation(pb::GetReservationRequest { reservation_id: id.into() }).await.ok()?;
    reply.into_inner().reservation
}

async fn a_reserve_command_holds_every_line_once_and_replies_stock_reserved(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (create_product(&app, "CMD-A", 10).await, create_product(&app, "CMD-B", 5).await);
    let bus = bus(&app).await;
    let command = reserve("cmd-res-1", &[(&a, 3), (&b, 2)]);
    let event_id = bus.publish(&command).await.unwrap();

    let reply = bus.wait_for::<pb::StockReserved>("CATALOG", WAIT, |e| e.reservation_id == "cmd-res-1").await;
    assert_eq!(reply.order_id, "order-cmd-res-1");
    assert_eq!(reply.lines.len(), 2);
    assert!(reply.occurred_at.is_some());
    stock_becomes(&app, &a, pb::StockLevel { on_hand: 10, reserved: 3, available: 7 }).await;
    stock_becomes(&app, &b, pb::StockLevel { on_hand: 5, reserved: 2, available: 3 }).await;

    // The same event redelivered (a relay that republished it) has no second effect; the
    // same command sent again as a new event (a saga retrying) replies again, and still
    // reserves once.
    bus.publish_as(&command, &event_id).await.unwrap();
    bus.publish(&command).await.unwrap();
    eventually(WAIT, "the second reply", || async {
        let replies = bus.all::<pb::StockReserved>("CATALOG").await.ok()?;
        (replies.iter().filter(|e| e.reservation_id == "cmd-res-1").count() == 2).then_some(())
    })
    .await;
    assert_eq!(stock_of(&app, &a).await, pb::StockLevel { on_hand: 10, reserved: 3, available: 7 });
    assert_eq!(stock_of(&app, &b).await, pb::StockLevel { on_hand: 5, reserved: 2, available: 3 });
    let levels = bus.all::<pb::StockLevelChanged>("CATALOG").await.unwrap();
    let moved = levels.iter().filter(|e| e.reservation_id == "cmd-res-1").count();
    assert_eq!(moved, 2, "one level change per product, for the one reservation that moved stock");
    app.stop().await;
}

async fn a_reserve_command_that_cannot_be_met_takes_nothing_and_replies_with_the_shortages(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (create_product(&app, "CMD-SHORT-A", 10).await, create_product(&app, "CMD-SHORT-B", 1).await);
    let bus = bus(&app).await;
    bus.publish(&reserve("cmd-short", &[(&a, 3), (&b, 2)])).await.unwrap();

    let failed = bus.wait_for::<pb::StockReservationFailed>("CATALOG", WAIT, |e| e.reservation_id == "cmd-short").await;
    assert_eq!(failed.order_id, "order-cmd-short");
    assert_eq!(failed.shortages, vec![pb::StockShortage { product_id: b.clone(), requested: 2, available: 1 }]);
    assert_eq!(stock_of(&app, &a).await, pb::StockLevel { on_hand: 10, reserved: 0, available: 10 });
    assert_eq!(reservation(&app, "cmd-short").await.unwrap().status, ReservationStatus::Rejected as i32);
    app.stop().await;
}

async fn release_and_commit_commands_move_the_reservation_and_reply(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = create_product(&app, "CMD-LIFE", 10).await;
    let bus = bus(&app).await;
    for id in ["cmd-keep", "cmd-give-back"] {
        bus.publish(&reserve(id, &[(&a, 2)])).await.unwrap();
        bus.wait_for::<pb::StockReserved>("CATALOG", WAIT, |e| e.reservation_id == id).await;
    }
    stock_becomes(&app, &a, pb::StockLevel { on_hand: 10, reserved: 4, available: 6 }).await;

    let release =
        pb::ReleaseStockCommand { reservation_id: "cmd-give-back".into(), order_id: "order-cmd-give-back".into() };
    bus.publish(&release).await.unwrap();
    let released = bus.wait_for::<pb::StockReleased>("CATALOG", WAIT, |e| e.reservation_id == "cmd-give-back").await;
    assert_eq!(released.order_id, "order-cmd-give-back");
    let commit = pb::CommitStockCommand { reservation_id: "cmd-keep".into(), order_id: "order-cmd-keep".into() };
    bus.publish(&commit).await.unwrap();
    let committed = bus.wait_for::<pb::StockCommitted>("CATALOG", WAIT, |e| e.reservation_id == "cmd-keep").await;
    assert_eq!(committed.lines, vec![pb::StockLine { product_id: a.clone(), quantity: 2 }]);
    stock_becomes(&app, &a, pb::StockLevel { on_hand: 8, reserved: 0, available: 8 }).await;

    // Both again: each replies with the state it is in, and nothing moves twice.
    bus.publish(&release).await.unwrap();
    bus.publish(&commit).await.unwrap();
    eventually(WAIT, "the repeated replies", || async {
        let released = bus.all::<pb::StockReleased>("CATALOG").await.ok()?.len();
        let committed = bus.all::<pb::StockCommitted>("CATALOG").await.ok()?.len();
        (released == 2 && committed == 2).then_some(())
    })
    .await;
    assert_eq!(stock_of(&app, &a).await, pb::StockLevel { on_hand: 8, reserved: 0, available: 8 });
    app.stop().await;
}

async fn a_release_that_overtakes_its_reservation_leaves_nothing_reserved(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = create_product(&app, "CMD-LATE", 10).await;
    let bus = bus(&app).await;
    // The saga gave up on a reservation (its deadline passed) before catalog saw it.
    let release = pb::ReleaseStockCommand { reservation_id: "cmd-late".into(), order_id: "order-cmd-late".into() };
    bus.publish(&release).await.unwrap();
    let released = bus.wait_for::<pb::StockReleased>("CATALOG", WAIT, |e| e.reservation_id == "cmd-late").await;
    assert_eq!(released.order_id, "order-cmd-late", "the reply names the order even with no reservation yet");

    bus.publish(&reserve("cmd-late", &[(&a, 4)])).await.unwrap();
    eventually(WAIT, "the late reservation's reply", || async {
        let replies = bus.all::<pb::StockReleased>("CATALOG").await.ok()?;
        (replies.iter().filter(|e| e.reservation_id == "cmd-late").count() == 2).then_some(())
    })
    .await;
    assert!(bus.all::<pb::StockReserved>("CATALOG").await.unwrap().is_empty());
    assert_eq!(stock_of(&app, &a).await, pb::StockLevel { on_hand: 10, reserved: 0, available: 10 });
    app.stop().await;
}

async fn a_command_that_can_never_succeed_is_dead_lettered(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = create_product(&app, "CMD-BAD", 10).await;
    let bus = bus(&app).await;
    // A quantity of zero, and a commit of a reservation nobody made.
    bus.publish(&reserve("cmd-bad", &[(&a, 0)])).await.unwrap();
    let commit = pb::CommitStockCommand { reservation_id: "cmd-nobody".into(), order_id: "order-cmd-nobody".into() };
    bus.publish(&commit).await.unwrap();

    let dead = bus.dead_letter_errors(2, WAIT).await;
    assert!(dead.iter().any(|e| e.contains("invalid command") && e.contains("quantity")), "{dead:?}");
    assert!(dead.iter().any(|e| e.contains("cmd-nobody") && e.contains("not found")), "{dead:?}");
    assert!(reservation(&app, "cmd-bad").await.is_none());
    assert!(bus.all::<pb::StockReserved>("CATALOG").await.unwrap().is_empty());
    assert_eq!(stock_of(&app, &a).await, pb::StockLevel { on_hand: 10, reserved: 0, available: 10 });
    app.stop().await;
}

/// Popular products are in many carts: reservations naming the same few products, their lines
/// in every order, arrive together and are handled in concurrent batches. Each batch locks its
/// products in one order before it moves stock, so none deadlocks with another (on PostgreSQL a
/// deadlock would roll a batch back; the counter says whether any did), and every unit is
/// reserved exactly once.
async fn crossed_reservations_in_concurrent_batches_never_roll_a_batch_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut products = Vec::new();
    for sku in ["CROSS-A", "CROSS-B", "CROSS-C", "CROSS-D"] {
        products.push(create_product(&app, sku, 10_000).await);
    }
    let bus = bus(&app).await;
    let count = 240;
    let mut commands = Vec::with_capacity(count);
    for i in 0..count {
        // Pairs and triples of the four products, rotating, so consecutive batches cross.
        let mut lines: Vec<(&str, i32)> =
            (0..2 + i % 2).map(|k| (products[(i + k * (1 + i % 3)) % 4].as_str(), 1)).collect();
        lines.sort_unstable();
        lines.dedup_by_key(|line| line.0);
        commands.push(reserve(&format!("cross-{i}"), &lines));
    }
    let publishes = commands.iter().map(|command| bus.publish(command));
    for published in futures::future::join_all(publishes).await {
        published.unwrap();
    }
    eventually(Duration::from_secs(60), "every reservation's reply", || async {
        let replies = bus.all::<pb::StockReserved>("CATALOG").await.ok()?;
        (replies.len() >= count).then_some(())
    })
    .await;
    let (_, metrics) = http_get(app.admin_addr, "/metrics").await.unwrap();
    let rollbacks = metrics
        .lines()
        .filter(|l| l.starts_with("mercato_consumer_batch_rollbacks_total") && l.contains("reserve-stock"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    assert_eq!(rollbacks, 0.0, "a batch of reservations was rolled back (a deadlock?)");
    let wanted: usize = commands.iter().map(|c| c.lines.len()).sum();
    // The read cache follows the stock's events: wait for it to show every reservation.
    eventually(WAIT, "each line reserved once", || async {
        let mut reserved = 0;
        for product in &products {
            reserved += stock_of(&app, product).await.reserved;
        }
        (usize::try_from(reserved).ok()? == wanted).then_some(())
    })
    .await;
    app.stop().await;
}
