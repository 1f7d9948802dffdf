//! A budget of log lines per second for what can happen thousands of times a second (failed
//! requests during an outage, refused connections): the first few lines of each second are
//! written, and the next line written says how many were left out.

use std::{sync::Mutex, time::Duration};

use tokio::time::Instant;

#[derive(Debug)]
pub struct LogBudget {
    per_second: u32,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    logged: u32,
    suppressed: u64,
}

impl LogBudget {
    pub fn per_second(per_second: u32) -> Self {
        Self { per_second, window: Mutex::new(Window { start: Instant::now(), logged: 0, suppressed: 0 }) }
    }

    /// `Some(lines left out since the last one)` when this line may be written.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut window = self.window.lock().ok()?;
        if now.duration_since(window.start) >= Duration::from_secs(1) {
            window.start = now;
            window.logged = 0;
        }
        if window.logged >= self.per_second {
            window.suppressed += 1;
            return None;
        }
        window.logged += 1;
        Some(std::mem::take(&mut window.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_limited_per_second_and_the_next_says_how_many_were_left_out() {
        let budget = LogBudget::per_second(10);
        let start = Instant::now();
        for _ in 0..10 {
            assert_eq!(budget.admit_at(start), Some(0));
        }
        assert_eq!(budget.admit_at(start), None);
        assert_eq!(budget.admit_at(start + Duration::from_millis(500)), None);
        assert_eq!(budget.admit_at(start + Duration::from_secs(1)), Some(2), "the next second says what was left out");
    }
}
