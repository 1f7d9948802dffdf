//! The deadline of the call being served, so the calls it makes downstream give up when its
//! caller does: the kit's server sets it from the request's `grpc-timeout`, and
//! [`crate::client::Downstream`] bounds each outbound call by what is left of it.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `future` with `deadline` (if any) as the current deadline.
pub async fn with<F: Future>(deadline: Option<Instant>, future: F) -> F::Output {
    match deadline {
        Some(deadline) => DEADLINE.scope(deadline, future).await,
        None => future.await,
    }
}

/// The current call's deadline, if it has one.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// The sooner of `now + timeout` and the current deadline.
pub fn within(timeout: Duration) -> Instant {
    let own = Instant::now() + timeout;
    current().map_or(own, |inherited| inherited.min(own))
}

/// A `grpc-timeout` value (`TimeoutValue TimeoutUnit`: at most 8 digits, then one of H M S m
/// u n), as a duration; anything else is `None`.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let unit = value.chars().last()?;
    let digits = value.get(..value.len() - unit.len_utf8())?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(n * 3600),
        'M' => Duration::from_secs(n * 60),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_as_the_spec_writes_them() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for bad in ["", "m", "100", "123456789m", "1.5S", "-1S", "10x", "1é"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_inherited_deadline_bounds_a_longer_timeout() {
        assert!(current().is_none());
        let start = Instant::now();
        let inherited = start + Duration::from_millis(100);
        with(Some(inherited), async {
            assert_eq!(within(Duration::from_secs(10)), inherited);
            assert_eq!(within(Duration::from_millis(10)), start + Duration::from_millis(10));
        })
        .await;
        assert_eq!(within(Duration::from_secs(1)), start + Duration::from_secs(1));
    }
}
