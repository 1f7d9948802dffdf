//! HTTP/1.1 load with wrk (`apt-get install wrk`): a fixed number of keep-alive connections
//! over a few threads, each sending the next GET as soon as the last answer is in. The figures
//! come from parsing wrk's `--latency` report.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context;
use tokio::{process::Command, time::Instant};

use crate::cpu;

/// Slack over the run's own duration before a wrk run counts as hung.
const HANG_SLACK: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct WrkConfig {
    pub threads: u32,
    pub connections: u32,
    /// A discarded run first, except for its errors.
    pub warmup: Duration,
    pub duration: Duration,
    /// A Lua script that makes each request (`--script`): many keys, bearer tokens, methods.
    pub script: Option<PathBuf>,
}

/// What wrk reported for one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WrkResult {
    pub requests: u64,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p75_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Responses with status 400 and above (wrk's "Non-2xx or 3xx responses" line).
    pub bad_status: u64,
    pub socket: SocketErrors,
    /// Errors of the warm-up run, whose figures are otherwise discarded.
    pub warmup_errors: u64,
}

/// wrk's "Socket errors" line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketErrors {
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub timeout: u64,
}

impl SocketErrors {
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout
    }
}

impl WrkResult {
    /// Failed responses and socket errors, warm-up included.
    pub fn error_count(&self) -> u64 {
        self.bad_status + self.socket.total() + self.warmup_errors
    }

    /// The errors in words, for the summary.
    pub fn describe_errors(&self) -> String {
        let s = &self.socket;
        format!(
            "status ≥ 400: {}, socket errors: connect {} read {} write {} timeout {} (+{} in the warm-up)",
            self.bad_status, s.connect, s.read, s.write, s.timeout, self.warmup_errors
        )
    }
}

/// Where `wrk` is: `name` itself when it holds a `/`, else the first match on PATH.
pub fn locate(name: &Path) -> anyhow::Result<PathBuf> {
    let found = if name.components().count() > 1 {
        name.is_file().then(|| name.to_path_buf())
    } else {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    };
    found.with_context(|| {
        format!(
            "{} not found on PATH: the REST load test needs wrk; install it with `apt-get install wrk` \
             (`just bench` does)",
            name.display()
        )
    })
}

/// A warm-up run (figures discarded, errors kept), then the measured run against `url`.
pub async fn run(wrk: &Path, url: &str, config: &WrkConfig) -> anyhow::Result<WrkResult> {
    Ok(run_watching(wrk, url, config, &[]).await?.0)
}

/// The CPU spent during a measured run.
#[derive(Debug, Clone, Default)]
pub struct RunCpu {
    pub elapsed: Duration,
    /// Per watched process, in the order given.
    pub watched: Vec<Duration>,
    pub wrk: Duration,
    /// Every core of the machine (PostgreSQL, nats-server and wrk included).
    pub machine: Duration,
}

/// [`run`], also measuring the CPU the processes `pids` and wrk itself spent in the measured
/// run (not the warm-up).
pub async fn run_watching(
    wrk: &Path,
    url: &str,
    config: &WrkConfig,
    pids: &[u32],
) -> anyhow::Result<(WrkResult, RunCpu)> {
    let mut warmup_errors = 0;
    if !config.warmup.is_zero() {
        let warmup = once(wrk, url, config, config.warmup).await.context("wrk warm-up run")?;
        warmup_errors = warmup.error_count();
    }
    let sample = || pids.iter().map(|pid| cpu::of_process(*pid)).collect::<anyhow::Result<Vec<_>>>();
    let (before, children_before, started) = (sample()?, cpu::of_exited_children()?, Instant::now());
    let machine_before = cpu::of_machine()?;
    let mut result = once(wrk, url, config, config.duration).await?;
    let machine = cpu::of_machine()?.saturating_sub(machine_before);
    let (after, children_after, elapsed) = (sample()?, cpu::of_exited_children()?, started.elapsed());
    result.warmup_errors = warmup_errors;
    let watched = after.iter().zip(&before).map(|(a, b)| a.saturating_sub(*b)).collect();
    Ok((result, RunCpu { elapsed, watched, wrk: children_after.saturating_sub(children_before), machine }))
}

