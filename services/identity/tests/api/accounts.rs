use mercato::identity::v1 as pb;
use mercato_identity::testing::PASSWORD;
use mercato_kit::testing::Backend;
use tonic::Code;

use crate::helpers::{as_user, login, on_both_databases, spawn, violated_fields};

on_both_databases!(register_login_and_get_me, registration_rules_are_enforced);

async fn register_login_and_get_me(backend: Backend) {
    let identity = spawn(backend).await;
    let user = identity
        .client()
        .register(pb::RegisterRequest {
            email: "  Ada@Example.com ".into(),
            password: PASSWORD.into(),
            display_name: "Ada Lovelace".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(user.email, "ada@example.com", "emails are normalised");
    assert_eq!(user.roles, ["customer"]);

    let tokens = login(&identity, "ADA@example.com").await;
    assert_eq!(tokens.token_type, "Bearer");
    assert!((890..=900).contains(&tokens.expires_in), "15-minute access tokens: {}", tokens.expires_in);
    let me =
        as_user(&identity, &tokens.access_token).get_me(pb::GetMeRequest {}).await.unwrap().into_inner().user.unwrap();
    assert_eq!((me.id.as_str(), me.display_name.as_str()), (user.id.as_str(), "Ada Lovelace"));

    let updated = as_user(&identity, &tokens.access_token)
        .update_profile(pb::UpdateProfileRequest {
            user: Some(pb::User { display_name: "Countess Lovelace".into(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["display_name".into()] }),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(updated.display_name, "Countess Lovelace");

    // Wrong password and unknown email: the same answer.
    let wrong = identity
        .client()
        .login(pb::LoginRequest { email: "ada@example.com".into(), password: "not the password at all".into() })
        .await
        .unwrap_err();
    let unknown = identity
        .client()
        .login(pb::LoginRequest { email: "nobody@example.com".into(), password: PASSWORD.into() })
        .await
        .unwrap_err();
    assert_eq!((wrong.code(), unknown.code()), (Code::Unauthenticated, Code::Unauthenticated));
    assert_eq!(wrong.message(), unknown.message());

    assert_eq!(identity.client().get_me(pb::GetMeRequest {}).await.unwrap_err().code(), Code::Unauthenticated);
    identity.stop().await.unwrap();
}

async fn registration_rules_are_enforced(backend: Backend) {
    let identity = spawn(backend).await;
    let register = |email: &str, password: &str| pb::RegisterRequest {
        email: email.into(),
        password: password.into(),
        display_name: "Someone".into(),
    };
    identity.client().register(register("taken@example.com", PASSWORD)).await.unwrap();
    let duplicate = identity.client().register(register("TAKEN@example.com", PASSWORD)).await.unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    let weak = identity.client().register(register("new@example.com", "short")).await.unwrap_err();
    assert_eq!(violated_fields(&weak), ["password"]);
    let same =
        identity.client().register(register("longenough@example.com", "longenough@example.com")).await.unwrap_err();
    assert_eq!(violated_fields(&same), ["password"]);
    let everything = identity
        .client()
        .register(pb::RegisterRequest { email: "not-an-email".into(), password: "x".into(), display_name: " ".into() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&everything), ["email", "display_name", "password"]);
    identity.stop().await.unwrap();
}

#[tokio::test]
async fn create_admin_subcommand_makes_an_administrator() {
    let db = mercato_kit::testing::TestDatabase::create(Backend::Sqlite).await.unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_identity"))
        .args(["--database-url", db.url(), "create-admin", "--email", "boss@example.com"])
        .env("ADMIN_PASSWORD", PASSWORD)
        .env("LOG_FORMAT", "json")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("admin boss@example.com"));
    assert!(!String::from_utf8_lossy(&output.stdout).contains(PASSWORD), "the password is never logged");

    // The same database, served: the account signs in with the admin role.
    let identity = mercato_identity::testing::TestIdentity::spawn_on(db).await.unwrap();
    let tokens = login(&identity, "boss@example.com").await;
    let me =
        as_user(&identity, &tokens.access_token).get_me(pb::GetMeRequest {}).await.unwrap().into_inner().user.unwrap();
    assert_eq!(me.roles, ["customer", "admin"]);
    identity.stop().await.unwrap();
}

#[tokio::test]
async fn bad_config_lists_every_problem_and_exits_78() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_identity"))
        .args([
            "--access-token-ttl",
            "2h",
            "--service-clients",
            "orders=short",
            "--signing-key-files",
            "/nonexistent.pem",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for setting in ["ACCESS_TOKEN_TTL", "SERVICE_CLIENTS", "SIGNING_KEY_FILES"] {
        assert!(stderr.contains(setting), "{setting} missing: {stderr}");
    }
    assert!(!stderr.contains("short"), "secrets are not echoed: {stderr}");
}
