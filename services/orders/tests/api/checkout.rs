//! The checkout saga end to end: confirmed, declined, out of stock, and duplicates, each
//! counted once on orders' /metrics.

use mercato::{catalog::v1 as catalog, orders::v1 as pb, payments::v1 as payments};
use mercato_kit::testing::{Backend, metric};

use crate::helpers::{
    CONFIRMED, PLACED, REVENUE, Stack, USD, WAIT, all_cancelled, cancelled, consumed, key, on_both_databases, reason,
    status, timed_confirmations,
};

on_both_databases!(
    a_checkout_reserves_charges_commits_and_confirms_once,
    a_declined_card_cancels_the_order_and_releases_the_stock,
    a_product_out_of_stock_cancels_the_order_before_any_charge,
    five_concurrent_checkouts_with_one_key_make_one_order_and_one_charge,
);

async fn a_checkout_reserves_charges_commits_and_confirms_once(backend: Backend) {
    let stack = Stack::start(backend).await;
    let (mug, beans) = (stack.product(12, 10).await, stack.product(7, 5).await);
    let (token, user) = stack.customer("ada@example.com").await;
    stack.fill_cart(&token, &[(&mug, 2), (&beans, 1)]).await;

    let placed = stack.place(&token, &key(), "tok_visa").await;
    assert_eq!(status(&placed), pb::OrderStatus::Pending);
    assert_eq!(placed.user_id, user);
    assert_eq!(placed.total.as_ref().map(|m| m.units), Some(31));
    assert_eq!(placed.lines.len(), 2);
    let cart = stack.cart_as(&token).get_cart(pb::GetCartRequest {}).await.unwrap().into_inner().cart.unwrap();
    assert!(cart.items.is_empty(), "the cart is emptied with the checkout");

    let settled = stack.settled(&token, &placed.id).await;
    let order = settled.order.unwrap();
    assert_eq!(status(&order), pb::OrderStatus::Confirmed, "{:?}", settled.steps);
    assert!(!order.payment_id.is_empty());
    let names: Vec<_> = settled.steps.iter().map(|s| format!("{} {}", s.kind, s.name)).collect();
    assert_eq!(
        names,
        [
            "request PlaceOrder",
            "command ReserveStock",
            "reply StockReserved",
            "command ChargePayment",
            "reply PaymentCompleted",
            "command CommitStock",
            "reply StockCommitted",
        ]
    );

    // Sold once: on hand down by the quantities, nothing left held.
    stack.wait_stock(&mug, (8, 0)).await;
    stack.wait_stock(&beans, (4, 0)).await;
    let charged = stack.payments_of(&order.id).await;
    assert_eq!(charged.len(), 1);
    assert_eq!(charged[0].id, order.payment_id);
    assert_eq!(charged[0].status, payments::PaymentStatus::Completed as i32);
    assert_eq!(charged[0].amount.as_ref().map(|m| m.units), Some(31));

    let placed_event = stack.bus.wait_for::<pb::OrderPlaced>("ORDERS", WAIT, |e| e.order_id == order.id).await;
    assert_eq!(placed_event.lines.len(), 2);
    let confirmed = stack.bus.wait_for::<pb::OrderConfirmed>("ORDERS", WAIT, |e| e.order_id == order.id).await;
    assert_eq!(confirmed.payment_id, order.payment_id);
    assert_eq!(stack.bus.all::<pb::OrderConfirmed>("ORDERS").await.unwrap().len(), 1);

    stack.wait_metric("orders confirmed", 1.0, |m| metric(m, CONFIRMED, USD)).await;
    let counted = stack.orders_metrics().await;
    assert_eq!(metric(&counted, PLACED, USD), 1.0, "{counted}");
    assert_eq!(metric(&counted, REVENUE, USD), 31.0, "{counted}");
    assert_eq!(timed_confirmations(&counted), 1.0, "{counted}");
    assert_eq!(all_cancelled(&counted), 0.0, "{counted}");

    // catalog's last reply again, as a new event (a step the saga has left) and as that same
    // event redelivered: neither confirms the order, or counts it, a second time.
    let committed = stack.bus.wait_for::<catalog::StockCommitted>("CATALOG", WAIT, |e| e.order_id == order.id).await;
    let again = stack.bus.publish(&committed).await.unwrap();
    stack.bus.publish_as(&committed, &again).await.unwrap();
    stack.wait_metric("the repeated reply", 2.0, |m| consumed(m, "stock-committed", "processed")).await;
    stack.wait_metric("the redelivered reply", 1.0, |m| consumed(m, "stock-committed", "duplicate")).await;
    let counted = stack.orders_metrics().await;
    assert_eq!(metric(&counted, CONFIRMED, USD), 1.0, "{counted}");
    assert_eq!(metric(&counted, REVENUE, USD), 31.0, "{counted}");
    assert_eq!(timed_confirmations(&counted), 1.0, "{counted}");
    stack.stop().await;
}

