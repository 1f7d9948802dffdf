//! Rate limits per client: a token bucket per signed-in user (else per client IP), and a much
//! smaller one per IP for login, registration and refresh, where guessing passwords happens.
//! Every response says where the client stands (RateLimit-Limit / -Remaining / -Reset); a
//! refused one adds Retry-After. Refusals are counted by the limit that refused
//! (`mercato_rate_limited_total{limit="general"|"credentials"}`).

use std::{
    collections::HashMap,
    fmt,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use mercato_kit::auth::Caller;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use tonic::Status;
use tower::{Layer, Service};

use super::kind::{Kind, client_ip, refuse};

/// Idle buckets are swept once this many checks have passed.
const SWEEP_EVERY: u64 = 10_000;

/// One limit: `capacity` requests, refilled evenly over a minute.
pub struct RateLimiter {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<(HashMap<String, Bucket>, u64)>,
}

/// The buckets are left out: one per client (user ids, IP addresses), and many.
impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("capacity", &self.capacity)
            .field("per_second", &self.per_second)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Where a client stands after a check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset: u64,
    /// Seconds until the next request would be allowed (when refused).
    pub retry_after: u64,
}

impl RateLimiter {
    pub fn per_minute(limit: u32) -> Self {
        let capacity = f64::from(limit.max(1));
        Self { capacity, per_second: capacity / 60.0, buckets: Mutex::new((HashMap::new(), 0)) }
    }

    pub fn check(&self, key: &str, now: Instant) -> Decision {
        let Ok(mut guard) = self.buckets.lock() else {
            // A poisoned limiter must not take the edge down: fail open, loudly.
            tracing::error!("rate limiter poisoned; allowing");
            return self.decision(true, self.capacity, 0.0);
        };
        let (buckets, checks) = &mut *guard;
        *checks += 1;
        if *checks % SWEEP_EVERY == 0 {
            let full_after = Duration::from_secs_f64(self.capacity / self.per_second);
            buckets.retain(|_, b| now.duration_since(b.at) < full_after);
        }
        // Look up before inserting: a key is allocated once per client, not once per request.
        if !buckets.contains_key(key) {
            buckets.insert(key.to_string(), Bucket { tokens: self.capacity, at: now });
        }
        let Some(bucket) = buckets.get_mut(key) else {
            return self.decision(true, self.capacity, 0.0);
        };
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.capacity);
        bucket.at = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        self.decision(allowed, bucket.tokens, if allowed { 0.0 } else { (1.0 - bucket.tokens) / self.per_second })
    }

    fn decision(&self, allowed: bool, tokens: f64, wait: f64) -> Decision {
        Decision {
            allowed,
            limit: self.capacity as u32,
            remaining: tokens.floor().max(0.0) as u32,
            reset: ((self.capacity - tokens) / self.per_second).ceil().max(0.0) as u64,
            retry_after: wait.ceil().max(1.0) as u64,
        }
    }
}

/// Parsed once: these go on every response.
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

impl Decision {
    pub fn write(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RATELIMIT_RESET, HeaderValue::from(self.reset));
        if !self.allowed {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(self.retry_after));
        }
    }
}

/// Decides whether a request is a credential attempt (login, registration, refresh).
pub type Sensitive = Arc<dyn Fn(&http::Method, &str) -> bool + Send + Sync>;

/// Requests refused, one counter per limit: `general` (RATE_LIMIT_PER_MINUTE, per user or
/// IP) and `credentials` (AUTH_RATE_LIMIT_PER_MINUTE, per IP). Both exist from the start, so
/// that a rate() over them is defined before the first refusal.
#[derive(Debug, Clone)]
pub struct RateLimitMetrics {
    general: IntCounter,
    credentials: IntCounter,
}

impl RateLimitMetrics {
    pub fn register(registry: &Registry) -> anyhow::Result<Self> {
        let refused = IntCounterVec::new(
            Opts::new("mercato_rate_limited_total", "Requests refused by a rate limit, by the limit that refused."),
            &["limit"],
        )?;
        registry.register(Box::new(refused.clone()))?;
        Ok(Self {
            general: refused.with_label_values(&["general"]),
            credentials: refused.with_label_values(&["credentials"]),
        })
    }
}

#[derive(Clone)]
pub struct RateLimitLayer {
    pub general: Arc<RateLimiter>,
    pub credentials: Arc<RateLimiter>,
    pub sensitive: Sensitive,
    pub trust_forwarded_for: bool,
    pub metrics: RateLimitMetrics,
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("general", &self.general)
            .field("credentials", &self.credentials)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit { inner, layer: self.clone() }
    }
}

#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    layer: RateLimitLayer,
}

impl<S> fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit").field("layer", &self.layer).finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for RateLimit<S>
where
    S: Service<Request<B>, Response = Response<axum::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // Preflights carry no credentials and must not eat the client's budget.
        if req.method() == http::Method::OPTIONS {
            return Box::pin(self.inner.call(req));
        }
        let ip =
            client_ip(&req, self.layer.trust_forwarded_for).map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
        let now = Instant::now();
        let (decision, refusals) = if (self.layer.sensitive)(req.method(), req.uri().path()) {
            // By IP even when signed in: brute force is about where attempts come from.
            (self.layer.credentials.check(&format!("ip:{ip}"), now), &self.layer.metrics.credentials)
        } else {
            let key = match req.extensions().get::<Caller>() {
                Some(caller) => format!("user:{}", caller.subject),
                None => format!("ip:{ip}"),
            };
            (self.layer.general.check(&key, now), &self.layer.metrics.general)
        };
        if !decision.allowed {
            refusals.inc();
            tracing::info!(client_ip = %ip, retry_after = decision.retry_after, "rate limited");
            let kind = Kind::of(req.headers());
            let mut response = refuse(kind, &Status::resource_exhausted("rate limit exceeded; retry later"));
            decision.write(response.headers_mut());
            return Box::pin(async move { Ok(response) });
        }
        let future = self.inner.call(req);
        Box::pin(async move {
            let mut response = future.await?;
            decision.write(response.headers_mut());
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_over_a_minute() {
        let limiter = RateLimiter::per_minute(60);
        let t0 = Instant::now();
        for i in 0..60 {
            let d = limiter.check("a", t0);
            assert!(d.allowed, "request {i}");
        }
        let refused = limiter.check("a", t0);
        assert!(!refused.allowed);
        assert_eq!((refused.remaining, refused.retry_after), (0, 1));
        assert!(limiter.check("b", t0).allowed, "buckets are per key");
        let later = limiter.check("a", t0 + Duration::from_secs(2));
        assert!(later.allowed, "one token per second refills");
        assert_eq!(later.limit, 60);
    }
}
