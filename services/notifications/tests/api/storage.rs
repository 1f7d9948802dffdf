//! The tables behind "at most once per (event, recipient)" and "the newest details win".

use std::time::Duration;

use chrono::{TimeZone, Utc};
use mercato_kit::{
    db::{self, DatabaseConfig},
    on_both_databases,
    secret::Secret,
    testing::{Backend, TestDatabase},
};
use mercato_notifications::{
    domain::templates::Contact,
    migration::Migrator,
    storage::{
        contacts,
        notifications::{self, Listing, NotificationRow},
    },
};
use sea_orm::DatabaseConnection;

async fn connect(backend: Backend) -> (DatabaseConnection, TestDatabase) {
    let database = TestDatabase::create(backend).await.unwrap();
    let db = db::connect(&DatabaseConfig {
        url: Secret::new(database.url().to_string()),
        max_connections: 5,
        min_connections: 1,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    db::migrate::<Migrator>(&db).await.unwrap();
    (db, database)
}

fn contact(email: &str, name: &str) -> Contact {
    Contact { email: email.into(), display_name: name.into() }
}

async fn an_older_event_never_overwrites_newer_details(backend: Backend) {
    let (db, _database) = connect(backend).await;
    let t = |s: i64| Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap();
    assert!(contacts::upsert(&db, "u1", &contact("a@example.com", "Ada"), t(0)).await.unwrap());
    assert!(contacts::upsert(&db, "u1", &contact("a@example.com", "Ada L."), t(10)).await.unwrap());
    // A backfill of details as they were before the change.
    assert!(!contacts::upsert(&db, "u1", &contact("a@example.com", "Ada"), t(5)).await.unwrap());
    assert_eq!(contacts::get(&db, "u1").await.unwrap(), Some(contact("a@example.com", "Ada L.")));
    assert_eq!(contacts::get(&db, "u2").await.unwrap(), None);
}

fn row(id: &str, event: &str, user: &str, order: &str, at: i64) -> NotificationRow {
    NotificationRow {
        id: id.into(),
        event_id: event.into(),
        user_id: user.into(),
        kind: "ORDER_PLACED".into(),
        channel: "EMAIL".into(),
        recipient: format!("{user}@example.com"),
        subject: format!("about {order}"),
        body: "text".into(),
        order_id: order.into(),
        status: "SENT".into(),
        failure_message: String::new(),
        created_at: Utc.timestamp_opt(1_800_000_000 + at, 0).unwrap(),
    }
}

async fn one_notification_per_event_and_recipient_listed_newest_first(backend: Backend) {
    let (db, _database) = connect(backend).await;
    notifications::insert(&db, row("n1", "e1", "u1", "o1", 1)).await.unwrap();
    assert!(notifications::exists(&db, "e1", "u1").await.unwrap());
    assert!(!notifications::exists(&db, "e1", "u2").await.unwrap());
    // The same event for the same recipient again is refused by the database itself.
    assert!(notifications::insert(&db, row("n1-again", "e1", "u1", "o1", 2)).await.is_err());
    notifications::insert(&db, row("n2", "e1", "u2", "o1", 2)).await.unwrap();
    notifications::insert(&db, row("n3", "e2", "u1", "o2", 3)).await.unwrap();
    notifications::insert(&db, row("n4", "e3", "u1", "o1", 4)).await.unwrap();

    let ids = |rows: Vec<NotificationRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = notifications::list(&db, &Listing { user_id: "u1".into(), limit: 10, ..Default::default() }).await;
    assert_eq!(ids(all.unwrap()), ["n4", "n3", "n1"]);
    let first = notifications::list(&db, &Listing { user_id: "u1".into(), limit: 2, ..Default::default() }).await;
    let first = first.unwrap();
    let last = first.last().unwrap();
    let rest = Listing {
        user_id: "u1".into(),
        before: Some((last.created_at, last.id.clone())),
        limit: 2,
        ..Default::default()
    };
    assert_eq!(ids(notifications::list(&db, &rest).await.unwrap()), ["n1"]);
    let of_order = Listing { user_id: "u1".into(), order_id: Some("o1".into()), limit: 10, ..Default::default() };
    assert_eq!(ids(notifications::list(&db, &of_order).await.unwrap()), ["n4", "n1"]);
}

on_both_databases!(
    an_older_event_never_overwrites_newer_details,
    one_notification_per_event_and_recipient_listed_newest_first
);