async fn a_declined_card_cancels_the_order_and_releases_the_stock(backend: Backend) {
    let stack = Stack::start(backend).await;
    let lamp = stack.product(40, 3).await;
    let (token, _) = stack.customer("bob@example.com").await;
    stack.fill_cart(&token, &[(&lamp, 2)]).await;

    let placed = stack.place(&token, &key(), "tok_chargeDeclinedInsufficientFunds").await;
    let order = stack.settled(&token, &placed.id).await.order.unwrap();
    assert_eq!(status(&order), pb::OrderStatus::Cancelled);
    assert_eq!(reason(&order), pb::CancellationReason::PaymentDeclined);
    assert!(order.cancellation_message.contains("insufficient_funds"), "{}", order.cancellation_message);
    stack.wait_stock(&lamp, (3, 0)).await;
    let charged = stack.payments_of(&order.id).await;
    assert_eq!(charged.len(), 1);
    assert_eq!(charged[0].status, payments::PaymentStatus::Failed as i32, "nothing captured");
    let event = stack.bus.wait_for::<pb::OrderCancelled>("ORDERS", WAIT, |e| e.order_id == order.id).await;
    assert_eq!(event.reason, pb::CancellationReason::PaymentDeclined as i32);
    assert!(!event.payment_refunded);

    stack.wait_metric("orders declined", 1.0, |m| cancelled(m, "payment_declined")).await;
    let counted = stack.orders_metrics().await;
    assert_eq!(metric(&counted, PLACED, USD), 1.0, "{counted}");
    assert_eq!(all_cancelled(&counted), 1.0, "{counted}");
    assert_eq!(metric(&counted, CONFIRMED, USD) + metric(&counted, REVENUE, USD), 0.0, "{counted}");
    assert_eq!(timed_confirmations(&counted), 0.0, "{counted}");
    stack.stop().await;
}

async fn a_product_out_of_stock_cancels_the_order_before_any_charge(backend: Backend) {
    let stack = Stack::start(backend).await;
    let (rare, plenty) = (stack.product(99, 1).await, stack.product(1, 100).await);
    let (token, _) = stack.customer("cy@example.com").await;
    stack.fill_cart(&token, &[(&plenty, 3), (&rare, 2)]).await;

    let placed = stack.place(&token, &key(), "tok_visa").await;
    let settled = stack.settled(&token, &placed.id).await;
    let order = settled.order.unwrap();
    assert_eq!(status(&order), pb::OrderStatus::Cancelled);
    assert_eq!(reason(&order), pb::CancellationReason::OutOfStock);
    assert!(order.cancellation_message.contains(&rare), "{}", order.cancellation_message);
    assert!(order.payment_id.is_empty(), "no charge was requested");
    assert!(!settled.steps.iter().any(|s| s.name == "ChargePayment"));
    // All lines or none: the plentiful product was not held either.
    stack.wait_stock(&plenty, (100, 0)).await;
    stack.wait_stock(&rare, (1, 0)).await;
    assert!(stack.payments_of(&order.id).await.is_empty());

    stack.wait_metric("orders out of stock", 1.0, |m| cancelled(m, "out_of_stock")).await;
    let counted = stack.orders_metrics().await;
    assert_eq!(metric(&counted, PLACED, USD), 1.0, "{counted}");
    assert_eq!(all_cancelled(&counted), 1.0, "{counted}");
    assert_eq!(metric(&counted, CONFIRMED, USD), 0.0, "{counted}");
    stack.stop().await;
}

async fn five_concurrent_checkouts_with_one_key_make_one_order_and_one_charge(backend: Backend) {
    let stack = Stack::start(backend).await;
    let kettle = stack.product(25, 10).await;
    let (token, _) = stack.customer("dee@example.com").await;
    stack.fill_cart(&token, &[(&kettle, 1)]).await;

    let key = key();
    let calls = (0..5).map(|_| {
        let mut orders = stack.orders_as(&token);
        let request = crate::helpers::place_request(&key, "tok_visa");
        async move { orders.place_order(request).await.map(|r| r.into_inner().order.unwrap().id) }
    });
    let ids: Vec<String> = futures::future::join_all(calls).await.into_iter().map(|r| r.expect("placed")).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one order for one key: {ids:?}");

    let order = stack.settled(&token, &ids[0]).await.order.unwrap();
    assert_eq!(status(&order), pb::OrderStatus::Confirmed);
    // A repeat after the fact, with the cart now empty, is still that order.
    assert_eq!(stack.place(&token, &key, "tok_visa").await.id, ids[0]);
    let listed = stack.orders_as(&token).list_orders(pb::ListOrdersRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.orders.len(), 1);
    assert_eq!(stack.payments_of(&order.id).await.len(), 1);
    assert_eq!(stack.bus.all::<payments::ChargePaymentCommand>("PAYMENTS").await.unwrap().len(), 1);
    stack.wait_stock(&kettle, (9, 0)).await;

    // Six calls, one order placed: a repeated key answers with the order, and counts nothing.
    stack.wait_metric("orders confirmed", 1.0, |m| metric(m, CONFIRMED, USD)).await;
    let counted = stack.orders_metrics().await;
    assert_eq!(metric(&counted, PLACED, USD), 1.0, "{counted}");
    assert_eq!(metric(&counted, REVENUE, USD), 25.0, "{counted}");
    stack.stop().await;
}
