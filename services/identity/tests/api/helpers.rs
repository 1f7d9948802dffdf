use mercato::identity::v1::{
    self as pb, identity_service_client::IdentityServiceClient, signing_key_service_client::SigningKeyServiceClient,
};
use mercato_identity::testing::{PASSWORD, TestIdentity};
pub(crate) use mercato_kit::on_both_databases;
use mercato_kit::{auth::service_token::Bearer, testing::Backend};
use tonic::{codegen::InterceptedService, transport::Channel};

pub async fn spawn(backend: Backend) -> TestIdentity {
    TestIdentity::spawn(backend, &[]).await.expect("identity starts")
}

pub fn as_user(identity: &TestIdentity, token: &str) -> IdentityServiceClient<InterceptedService<Channel, Bearer>> {
    IdentityServiceClient::with_interceptor(identity.channel.clone(), Bearer::new(token).unwrap())
}

pub fn keys_as(identity: &TestIdentity, token: &str) -> SigningKeyServiceClient<InterceptedService<Channel, Bearer>> {
    SigningKeyServiceClient::with_interceptor(identity.channel.clone(), Bearer::new(token).unwrap())
}

pub async fn login(identity: &TestIdentity, email: &str) -> pb::AuthTokens {
    identity
        .client()
        .login(pb::LoginRequest { email: email.into(), password: PASSWORD.into() })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap()
}

pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status.get_details_bad_request().expect("BadRequest detail").field_violations.into_iter().map(|v| v.field).collect()
}

/// The `kid` in a JWT's header.
pub fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}
