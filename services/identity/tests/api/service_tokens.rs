use mercato::identity::v1::{self as pb, service_auth_service_client::ServiceAuthServiceClient};
use mercato_identity::testing::SERVICE_SECRET;
use mercato_kit::{
    auth::{AuthSettings, Verifier, jwks_client::IdentityJwks},
    testing::Backend,
};
use tonic::Code;

use crate::helpers::{as_user, spawn};

#[tokio::test]
async fn services_exchange_credentials_for_tokens_that_cannot_act_as_users() {
    let identity = spawn(Backend::Sqlite).await;
    let mut auth = ServiceAuthServiceClient::new(identity.channel.clone());
    let issue = |name: &str, secret: &str| pb::IssueServiceTokenRequest {
        service_name: name.into(),
        client_secret: secret.into(),
    };

    let wrong = auth.issue_service_token(issue("orders", "wrong-secret-0123456789")).await.unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    let unknown = auth.issue_service_token(issue("intruder", SERVICE_SECRET)).await.unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);

    let issued = auth.issue_service_token(issue("orders", SERVICE_SECRET)).await.unwrap().into_inner();
    assert_eq!(issued.expires_in, 300);

    // Another service verifies it against identity's JWKS, as every service does.
    let verifier = Verifier::new(
        AuthSettings::default(),
        IdentityJwks::new(identity.channel.clone()),
        std::time::Duration::from_secs(1),
    );
    let caller = verifier.verify(&issued.access_token).await.unwrap();
    assert_eq!(caller.subject, "service:orders");
    assert_eq!(caller.kind, mercato_kit::auth::CallerKind::Service);

    // A service token is not a user: owner-only RPCs refuse it.
    let me = as_user(&identity, &issued.access_token).get_me(pb::GetMeRequest {}).await.unwrap_err();
    assert_eq!(me.code(), Code::PermissionDenied);
    identity.stop().await.unwrap();
}
