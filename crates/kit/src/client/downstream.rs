//! Every call to one downstream goes through its [`Downstream`]: a concurrency limit
//! (bulkhead), a circuit breaker, a deadline bounded by the caller's own, and retries with
//! backoff, an attempt limit and a budget (see [`super::retry`]).
//!
//! Order of the checks, and why:
//! 1. bulkhead: a slow downstream may hold at most `concurrency` of this process's calls, and
//!    one more is refused at once (RESOURCE_EXHAUSTED) instead of queueing;
//! 2. breaker, per attempt: while open, UNAVAILABLE at once, no attempt made;
//! 3. the attempt, given what is left of the deadline (sent on as `grpc-timeout`);
//! 4. a retry if [`retryable`], the budget allows, and its wait fits in the deadline.

use std::{future::Future, sync::Arc, time::Duration};

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use tokio::{sync::Semaphore, time::Instant};
use tonic::{Code, Status};
use tower::retry::budget::{Budget, TpsBudget};

use super::{
    breaker::{Breaker, BreakerConfig, Outcome, State, Transition},
    retry::{Idempotency, RetryConfig, causes, is_local_rejection, is_unsent, rejected, retryable},
};
use crate::{deadline, grpc::code_name};

/// The window the retry budget counts calls over.
const BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// Limits for one downstream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DownstreamConfig {
    /// Calls in flight at once (the bulkhead).
    pub concurrency: usize,
    pub breaker: BreakerConfig,
    pub retry: RetryConfig,
}

impl Default for DownstreamConfig {
    fn default() -> Self {
        Self { concurrency: 512, breaker: BreakerConfig::default(), retry: RetryConfig::default() }
    }
}

/// What the protected clients of one process export. Register once per registry; every
/// downstream shares it (label `downstream`).
#[derive(Debug, Clone)]
pub struct ClientMetrics {
    /// Attempts sent, by outcome (`ok`, or the gRPC code's name).
    attempts: IntCounterVec,
    retries: IntCounterVec,
    /// Calls refused here, by reason: `bulkhead`, `circuit_open`.
    rejected: IntCounterVec,
    /// Retries a failed call was denied, by reason: `budget`, `deadline`, `attempts`.
    retries_denied: IntCounterVec,
    circuit_state: IntGaugeVec,
    circuit_transitions: IntCounterVec,
    /// TCP connects, by result (`ok`, `failed`, `handshake_failed`).
    pub(crate) connects: IntCounterVec,
}

impl ClientMetrics {
    pub fn register(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let counter = IntCounterVec::new(Opts::new(name, help), labels);
            // Constant names and help texts: these cannot fail.
            #[allow(clippy::expect_used)]
            let counter = counter.expect("valid metric");
            let _ = registry.register(Box::new(counter.clone()));
            counter
        };
        let attempts = counter(
            "mercato_client_attempts_total",
            "Attempts of outbound calls, by downstream and outcome (ok, or the gRPC code).",
            &["downstream", "outcome"],
        );
        let retries = counter("mercato_client_retries_total", "Outbound attempts that were retries.", &["downstream"]);
        let rejected = counter(
            "mercato_client_rejected_total",
            "Outbound calls refused before any attempt, by reason (bulkhead, circuit_open).",
            &["downstream", "reason"],
        );
        let retries_denied = counter(
            "mercato_client_retries_denied_total",
            "Failed outbound calls not retried although retryable, by reason (budget, deadline, attempts).",
            &["downstream", "reason"],
        );
        let connects = counter(
            "mercato_client_connects_total",
            "TCP connects to downstreams, by result (ok, failed, handshake_failed).",
            &["downstream", "result"],
        );
        let circuit_transitions = counter(
            "mercato_client_circuit_transitions_total",
            "Circuit breaker state changes, by downstream and new state.",
            &["downstream", "to"],
        );
        #[allow(clippy::expect_used)]
        let circuit_state = IntGaugeVec::new(
            Opts::new("mercato_client_circuit_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open."),
            &["downstream"],
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(circuit_state.clone()));
        Self { attempts, retries, rejected, retries_denied, circuit_state, circuit_transitions, connects }
    }
}

