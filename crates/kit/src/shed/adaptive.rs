//! The adaptive in-flight limit: kept near capacity × latency (Little's law) from what the
//! server sees, so the admitted keep their latency without anyone measuring the capacity.
//!
//! Every window (at least [`WINDOW`] and [`MIN_SAMPLES`] completions) compares the window's
//! mean latency with the *baseline*, the latency with no queue:
//! - at most [`TOLERANCE`] × baseline: the limit grows by a tenth (capacity may be there);
//! - above it while the server was busy (its peak in flight reached half the limit): the
//!   queue is ours, so the limit shrinks by the latency's ratio (at most by half a window);
//! - above it while the server was not busy: the latency is not a queue we made (a slower
//!   mix of requests, a slower database), so the limit holds and the baseline follows slowly.
//!
//! The baseline is the lowest window mean, but a server that is busy from its start (a
//! restart under load) never sees a window without a queue. So while busy it *probes*, as
//! TCP BBR does for its round-trip time: one window at a quarter of the limit, whose
//! requests (only those admitted during it) show the latency with a quarter of the queue.
//! A probe that lowered the baseline by more than a quarter is repeated at once (there was
//! more queue to find); otherwise the next is due after [`PROBE_INTERVAL`], and only if the
//! latency is then above the tolerance. A probe refuses more for one window; a server at
//! that point is refusing anyway.
//!
//! The baseline must also be able to rise when the work itself gets slower: if the limit is
//! at its floor and latency is still high, there is no queue left to remove, and that
//! latency becomes the baseline.

use std::time::{Duration, Instant};

/// Shortest window.
pub const WINDOW: Duration = Duration::from_millis(100);
/// Fewest completions a window judges on (at low traffic a window lasts longer).
pub const MIN_SAMPLES: u32 = 20;
/// How far above the baseline the mean latency may be before the limit shrinks.
pub const TOLERANCE: f64 = 1.5;
/// The floor (or the maximum, if lower). Not lower: on a server whose CPU is taken by
/// reading and refusing what it cannot serve, latency stays high at any limit, and a limit
/// of 4-6 only halved what was served (the overload bench: 2,398/s admitted at 4, 3,341/s
/// with a fixed 256; a fixed 16 served 2,781/s at a quarter of the fixed 256's p99).
pub const MIN_LIMIT: usize = 16;
/// How often a busy server probes for its baseline, at most (unless probing pays).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);
/// How fast the baseline follows latency that is not a queue, per window.
const FOLLOW: f64 = 1.0 / 16.0;

/// See the module docs. Not thread-safe: the layer holds it under a lock.
#[derive(Debug)]
pub struct Gradient {
    max: f64,
    min: f64,
    limit: f64,
    baseline: Option<f64>,
    window: Window,
    probe: Probe,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    count: u32,
    total_s: f64,
}

impl Window {
    fn at(now: Instant) -> Self {
        Self { started: now, count: 0, total_s: 0.0 }
    }
}

#[derive(Debug, Clone, Copy)]
enum Probe {
    /// None yet.
    Never,
    /// One is under way at `limit`, with the limit to go back to.
    Running { limit: f64, resume: f64 },
    /// The last ended then, at `limit`; `paid` if it lowered the baseline by more than a
    /// quarter (so the next goes a quarter lower again).
    Done { at: Instant, limit: f64, paid: bool },
}

