//! The saga when things go wrong: a payments outage outlasting the step's deadline, a charge
//! arriving after the order gave up on it, and the owner cancelling.

use mercato::{orders::v1 as pb, payments::v1 as payments};
use mercato_kit::testing::{Backend, eventually, metric};
use tonic::Code;

use crate::helpers::{
    CONFIRMED, Flags, Stack, USD, WAIT, all_cancelled, cancelled, key, on_both_databases, reason, status, usd,
};

on_both_databases!(
    a_payments_outage_times_the_order_out_and_a_late_charge_is_refunded,
    the_owner_cancels_before_confirmation_and_everything_is_given_back,
    a_confirmed_order_cannot_be_cancelled,
);

/// Polls GetOrder until the order is in `wanted`.
async fn wait_status(stack: &Stack, token: &str, id: &str, wanted: pb::OrderStatus) -> pb::Order {
    let orders = stack.orders_as(token);
    eventually(WAIT, &format!("order {id} {wanted:?}"), || {
        let mut orders = orders.clone();
        async move {
            let order = orders.get_order(pb::GetOrderRequest { id: id.to_string() }).await.ok()?.into_inner().order?;
            (status(&order) == wanted).then_some(order)
        }
    })
    .await
}

async fn a_payments_outage_times_the_order_out_and_a_late_charge_is_refunded(backend: Backend) {
    let flags = Flags { orders: &["--saga-step-timeout", "2s", "--saga-timer-interval", "100ms"], payments: &[] };
    let mut stack = Stack::start_with(backend, flags).await;
    let desk = stack.product(300, 2).await;
    let (token, _) = stack.customer("eve@example.com").await;
    stack.fill_cart(&token, &[(&desk, 1)]).await;
    stack.payments.take().expect("payments").stop().await.expect("payments stops");

    let placed = stack.place(&token, &key(), "tok_visa").await;
    wait_status(&stack, &token, &placed.id, pb::OrderStatus::StockReserved).await;
    let settled = stack.settled(&token, &placed.id).await;
    let order = settled.order.unwrap();
    assert_eq!(status(&order), pb::OrderStatus::Cancelled, "{:?}", settled.steps);
    assert_eq!(reason(&order), pb::CancellationReason::Timeout);
    assert!(order.cancellation_message.contains("payment"), "{}", order.cancellation_message);
    assert!(settled.steps.iter().any(|s| s.kind == "deadline"));
    stack.wait_stock(&desk, (2, 0)).await;
    stack.wait_metric("orders timed out", 1.0, |m| cancelled(m, "timeout")).await;

    // The charge lands after all (a provider that answered late): orders asks for it back.
    let late = payments::PaymentCompleted {
        payment_id: order.payment_id.clone(),
        order_id: order.id.clone(),
        user_id: order.user_id.clone(),
        amount: Some(usd(300)),
        provider_reference: "ch_late".into(),
        occurred_at: None,
    };
    stack.bus.publish(&late).await.unwrap();
    eventually(WAIT, "a second RefundPayment", || async {
        let refunds = stack.bus.all::<payments::RefundPaymentCommand>("PAYMENTS").await.ok()?;
        (refunds.iter().filter(|r| r.order_id == order.id).count() == 2).then_some(())
    })
    .await;

    // Payments comes back and works through what waited: the money is not kept.
    stack.payments = Some(stack.spawn_payments(&[]).await);
    let kept = eventually(WAIT, "the payment to end refunded", || async {
        let listed = stack.payments_of(&order.id).await;
        (!listed.is_empty() && listed.iter().all(|p| p.status == payments::PaymentStatus::Refunded as i32))
            .then_some(listed)
    })
    .await;
    assert_eq!(kept.len(), 1, "one payment, refunded");
    let after = stack.settled(&token, &order.id).await.order.unwrap();
    assert_eq!(status(&after), pb::OrderStatus::Cancelled, "a late charge does not revive the order");
    // Nor is the order counted again, however many replies came after it ended: the late
    // charge, and the refunds' answers once payments was back.
    let counted = stack.orders_metrics().await;
    assert_eq!(all_cancelled(&counted), 1.0, "{counted}");
    assert_eq!(metric(&counted, CONFIRMED, USD), 0.0, "{counted}");
    stack.stop().await;
}

async fn the_owner_cancels_before_confirmation_and_everything_is_given_back(backend: Backend) {
    // The provider takes its time, so the order waits in STOCK_RESERVED.
    let flags = Flags { orders: &[], payments: &["--test-provider-latency", "1s"] };
    let stack = Stack::start_with(backend, flags).await;
    let chair = stack.product(80, 4).await;
    let (token, _) = stack.customer("fay@example.com").await;
    stack.fill_cart(&token, &[(&chair, 3)]).await;

    let placed = stack.place(&token, &key(), "tok_visa").await;
    wait_status(&stack, &token, &placed.id, pb::OrderStatus::StockReserved).await;
    let cancelling = stack
        .orders_as(&token)
        .cancel_order(pb::CancelOrderRequest { id: placed.id.clone(), reason: "found it cheaper".into() })
        .await
        .expect("cancel accepted")
        .into_inner()
        .order
        .unwrap();
    assert!(matches!(status(&cancelling), pb::OrderStatus::Cancelling | pb::OrderStatus::Cancelled));
    // Cancelling again returns it unchanged.
    let again = stack
        .orders_as(&token)
        .cancel_order(pb::CancelOrderRequest { id: placed.id.clone(), reason: String::new() })
        .await
        .expect("a second cancel is not an error")
        .into_inner()
        .order
        .unwrap();
    assert_eq!(again.cancellation_message, "found it cheaper");

    let order = stack.settled(&token, &placed.id).await.order.unwrap();
    assert_eq!(reason(&order), pb::CancellationReason::UserCancelled);
    stack.wait_metric("orders cancelled by their owner", 1.0, |m| crate::helpers::cancelled(m, "customer")).await;
    stack.wait_stock(&chair, (4, 0)).await;
    eventually(WAIT, "the charge to be refunded (or never taken)", || async {
        let listed = stack.payments_of(&order.id).await;
        (listed.len() == 1 && listed[0].status == payments::PaymentStatus::Refunded as i32).then_some(())
    })
    .await;
    stack.stop().await;
}

async fn a_confirmed_order_cannot_be_cancelled(backend: Backend) {
    let stack = Stack::start(backend).await;
    let pen = stack.product(3, 10).await;
    let (token, _) = stack.customer("gil@example.com").await;
    stack.fill_cart(&token, &[(&pen, 1)]).await;
    let placed = stack.place(&token, &key(), "tok_visa").await;
    assert_eq!(status(&stack.settled(&token, &placed.id).await.order.unwrap()), pb::OrderStatus::Confirmed);

    let refused = stack
        .orders_as(&token)
        .cancel_order(pb::CancelOrderRequest { id: placed.id.clone(), reason: String::new() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let settled = stack.settled(&token, &placed.id).await;
    assert_eq!(status(settled.order.as_ref().unwrap()), pb::OrderStatus::Confirmed);
    assert!(settled.steps.iter().any(|s| s.name == "CancelOrder" && s.outcome.starts_with("refused")));
    stack.wait_metric("orders confirmed", 1.0, |m| metric(m, CONFIRMED, USD)).await;
    assert_eq!(all_cancelled(&stack.orders_metrics().await), 0.0, "a refused cancellation counts nothing");
    stack.stop().await;
}
