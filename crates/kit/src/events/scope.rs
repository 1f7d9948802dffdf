//! What an event inherits from the work that caused it: the request id and trace context of
//! the gRPC call (set by the server's observe layer) or of the event being handled (set by
//! the consumer), so a chain of events stays correlated end to end.

use std::future::Future;

/// The correlation of the work in progress.
#[derive(Debug, Clone, Default)]
pub struct Correlation {
    pub request_id: Option<String>,
    pub traceparent: Option<String>,
}

tokio::task_local! {
    static CURRENT: Correlation;
}

/// Runs `future` with `correlation` as the current one.
pub async fn with<F: Future>(correlation: Correlation, future: F) -> F::Output {
    CURRENT.scope(correlation, future).await
}

/// The current correlation (empty outside any scope).
pub fn current() -> Correlation {
    CURRENT.try_with(Clone::clone).unwrap_or_default()
}
