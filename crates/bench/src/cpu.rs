//! CPU time per process over a measured run, read from /proc (services) and from the rusage of
//! waited-for children (wrk, which has exited by then): what each request costs each process,
//! and so how many requests per second this machine's cores can serve at all at that cost.

use std::time::Duration;

use anyhow::Context;
use nix::sys::resource::{UsageWho, getrusage};

/// User + system CPU time of a running process so far.
pub fn of_process(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).with_context(|| format!("no ')' in {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the file, 12th and 13th after the name.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields.get(i).and_then(|f| f.parse().ok()).with_context(|| format!("field {} of {path}", i + 3))
    };
    Ok(ticks_to_duration(ticks(11)? + ticks(12)?))
}

/// CPU time every core of the machine has spent busy so far (all of /proc/stat's `cpu` line
/// but idle and iowait): what a run costs PostgreSQL, nats-server and the bench together.
pub fn of_machine() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat.lines().find(|l| l.starts_with("cpu ")).context("no cpu line in /proc/stat")?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let busy: u64 = fields.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
    Ok(ticks_to_duration(busy))
}

/// User + system CPU time of every child that has exited and been waited for.
pub fn of_exited_children() -> anyhow::Result<Duration> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage")?;
    let time = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    Ok(time(usage.user_time()) + time(usage.system_time()))
}

fn ticks_to_duration(ticks: u64) -> Duration {
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(100);
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// CPU spent by one process during a run that served `requests`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Share {
    pub cpu: Duration,
}

impl Share {
    pub fn micros_per_request(&self, requests: u64) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / requests.max(1) as f64
    }

    pub fn cores(&self, elapsed: Duration) -> f64 {
        self.cpu.as_secs_f64() / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// Where the CPU of the REST run through the gateway went.
#[derive(Debug, Clone, Copy, Default)]
pub struct EdgeCpu {
    pub elapsed: Duration,
    pub gateway: Share,
    pub catalog: Share,
    pub wrk: Share,
    /// Cores this machine offers (all three processes share them).
    pub cores: usize,
}

impl EdgeCpu {
    /// Requests per second the machine could serve at all if every core did nothing but this
    /// path at the measured cost per request.
    pub fn ceiling(&self, requests: u64) -> f64 {
        let per_request: f64 =
            [self.gateway, self.catalog, self.wrk].iter().map(|s| s.micros_per_request(requests)).sum();
        self.cores as f64 * 1e6 / per_request.max(f64::MIN_POSITIVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_spent_some_cpu() {
        // Spin until the kernel has charged a tick (10 ms at CLK_TCK 100): on a loaded machine
        // 30 ms of wall time can hold less than one tick of CPU, so the spin is bounded by a
        // deadline, not fixed.
        let spin = std::time::Instant::now();
        while of_process(std::process::id()).unwrap() == Duration::ZERO && spin.elapsed() < Duration::from_secs(10) {
            for _ in 0..100_000 {
                std::hint::black_box(0u64);
            }
        }
        assert!(of_process(std::process::id()).unwrap() > Duration::ZERO);
        assert!(of_process(u32::MAX).is_err());
    }

    #[test]
    fn the_ceiling_is_cores_over_the_cost_per_request() {
        let share = |ms| Share { cpu: Duration::from_millis(ms) };
        let edge = EdgeCpu {
            elapsed: Duration::from_secs(1),
            gateway: share(300),
            catalog: share(200),
            wrk: share(100),
            cores: 2,
        };
        // 10,000 requests at 30 + 20 + 10 µs: 2 cores serve at most 33,333 per second.
        assert!((edge.ceiling(10_000) - 33_333.3).abs() < 1.0);
        assert!((edge.gateway.cores(edge.elapsed) - 0.3).abs() < 1e-9);
    }
}