/// See the module docs. Cheap to clone; clones share limits, breaker and budget.
#[derive(Debug, Clone)]
pub struct Downstream {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: &'static str,
    config: DownstreamConfig,
    bulkhead: Semaphore,
    breaker: Breaker,
    budget: TpsBudget,
    metrics: ClientMetrics,
}

impl Downstream {
    /// `name` labels its metrics and logs (`catalog`).
    pub fn new(name: &'static str, config: DownstreamConfig, metrics: ClientMetrics) -> Self {
        metrics.circuit_state.with_label_values(&[name]).set(State::Closed as i64);
        // From 0, so that a rate() over retries is defined before the first one.
        metrics.retries.with_label_values(&[name]);
        // TpsBudget asserts its ranges; clamp rather than trust the caller's numbers.
        let budget = TpsBudget::new(
            BUDGET_WINDOW,
            config.retry.budget_min_per_sec,
            config.retry.budget_ratio.clamp(0.0, 1000.0),
        );
        let inner = Inner {
            name,
            config,
            bulkhead: Semaphore::new(config.concurrency.max(1)),
            breaker: Breaker::new(config.breaker),
            budget,
            metrics,
        };
        Self { inner: Arc::new(inner) }
    }

    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    pub fn circuit(&self) -> State {
        self.inner.breaker.state()
    }

    /// A connector whose connects are counted as this downstream's.
    pub fn connector(&self) -> super::Connector {
        super::Connector::observed(self.inner.name, &self.inner.metrics)
    }

    /// Runs `attempt` (given the time left) until it succeeds, fails for good, or the limits
    /// say stop. The deadline is `timeout` from now or the current call's, whichever is
    /// sooner; past it the call is DEADLINE_EXCEEDED.
    pub async fn call<T, F, Fut>(
        &self,
        idempotency: Idempotency,
        timeout: Duration,
        mut attempt: F,
    ) -> Result<T, Status>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let inner = &*self.inner;
        let deadline = deadline::within(timeout);
        let _permit = self.enter()?;
        inner.budget.deposit();
        let mut tries = 0;
        loop {
            tries += 1;
            let status = match self.bounded(deadline, timeout, &mut attempt).await {
                Ok(value) => return Ok(value),
                Err(status) => status,
            };
            if !retryable(&status, idempotency) {
                return Err(status);
            }
            let denied = if tries >= inner.config.retry.attempts {
                "attempts"
            } else if !inner.budget.withdraw() {
                "budget"
            } else {
                let wait = inner.config.retry.wait(tries);
                if Instant::now() + wait >= deadline {
                    "deadline"
                } else {
                    tokio::time::sleep(wait).await;
                    inner.metrics.retries.with_label_values(&[inner.name]).inc();
                    continue;
                }
            };
            inner.metrics.retries_denied.with_label_values(&[inner.name, denied]).inc();
            return Err(status);
        }
    }

    /// One attempt only, through the bulkhead, the breaker and the deadline: for a call
    /// that cannot be made twice (a request body streamed through, not held).
    pub async fn call_once<T, F, Fut>(&self, timeout: Duration, attempt: F) -> Result<T, Status>
    where
        F: FnOnce(Duration) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let deadline = deadline::within(timeout);
        let _permit = self.enter()?;
        self.bounded(deadline, timeout, attempt).await
    }

    /// A place in the bulkhead, or the refusal.
    fn enter(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Status> {
        let inner = &*self.inner;
        inner.bulkhead.try_acquire().map_err(|_| {
            inner.metrics.rejected.with_label_values(&[inner.name, "bulkhead"]).inc();
            rejected(Status::resource_exhausted(format!(
                "{} has {} calls in flight already (the limit)",
                inner.name, inner.config.concurrency
            )))
        })
    }

    /// One attempt, cut off at `deadline`.
    async fn bounded<T, F, Fut>(&self, deadline: Instant, timeout: Duration, attempt: F) -> Result<T, Status>
    where
        F: FnOnce(Duration) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        match tokio::time::timeout_at(deadline, self.attempt(deadline, attempt)).await {
            Ok(result) => result,
            Err(_) => Err(Status::deadline_exceeded(format!(
                "{} did not answer within the deadline ({timeout:?} or the caller's)",
                self.inner.name
            ))),
        }
    }

    /// One attempt through the breaker.
    async fn attempt<T, F, Fut>(&self, deadline: Instant, attempt: F) -> Result<T, Status>
    where
        F: FnOnce(Duration) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let inner = &*self.inner;
        let (admitted, transition) = inner.breaker.admit();
        self.note(transition);
        let Some(admitted) = admitted else {
            inner.metrics.rejected.with_label_values(&[inner.name, "circuit_open"]).inc();
            return Err(rejected(Status::unavailable(format!(
                "{} is failing; its circuit is open (calls resume after a cool-down)",
                inner.name
            ))));
        };
        // Recorded on drop too: an attempt cut short by the deadline is a failure of the
        // downstream's, one dropped because the caller went away says nothing.
        let mut guard = AttemptGuard { downstream: self, admitted: Some(admitted), deadline };
        let result = attempt(deadline.saturating_duration_since(Instant::now())).await.map_err(timeout_is_deadline);
        let (outcome, label) = match &result {
            Ok(_) => (Outcome::Success, "ok"),
            Err(status) => (health_outcome(status), code_name(status.code())),
        };
        guard.finish(outcome, label);
        result
    }

    fn note(&self, transition: Option<Transition>) {
        let Some(transition) = transition else { return };
        let inner = &*self.inner;
        inner.metrics.circuit_state.with_label_values(&[inner.name]).set(transition.to as i64);
        inner.metrics.circuit_transitions.with_label_values(&[inner.name, transition.to.as_str()]).inc();
        let (from, to) = (transition.from.as_str(), transition.to.as_str());
        match transition.to {
            State::Open => tracing::warn!(
                downstream = inner.name,
                from,
                to,
                failure_rate = transition.failure_rate,
                cool_down = ?inner.config.breaker.cool_down,
                "circuit opened: calls fail fast"
            ),
            _ => tracing::info!(downstream = inner.name, from, to, "circuit state changed"),
        }
    }
}

