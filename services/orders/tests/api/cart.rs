//! The cart's rules, checked against a real catalog, and checkout refusing what it cannot do.

use std::time::{Duration, Instant};

use mercato::orders::v1 as pb;
use mercato_kit::testing::{Backend, violated_fields};
use tonic::Code;

use crate::helpers::{Stack, key, on_both_databases, place_request};

on_both_databases!(
    the_cart_adds_up_checks_products_and_bounds_and_removes,
    a_checkout_is_refused_for_an_empty_cart_bad_input_or_an_unavailable_catalog,
    additions_made_at_once_all_count_and_a_full_cart_refuses_a_new_product,
);

async fn additions_made_at_once_all_count_and_a_full_cart_refuses_a_new_product(backend: Backend) {
    let stack = Stack::start(backend).await;
    let tea = stack.product(5, 10).await;
    let (token, _) = stack.customer("max@example.com").await;
    let add = |product_id: &str, quantity| pb::AddCartItemRequest { product_id: product_id.into(), quantity };
    // Read-then-write lost some of these (two read 3, both wrote 4).
    let adds = (0..24).map(|_| {
        let mut cart = stack.cart_as(&token);
        let request = add(&tea, 1);
        async move { cart.add_cart_item(request).await }
    });
    for result in futures::future::join_all(adds).await {
        result.unwrap();
    }
    let mut cart = stack.cart_as(&token);
    let now = cart.get_cart(pb::GetCartRequest {}).await.unwrap().into_inner().cart.unwrap();
    assert_eq!(now.items.iter().map(|i| i.quantity).collect::<Vec<_>>(), [24], "every addition counted");

    for _ in 1..50 {
        let product = stack.product(1, 10).await;
        cart.add_cart_item(add(&product, 1)).await.unwrap();
    }
    let one_more = stack.product(1, 10).await;
    let full = cart.add_cart_item(add(&one_more, 1)).await.unwrap_err();
    assert_eq!(full.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&full), ["product_id"], "{full:?}");
    // A product already in a full cart can still be topped up, up to 99.
    let topped = cart.add_cart_item(add(&tea, 75)).await.unwrap().into_inner().cart.unwrap();
    assert_eq!(topped.items.len(), 50);
    assert_eq!(topped.items[0].quantity, 99);
    let over = cart.add_cart_item(add(&tea, 1)).await.unwrap_err();
    assert_eq!(violated_fields(&over), ["quantity"]);
    stack.stop().await;
}

async fn the_cart_adds_up_checks_products_and_bounds_and_removes(backend: Backend) {
    let stack = Stack::start(backend).await;
    let (tea, jam) = (stack.product(5, 10).await, stack.product(3, 10).await);
    let (token, user) = stack.customer("lea@example.com").await;
    let mut cart = stack.cart_as(&token);
    let empty = cart.get_cart(pb::GetCartRequest {}).await.unwrap().into_inner().cart.unwrap();
    assert!(empty.items.is_empty() && empty.update_time.is_none());

    let add = |product_id: &str, quantity| pb::AddCartItemRequest { product_id: product_id.into(), quantity };
    cart.add_cart_item(add(&tea, 2)).await.unwrap();
    cart.add_cart_item(add(&jam, 1)).await.unwrap();
    let after = cart.add_cart_item(add(&tea, 3)).await.unwrap().into_inner().cart.unwrap();
    assert_eq!(after.user_id, user);
    let items: Vec<_> = after.items.iter().map(|i| (i.product_id.as_str(), i.quantity)).collect();
    assert_eq!(items, [(tea.as_str(), 5), (jam.as_str(), 1)], "adding again adds up, first-added order kept");
    assert_eq!(after.items[0].unit_price.as_ref().map(|m| m.units), Some(5));
    assert!(after.items[0].product_name.starts_with("Test product"));

    let too_many = cart.add_cart_item(add(&tea, 95)).await.unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&too_many), ["quantity"]);
    let bad = cart.add_cart_item(add("not-a-uuid", 0)).await.unwrap_err();
    assert_eq!(violated_fields(&bad), ["product_id", "quantity"]);
    let unknown = cart.add_cart_item(add(&key(), 1)).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");

    let removed = cart
        .remove_cart_item(pb::RemoveCartItemRequest { product_id: tea.clone() })
        .await
        .unwrap()
        .into_inner()
        .cart
        .unwrap();
    assert_eq!(removed.items.len(), 1);
    // Removing what is not there is not an error.
    cart.remove_cart_item(pb::RemoveCartItemRequest { product_id: tea.clone() }).await.unwrap();
    stack.stop().await;
}

async fn a_checkout_is_refused_for_an_empty_cart_bad_input_or_an_unavailable_catalog(backend: Backend) {
    let mut stack = Stack::start(backend).await;
    let soap = stack.product(2, 10).await;
    let (token, _) = stack.customer("max@example.com").await;
    let mut orders = stack.orders_as(&token);

    let empty = orders.place_order(place_request(&key(), "tok_visa")).await.unwrap_err();
    assert_eq!(empty.code(), Code::FailedPrecondition);
    let mut bad = place_request("", "");
    bad.shipping_address.as_mut().unwrap().country_code = "Britain".into();
    let bad = orders.place_order(bad).await.unwrap_err();
    assert_eq!(violated_fields(&bad), ["idempotency_key", "shipping_address.country_code", "payment_method_token"]);

    stack.fill_cart(&token, &[(&soap, 1)]).await;
    stack.catalog.take().expect("catalog").stop().await.expect("catalog stops");
    let started = Instant::now();
    let down = orders.place_order(place_request(&key(), "tok_visa")).await.unwrap_err();
    assert_eq!(down.code(), Code::Unavailable, "{down:?}");
    // Quickly: within the catalog deadline (2 s), not a hang.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let listed = orders.list_orders(pb::ListOrdersRequest::default()).await.unwrap().into_inner();
    assert!(listed.orders.is_empty(), "no order without prices");
    let cart = stack.cart_as(&token).get_cart(pb::GetCartRequest {}).await.unwrap().into_inner().cart.unwrap();
    assert_eq!(cart.items.len(), 1, "the cart is kept");
    stack.stop().await;
}
