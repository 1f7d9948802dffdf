//! Load shedding: a server works on at most so many requests at once, and answers the next
//! at once with a refusal (gRPC RESOURCE_EXHAUSTED, REST 503 with Retry-After) instead of
//! queueing it behind the others. Beyond capacity a queue only adds latency to every request
//! and memory to the process; a refusal lets the caller (or its retry budget) decide.
//!
//! A request holds its place until its response starts: a unary call for all of its work,
//! a stream for its setup (streams are bounded by their own limits, not this one).

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use prometheus::IntCounter;
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use crate::log_budget::LogBudget;

/// Builds the refusal for a request that is shed (it sees the request's headers to answer
/// in the caller's protocol).
pub type Refusal<RB> = Arc<dyn Fn(&http::HeaderMap, usize) -> http::Response<RB> + Send + Sync>;

/// See the module docs.
pub struct ShedLayer<RB> {
    permits: Arc<Semaphore>,
    limit: usize,
    refuse: Refusal<RB>,
    /// Requests refused (`mercato_shed_total`), and a line a second saying so.
    refused: Option<IntCounter>,
    log: Arc<LogBudget>,
}

impl<RB> Clone for ShedLayer<RB> {
    fn clone(&self) -> Self {
        Self {
            permits: self.permits.clone(),
            limit: self.limit,
            refuse: self.refuse.clone(),
            refused: self.refused.clone(),
            log: self.log.clone(),
        }
    }
}

impl<RB> std::fmt::Debug for ShedLayer<RB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShedLayer").field("limit", &self.limit).finish_non_exhaustive()
    }
}

impl<RB> ShedLayer<RB> {
    pub fn new(limit: usize, refuse: Refusal<RB>) -> Self {
        let limit = limit.max(1);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            refuse,
            refused: None,
            log: Arc::new(LogBudget::per_second(1)),
        }
    }

    /// Counts refusals in `registry` as `mercato_shed_total` (for a layer that sits outside
    /// the server's request metrics, where refusals are otherwise not seen).
    pub fn counted(mut self, registry: &prometheus::Registry) -> Self {
        if let Ok(counter) =
            IntCounter::new("mercato_shed_total", "Requests refused because the server was at capacity.")
        {
            let _ = registry.register(Box::new(counter.clone()));
            self.refused = Some(counter);
        }
        self
    }
}

impl ShedLayer<tonic::body::Body> {
    /// For gRPC servers: RESOURCE_EXHAUSTED, which the kit's clients retry for idempotent
    /// calls (within their budget) and count against this server's circuit.
    pub fn grpc(limit: usize) -> Self {
        Self::new(
            limit,
            Arc::new(|_, limit| {
                tonic::Status::resource_exhausted(format!("the server is at capacity ({limit} requests in progress)"))
                    .into_http()
            }),
        )
    }
}

impl<S, RB> Layer<S> for ShedLayer<RB> {
    type Service = Shed<S, RB>;

    fn layer(&self, inner: S) -> Self::Service {
        Shed { inner, layer: self.clone() }
    }
}

pub struct Shed<S, RB> {
    inner: S,
    layer: ShedLayer<RB>,
}

impl<S: Clone, RB> Clone for Shed<S, RB> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), layer: self.layer.clone() }
    }
}

impl<S: std::fmt::Debug, RB> std::fmt::Debug for Shed<S, RB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shed").field("inner", &self.inner).field("limit", &self.layer.limit).finish()
    }
}

impl<S, B, RB> Service<http::Request<B>> for Shed<S, RB>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    RB: Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let Ok(permit) = self.layer.permits.clone().try_acquire_owned() else {
            if let Some(refused) = &self.layer.refused {
                refused.inc();
            }
            if let Some(suppressed) = self.layer.log.admit() {
                tracing::warn!(limit = self.layer.limit, suppressed, "at capacity: refusing requests");
            }
            let refusal = (self.layer.refuse)(req.headers(), self.layer.limit);
            return Box::pin(async move { Ok(refusal) });
        };
        let future = self.inner.call(req);
        Box::pin(async move {
            let response = future.await;
            drop(permit);
            response
        })
    }
}
