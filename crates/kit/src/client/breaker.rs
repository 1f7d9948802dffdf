//! A circuit breaker per downstream: while a downstream fails most calls, callers fail at once
//! instead of each paying a timeout, and the downstream gets room to recover.
//!
//! - Closed: calls go through; outcomes are counted in a sliding window of one-second
//!   buckets. Once the window holds at least `min_calls` and the failure rate reaches
//!   `failure_rate`, it opens.
//! - Open: every call is refused until `cool_down` has passed, then half-open.
//! - Half-open: `probes` calls at a time go through; one success closes it (with a fresh
//!   window), one failure opens it again for another cool-down.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// The outcomes that count: the last this-long of calls.
    pub window: Duration,
    /// Fewer calls than this in the window never open it (one failure of one call is no trend).
    pub min_calls: u32,
    /// The failure share (0–1] at which it opens.
    pub failure_rate: f64,
    /// How long it stays open before trying again.
    pub cool_down: Duration,
    /// Calls let through at once while half-open.
    pub probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            min_calls: 20,
            failure_rate: 0.5,
            cool_down: Duration::from_secs(5),
            probes: 1,
        }
    }
}

/// The breaker's state, as exported (`mercato_client_circuit_state`: 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }
}

/// How a call ended, as far as the downstream's health goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// Says nothing about the downstream (the caller went away).
    Ignored,
}

/// A call the breaker let through; report how it ended with [`Breaker::record`].
#[derive(Debug)]
#[must_use]
pub struct Admitted {
    probe: bool,
}

/// A state change, for the caller to log and export.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    /// The window's failure rate when it opened from closed.
    pub failure_rate: Option<f64>,
}

/// See the module docs. Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    state: Mode,
    window: VecDeque<Bucket>,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: u32 },
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    start: Instant,
    ok: u32,
    failed: u32,
}

const BUCKET: Duration = Duration::from_secs(1);

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self { config, inner: Arc::new(Mutex::new(Inner { state: Mode::Closed, window: VecDeque::new() })) }
    }

    pub fn state(&self) -> State {
        self.inner.lock().map_or(State::Closed, |inner| match inner.state {
            Mode::Closed => State::Closed,
            Mode::Open { .. } => State::Open,
            Mode::HalfOpen { .. } => State::HalfOpen,
        })
    }

    /// Lets a call through, or refuses it (open, or half-open with its probes out). An open
    /// breaker whose cool-down is over turns half-open here, reported as the transition.
    pub fn admit(&self) -> (Option<Admitted>, Option<Transition>) {
        let Ok(mut inner) = self.inner.lock() else { return (Some(Admitted { probe: false }), None) };
        let now = Instant::now();
        let mut transition = None;
        if let Mode::Open { until } = inner.state
            && now >= until
        {
            inner.state = Mode::HalfOpen { probing: 0 };
            transition = Some(Transition { from: State::Open, to: State::HalfOpen, failure_rate: None });
        }
        let admitted = match &mut inner.state {
            Mode::Closed => Some(Admitted { probe: false }),
            Mode::Open { .. } => None,
            Mode::HalfOpen { probing } if *probing < self.config.probes.max(1) => {
                *probing += 1;
                Some(Admitted { probe: true })
            }
            Mode::HalfOpen { .. } => None,
        };
        (admitted, transition)
    }

    /// Reports how an admitted call ended; returns the state change it caused, if any.
    pub fn record(&self, admitted: Admitted, outcome: Outcome) -> Option<Transition> {
        let mut inner = self.inner.lock().ok()?;
        let now = Instant::now();
        if admitted.probe {
            if let Mode::HalfOpen { probing } = &mut inner.state {
                *probing = probing.saturating_sub(1);
            }
            return match (inner.state, outcome) {
                (Mode::HalfOpen { .. }, Outcome::Success) => {
                    inner.state = Mode::Closed;
                    inner.window.clear();
                    Some(Transition { from: State::HalfOpen, to: State::Closed, failure_rate: None })
                }
                (Mode::HalfOpen { .. }, Outcome::Failure) => {
                    inner.state = Mode::Open { until: now + self.config.cool_down };
                    Some(Transition { from: State::HalfOpen, to: State::Open, failure_rate: None })
                }
                _ => None,
            };
        }
        // A call admitted while closed that ends after the breaker opened tells nothing new.
        if !matches!(inner.state, Mode::Closed) || outcome == Outcome::Ignored {
            return None;
        }
        inner.count(now, self.config.window, outcome == Outcome::Failure);
        let (ok, failed) = inner.totals();
        let calls = ok + failed;
        let rate = if calls == 0 { 0.0 } else { f64::from(failed) / f64::from(calls) };
        (calls >= self.config.min_calls && rate >= self.config.failure_rate).then(|| {
            inner.state = Mode::Open { until: now + self.config.cool_down };
            inner.window.clear();
            Transition { from: State::Closed, to: State::Open, failure_rate: Some(rate) }
        })
    }
}

