//! ListNotifications through the real path: identity (with its own events) registers the user,
//! notifications welcomes them from identity's UserRegistered, and each user lists only their own.

use std::time::Duration;

use mercato::{
    notifications::v1::{self as pb, notification_service_client::NotificationServiceClient},
    orders::v1 as orders,
};
use mercato_identity::testing::TestIdentity;
use mercato_kit::{
    auth::service_token::Bearer,
    on_both_databases,
    service::Service,
    testing::{Backend, Bus, Running, TestDatabase, TestNats, eventually, service_args, violated_fields},
};
use mercato_notifications::Notifications;
use tonic::{Code, transport::Channel};

async fn list(
    url: &str,
    token: &str,
    request: pb::ListNotificationsRequest,
) -> Result<pb::ListNotificationsResponse, tonic::Status> {
    let channel = Channel::from_shared(url.to_string()).unwrap().connect_lazy();
    let mut client = NotificationServiceClient::with_interceptor(channel, Bearer::new(token).unwrap());
    client.list_notifications(request).await.map(|r| r.into_inner())
}

async fn a_user_lists_their_own_notifications_newest_first_by_page(backend: Backend) {
    let nats = TestNats::start().await.unwrap();
    let identity = TestIdentity::spawn(Backend::Sqlite, &["--nats-url", &nats.url()]).await.unwrap();
    let bus = Bus::connect(&nats.url()).await.unwrap();
    bus.create_stream("ORDERS", "orders.v1.>").await.unwrap();
    let database = TestDatabase::create(backend).await.unwrap();
    let mail = tempfile::tempdir().unwrap();
    let mut args = service_args(Notifications::DEFAULTS.name, &database);
    args.extend(
        ["--nats-url", &nats.url(), "--identity-url", &identity.url(), "--notification-sink", "file", "--mail-dir"]
            .map(str::to_string),
    );
    args.push(mail.path().to_str().unwrap().to_string());
    let running = Running::service::<Notifications>(args, Some(database)).await.unwrap();
    let url = running.url();

    let ada = identity.customer_token("list.ada@example.com").await.unwrap();
    let bob = identity.customer_token("list.bob@example.com").await.unwrap();
    let login = mercato::identity::v1::LoginRequest {
        email: "list.ada@example.com".into(),
        password: mercato_identity::testing::PASSWORD.into(),
    };
    let ada_id = identity.client().login(login).await.unwrap().into_inner().user.unwrap().id;
    let welcomed = eventually(Duration::from_secs(20), "ada's welcome", || async {
        let page = list(&url, &ada, pb::ListNotificationsRequest::default()).await.ok()?;
        (!page.notifications.is_empty()).then_some(page)
    })
    .await;
    assert_eq!(welcomed.notifications[0].kind, pb::NotificationKind::Welcome as i32);
    assert!(welcomed.notifications[0].subject.contains("Welcome"));

    // One after the other: orders of different ids may be handled in parallel, and "newest"
    // is when notifications sent it.
    for (order, count) in [("order-a", 2), ("order-b", 3)] {
        let placed = orders::OrderPlaced { order_id: order.into(), user_id: ada_id.clone(), ..Default::default() };
        bus.publish(&placed).await.unwrap();
        eventually(Duration::from_secs(20), &format!("ada's notification about {order}"), || async {
            let page =
                list(&url, &ada, pb::ListNotificationsRequest { page_size: 10, ..Default::default() }).await.ok()?;
            (page.notifications.len() == count).then_some(())
        })
        .await;
    }

    let first = list(&url, &ada, pb::ListNotificationsRequest { page_size: 2, ..Default::default() }).await.unwrap();
    let orders_first: Vec<&str> = first.notifications.iter().map(|n| n.order_id.as_str()).collect();
    assert_eq!(orders_first, ["order-b", "order-a"], "newest first");
    assert!(!first.next_page_token.is_empty());
    let rest =
        pb::ListNotificationsRequest { page_size: 2, page_token: first.next_page_token.clone(), ..Default::default() };
    let rest = list(&url, &ada, rest).await.unwrap();
    assert_eq!(rest.notifications.len(), 1);
    assert_eq!(rest.notifications[0].kind, pb::NotificationKind::Welcome as i32);
    assert!(rest.next_page_token.is_empty());
    let of_order = pb::ListNotificationsRequest { order_id: "order-a".into(), ..Default::default() };
    assert_eq!(list(&url, &ada, of_order).await.unwrap().notifications.len(), 1);

    // Bob sees only his welcome, never Ada's messages.
    let bobs = eventually(Duration::from_secs(20), "bob's welcome", || async {
        let page = list(&url, &bob, pb::ListNotificationsRequest::default()).await.ok()?;
        (!page.notifications.is_empty()).then_some(page)
    })
    .await;
    assert!(bobs.notifications.iter().all(|n| n.order_id.is_empty() && n.user_id != ada_id));

    // A page token of another filter, and a bad page size, are named.
    let crossed =
        pb::ListNotificationsRequest { page_size: -1, page_token: first.next_page_token, order_id: "order-b".into() };
    let status = list(&url, &ada, crossed).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["page_size", "page_token"]);
    // No token, no listing.
    let channel = Channel::from_shared(url.clone()).unwrap().connect_lazy();
    let anonymous =
        NotificationServiceClient::new(channel).list_notifications(pb::ListNotificationsRequest::default()).await;
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);
    running.stop().await.unwrap();
}

on_both_databases!(a_user_lists_their_own_notifications_newest_first_by_page);
