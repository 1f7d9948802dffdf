//! Tokens that must not verify: expired, tampered, wrong audience, `alg: none`, and HS256
//! signed with the public key (the classic algorithm-confusion attack).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mercato::identity::v1 as pb;
use mercato_identity::storage::entity::signing_key;
use mercato_kit::{
    auth::{Claims, SigningKey, claims::now},
    testing::Backend,
};
use sea_orm::EntityTrait;
use tonic::Code;

use crate::helpers::{as_user, kid_of, login, on_both_databases, spawn};

on_both_databases!(forged_and_stale_tokens_are_refused);

async fn forged_and_stale_tokens_are_refused(backend: Backend) {
    let identity = spawn(backend).await;
    let good = identity.customer_token("victim@example.com").await.unwrap();
    let payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(good.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let claims: Claims = serde_json::from_value(payload).unwrap();

    // identity's real signing key, so only the property under test is wrong.
    let row = signing_key::Entity::find().all(&identity.db).await.unwrap().pop().unwrap();
    let seed: [u8; 32] = base64::engine::general_purpose::STANDARD.decode(&row.seed).unwrap().try_into().unwrap();
    let key = SigningKey::from_seed(seed).unwrap();
    assert_eq!(key.kid(), kid_of(&good));

    let expired =
        key.sign(&Claims { iat: now() - 3600, nbf: now() - 3600, exp: now() - 600, ..claims.clone() }).unwrap();
    let wrong_audience = key.sign(&Claims { aud: "someone-else".into(), ..claims.clone() }).unwrap();
    let wrong_issuer = key.sign(&Claims { iss: "evil-issuer".into(), ..claims.clone() }).unwrap();
    let not_yet = key.sign(&Claims { nbf: now() + 3600, ..claims.clone() }).unwrap();

    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let escalated = Claims { roles: vec!["customer".into(), "admin".into()], ..claims.clone() };
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&escalated).unwrap());
    let tampered = parts.join(".");

    let none_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#, key.kid()));
    let alg_none = format!("{none_header}.{}.", parts[1]);

    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = Some(key.kid().to_string());
    let public_as_secret = jsonwebtoken::EncodingKey::from_secret(key.public().x.as_bytes());
    let hs256 = jsonwebtoken::encode(&hs_header, &escalated, &public_as_secret).unwrap();

    for (what, token) in [
        ("expired", expired),
        ("wrong audience", wrong_audience),
        ("wrong issuer", wrong_issuer),
        ("not valid yet", not_yet),
        ("tampered", tampered),
        ("alg none", alg_none),
        ("HS256 with the public key", hs256),
        ("garbage", "a.b.c".to_string()),
    ] {
        let status = as_user(&identity, &token).get_me(pb::GetMeRequest {}).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
    }
    // The genuine token still works.
    as_user(&identity, &good).get_me(pb::GetMeRequest {}).await.unwrap();
    let _ = login(&identity, "victim@example.com").await;
    identity.stop().await.unwrap();
}
