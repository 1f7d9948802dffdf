//! A confirmed order becomes one shipment that moves on by itself, whatever the redeliveries,
//! across restarts, and stops when its order is cancelled before it left; each dispatch is
//! counted once on /metrics.

use std::time::Duration;

use mercato::shipping::v1 as pb;
use mercato_kit::testing::{Backend, eventually};
use mercato_shipping::domain::shipment::is_tracking_number;

use crate::helpers::{
    ORDERS, QUICK, STREAM, TestApp, WAIT, cancelled, confirmed, customer, get, new_order_id, on_both_databases,
};

on_both_databases!(
    a_confirmed_order_ships_once_then_is_dispatched_and_delivered,
    a_cancelled_order_stops_its_shipment_until_it_has_left,
    due_times_and_events_wait_for_a_restart,
);

async fn a_confirmed_order_ships_once_then_is_dispatched_and_delivered(backend: Backend) {
    let app = TestApp::spawn(backend, QUICK).await;
    let (token, user_id) = customer(&app, "ada@example.com").await;
    let order_id = new_order_id();
    let event = confirmed(&order_id, &user_id, "GB");
    let id = app.bus.publish(&event).await.unwrap();
    // The same event again, as a relay that died before marking it sent would publish it, and
    // the same order confirmed under another event id.
    app.bus.publish_as(&event, &id).await.unwrap();
    app.bus.publish(&event).await.unwrap();

    let dispatched = app.bus.wait_for::<pb::ShipmentDispatched>(STREAM, WAIT, |e| e.order_id == order_id).await;
    let delivered = app.bus.wait_for::<pb::ShipmentDelivered>(STREAM, WAIT, |e| e.order_id == order_id).await;
    assert_eq!(dispatched.user_id, user_id);
    assert_eq!(dispatched.carrier, "Royal Mail", "GB's carrier in the default table");
    assert!(is_tracking_number(&dispatched.tracking_number), "{}", dispatched.tracking_number);
    assert_eq!(
        (delivered.shipment_id.as_str(), delivered.tracking_number.as_str()),
        (dispatched.shipment_id.as_str(), dispatched.tracking_number.as_str())
    );

    let shipment = get(&mut app.client_as(&token).await, &order_id).await.unwrap();
    assert_eq!(shipment.status(), pb::ShipmentStatus::Delivered);
    assert_eq!(shipment.id, dispatched.shipment_id);
    assert_eq!(shipment.tracking_number, dispatched.tracking_number);
    let items: Vec<(&str, i32)> = shipment.items.iter().map(|i| (i.product_name.as_str(), i.quantity)).collect();
    assert_eq!(items, [("Espresso cup", 2), ("Mug", 1)]);
    let address = shipment.address.clone().unwrap();
    assert_eq!((address.city.as_str(), address.country_code.as_str()), ("London", "GB"));
    let (created, sent, arrived) =
        (shipment.create_time.unwrap(), shipment.dispatch_time.unwrap(), shipment.delivery_time.unwrap());
    assert!(created.seconds <= sent.seconds && sent.seconds <= arrived.seconds);
    assert!(shipment.cancel_time.is_none());

    // One shipment, one event of each kind, however often the order was confirmed.
    let all = app.bus.all::<pb::ShipmentDispatched>(STREAM).await.unwrap();
    assert_eq!(all.iter().filter(|e| e.order_id == order_id).count(), 1);
    let all = app.bus.all::<pb::ShipmentDelivered>(STREAM).await.unwrap();
    assert_eq!(all.iter().filter(|e| e.order_id == order_id).count(), 1);
    app.wait_dispatched_total(1.0).await;
    let other_carrier = new_order_id();
    app.bus.publish(&confirmed(&other_carrier, &user_id, "FR")).await.unwrap();
    let other = app.bus.wait_for::<pb::ShipmentDispatched>(STREAM, WAIT, |e| e.order_id == other_carrier).await;
    assert_eq!(other.carrier, "DHL Express", "the default for countries without their own");
    assert_ne!(other.tracking_number, dispatched.tracking_number);
    app.wait_dispatched_total(2.0).await;
    app.stop().await;
}

