use mercato::identity::v1 as pb;
use mercato_kit::testing::Backend;
use tonic::Code;

use crate::helpers::{as_user, login, on_both_databases, spawn};

on_both_databases!(refresh_rotates_and_reuse_revokes_the_whole_family);

async fn refresh_rotates_and_reuse_revokes_the_whole_family(backend: Backend) {
    let identity = spawn(backend).await;
    identity.customer_token("rotating@example.com").await.unwrap();
    let first = login(&identity, "rotating@example.com").await;
    let other_session = login(&identity, "rotating@example.com").await;

    let refresh = |token: &str| pb::RefreshRequest { refresh_token: token.into() };
    let second = identity.client().refresh(refresh(&first.refresh_token)).await.unwrap().into_inner().tokens.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token, "every use rotates the refresh token");
    as_user(&identity, &second.access_token).get_me(pb::GetMeRequest {}).await.unwrap();

    // The first token again: reuse. Refused, and its successor dies with it.
    let reuse = identity.client().refresh(refresh(&first.refresh_token)).await.unwrap_err();
    assert_eq!(reuse.code(), Code::Unauthenticated);
    assert!(reuse.message().contains("reuse"), "{}", reuse.message());
    let successor = identity.client().refresh(refresh(&second.refresh_token)).await.unwrap_err();
    assert_eq!(successor.code(), Code::Unauthenticated);

    // Another login's family is untouched.
    identity.client().refresh(refresh(&other_session.refresh_token)).await.unwrap();
    assert_eq!(identity.client().refresh(refresh("made-up-token")).await.unwrap_err().code(), Code::Unauthenticated);
    identity.stop().await.unwrap();
}