impl Inner {
    fn count(&mut self, now: Instant, window: Duration, failed: bool) {
        while self.window.front().is_some_and(|b| now.duration_since(b.start) >= window) {
            self.window.pop_front();
        }
        let current = match self.window.back_mut() {
            Some(bucket) if now.duration_since(bucket.start) < BUCKET => bucket,
            _ => {
                self.window.push_back(Bucket { start: now, ok: 0, failed: 0 });
                let Some(bucket) = self.window.back_mut() else { return };
                bucket
            }
        };
        if failed {
            current.failed += 1;
        } else {
            current.ok += 1;
        }
    }

    fn totals(&self) -> (u32, u32) {
        self.window.iter().fold((0, 0), |(ok, failed), b| (ok + b.ok, failed + b.failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            window: Duration::from_secs(10),
            min_calls: 10,
            failure_rate: 0.5,
            cool_down: Duration::from_millis(50),
            probes: 1,
        }
    }

    fn call(breaker: &Breaker, outcome: Outcome) -> Option<Transition> {
        let (admitted, _) = breaker.admit();
        breaker.record(admitted.expect("admitted"), outcome)
    }

    #[test]
    fn it_opens_only_at_the_failure_rate_with_enough_calls() {
        let breaker = Breaker::new(config());
        for _ in 0..9 {
            assert_eq!(call(&breaker, Outcome::Failure), None, "below the minimum volume");
        }
        let opened = call(&breaker, Outcome::Failure).expect("the tenth failure opens it");
        assert_eq!((opened.from, opened.to, opened.failure_rate), (State::Closed, State::Open, Some(1.0)));
        assert!(breaker.admit().0.is_none(), "open: refused");

        let healthy = Breaker::new(config());
        for i in 0..100 {
            let outcome = if i % 3 == 0 { Outcome::Failure } else { Outcome::Success };
            assert_eq!(call(&healthy, outcome), None, "a third failing stays closed");
        }
        for _ in 0..100 {
            assert_eq!(call(&healthy, Outcome::Ignored), None, "cancellations count for nothing");
        }
        assert_eq!(healthy.state(), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_cool_down_one_probe_goes_and_its_outcome_decides() {
        let breaker = Breaker::new(config());
        for _ in 0..10 {
            call(&breaker, Outcome::Failure);
        }
        tokio::time::advance(Duration::from_millis(60)).await;
        let (probe, half_open) = breaker.admit();
        assert_eq!(half_open.map(|t| t.to), Some(State::HalfOpen));
        assert!(breaker.admit().0.is_none(), "one probe at a time");
        let reopened = breaker.record(probe.unwrap(), Outcome::Failure).unwrap();
        assert_eq!(reopened.to, State::Open);
        assert!(breaker.admit().0.is_none(), "a fresh cool-down");

        tokio::time::advance(Duration::from_millis(60)).await;
        let (probe, _) = breaker.admit();
        let closed = breaker.record(probe.unwrap(), Outcome::Success).unwrap();
        assert_eq!((closed.from, closed.to), (State::HalfOpen, State::Closed));
        assert_eq!(call(&breaker, Outcome::Failure), None, "a fresh window");
    }

    #[tokio::test(start_paused = true)]
    async fn old_outcomes_leave_the_window() {
        let breaker = Breaker::new(config());
        for _ in 0..9 {
            call(&breaker, Outcome::Failure);
        }
        tokio::time::advance(Duration::from_secs(11)).await;
        for _ in 0..9 {
            assert_eq!(call(&breaker, Outcome::Failure), None, "the first nine are gone");
        }
    }
}