struct AttemptGuard<'a> {
    downstream: &'a Downstream,
    admitted: Option<super::breaker::Admitted>,
    deadline: Instant,
}

impl AttemptGuard<'_> {
    fn finish(&mut self, outcome: Outcome, label: &str) {
        if let Some(admitted) = self.admitted.take() {
            let inner = &*self.downstream.inner;
            inner.metrics.attempts.with_label_values(&[inner.name, label]).inc();
            let transition = inner.breaker.record(admitted, outcome);
            self.downstream.note(transition);
        }
    }
}

impl Drop for AttemptGuard<'_> {
    fn drop(&mut self) {
        if Instant::now() >= self.deadline {
            self.finish(Outcome::Failure, "DEADLINE_EXCEEDED");
        } else {
            self.finish(Outcome::Ignored, "CANCELLED");
        }
    }
}

/// What a failed attempt says about the downstream's health: codes that mean "it is in
/// trouble" count against it; the caller's own mistakes and answers about data do not.
/// A call that never reached it says nothing either: refused connects are the connector's
/// to pace (it fails fast while it backs off), and counted here they would keep the circuit
/// open for a cool-down after the downstream is back.
fn health_outcome(status: &Status) -> Outcome {
    if is_local_rejection(status) || is_unsent(status) {
        return Outcome::Ignored;
    }
    match status.code() {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Internal
        | Code::Unknown
        | Code::DataLoss => Outcome::Failure,
        Code::Cancelled => Outcome::Ignored,
        _ => Outcome::Success,
    }
}

/// tonic's client enforces a request's own timeout and reports it as CANCELLED; it is the
/// deadline passing, and says so.
fn timeout_is_deadline(status: Status) -> Status {
    if status.code() == Code::Cancelled && causes(&status).any(|e| e.is::<tonic::TimeoutExpired>()) {
        Status::deadline_exceeded(format!("no answer within the deadline: {}", status.message()))
    } else {
        status
    }
}
