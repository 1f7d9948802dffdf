//! Exponential backoff, shared by everything in the kit that retries a connection or a round:
//! the outbox relay, outbound channels' reconnects, and retried calls.

use std::time::Duration;

/// `start × 2^(failures-1)`, capped at `cap` (`failures` counts from 1): the longest wait
/// after that many consecutive failures, before jitter.
pub fn exponential(start: Duration, cap: Duration, failures: u32) -> Duration {
    start.saturating_mul(1 << failures.saturating_sub(1).min(16)).min(cap)
}

/// Anywhere between nothing and `wait` ("full jitter"): clients that failed together do not
/// come back together.
pub fn full_jitter(wait: Duration) -> Duration {
    wait.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_doubles_from_the_start_up_to_the_cap() {
        let (start, cap) = (Duration::from_millis(50), Duration::from_millis(800));
        let waits: Vec<u128> = (0..8).map(|n| exponential(start, cap, n).as_millis()).collect();
        assert_eq!(waits, [50, 50, 100, 200, 400, 800, 800, 800]);
        assert_eq!(exponential(start, cap, u32::MAX), cap);
    }
}
