//! Internal services: client-credentials exchange and signing-key rotation.

use mercato::identity::v1::{
    self as pb, service_auth_service_server::ServiceAuthService, signing_key_service_server::SigningKeyService,
};
use mercato_kit::{
    auth::{Access, authorize},
    error::FieldViolations,
};
use tonic::{Request, Response, Status};

use super::convert;
use crate::{
    error::Error,
    tokens::{SERVICE_TOKEN_TTL, ServiceClients, TokenIssuer},
};

#[derive(Debug)]
pub struct ServiceAuthApi {
    pub issuer: TokenIssuer,
    pub clients: ServiceClients,
}

#[tonic::async_trait]
impl ServiceAuthService for ServiceAuthApi {
    async fn issue_service_token(
        &self,
        request: Request<pb::IssueServiceTokenRequest>,
    ) -> Result<Response<pb::IssueServiceTokenResponse>, Status> {
        // Authenticated by the client secret itself, not by a bearer token.
        authorize(&request, Access::Public)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        if req.service_name.is_empty() {
            v.add("service_name", "is required");
        }
        if req.client_secret.is_empty() {
            v.add("client_secret", "is required");
        }
        v.finish(Some(()))?;
        if !self.clients.check(&req.service_name, &req.client_secret) {
            tracing::warn!(service = %req.service_name, "service credentials refused");
            return Err(Error::BadServiceCredentials.into());
        }
        let (access_token, expires) = self.issuer.service_token(&req.service_name)?;
        Ok(Response::new(pb::IssueServiceTokenResponse {
            access_token,
            expire_time: Some(convert::timestamp(expires)),
            expires_in: i32::try_from(SERVICE_TOKEN_TTL.as_secs()).unwrap_or(i32::MAX),
        }))
    }
}

#[derive(Debug)]
pub struct SigningKeyApi {
    pub issuer: TokenIssuer,
}

#[tonic::async_trait]
impl SigningKeyService for SigningKeyApi {
    async fn rotate_signing_key(
        &self,
        request: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
        let admin = authorize(&request, Access::Admin)?.map(|c| c.subject.clone()).unwrap_or_default();
        let (active_kid, published_kids) = self.issuer.keys.rotate().await?;
        tracing::info!(by = %admin, %active_kid, "signing key rotated by an admin");
        Ok(Response::new(pb::RotateSigningKeyResponse { active_kid, published_kids }))
    }
}
