//! The summary: both gRPC targets side by side, start-up and memory, then the REST edge
//! (hyper-json, gateway, direct gRPC), each figure against its target.

use std::{fmt, time::Duration};

use crate::{
    edge::EdgeResult,
    load::{LoadConfig, LoadResult},
    wrk::WrkResult,
};

/// catalog must reach this share of the echo server's requests per second.
pub const TARGET_RPS_RATIO_PCT: f64 = 50.0;
/// Median spawn → SERVING must not exceed this.
pub const TARGET_STARTUP_MS: f64 = 20.0;
/// Idle resident memory must not exceed this.
pub const TARGET_IDLE_RSS_MB: f64 = 15.0;
/// REST through the gateway must reach this share of hyper-json's requests per second.
pub const TARGET_REST_RPS_RATIO_PCT: f64 = 25.0;
/// The gateway's p99 under the REST load must not exceed this.
pub const TARGET_GATEWAY_P99_MS: f64 = 3.0;
/// The gateway's p50 may exceed direct gRPC's p50 by at most this.
pub const TARGET_GATEWAY_ADDED_P50_MS: f64 = 0.3;
/// The gateway's resident memory right after its load run must not exceed this.
pub const TARGET_GATEWAY_RSS_MB: f64 = 30.0;

/// Width of a target's label in the targets list.
const TARGET_LABEL: usize = 32;

