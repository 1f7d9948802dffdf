//! The summary: both targets side by side, start-up and memory, each figure against its target.

use std::{fmt, time::Duration};

use crate::load::{LoadConfig, LoadResult};

/// catalog must reach this share of the echo server's requests per second.
pub const TARGET_RPS_RATIO_PCT: f64 = 50.0;
/// Median spawn → SERVING must not exceed this.
pub const TARGET_STARTUP_MS: f64 = 20.0;
/// Idle resident memory must not exceed this.
pub const TARGET_IDLE_RSS_MB: f64 = 15.0;

pub struct Summary {
    pub load: LoadConfig,
    pub echo: LoadResult,
    pub catalog: LoadResult,
    pub startup: Vec<Duration>,
    pub idle_rss_kib: u64,
    pub load_rss_kib: u64,
    pub peak_rss_kib: u64,
    pub warnings: Vec<String>,
}

/// Min, median and max in milliseconds.
pub fn spread_ms(runs: &[Duration]) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = runs.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let Some((&min, &max)) = ms.first().zip(ms.last()) else {
        return (0.0, 0.0, 0.0);
    };
    let mid = ms.len() / 2;
    let median = if ms.len().is_multiple_of(2) { (ms[mid - 1] + ms[mid]) / 2.0 } else { ms[mid] };
    (min, median, max)
}

/// Decimal megabytes from the KiB `/proc` reports.
pub fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

/// One row of the load table.
pub fn load_row(name: &str, result: &LoadResult) -> String {
    format!(
        "{name:<8} {:>9} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}",
        result.requests,
        result.rps(),
        result.latency_ms(0.50),
        result.latency_ms(0.90),
        result.latency_ms(0.99),
        result.max_ms(),
        result.error_count(),
    )
}

pub const LOAD_HEADER: &str = "target    requests      req/s   p50 ms   p90 ms   p99 ms   max ms  errors";

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let load = &self.load;
        writeln!(f, "== mercato bench: catalog vs bare tonic (echo-server) ==")?;
        writeln!(
            f,
            "GetProduct {}, {} in flight over {} connections, {:?} warm-up + {:?} measured",
            load.product_id, load.concurrency, load.connections, load.warmup, load.duration
        )?;
        writeln!(f, "{LOAD_HEADER}")?;
        writeln!(f, "{}", load_row("echo", &self.echo))?;
        writeln!(f, "{}", load_row("catalog", &self.catalog))?;
        for (name, result) in [("echo", &self.echo), ("catalog", &self.catalog)] {
            if result.error_count() > 0 {
                writeln!(
                    f,
                    "  {name} errors: {:?} (+{} outside the window), e.g. {}",
                    result.errors,
                    result.warmup_errors,
                    result.sample_error.as_deref().unwrap_or("?")
                )?;
            }
        }

        let (min, median, max) = spread_ms(&self.startup);
        writeln!(
            f,
            "start-up (spawn → SERVING, {} runs): min {min:.1} ms, median {median:.1} ms, max {max:.1} ms",
            self.startup.len()
        )?;
        writeln!(
            f,
            "catalog memory: idle RSS {:.1} MB, RSS under load {:.1} MB (peak {:.1} MB)",
            mb(self.idle_rss_kib),
            mb(self.load_rss_kib),
            mb(self.peak_rss_kib)
        )?;

        let ratio = 100.0 * self.catalog.rps() / self.echo.rps().max(f64::MIN_POSITIVE);
        let idle = mb(self.idle_rss_kib);
        writeln!(f, "targets (information only):")?;
        writeln!(
            f,
            "  {:<28} {:>9}  {}  ({:.0} / {:.0} req/s)",
            format!("catalog RPS ≥ {TARGET_RPS_RATIO_PCT:.0}% of echo"),
            format!("{ratio:.1} %"),
            verdict(ratio >= TARGET_RPS_RATIO_PCT),
            self.catalog.rps(),
            self.echo.rps(),
        )?;
        writeln!(
            f,
            "  {:<28} {:>9}  {}  (median; max {max:.1} ms)",
            format!("spawn → SERVING ≤ {TARGET_STARTUP_MS:.0} ms"),
            format!("{median:.1} ms"),
            verdict(median <= TARGET_STARTUP_MS)
        )?;
        writeln!(
            f,
            "  {:<28} {:>9}  {}",
            format!("idle RSS ≤ {TARGET_IDLE_RSS_MB:.0} MB"),
            format!("{idle:.1} MB"),
            verdict(idle <= TARGET_IDLE_RSS_MB)
        )?;
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_the_middle_of_sorted_runs() {
        let runs = [30, 10, 20].map(Duration::from_millis);
        assert_eq!(spread_ms(&runs), (10.0, 20.0, 30.0));
        let even = [40, 10, 20, 30].map(Duration::from_millis);
        assert_eq!(spread_ms(&even), (10.0, 25.0, 40.0));
        assert_eq!(spread_ms(&[]), (0.0, 0.0, 0.0));
    }
}
