//! The services behind the edge: which gRPC services are public (those with at least one
//! `google.api.http` rule — internal ones such as StockService never are) and the channel to
//! the bounded context that owns each.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::future::BoxFuture;
use mercato_kit::{
    admin::ReadinessCheck,
    client::{self, ClientMetrics, Downstream, DownstreamConfig},
};
use prost_reflect::{DescriptorPool, ServiceDescriptor};
use tonic::{Status, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::{config::Upstreams, unary::UnaryClient};

pub struct Mesh {
    pool: DescriptorPool,
    /// context ("catalog") → its connections, for every configured context.
    channels: HashMap<&'static str, Connections>,
    exposed: HashSet<String>,
}

/// The descriptor pool and the connections are left out: large, and nothing a reader needs.
impl fmt::Debug for Mesh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mesh")
            .field("contexts", &self.channels.keys().collect::<Vec<_>>())
            .field("exposed", &self.exposed)
            .finish_non_exhaustive()
    }
}

/// Several HTTP/2 connections to one upstream, used in turn. One connection is one socket and
/// one I/O task on each side: under load it, not the services, becomes the bottleneck.
/// Unary calls (REST, aggregation) have their own lean connections; streams and the gRPC
/// pass-through use the channels.
struct Connections {
    channels: Vec<Channel>,
    next: AtomicUsize,
    unary: Arc<UnaryClient>,
}

impl Connections {
    fn pick(&self) -> Option<Channel> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len().max(1);
        self.channels.get(i).cloned()
    }
}

/// `mercato.catalog.v1.CatalogService` → `catalog`.
pub fn context_of(service: &str) -> Option<&str> {
    let mut parts = service.split('.');
    (parts.next() == Some("mercato")).then(|| parts.next()).flatten()
}

/// A service is public when any of its methods has an HTTP mapping.
pub fn is_public(service: &ServiceDescriptor) -> bool {
    let Some(http) = service.parent_pool().get_extension_by_name("google.api.http") else { return false };
    service.methods().any(|m| m.options().has_extension(&http))
}

impl Mesh {
    /// Channels and a unary client per upstream; the unary calls of each go through a
    /// [`Downstream`] of `protection`, exporting into `metrics`.
    pub fn new(
        pool: DescriptorPool,
        upstreams: &Upstreams,
        connections: usize,
        protection: DownstreamConfig,
        metrics: &ClientMetrics,
    ) -> anyhow::Result<Self> {
        let mut channels = HashMap::new();
        for (context, url) in &upstreams.0 {
            let list = (0..connections.max(1)).map(|_| client::channel(url)).collect::<anyhow::Result<Vec<_>>>()?;
            let downstream = Downstream::new(context, protection, metrics.clone());
            let unary = Arc::new(UnaryClient::new(url, connections, downstream)?);
            channels.insert(*context, Connections { channels: list, next: AtomicUsize::new(0), unary });
        }
        let exposed = pool.services().filter(is_public).map(|s| s.full_name().to_string()).collect();
        Ok(Self { pool, channels, exposed })
    }

    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    pub fn is_exposed(&self, service: &str) -> bool {
        self.exposed.contains(service)
    }

    pub fn exposed(&self) -> impl Iterator<Item = &str> {
        self.exposed.iter().map(String::as_str)
    }

    /// The channel for a public service.
    pub fn channel_for(&self, service: &str) -> Result<Channel, Unserved> {
        self.connections_for(service)?.pick().ok_or(Unserved::NotPublic)
    }

    /// The unary client for a public service.
    pub fn unary_for(&self, service: &str) -> Result<Arc<UnaryClient>, Unserved> {
        Ok(self.connections_for(service)?.unary.clone())
    }

    /// Both, for the gRPC pass-through: a channel to forward on, and the unary client whose
    /// protection (breaker, bulkhead) every call to that upstream shares.
    pub fn pass_through_for(&self, service: &str) -> Result<(Channel, Arc<UnaryClient>), Unserved> {
        let connections = self.connections_for(service)?;
        Ok((connections.pick().ok_or(Unserved::NotPublic)?, connections.unary.clone()))
    }

    fn connections_for(&self, service: &str) -> Result<&Connections, Unserved> {
        if !self.is_exposed(service) {
            return Err(Unserved::NotPublic);
        }
        let context = context_of(service).ok_or(Unserved::NotPublic)?;
        self.channels.get(context).ok_or_else(|| Unserved::NotConfigured(context.to_string()))
    }

    /// Every configured context with a channel to it (readiness checks).
    pub fn contexts(&self) -> impl Iterator<Item = (&'static str, Channel)> + '_ {
        self.channels.iter().filter_map(|(context, c)| Some((*context, c.pick()?)))
    }

    /// The unary client for a context, for the gateway's own calls (aggregation).
    pub fn unary_context(&self, context: &str) -> Option<Arc<UnaryClient>> {
        self.channels.get(context).map(|c| c.unary.clone())
    }
}

/// Why a gRPC service is not reachable through this gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unserved {
    /// Internal (no HTTP mapping) or unknown: never reachable from outside.
    NotPublic,
    /// Public, but the gateway has no endpoint for its context.
    NotConfigured(String),
}

impl Unserved {
    pub fn status(&self, service: &str) -> Status {
        match self {
            Self::NotPublic => Status::unimplemented(format!("no public service {service:?} behind this gateway")),
            Self::NotConfigured(context) => Status::unavailable(format!(
                "{context} is not configured at this gateway ({}_URL is unset)",
                context.to_uppercase()
            )),
        }
    }
}

/// /readyz: the named upstream answers its health check with SERVING.
#[derive(Debug)]
pub struct UpstreamReady {
    pub name: &'static str,
    pub channel: Channel,
}

const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

impl ReadinessCheck for UpstreamReady {
    fn name(&self) -> &'static str {
        self.name
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let mut request = tonic::Request::new(HealthCheckRequest { service: String::new() });
            request.set_timeout(HEALTH_TIMEOUT);
            let status = tokio::time::timeout(HEALTH_TIMEOUT, HealthClient::new(self.channel.clone()).check(request))
                .await
                .map_err(|_| "no answer".to_string())?
                .map_err(|e| e.message().to_string())?
                .into_inner()
                .status;
            if status == ServingStatus::Serving as i32 { Ok(()) } else { Err("not serving".into()) }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_annotated_services_are_public() {
        let pool = DescriptorPool::decode(mercato::FILE_DESCRIPTOR_SET).unwrap();
        let public: HashSet<_> = pool.services().filter(is_public).map(|s| s.full_name().to_string()).collect();
        assert!(public.contains("mercato.catalog.v1.CatalogService"));
        assert!(public.contains("mercato.identity.v1.IdentityService"));
        assert!(!public.contains("mercato.catalog.v1.StockService"));
        assert!(!public.contains("mercato.identity.v1.ServiceAuthService"));
        assert!(!public.contains("mercato.identity.v1.SigningKeyService"));
        assert_eq!(context_of("mercato.orders.v1.OrderService"), Some("orders"));
        assert_eq!(context_of("grpc.health.v1.Health"), None);
    }
}
