//! The admin HTTP listener: /healthz (liveness: the process answers, no dependency is called),
//! /readyz (dependencies answer and we are not draining), /startupz (start-up finished) and
//! /metrics (Prometheus). Kept off the gRPC port so probes and scrapes never compete with
//! traffic and are never exposed through the edge.

use std::{
    fmt,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use futures::future::{BoxFuture, join_all};
use serde_json::json;

use crate::metrics::Metrics;

/// Something /readyz must see answering.
pub trait ReadinessCheck: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// A readiness check slower than this counts as failed: a probe must not hang.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Shared readiness state: the checks, whether start-up finished, whether we are draining.
#[derive(Clone, Default)]
pub struct Readiness(Arc<Inner>);

#[derive(Default)]
struct Inner {
    checks: RwLock<Vec<Arc<dyn ReadinessCheck>>>,
    started: AtomicBool,
    draining: AtomicBool,
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_read`: a Debug call must never block on (or deadlock with) a writer.
        let checks: Option<Vec<&'static str>> =
            self.0.checks.try_read().ok().map(|c| c.iter().map(|c| c.name()).collect());
        f.debug_struct("Readiness")
            .field("checks", &checks)
            .field("started", &self.0.started.load(Ordering::SeqCst))
            .field("draining", &self.0.draining.load(Ordering::SeqCst))
            .finish()
    }
}

impl Readiness {
    pub fn add(&self, check: impl ReadinessCheck) {
        if let Ok(mut checks) = self.0.checks.write() {
            checks.push(Arc::new(check));
        }
    }

    pub fn mark_started(&self) {
        self.0.started.store(true, Ordering::SeqCst);
    }

    pub fn mark_draining(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_started(&self) -> bool {
        self.0.started.load(Ordering::SeqCst)
    }

    /// Runs every check concurrently: ready or not, and a JSON report of each check.
    pub async fn check(&self) -> (bool, serde_json::Value) {
        if self.0.draining.load(Ordering::SeqCst) {
            return (false, json!({"status": "draining"}));
        }
        if !self.is_started() {
            return (false, json!({"status": "starting"}));
        }
        let checks: Vec<_> = self.0.checks.read().map(|c| c.clone()).unwrap_or_default();
        let results = join_all(checks.iter().map(|c| async move {
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, c.check()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
            };
            (c.name(), outcome)
        }))
        .await;
        let ok = results.iter().all(|(_, r)| r.is_ok());
        let detail: serde_json::Map<_, _> = results
            .into_iter()
            .map(|(name, r)| (name.to_string(), r.err().map_or(json!("ok"), |e| json!(e))))
            .collect();
        (ok, json!({"status": if ok { "ready" } else { "unavailable" }, "checks": detail}))
    }
}

#[derive(Clone)]
struct AdminState {
    readiness: Readiness,
    metrics: Metrics,
    /// A scrape's readiness check still running: the next scrape does not start another.
    checking: Arc<AtomicBool>,
}

/// The admin routes. `extra` lets a service add its own (identity will serve JWKS here).
pub fn router(readiness: Readiness, metrics: Metrics, extra: Router) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/startupz", get(startupz))
        .route("/metrics", get(metrics_text))
        .with_state(AdminState { readiness, metrics, checking: Arc::default() })
        .merge(extra)
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    let (ok, body) = state.readiness.check().await;
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

async fn startupz(State(state): State<AdminState>) -> impl IntoResponse {
    if state.readiness.is_started() {
        (StatusCode::OK, Json(json!({"status": "started"})))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "starting"})))
    }
}

/// Clears the scrape's "checking" flag however its check ends (a check that panicked too), so
/// that the next scrape starts one.
struct CheckDone(Arc<AtomicBool>);

impl Drop for CheckDone {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// How long a scrape waits for the readiness checks it starts before it reports the last answer.
const SCRAPE_READY_WAIT: Duration = Duration::from_millis(250);

/// The sampled gauges are brought up to date first (each sampler bounded by its timeout), and
/// `mercato_ready` by readiness checks run in a task of their own: a dependency that hangs
/// would otherwise hold every scrape for the checks' whole timeout. A check that has not
/// answered within [`SCRAPE_READY_WAIT`] sets the gauge when it does, for the next scrape.
async fn metrics_text(State(state): State<AdminState>) -> impl IntoResponse {
    let check = (!state.checking.swap(true, Ordering::SeqCst)).then(|| {
        let (readiness, metrics) = (state.readiness.clone(), state.metrics.clone());
        let done = CheckDone(state.checking.clone());
        tokio::spawn(async move {
            let _done = done;
            let (ready, _) = readiness.check().await;
            metrics.set_ready(ready);
        })
    });
    let ready_soon = async {
        if let Some(check) = check {
            let _ = tokio::time::timeout(SCRAPE_READY_WAIT, check).await;
        }
    };
    futures::future::join(ready_soon, state.metrics.sample()).await;
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.encode())
}