async fn a_cancelled_order_stops_its_shipment_until_it_has_left(backend: Backend) {
    // Nothing is dispatched within the test: a cancellation always finds the shipment pending.
    let app = TestApp::spawn(backend, &["--dispatch-delay", "1h", "--shipping-timer-interval", "50ms"]).await;
    let (token, user_id) = customer(&app, "ada@example.com").await;
    let order_id = new_order_id();
    app.bus.publish(&confirmed(&order_id, &user_id, "US")).await.unwrap();
    let pending = app.wait_status(&order_id, "PENDING").await;
    assert_eq!(pending.row.carrier, "UPS");
    let event = cancelled(&order_id, &user_id);
    let id = app.bus.publish(&event).await.unwrap();
    app.bus.publish_as(&event, &id).await.unwrap();
    let stopped = app.bus.wait_for::<pb::ShipmentCancelled>(STREAM, WAIT, |e| e.order_id == order_id).await;
    assert_eq!(stopped.shipment_id, pending.row.id);
    let shipment = get(&mut app.client_as(&token).await, &order_id).await.unwrap();
    assert_eq!(shipment.status(), pb::ShipmentStatus::Cancelled);
    assert!(shipment.cancel_time.is_some() && shipment.dispatch_time.is_none());
    assert_eq!(app.stored(&order_id).await.unwrap().row.due_at, None, "nothing is left to do");
    // A cancellation of an order never confirmed leaves nothing behind.
    let never = new_order_id();
    app.bus.publish(&cancelled(&never, &user_id)).await.unwrap();
    assert_eq!(app.dispatched_total().await, 0.0, "a cancelled shipment never left");
    app.stop().await;

    // Dispatched at once, delivered never within the test: a cancellation comes too late.
    let app = TestApp::spawn(
        backend,
        &["--dispatch-delay", "0s", "--delivery-delay", "1h", "--shipping-timer-interval", "50ms"],
    )
    .await;
    let (_, user_id) = customer(&app, "bob@example.com").await;
    let order_id = new_order_id();
    app.bus.publish(&confirmed(&order_id, &user_id, "US")).await.unwrap();
    app.bus.wait_for::<pb::ShipmentDispatched>(STREAM, WAIT, |e| e.order_id == order_id).await;
    app.bus.publish(&cancelled(&order_id, &user_id)).await.unwrap();
    // The cancellation is the only one on this broker: once its consumer has acknowledged it
    // (after the transaction that handled it committed), its effects are all there are.
    eventually(WAIT, "the late cancellation consumed", || async {
        let stream = app.bus.jetstream().get_stream(ORDERS).await.ok()?;
        let info = stream.consumer_info("shipping-order-cancelled").await.ok()?;
        (info.num_pending == 0 && info.num_ack_pending == 0 && info.ack_floor.consumer_sequence >= 1).then_some(())
    })
    .await;
    assert_eq!(app.stored(&order_id).await.unwrap().row.status, "DISPATCHED");
    let cancelled_events = app.bus.all::<pb::ShipmentCancelled>(STREAM).await.unwrap();
    assert!(cancelled_events.is_empty(), "{cancelled_events:?}");
    assert_eq!(app.dispatched_total().await, 1.0);
    app.stop().await;
}

async fn due_times_and_events_wait_for_a_restart(backend: Backend) {
    let mut app = TestApp::spawn(
        backend,
        &["--dispatch-delay", "3s", "--delivery-delay", "200ms", "--shipping-timer-interval", "50ms"],
    )
    .await;
    let (_, user_id) = customer(&app, "ada@example.com").await;
    let first = new_order_id();
    app.bus.publish(&confirmed(&first, &user_id, "DE")).await.unwrap();
    app.wait_status(&first, "PENDING").await;
    app.stop_shipping().await;
    let early = app.bus.all::<pb::ShipmentDispatched>(STREAM).await.unwrap();
    assert!(early.is_empty(), "dispatched before the restart, so the restart proves nothing: {early:?}");
    // While shipping is down: the first shipment's dispatch falls due, and another order is
    // confirmed. Neither is lost.
    let second = new_order_id();
    app.bus.publish(&confirmed(&second, &user_id, "DE")).await.unwrap();
    app.start().await;
    for order_id in [&first, &second] {
        app.bus
            .wait_for::<pb::ShipmentDelivered>(STREAM, WAIT + Duration::from_secs(5), |e| &e.order_id == order_id)
            .await;
    }
    let dispatched = app.bus.all::<pb::ShipmentDispatched>(STREAM).await.unwrap();
    assert_eq!(dispatched.len(), 2, "{dispatched:?}");
    assert!(dispatched.iter().all(|e| e.carrier == "DHL"));
    // Both left after the restart, so the new process counted both.
    app.wait_dispatched_total(2.0).await;
    app.stop().await;
}
