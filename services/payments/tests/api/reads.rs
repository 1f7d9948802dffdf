//! Reading payments: owners see theirs, admins see all, someone else's reads as NOT_FOUND.

use mercato::payments::v1 as pb;
use mercato_kit::testing::{Backend, violated_fields};
use tonic::Code;

use crate::helpers::{STREAM, WAIT, charge, new_id, on_both_databases, spawn_app};

on_both_databases!(owners_read_their_payments_admins_read_all_others_read_nothing, listings_page_and_filter_by_order,);

async fn owners_read_their_payments_admins_read_all_others_read_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, alice_id) = app.customer("alice@example.com").await;
    let (bob, _) = app.customer("bob@example.com").await;
    let id = new_id();
    app.bus.publish(&charge(&id, &alice_id, 12, "tok_visa")).await.unwrap();
    app.bus.wait_for::<pb::PaymentCompleted>(STREAM, WAIT, |e| e.payment_id == id).await;

    let get = |token: &str| {
        let mut client = app.payments_as(token);
        let id = id.clone();
        async move { client.get_payment(pb::GetPaymentRequest { id }).await }
    };
    let mine = get(&alice).await.unwrap().into_inner().payment.unwrap();
    assert_eq!(mine.user_id, alice_id);
    assert_eq!(get(&app.admin_token).await.unwrap().into_inner().payment.unwrap().id, id);
    let theirs = get(&bob).await.unwrap_err();
    assert_eq!(theirs.code(), Code::NotFound);
    let nobodys = new_id();
    let missing = app.payments_as(&alice).get_payment(pb::GetPaymentRequest { id: nobodys.clone() }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // Nothing tells someone else's payment from one that does not exist.
    assert_eq!(theirs.message().replace(&id, "X"), missing.message().replace(&nobodys, "X"));

    let bobs = app.payments_as(&bob).list_payments(pb::ListPaymentsRequest::default()).await.unwrap().into_inner();
    assert!(bobs.payments.is_empty());
    let bad = app.payments_as(&alice).get_payment(pb::GetPaymentRequest { id: "nope".into() }).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&bad), vec!["id"]);
    let anonymous = mercato::payments::v1::payment_service_client::PaymentServiceClient::new(app.channel.clone())
        .get_payment(pb::GetPaymentRequest { id: id.clone() })
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    app.stop().await;
}

async fn listings_page_and_filter_by_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, alice_id) = app.customer("lister@example.com").await;
    let ids: Vec<String> = (0..5).map(|_| new_id()).collect();
    for id in &ids {
        app.bus.publish(&charge(id, &alice_id, 3, "tok_visa")).await.unwrap();
        app.bus.wait_for::<pb::PaymentCompleted>(STREAM, WAIT, |e| &e.payment_id == id).await;
    }
    let mut client = app.payments_as(&alice);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_payments(pb::ListPaymentsRequest { page_size: 2, page_token: token.clone(), ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        assert!(page.payments.len() <= 2);
        seen.extend(page.payments.into_iter().map(|p| p.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "every payment once, newest first");

    let order = format!("order-{}", ids[2]);
    let one = client
        .list_payments(pb::ListPaymentsRequest { order_id: order.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.payments.iter().map(|p| p.id.clone()).collect::<Vec<_>>(), vec![ids[2].clone()]);

    let first = client.list_payments(pb::ListPaymentsRequest { page_size: 2, ..Default::default() }).await.unwrap();
    let mixed = client
        .list_payments(pb::ListPaymentsRequest {
            order_id: order,
            page_token: first.into_inner().next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&mixed), vec!["page_token"]);
    let negative =
        client.list_payments(pb::ListPaymentsRequest { page_size: -1, ..Default::default() }).await.unwrap_err();
    assert_eq!(violated_fields(&negative), vec!["page_size"]);
    app.stop().await;
}
