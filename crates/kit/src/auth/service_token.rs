//! Outbound credentials. A service acting for a user forwards that user's token
//! ([`forward_user`]); acting for itself (a saga step, a consumer) it presents a service token
//! from identity, cached and renewed a minute before it expires ([`ServiceTokens`]).

use std::{
    fmt,
    time::{Duration, Instant},
};

use mercato::identity::v1::{IssueServiceTokenRequest, service_auth_service_client::ServiceAuthServiceClient};
use tonic::{Request, Status, metadata::MetadataValue, transport::Channel};

use super::caller::Caller;
use crate::secret::Secret;

/// Renew this long before expiry, so a token never expires mid-call.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// Copies the end user's bearer token onto an outbound request.
pub fn forward_user<T>(caller: &Caller, request: &mut Request<T>) -> Result<(), Status> {
    insert_bearer(request, caller.token.expose())
}

fn insert_bearer<T>(request: &mut Request<T>, token: &str) -> Result<(), Status> {
    let value = MetadataValue::try_from(format!("Bearer {token}"))
        .map_err(|_| Status::internal("token is not valid metadata"))?;
    request.metadata_mut().insert("authorization", value);
    Ok(())
}

/// A service's own identity towards other services.
pub struct ServiceTokens {
    client: ServiceAuthServiceClient<Channel>,
    service: String,
    secret: Secret<String>,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

/// Never shows the cached token; the client secret is a [`Secret`] and prints redacted.
impl fmt::Debug for ServiceTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceTokens")
            .field("service", &self.service)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

impl ServiceTokens {
    /// `identity` is a channel to identity's gRPC port (it may connect lazily).
    pub fn new(identity: Channel, service: impl Into<String>, secret: Secret<String>) -> Self {
        Self {
            client: ServiceAuthServiceClient::new(identity),
            service: service.into(),
            secret,
            cached: Default::default(),
        }
    }

    /// A current service token, fetched or renewed when needed.
    pub async fn token(&self) -> Result<String, Status> {
        let mut cached = self.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let response = self
            .client
            .clone()
            .issue_service_token(IssueServiceTokenRequest {
                service_name: self.service.clone(),
                client_secret: self.secret.expose().clone(),
            })
            .await?
            .into_inner();
        let lifetime = Duration::from_secs(u64::try_from(response.expires_in).unwrap_or(0));
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE);
        *cached = Some((response.access_token.clone(), renew_at));
        Ok(response.access_token)
    }

    /// Adds this service's token to an outbound request.
    pub async fn authorize<T>(&self, request: &mut Request<T>) -> Result<(), Status> {
        let token = self.token().await?;
        insert_bearer(request, &token)
    }
}

/// An interceptor that sends a fixed bearer token on every call (tools, tests, CLIs).
#[derive(Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

/// The header value is the token itself: never shown.
impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Bearer").field(&"[redacted]").finish()
    }
}

impl Bearer {
    pub fn new(token: &str) -> Result<Self, Status> {
        MetadataValue::try_from(format!("Bearer {token}"))
            .map(Self)
            .map_err(|_| Status::invalid_argument("token is not valid metadata"))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}