async fn once(wrk: &Path, url: &str, config: &WrkConfig, duration: Duration) -> anyhow::Result<WrkResult> {
    let mut command = Command::new(wrk);
    command
        .arg("--threads")
        .arg(config.threads.to_string())
        .arg("--connections")
        .arg(config.connections.to_string())
        .arg("--duration")
        .arg(format!("{}s", whole_seconds(duration)))
        .arg("--latency");
    if let Some(script) = &config.script {
        command.arg("--script").arg(script);
    }
    command.arg(url).stdin(Stdio::null()).kill_on_drop(true);
    let limit = Duration::from_secs(whole_seconds(duration)) + HANG_SLACK;
    let output = tokio::time::timeout(limit, command.output())
        .await
        .with_context(|| format!("wrk on {url} did not finish within {limit:?}"))?
        .with_context(|| format!("starting {}", wrk.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        anyhow::bail!(
            "wrk on {url} failed ({}): {}{}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    parse(&stdout).with_context(|| format!("reading wrk's report on {url}:\n{stdout}"))
}

/// wrk takes whole seconds; anything shorter than one becomes one.
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs_f64().ceil().max(1.0) as u64
}

/// Reads wrk's `--latency` report.
pub fn parse(report: &str) -> anyhow::Result<WrkResult> {
    let mut result = WrkResult::default();
    let (mut percentiles, mut rps, mut requests, mut max) = (0, false, false, false);
    for line in report.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("Latency") if line != "Latency Distribution" => {
                // Latency   <avg>   <stdev>   <max>   <+/- stdev>
                let value = words.nth(2).context("a Latency line without a max")?;
                result.max_ms = time_ms(value)?;
                max = true;
            }
            Some(pct @ ("50%" | "75%" | "90%" | "99%")) => {
                let value = time_ms(words.next().with_context(|| format!("no value after {pct}"))?)?;
                match pct {
                    "50%" => result.p50_ms = value,
                    "75%" => result.p75_ms = value,
                    "90%" => result.p90_ms = value,
                    _ => result.p99_ms = value,
                }
                percentiles += 1;
            }
            Some("Requests/sec:") => {
                result.requests_per_sec = number(words.next())?;
                rps = true;
            }
            Some("Socket") => {
                // Socket errors: connect 0, read 0, write 0, timeout 0
                let fields: Vec<&str> = words.skip(1).collect();
                for pair in fields.chunks(2) {
                    if let [name, count] = pair {
                        let count = number(Some(count.trim_end_matches(',')))?;
                        match *name {
                            "connect" => result.socket.connect = count,
                            "read" => result.socket.read = count,
                            "write" => result.socket.write = count,
                            "timeout" => result.socket.timeout = count,
                            other => anyhow::bail!("unknown socket error kind {other:?}"),
                        }
                    }
                }
            }
            Some("Non-2xx") => {
                // Non-2xx or 3xx responses: 12
                result.bad_status = number(line.rsplit(':').next())?;
            }
            Some(count) if line.contains(" requests in ") => {
                // 568213 requests in 10.01s, 67.17MB read
                result.requests = number(Some(count))?;
                requests = true;
            }
            _ => {}
        }
    }
    anyhow::ensure!(percentiles == 4, "no latency distribution (was --latency passed?)");
    anyhow::ensure!(rps && requests && max, "no Requests/sec, request count or Latency line");
    Ok(result)
}

fn number<T: std::str::FromStr>(word: Option<&str>) -> anyhow::Result<T> {
    let word = word.context("a number is missing")?.trim();
    word.parse().map_err(|_| anyhow::anyhow!("{word:?} is not a number"))
}

/// wrk's times (`372.00us`, `1.04ms`, `2.00s`, `1.00m`, `1.00h`) in milliseconds.
fn time_ms(word: &str) -> anyhow::Result<f64> {
    let split = word.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(word.len());
    let (value, unit) = word.split_at(split);
    let value: f64 = value.parse().map_err(|_| anyhow::anyhow!("{word:?} is not a time"))?;
    let scale = match unit {
        "us" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        "h" => 3600e3,
        _ => anyhow::bail!("{word:?}: unknown time unit {unit:?}"),
    };
    Ok(value * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "Running 10s test @ http://127.0.0.1:8080/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   635.91us    0.89ms  12.92ms   93.69%
    Req/Sec    28.55k     3.87k   35.71k    77.00%
  Latency Distribution
     50%  372.00us
     75%  515.00us
     90%    1.04ms
     99%    4.70ms
  568213 requests in 10.01s, 67.17MB read
Requests/sec:  56741.35
Transfer/sec:      6.71MB
";

    #[test]
    fn a_clean_report_is_read() {
        let result = parse(CLEAN).unwrap();
        assert_eq!(result.requests, 568_213);
        assert!((result.requests_per_sec - 56_741.35).abs() < 1e-6);
        assert!((result.p50_ms - 0.372).abs() < 1e-9);
        assert!((result.p75_ms - 0.515).abs() < 1e-9);
        assert!((result.p90_ms - 1.04).abs() < 1e-9);
        assert!((result.p99_ms - 4.70).abs() < 1e-9);
        assert!((result.max_ms - 12.92).abs() < 1e-9);
        assert_eq!(result.error_count(), 0);
    }

    #[test]
    fn errors_are_counted() {
        let report = CLEAN.replace(
            "  568213 requests in 10.01s, 67.17MB read\n",
            "  568213 requests in 10.01s, 67.17MB read\n  Socket errors: connect 1, read 2, write 3, timeout 4\n  \
             Non-2xx or 3xx responses: 12\n",
        );
        let result = parse(&report).unwrap();
        assert_eq!(result.socket, SocketErrors { connect: 1, read: 2, write: 3, timeout: 4 });
        assert_eq!(result.bad_status, 12);
        assert_eq!(result.error_count(), 22);
    }

    #[test]
    fn a_report_without_latency_distribution_is_refused() {
        let report: String =
            CLEAN.lines().filter(|l| !l.trim_start().starts_with("99%")).map(|l| l.to_owned() + "\n").collect();
        assert!(parse(&report).is_err());
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }

    #[test]
    fn times_have_units() {
        assert!((time_ms("372.00us").unwrap() - 0.372).abs() < 1e-9);
        assert!((time_ms("2.00s").unwrap() - 2000.0).abs() < 1e-9);
        assert!((time_ms("1.00m").unwrap() - 60_000.0).abs() < 1e-9);
        assert!(time_ms("3.0parsecs").is_err());
        assert_eq!(whole_seconds(Duration::from_millis(500)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(2500)), 3);
        assert_eq!(whole_seconds(Duration::from_secs(10)), 10);
    }
}
