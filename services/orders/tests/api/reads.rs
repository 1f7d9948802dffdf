//! Reading orders: WatchOrder's stream, listings, and who may see what.

use futures::StreamExt;
use mercato::{orders::v1 as pb, payments::v1 as payments};
use mercato_kit::testing::{Backend, next};
use tonic::Code;

use crate::helpers::{Flags, Stack, key, on_both_databases, status};

on_both_databases!(
    watch_order_streams_every_status_in_order_and_ends_at_the_final_one,
    another_users_order_cart_and_payment_read_as_not_found_and_an_admin_reads_any,
    list_orders_pages_newest_first_and_filters_by_status,
);

async fn watch_order_streams_every_status_in_order_and_ends_at_the_final_one(backend: Backend) {
    // A slow provider holds the order in STOCK_RESERVED long enough to connect before it moves.
    let stack =
        Stack::start_with(backend, Flags { orders: &[], payments: &["--test-provider-latency", "500ms"] }).await;
    let cup = stack.product(4, 10).await;
    let (token, _) = stack.customer("hal@example.com").await;
    stack.fill_cart(&token, &[(&cup, 1)]).await;
    let placed = stack.place(&token, &key(), "tok_visa").await;

    let mut stream = stack
        .orders_as(&token)
        .watch_order(pb::WatchOrderRequest { id: placed.id.clone() })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while let Some(message) = next(&mut stream).await {
        seen.push(status(&message.expect("a message").order.unwrap()));
    }
    assert_eq!(seen.last(), Some(&pb::OrderStatus::Confirmed), "{seen:?}");
    let order =
        [pb::OrderStatus::Pending, pb::OrderStatus::StockReserved, pb::OrderStatus::Paid, pb::OrderStatus::Confirmed];
    let positions: Vec<_> = seen.iter().map(|s| order.iter().position(|o| o == s).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in order, each once: {seen:?}");
    assert!(seen.contains(&pb::OrderStatus::Paid), "the changes after connecting are all there: {seen:?}");

    // Connecting after the end: the final state, then the stream ends.
    let mut late = stack
        .orders_as(&token)
        .watch_order(pb::WatchOrderRequest { id: placed.id.clone() })
        .await
        .unwrap()
        .into_inner();
    let first = late.next().await.unwrap().unwrap().order.unwrap();
    assert_eq!(status(&first), pb::OrderStatus::Confirmed);
    assert!(late.next().await.is_none());
    stack.stop().await;
}

async fn another_users_order_cart_and_payment_read_as_not_found_and_an_admin_reads_any(backend: Backend) {
    let stack = Stack::start(backend).await;
    let hat = stack.product(15, 10).await;
    let (ida, _) = stack.customer("ida@example.com").await;
    let (jon, _) = stack.customer("jon@example.com").await;
    stack.fill_cart(&ida, &[(&hat, 1)]).await;
    let placed = stack.place(&ida, &key(), "tok_visa").await;
    let order = stack.settled(&ida, &placed.id).await.order.unwrap();

    let request = || pb::GetOrderRequest { id: order.id.clone() };
    let denied = stack.orders_as(&jon).get_order(request()).await.unwrap_err();
    assert_eq!(denied.code(), Code::NotFound);
    let missing = stack.orders_as(&jon).get_order(pb::GetOrderRequest { id: key() }).await.unwrap_err();
    assert_eq!(missing.message().replace(&missing_id(&missing), "ID"), denied.message().replace(&order.id, "ID"));
    let watch = stack.orders_as(&jon).watch_order(pb::WatchOrderRequest { id: order.id.clone() }).await;
    assert_eq!(watch.err().map(|s| s.code()), Some(Code::NotFound));
    let cancel = stack
        .orders_as(&jon)
        .cancel_order(pb::CancelOrderRequest { id: order.id.clone(), reason: String::new() })
        .await;
    assert_eq!(cancel.unwrap_err().code(), Code::NotFound);
    let listed = stack.orders_as(&jon).list_orders(pb::ListOrdersRequest::default()).await.unwrap().into_inner();
    assert!(listed.orders.is_empty());
    let cart = stack.cart_as(&jon).get_cart(pb::GetCartRequest {}).await.unwrap().into_inner().cart.unwrap();
    assert!(cart.items.is_empty(), "carts are per user");
    let payment = mercato::payments::v1::payment_service_client::PaymentServiceClient::with_interceptor(
        tonic::transport::Channel::from_shared(stack.payments.as_ref().unwrap().url()).unwrap().connect_lazy(),
        mercato_kit::auth::service_token::Bearer::new(&jon).unwrap(),
    )
    .clone()
    .get_payment(payments::GetPaymentRequest { id: order.payment_id.clone() })
    .await;
    assert_eq!(payment.unwrap_err().code(), Code::NotFound);

    let admin = stack.orders_as(&stack.admin_token).get_order(request()).await.unwrap().into_inner();
    assert_eq!(admin.order.unwrap().id, order.id);
    assert!(!admin.steps.is_empty(), "admins see the saga's log too");
    let unauthenticated = stack.orders_as("not-a-token").get_order(request()).await.unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
    stack.stop().await;
}

fn missing_id(status: &tonic::Status) -> String {
    status.message().split('"').nth(1).unwrap_or_default().to_string()
}

async fn list_orders_pages_newest_first_and_filters_by_status(backend: Backend) {
    let stack = Stack::start(backend).await;
    let (plenty, none) = (stack.product(2, 100).await, stack.product(2, 0).await);
    let (token, _) = stack.customer("kim@example.com").await;
    let mut ids = Vec::new();
    for product in [&plenty, &none, &plenty] {
        stack.fill_cart(&token, &[(product, 1)]).await;
        let placed = stack.place(&token, &key(), "tok_visa").await;
        stack.settled(&token, &placed.id).await;
        ids.push(placed.id);
    }
    let mut orders = stack.orders_as(&token);
    let first =
        orders.list_orders(pb::ListOrdersRequest { page_size: 2, ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(first.orders.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [ids[2].as_str(), ids[1].as_str()]);
    let second = orders
        .list_orders(pb::ListOrdersRequest { page_size: 2, page_token: first.next_page_token, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.orders.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [ids[0].as_str()]);
    assert!(second.next_page_token.is_empty());

    let cancelled = orders
        .list_orders(pb::ListOrdersRequest { status: pb::OrderStatus::Cancelled as i32, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.orders.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [ids[1].as_str()]);
    let bad = orders.list_orders(pb::ListOrdersRequest { status: 42, ..Default::default() }).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    stack.stop().await;
}
