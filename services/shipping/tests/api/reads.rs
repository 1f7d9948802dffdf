//! Reading shipments: owners see theirs, admins see all, someone else's reads as NOT_FOUND.

use mercato::shipping::v1::{self as pb, shipping_service_client::ShippingServiceClient};
use mercato_kit::testing::{Backend, violated_fields};
use tonic::Code;

use crate::helpers::{TestApp, confirmed, customer, get, new_order_id, on_both_databases};

on_both_databases!(owners_read_their_shipments_admins_read_all_others_read_nothing);

async fn owners_read_their_shipments_admins_read_all_others_read_nothing(backend: Backend) {
    let app = TestApp::spawn(backend, &["--dispatch-delay", "1h"]).await;
    let (alice, alice_id) = customer(&app, "alice@example.com").await;
    let (bob, _) = customer(&app, "bob@example.com").await;
    let order_id = new_order_id();
    app.bus.publish(&confirmed(&order_id, &alice_id, "US")).await.unwrap();
    app.wait_status(&order_id, "PENDING").await;

    let mine = get(&mut app.client_as(&alice).await, &order_id).await.unwrap();
    assert_eq!((mine.user_id.as_str(), mine.status()), (alice_id.as_str(), pb::ShipmentStatus::Pending));
    assert!(mine.dispatch_time.is_none() && !mine.tracking_number.is_empty());
    let admins = get(&mut app.client_as(&app.admin_token).await, &order_id).await.unwrap();
    assert_eq!(admins.id, mine.id);
    let theirs = get(&mut app.client_as(&bob).await, &order_id).await.unwrap_err();
    assert_eq!(theirs.code(), Code::NotFound);
    let nobodys = new_order_id();
    let missing = get(&mut app.client_as(&alice).await, &nobodys).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // Nothing tells someone else's shipment from one that does not exist.
    assert_eq!(theirs.message().replace(&order_id, "X"), missing.message().replace(&nobodys, "X"));

    let bad = get(&mut app.client_as(&alice).await, "not-an-order").await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&bad), vec!["order_id"]);
    let channel =
        tonic::transport::Channel::from_shared(app.shipping.as_ref().unwrap().url()).unwrap().connect().await.unwrap();
    let anonymous = ShippingServiceClient::new(channel)
        .get_shipment(pb::GetShipmentRequest { order_id: order_id.clone() })
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    app.stop().await;
}
