use mercato::identity::v1 as pb;
use mercato_kit::testing::{Backend, http_get};
use tonic::Code;

use crate::helpers::{as_user, keys_as, kid_of, on_both_databases, spawn};

on_both_databases!(rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key);

async fn rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(backend: Backend) {
    let identity = spawn(backend).await;
    let before = identity.customer_token("stays@example.com").await.unwrap();
    let old_kid = kid_of(&before);

    let customer = keys_as(&identity, &before).rotate_signing_key(pb::RotateSigningKeyRequest {}).await.unwrap_err();
    assert_eq!(customer.code(), Code::PermissionDenied, "customers cannot rotate keys");

    let admin = identity.admin_token().await.unwrap();
    let rotated =
        keys_as(&identity, &admin).rotate_signing_key(pb::RotateSigningKeyRequest {}).await.unwrap().into_inner();
    assert_ne!(rotated.active_kid, old_kid);
    let mut published = rotated.published_kids.clone();
    published.sort();
    let mut expected = vec![old_kid.clone(), rotated.active_kid.clone()];
    expected.sort();
    assert_eq!(published, expected, "both keys are published during the overlap");

    // The token signed before rotation still verifies; new ones carry the new kid.
    as_user(&identity, &before).get_me(pb::GetMeRequest {}).await.unwrap();
    let after = identity.login("stays@example.com").await.unwrap();
    assert_eq!(kid_of(&after), rotated.active_kid);
    as_user(&identity, &after).get_me(pb::GetMeRequest {}).await.unwrap();

    // Both in the JWKS, over gRPC and over HTTP on the admin port.
    let jwks = identity.client().get_jwks(pb::GetJwksRequest {}).await.unwrap().into_inner().keys;
    assert_eq!(jwks.len(), 2);
    assert!(jwks.iter().all(|k| k.kty == "OKP" && k.crv == "Ed25519" && k.alg == "EdDSA"));
    let (code, body) = http_get(identity.admin_addr, "/.well-known/jwks.json").await.unwrap();
    assert_eq!(code, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["keys"].as_array().unwrap().len(), 2);
    assert!(!body.contains("\"d\""), "no private key material in the JWKS");
    identity.stop().await.unwrap();
}