#[derive(Debug)]
pub struct Summary {
    pub load: LoadConfig,
    pub echo: LoadResult,
    pub catalog: LoadResult,
    pub startup: Vec<Duration>,
    pub idle_rss_kib: u64,
    pub load_rss_kib: u64,
    pub peak_rss_kib: u64,
    pub edge: EdgeResult,
    /// `/proc/loadavg` at a few moments of the run: the machine's own business shows here.
    pub load_average: Vec<(&'static str, String)>,
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

pub const EDGE_HEADER: &str = "target         requests      req/s   p50 ms   p75 ms   p90 ms   p99 ms   max ms  errors";

/// One wrk row of the REST table.
pub fn wrk_row(name: &str, result: &WrkResult) -> String {
    format!(
        "{name:<12} {:>10} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}",
        result.requests,
        result.requests_per_sec,
        result.p50_ms,
        result.p75_ms,
        result.p90_ms,
        result.p99_ms,
        result.max_ms,
        result.error_count(),
    )
}

/// The direct gRPC row of the REST table.
pub fn edge_grpc_row(name: &str, result: &LoadResult) -> String {
    format!(
        "{name:<12} {:>10} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}",
        result.requests,
        result.rps(),
        result.latency_ms(0.50),
        result.latency_ms(0.75),
        result.latency_ms(0.90),
        result.latency_ms(0.99),
        result.max_ms(),
        result.error_count(),
    )
}

/// One line of the targets list.
fn target_line(f: &mut fmt::Formatter<'_>, label: String, value: String, pass: bool, detail: &str) -> fmt::Result {
    writeln!(f, "  {label:<TARGET_LABEL$} {value:>9}  {}{}", verdict(pass), detail)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let load = &self.load;
        writeln!(f, "== mercato bench: catalog vs bare tonic (echo-server), gateway vs bare hyper (hyper-json) ==")?;
        let averages: Vec<String> = self.load_average.iter().map(|(when, avg)| format!("{avg} {when}")).collect();
        writeln!(f, "load average (1/5/15 min): {}", averages.join("; "))?;
        writeln!(
            f,
            "GetProduct {}, {} in flight over {} connections, {:?} warm-up + {:?} measured",
            load.product_id, load.concurrency, load.connections, load.warmup, load.duration
        )?;
        writeln!(f, "{LOAD_HEADER}")?;
        writeln!(f, "{}", load_row("echo", &self.echo))?;
        writeln!(f, "{}", load_row("catalog", &self.catalog))?;
        for (name, result) in [("echo", &self.echo), ("catalog", &self.catalog)] {
            load_errors(f, name, result)?;
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

        let edge = &self.edge;
        writeln!(
            f,
            "REST GET {} with wrk: {} threads, {} connections, {:?} warm-up + {:?} measured; gateway worker \
             threads: {}; grpc-direct: GetProduct to catalog, {} in flight over {} connections",
            edge.path,
            edge.wrk.threads,
            edge.wrk.connections,
            edge.wrk.warmup,
            edge.wrk.duration,
            match edge.gateway_worker_threads {
                0 => "one per CPU".to_string(),
                n => n.to_string(),
            },
            edge.grpc_config.concurrency,
            edge.grpc_config.connections
        )?;
        writeln!(f, "{EDGE_HEADER}")?;
        writeln!(f, "{}", wrk_row("hyper-json", &edge.hyper))?;
        writeln!(f, "{}", wrk_row("gateway", &edge.gateway))?;
        writeln!(f, "{}", edge_grpc_row("grpc-direct", &edge.grpc))?;
        for (name, result) in [("hyper-json", &edge.hyper), ("gateway", &edge.gateway)] {
            if result.error_count() > 0 {
                writeln!(f, "  {name} errors: {}", result.describe_errors())?;
            }
        }
        load_errors(f, "grpc-direct", &edge.grpc)?;
        writeln!(
            f,
            "response body: gateway {} bytes, hyper-json {} bytes",
            edge.gateway_body_bytes, edge.hyper_body_bytes
        )?;
        writeln!(
            f,
            "gateway memory: RSS right after its load run {:.1} MB (peak {:.1} MB)",
            mb(edge.gateway_rss_kib),
            mb(edge.gateway_peak_rss_kib)
        )?;
        let cpu = &edge.gateway_cpu;
        let requests = edge.gateway.requests;
        let part = |share: &crate::cpu::Share| {
            format!("{:.1} µs ({:.2} cores)", share.micros_per_request(requests), share.cores(cpu.elapsed))
        };
        writeln!(
            f,
            "CPU per request through the gateway: gateway {}, catalog {}, wrk {}; at that cost {} cores \
             serve at most {:.0} req/s",
            part(&cpu.gateway),
            part(&cpu.catalog),
            part(&cpu.wrk),
            cpu.cores,
            cpu.ceiling(requests)
        )?;

        let ratio = 100.0 * self.catalog.rps() / self.echo.rps().max(f64::MIN_POSITIVE);
        let idle = mb(self.idle_rss_kib);
        writeln!(f, "targets (information only):")?;
        target_line(
            f,
            format!("catalog RPS ≥ {TARGET_RPS_RATIO_PCT:.0}% of echo"),
            format!("{ratio:.1} %"),
            ratio >= TARGET_RPS_RATIO_PCT,
            &format!("  ({:.0} / {:.0} req/s)", self.catalog.rps(), self.echo.rps()),
        )?;
        target_line(
            f,
            format!("spawn → SERVING ≤ {TARGET_STARTUP_MS:.0} ms"),
            format!("{median:.1} ms"),
            median <= TARGET_STARTUP_MS,
            &format!("  (median; max {max:.1} ms)"),
        )?;
        target_line(
            f,
            format!("idle RSS ≤ {TARGET_IDLE_RSS_MB:.0} MB"),
            format!("{idle:.1} MB"),
            idle <= TARGET_IDLE_RSS_MB,
            "",
        )?;

        let rest_ratio = 100.0 * edge.gateway.requests_per_sec / edge.hyper.requests_per_sec.max(f64::MIN_POSITIVE);
        target_line(
            f,
            format!("gateway RPS ≥ {TARGET_REST_RPS_RATIO_PCT:.0}% of hyper-json"),
            format!("{rest_ratio:.1} %"),
            rest_ratio >= TARGET_REST_RPS_RATIO_PCT,
            &format!("  ({:.0} / {:.0} req/s)", edge.gateway.requests_per_sec, edge.hyper.requests_per_sec),
        )?;
        target_line(
            f,
            format!("gateway p99 ≤ {TARGET_GATEWAY_P99_MS:.0} ms"),
            format!("{:.2} ms", edge.gateway.p99_ms),
            edge.gateway.p99_ms <= TARGET_GATEWAY_P99_MS,
            "",
        )?;
        let grpc_p50 = edge.grpc.latency_ms(0.50);
        let added = edge.gateway.p50_ms - grpc_p50;
        target_line(
            f,
            format!("gateway adds ≤ {TARGET_GATEWAY_ADDED_P50_MS:.1} ms to p50"),
            format!("{added:.2} ms"),
            added <= TARGET_GATEWAY_ADDED_P50_MS,
            &format!("  (gateway p50 {:.2} ms − direct gRPC p50 {grpc_p50:.2} ms)", edge.gateway.p50_ms),
        )?;
        let gateway_rss = mb(edge.gateway_rss_kib);
        target_line(
            f,
            format!("gateway RSS under load ≤ {TARGET_GATEWAY_RSS_MB:.0} MB"),
            format!("{gateway_rss:.1} MB"),
            gateway_rss <= TARGET_GATEWAY_RSS_MB,
            &format!("  (peak {:.1} MB)", mb(edge.gateway_peak_rss_kib)),
        )?;
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        Ok(())
    }
}

/// The errors of a gRPC load run, when there were any.
fn load_errors(f: &mut fmt::Formatter<'_>, name: &str, result: &LoadResult) -> fmt::Result {
    if result.error_count() > 0 {
        writeln!(
            f,
            "  {name} errors: {:?} (+{} outside the window), e.g. {}",
            result.errors,
            result.warmup_errors,
            result.sample_error.as_deref().unwrap_or("?")
        )?;
    }
    Ok(())
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
