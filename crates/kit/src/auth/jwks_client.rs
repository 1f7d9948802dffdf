//! Keys from identity's GetJwks RPC.

use std::time::Duration;

use futures::future::BoxFuture;
use mercato::identity::v1::{GetJwksRequest, identity_service_client::IdentityServiceClient};
use tonic::transport::Channel;

use super::{keys::PublicKey, verifier::KeySource};

const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Fetches the JWKS from identity over gRPC.
#[derive(Debug)]
pub struct IdentityJwks {
    client: IdentityServiceClient<Channel>,
}

impl IdentityJwks {
    pub fn new(identity: Channel) -> Self {
        Self { client: IdentityServiceClient::new(identity) }
    }
}

impl KeySource for IdentityJwks {
    fn fetch(&self) -> BoxFuture<'_, anyhow::Result<Vec<PublicKey>>> {
        Box::pin(async move {
            let mut request = tonic::Request::new(GetJwksRequest {});
            request.set_timeout(FETCH_TIMEOUT);
            let keys = tokio::time::timeout(FETCH_TIMEOUT, self.client.clone().get_jwks(request))
                .await
                .map_err(|_| anyhow::anyhow!("identity did not answer GetJwks within {FETCH_TIMEOUT:?}"))??
                .into_inner()
                .keys;
            Ok(keys.iter().filter_map(|k| PublicKey::from_jwk(&k.kty, &k.crv, &k.x, &k.kid)).collect())
        })
    }
}
