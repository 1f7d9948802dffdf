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

#[tokio::test]
async fn production_keys_come_from_pem_files_first_signs_all_are_published() {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    let mut kids = Vec::new();
    for name in ["current.pem", "next.pem"] {
        let key = ed25519_dalek::SigningKey::from_bytes(&rand_seed());
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, pem.as_bytes()).unwrap();
        kids.push(mercato_kit::auth::SigningKey::from_seed(key.to_bytes()).unwrap().kid().to_string());
        paths.push(path.display().to_string());
    }
    let files = paths.join(",");
    let identity = mercato_identity::testing::TestIdentity::spawn(Backend::Sqlite, &["--signing-key-files", &files])
        .await
        .unwrap();
    let token = identity.customer_token("files@example.com").await.unwrap();
    assert_eq!(kid_of(&token), kids[0], "the first file signs");
    let mut published: Vec<_> = identity
        .client()
        .get_jwks(pb::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys
        .into_iter()
        .map(|k| k.kid)
        .collect();
    published.sort();
    kids.sort();
    assert_eq!(published, kids, "every file is published");

    let admin = identity.admin_token().await.unwrap();
    let refused = keys_as(&identity, &admin).rotate_signing_key(pb::RotateSigningKeyRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    identity.stop().await.unwrap();
}

fn rand_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    seed
}
