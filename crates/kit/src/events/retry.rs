//! Waiting out a broker (or database) that is not there yet. Consecutive failures are counted;
//! only the first and every 20th is worth a log line, so an outage cannot flood the logs.

use std::time::Duration;

/// Consecutive failures of one loop.
#[derive(Debug, Default)]
pub(crate) struct Failures(u32);

impl Failures {
    /// Counts one more; true when this one should be logged.
    pub(crate) fn record(&mut self) -> bool {
        self.0 = self.0.saturating_add(1);
        self.0 == 1 || self.0.is_multiple_of(20)
    }

    /// Starts over; returns how many there had been.
    pub(crate) fn reset(&mut self) -> u32 {
        std::mem::take(&mut self.0)
    }

    pub(crate) fn count(&self) -> u32 {
        self.0
    }

    /// How long a consumer or feed waits before starting again: 200 ms per failure, at most 5 s.
    pub(crate) fn linear_wait(&self) -> Duration {
        Duration::from_millis(200).saturating_mul(self.0.min(25))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_and_every_twentieth_failure_is_logged() {
        let mut failures = Failures::default();
        let mut logged = Vec::new();
        for _ in 0..45 {
            if failures.record() {
                logged.push(failures.count());
            }
        }
        assert_eq!(logged, [1, 20, 40]);
        assert_eq!(failures.linear_wait(), Duration::from_secs(5));
        assert_eq!(failures.reset(), 45);
        assert_eq!(failures.linear_wait(), Duration::ZERO);
    }
}
