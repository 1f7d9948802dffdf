//! Which failed calls are tried again, and how soon.
//!
//! - A call the downstream never saw (no connection could be made, the stream was refused,
//!   the connection was gone before the request left) is safe to try again, whatever it does.
//! - A call that may have reached it is tried again only if the RPC is idempotent, and only
//!   for a transient code: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED.
//! - Never more than `attempts` in all, each after a full-jitter exponential wait, and never
//!   beyond the call's deadline or the downstream's retry budget (retries at most a share of
//!   the calls), so retries cannot multiply an outage.

use std::{error::Error as StdError, fmt, sync::Arc, time::Duration};

use tonic::{Code, Status};

/// How many attempts, how far apart, and the budget they draw on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Attempts in all, the first included (1: never retry).
    pub attempts: u32,
    /// The first retry waits up to this (full jitter), doubling per retry up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// Retries may be at most this share of the calls of the last 10 s…
    pub budget_ratio: f32,
    /// …plus this many per second, so a quiet downstream can still be retried.
    pub budget_min_per_sec: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: 3,
            base: Duration::from_millis(25),
            cap: Duration::from_millis(250),
            budget_ratio: 0.2,
            budget_min_per_sec: 10,
        }
    }
}

impl RetryConfig {
    /// The wait before retry number `retry` (from 1): uniform in [0, base × 2^(retry-1)], capped.
    pub fn wait(&self, retry: u32) -> Duration {
        crate::backoff::full_jitter(crate::backoff::exponential(self.base, self.cap, retry))
    }
}

/// Whether an RPC may run twice with no harm: a read, or a write keyed by a request id the
/// downstream deduplicates. The caller says so per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    Idempotent,
    NotIdempotent,
}

/// Whether `status` is worth another attempt of an RPC of `idempotency`.
pub fn retryable(status: &Status, idempotency: Idempotency) -> bool {
    if is_unsent(status) {
        return true;
    }
    idempotency == Idempotency::Idempotent
        && matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted)
        && !is_local_rejection(status)
}

/// Marks `status` as the failure of a call that never reached the downstream.
pub fn unsent(mut status: Status) -> Status {
    status.set_source(Arc::new(Unsent));
    status
}

/// The call never reached the downstream: marked with [`unsent`], or failed in the
/// [`super::Connector`] before any byte was sent.
pub fn is_unsent(status: &Status) -> bool {
    causes(status).any(|error| {
        error.is::<Unsent>()
            || error.is::<super::connector::NotConnected>()
            || error.is::<tonic::ConnectError>()
            || error
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .is_some_and(|inner| inner.is::<super::connector::NotConnected>())
            || error.downcast_ref::<h2::Error>().is_some_and(|h2| h2.reason() == Some(h2::Reason::REFUSED_STREAM))
    })
}

/// `status`'s source and every source behind it.
pub(crate) fn causes(status: &Status) -> impl Iterator<Item = &(dyn StdError + 'static)> {
    std::iter::successors(status.source(), |error| (*error).source())
}

/// Marks `status` as refused here, before any attempt (see [`is_local_rejection`]).
pub(crate) fn rejected(mut status: Status) -> Status {
    status.set_source(Arc::new(Rejected));
    status
}

/// Refused here (breaker open, bulkhead full, budget spent): trying again at once is what
/// the refusal is there to stop.
pub(crate) fn is_local_rejection(status: &Status) -> bool {
    status.source().is_some_and(|e| e.is::<Rejected>())
}

#[derive(Debug)]
struct Rejected;

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refused before sending")
    }
}

impl StdError for Rejected {}

#[derive(Debug)]
struct Unsent;

impl fmt::Display for Unsent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the call never reached the downstream")
    }
}

impl StdError for Unsent {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_codes_of_idempotent_calls_are_retried_unless_never_sent() {
        use Idempotency::*;
        for code in [Code::Unavailable, Code::DeadlineExceeded, Code::ResourceExhausted] {
            assert!(retryable(&Status::new(code, "x"), Idempotent), "{code:?}");
            assert!(!retryable(&Status::new(code, "x"), NotIdempotent), "{code:?} may have reached it");
        }
        for code in [Code::InvalidArgument, Code::NotFound, Code::Internal, Code::PermissionDenied, Code::Cancelled] {
            assert!(!retryable(&Status::new(code, "x"), Idempotent), "{code:?}");
        }
        assert!(retryable(&unsent(Status::unavailable("no connection")), NotIdempotent));
        assert!(!retryable(&rejected(Status::resource_exhausted("bulkhead")), Idempotent));
    }

    #[test]
    fn waits_have_full_jitter_up_to_the_cap() {
        let config = RetryConfig::default();
        for retry in 1..20 {
            assert!(config.wait(retry) <= config.cap);
        }
        assert!((0..50).all(|_| config.wait(1) <= config.base));
    }
}
