//! What identity publishes: a registration and every profile change, from the outbox, and
//! the backfill that republishes every user for a consumer that joined later.

use std::time::Duration;

use async_nats::jetstream::stream::Stream;
use mercato::identity::v1::{self as pb, UserProfileChanged, UserRegistered};
use mercato_identity::{events, testing::PASSWORD};
use mercato_kit::{
    events::{Outbox, headers},
    testing::{Backend, eventually},
};
use prost::Message;

use crate::helpers::{as_user, login, on_both_databases, spawn};

/// An event as it reached the IDENTITY stream.
#[derive(Debug)]
enum Published {
    Registered(UserRegistered),
    ProfileChanged(UserProfileChanged),
}

async fn identity_stream(identity: &mercato_identity::testing::TestIdentity) -> Stream {
    let nats = identity.nats.as_ref().expect("identity's own nats-server");
    let jetstream = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    eventually(Duration::from_secs(10), "the IDENTITY stream", || async { jetstream.get_stream("IDENTITY").await.ok() })
        .await
}

/// The stream's messages once it holds at least `count`, decoded by their type header.
async fn published(stream: &Stream, count: usize) -> Vec<(String, Published)> {
    let raw = eventually(Duration::from_secs(10), &format!("{count} events on IDENTITY"), || async {
        let held = stream.get_info().await.ok()?.state.messages;
        if held < count as u64 {
            return None;
        }
        let mut out = Vec::new();
        for sequence in 1..=held {
            out.push(stream.get_raw_message(sequence).await.ok()?);
        }
        Some(out)
    })
    .await;
    raw.into_iter()
        .map(|m| {
            let kind = m.headers.get(headers::EVENT_TYPE).map(|v| v.as_str().to_string()).unwrap_or_default();
            let event = match kind.as_str() {
                "mercato.identity.v1.UserRegistered" => {
                    Published::Registered(UserRegistered::decode(m.payload).unwrap())
                }
                "mercato.identity.v1.UserProfileChanged" => {
                    Published::ProfileChanged(UserProfileChanged::decode(m.payload).unwrap())
                }
                other => panic!("unexpected event type {other:?} on {}", m.subject),
            };
            (m.subject.to_string(), event)
        })
        .collect()
}

async fn register(identity: &mercato_identity::testing::TestIdentity, email: &str, name: &str) -> pb::User {
    let request = pb::RegisterRequest { email: email.into(), password: PASSWORD.into(), display_name: name.into() };
    identity.client().register(request).await.unwrap().into_inner().user.unwrap()
}

async fn a_registration_and_a_profile_change_are_published_once_each(backend: Backend) {
    let identity = spawn(backend).await;
    let user = register(&identity, "Events.One@Example.com", "Ada").await;
    // A refused registration (the email is taken) publishes nothing.
    let again = pb::RegisterRequest {
        email: "events.one@example.com".into(),
        password: PASSWORD.into(),
        display_name: "Impostor".into(),
    };
    identity.client().register(again).await.unwrap_err();
    let tokens = login(&identity, "events.one@example.com").await;
    as_user(&identity, &tokens.access_token)
        .update_profile(pb::UpdateProfileRequest {
            user: Some(pb::User { display_name: "Ada Lovelace".into(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["display_name".into()] }),
        })
        .await
        .unwrap();

    let stream = identity_stream(&identity).await;
    let events = published(&stream, 2).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let (subject, Published::Registered(registered)) = &events[0] else { panic!("{events:#?}") };
    assert_eq!(subject, "identity.v1.user_registered");
    assert_eq!(registered.user_id, user.id);
    assert_eq!(registered.email, "events.one@example.com");
    assert_eq!(registered.display_name, "Ada");
    assert_eq!(registered.roles, ["customer"]);
    assert!(registered.occurred_at.is_some());
    let (subject, Published::ProfileChanged(changed)) = &events[1] else { panic!("{events:#?}") };
    assert_eq!(subject, "identity.v1.user_profile_changed");
    assert_eq!((changed.user_id.as_str(), changed.email.as_str()), (user.id.as_str(), "events.one@example.com"));
    assert_eq!(changed.display_name, "Ada Lovelace");
    assert!(!changed.republished);
}

async fn republishing_sends_every_users_current_details_in_batches(backend: Backend) {
    let identity = spawn(backend).await;
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(register(&identity, &format!("backfill{i}@example.com"), &format!("Backfill {i}")).await);
    }
    let stream = identity_stream(&identity).await;
    published(&stream, 5).await;

    // As `identity republish-users --batch 2` does it: beside the running service, whose relay sends them.
    let outbox = Outbox::detached("identity", "test");
    let count = events::republish_users(&identity.db, &outbox, 2).await.unwrap();
    assert_eq!(count, 5);
    let events = published(&stream, 10).await;
    assert_eq!(events.len(), 10, "{events:#?}");
    let mut republished: Vec<&UserProfileChanged> = events[5..]
        .iter()
        .map(|(_, e)| match e {
            Published::ProfileChanged(changed) => changed,
            other => panic!("a republish is a profile change: {other:?}"),
        })
        .collect();
    republished.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    users.sort_by(|a, b| a.id.cmp(&b.id));
    for (changed, user) in republished.iter().zip(&users) {
        assert_eq!(
            (changed.user_id.as_str(), changed.email.as_str(), changed.display_name.as_str()),
            (user.id.as_str(), user.email.as_str(), user.display_name.as_str())
        );
        assert!(changed.republished);
    }
}

on_both_databases!(
    a_registration_and_a_profile_change_are_published_once_each,
    republishing_sends_every_users_current_details_in_batches,
);
