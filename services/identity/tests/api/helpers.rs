use mercato::identity::v1::{
    self as pb, identity_service_client::IdentityServiceClient, signing_key_service_client::SigningKeyServiceClient,
};
use mercato_identity::testing::{PASSWORD, TestIdentity};
pub(crate) use mercato_kit::on_both_databases;
pub(crate) use mercato_kit::testing::violated_fields;
use mercato_kit::{auth::service_token::Bearer, testing::Backend};
use tonic::{codegen::InterceptedService, transport::Channel};

pub(crate) async fn spawn(backend: Backend) -> TestIdentity {
    TestIdentity::spawn(backend, &[]).await.expect("identity starts")
}

pub(crate) fn as_user(
    identity: &TestIdentity,
    token: &str,
) -> IdentityServiceClient<InterceptedService<Channel, Bearer>> {
    IdentityServiceClient::with_interceptor(identity.channel.clone(), Bearer::new(token).unwrap())
}

pub(crate) fn keys_as(
    identity: &TestIdentity,
    token: &str,
) -> SigningKeyServiceClient<InterceptedService<Channel, Bearer>> {
    SigningKeyServiceClient::with_interceptor(identity.channel.clone(), Bearer::new(token).unwrap())
}

pub(crate) async fn login(identity: &TestIdentity, email: &str) -> pb::AuthTokens {
    identity
        .client()
        .login(pb::LoginRequest { email: email.into(), password: PASSWORD.into() })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap()
}

/// The `kid` in a JWT's header.
pub(crate) fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}