impl Gradient {
    /// Starts at `max`: until latency says otherwise, nothing below it is refused.
    pub fn new(max: usize, now: Instant) -> Self {
        let max = max.max(1) as f64;
        Self {
            max,
            min: (MIN_LIMIT as f64).min(max),
            limit: max,
            baseline: None,
            window: Window::at(now),
            probe: Probe::Never,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    /// The latency with no queue, as learnt so far.
    pub fn baseline(&self) -> Option<Duration> {
        self.baseline.map(Duration::from_secs_f64)
    }

    /// One request, admitted at `started`, answered `now`. When that closes a window, `peak`
    /// says the most requests that were in flight during it (and starts the next), and the
    /// new limit is returned.
    pub fn record(&mut self, now: Instant, started: Instant, peak: impl FnOnce() -> usize) -> Option<usize> {
        if matches!(self.probe, Probe::Running { .. }) && started < self.window.started {
            // Admitted before the probe: it waited behind the whole queue.
            return None;
        }
        self.window.count += 1;
        self.window.total_s += now.saturating_duration_since(started).as_secs_f64();
        if self.window.count < MIN_SAMPLES || now.saturating_duration_since(self.window.started) < WINDOW {
            return None;
        }
        let mean = self.window.total_s / f64::from(self.window.count);
        self.window = Window::at(now);
        let peak = peak() as f64;
        match self.probe {
            Probe::Running { limit, resume } => self.probed(now, mean, limit, resume),
            _ if self.probe_due(now, mean, peak) => {
                let from = match self.probe {
                    Probe::Done { limit, paid: true, .. } => limit.min(self.limit),
                    _ => self.limit,
                };
                let limit = (from / 4.0).max(self.min);
                self.probe = Probe::Running { limit, resume: self.limit };
                self.limit = limit;
            }
            _ => self.judge(mean, peak),
        }
        Some(self.limit())
    }

    fn busy(&self, peak: f64) -> bool {
        peak * 2.0 >= self.limit
    }

    fn probe_due(&self, now: Instant, mean: f64, peak: f64) -> bool {
        if !self.busy(peak) || self.limit <= self.min {
            return false;
        }
        let queued = self.baseline.is_none_or(|b| mean > b * TOLERANCE);
        match self.probe {
            Probe::Never => true,
            Probe::Done { paid: true, .. } => queued,
            Probe::Done { at, paid: false, .. } => queued && now.saturating_duration_since(at) >= PROBE_INTERVAL,
            Probe::Running { .. } => false,
        }
    }

    fn probed(&mut self, now: Instant, mean: f64, limit: f64, resume: f64) {
        let paid = limit > self.min && self.baseline.is_none_or(|b| mean < b * 0.75);
        self.baseline = Some(self.baseline.map_or(mean, |b| b.min(mean)));
        self.probe = Probe::Done { at: now, limit, paid };
        self.limit = resume;
    }

    fn judge(&mut self, mean: f64, peak: f64) {
        let baseline = self.baseline.map_or(mean, |b| b.min(mean));
        let target = baseline * TOLERANCE;
        let mut next_baseline = baseline;
        if mean <= target {
            self.limit = (self.limit + (self.limit / 10.0).max(1.0)).min(self.max);
        } else if self.busy(peak) {
            self.limit = (self.limit * (target / mean).max(0.5)).max(self.min);
            if self.limit <= self.min {
                next_baseline = mean;
            }
        } else {
            next_baseline = baseline + (mean - baseline) * FOLLOW;
        }
        self.baseline = Some(next_baseline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that does `capacity` requests a second on one worker: with `limit` in flight
    /// a request takes `base` plus its share of the queue. Runs `windows` windows of load
    /// that always fills the limit, and returns the limits it chose.
    fn saturated(g: &mut Gradient, now: &mut Instant, base: Duration, capacity: f64, windows: usize) -> Vec<usize> {
        let mut limits = Vec::new();
        while limits.len() < windows {
            let in_flight = g.limit() as f64;
            let latency = base.as_secs_f64().max(in_flight / capacity);
            *now += Duration::from_secs_f64(1.0 / capacity.min(in_flight / base.as_secs_f64()));
            if let Some(limit) = g.record(*now, *now - Duration::from_secs_f64(latency), || in_flight as usize) {
                limits.push(limit);
            }
        }
        limits
    }

    /// All but the probes' windows (a tenth at most, each a quarter of the limit).
    fn assert_mostly_within(limits: &[usize], range: std::ops::RangeInclusive<usize>) {
        let outside = limits.iter().filter(|l| !range.contains(l)).count();
        assert!(outside * 10 <= limits.len(), "{outside} of {} outside {range:?}: {limits:?}", limits.len());
    }

    #[test]
    fn under_overload_the_limit_settles_near_capacity_times_latency() {
        let mut now = Instant::now() + Duration::from_secs(3600);
        let mut g = Gradient::new(1024, now);
        // 1 ms of work, 20,000 a second: capacity × latency = 20; the tolerance allows 30.
        let limits = saturated(&mut g, &mut now, Duration::from_millis(1), 20_000.0, 300);
        let settled = &limits[200..];
        assert_mostly_within(settled, 15..=40);
        // The admitted wait at most about the tolerance above the latency with no queue.
        let hi = settled.iter().max().unwrap();
        assert!((*hi as f64 / 20_000.0) <= 0.001 * TOLERANCE * 1.4, "{hi}");
    }

    #[test]
    fn with_no_queue_the_limit_stays_at_the_maximum() {
        let mut now = Instant::now() + Duration::from_secs(3600);
        let mut g = Gradient::new(256, now);
        for _ in 0..10_000 {
            now += Duration::from_micros(100);
            g.record(now, now - Duration::from_millis(2), || 3);
        }
        assert_eq!(g.limit(), 256);
    }

    #[test]
    fn latency_that_is_no_queue_of_ours_never_lowers_the_limit() {
        let mut now = Instant::now() + Duration::from_secs(3600);
        let mut g = Gradient::new(256, now);
        for i in 0..30_000u64 {
            now += Duration::from_micros(100);
            // The database gets ten times slower, but only a few requests are in flight.
            let latency = if i < 2_000 { Duration::from_millis(1) } else { Duration::from_millis(10) };
            g.record(now, now - latency, || 5);
        }
        assert_eq!(g.limit(), 256);
        let baseline = g.baseline().unwrap();
        assert!(baseline > Duration::from_millis(5), "the baseline follows: {baseline:?}");
    }

    #[test]
    fn work_that_got_slower_for_good_is_learnt_at_the_floor_and_the_limit_recovers() {
        let mut now = Instant::now() + Duration::from_secs(3600);
        let mut g = Gradient::new(512, now);
        saturated(&mut g, &mut now, Duration::from_millis(1), 20_000.0, 100);
        // Each request now takes 20 ms whatever the queue, and the server can do 1,000 a
        // second: the right limit is 20 × 1.5 = 30, not the floor.
        let limits = saturated(&mut g, &mut now, Duration::from_millis(20), 1_000.0, 400);
        assert_mostly_within(&limits[300..], 15..=60);
    }

    #[test]
    fn when_the_overload_ends_the_limit_returns_to_the_maximum() {
        let mut now = Instant::now() + Duration::from_secs(3600);
        let mut g = Gradient::new(256, now);
        saturated(&mut g, &mut now, Duration::from_millis(1), 20_000.0, 100);
        assert!(g.limit() < 64, "{}", g.limit());
        let mut windows = 0;
        while g.limit() < 256 {
            now += Duration::from_millis(10);
            if g.record(now, now - Duration::from_millis(1), || 2).is_some() {
                windows += 1;
            }
            assert!(windows < 60, "still at {} after {windows} quiet windows", g.limit());
        }
    }

    #[test]
    fn a_window_needs_both_its_time_and_its_samples() {
        let mut now = Instant::now() + Duration::from_secs(3600);
        let mut g = Gradient::new(64, now);
        for _ in 0..MIN_SAMPLES - 1 {
            now += WINDOW;
            assert_eq!(g.record(now, now - Duration::from_millis(1), || 64), None);
        }
        assert!(g.record(now, now - Duration::from_millis(1), || 64).is_some());
        for _ in 0..100 {
            assert_eq!(g.record(now, now - Duration::from_millis(1), || 64), None, "the same instant");
        }
    }

    #[test]
    fn the_floor_is_never_crossed_and_a_tiny_maximum_is_kept() {
        let mut now = Instant::now() + Duration::from_secs(3600);
        let mut g = Gradient::new(2, now);
        for i in 0..1_000u64 {
            now += Duration::from_millis(10);
            g.record(now, now - Duration::from_millis(1 + i), || 2);
            assert!(g.limit() == 2, "{}", g.limit());
        }
        let mut g = Gradient::new(100, now);
        for i in 0..1_000u64 {
            now += Duration::from_millis(10);
            g.record(now, now - Duration::from_millis(1 + i * i), || 100);
            assert!(g.limit() >= MIN_LIMIT, "{}", g.limit());
        }
    }
}
