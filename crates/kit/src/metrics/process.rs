//! The `process_*` metrics every Prometheus client library exports, read from `/proc/self` at
//! each scrape. Linux only: elsewhere the collector exports nothing, and the series are absent.
//!
//! Read here rather than through the prometheus crate's `process` feature: that pulls procfs
//! and its dependencies into every binary for seven numbers from three text files, and counts
//! CPU in whole seconds (an idle service's rate() then reads 0, then 1).

use std::sync::Mutex;

use prometheus::{Counter, Gauge, IntGauge, core::Collector, core::Desc, proto::MetricFamily};

use super::gauge;

/// Clock ticks per second in `/proc/<pid>/stat`: Linux's USER_HZ, 100 on every architecture
/// we build for, which is what prometheus/procfs assumes too (reading it with sysconf would
/// take `unsafe`, forbidden in this workspace).
const USER_HZ: f64 = 100.0;

/// See the module docs.
pub(super) struct ProcessCollector {
    descs: Vec<Desc>,
    rss: IntGauge,
    vsize: IntGauge,
    cpu: Counter,
    /// Two scrapes at once must not both add the same CPU time to the counter.
    cpu_update: Mutex<()>,
    open_fds: IntGauge,
    max_fds: IntGauge,
    threads: IntGauge,
    start_time: Gauge,
}

impl ProcessCollector {
    pub(super) fn new() -> Self {
        // Constant, valid names: failure is a programming error the first test catches.
        #[allow(clippy::expect_used)]
        let (cpu, start_time) = (
            Counter::new("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
                .expect("valid metric"),
            Gauge::new("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
                .expect("valid metric"),
        );
        let collector = Self {
            descs: Vec::new(),
            rss: gauge("process_resident_memory_bytes", "Resident memory size in bytes."),
            vsize: gauge("process_virtual_memory_bytes", "Virtual memory size in bytes."),
            cpu,
            cpu_update: Mutex::new(()),
            open_fds: gauge("process_open_fds", "Number of open file descriptors."),
            max_fds: gauge("process_max_fds", "Maximum number of open file descriptors."),
            threads: gauge("process_threads", "Number of OS threads in the process."),
            start_time,
        };
        if let Some(start) = linux::start_time() {
            collector.start_time.set(start);
        }
        let descs = collector.parts().iter().flat_map(|c| c.desc()).cloned().collect();
        Self { descs, ..collector }
    }

    fn parts(&self) -> [&dyn Collector; 7] {
        [&self.rss, &self.vsize, &self.cpu, &self.open_fds, &self.max_fds, &self.threads, &self.start_time]
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        if cfg!(target_os = "linux") { self.descs.iter().collect() } else { Vec::new() }
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(stat) = linux::stat() else { return Vec::new() };
        self.vsize.set(saturating_i64(stat.vsize));
        self.threads.set(saturating_i64(stat.threads));
        if let Some(rss) = linux::resident_bytes() {
            self.rss.set(saturating_i64(rss));
        }
        if let Some(open) = linux::open_fds() {
            self.open_fds.set(saturating_i64(open));
        }
        if let Some(max) = linux::max_fds() {
            self.max_fds.set(saturating_i64(max));
        }
        {
            let _one_at_a_time = self.cpu_update.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let total = stat.cpu_ticks as f64 / USER_HZ;
            let grown = total - self.cpu.get();
            if grown > 0.0 {
                self.cpu.inc_by(grown);
            }
        }
        self.parts().iter().flat_map(|c| c.collect()).collect()
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// What `/proc/self/stat` says that we export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    /// User plus system time, in [`USER_HZ`] ticks.
    cpu_ticks: u64,
    threads: u64,
    /// Since boot, in ticks.
    start_ticks: u64,
    vsize: u64,
}

/// `/proc/<pid>/stat`: the command name (field 2) is in parentheses and may itself hold spaces
/// and parentheses, so the fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    // `rest` starts at field 3 (state): field n is at index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: field(14)?.checked_add(field(15)?)?,
        threads: field(20)?,
        start_ticks: field(22)?,
        vsize: field(23)?,
    })
}

/// `VmRSS:     1234 kB` in `/proc/<pid>/status`, in bytes (no page size needed).
fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib = line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    kib.checked_mul(1024)
}

/// The soft limit of `Max open files` in `/proc/<pid>/limits` (`unlimited`: none to report).
fn parse_max_fds(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// `btime <unix seconds>` in `/proc/stat`: when the machine booted.
fn parse_boot_time(stat: &str) -> Option<u64> {
    stat.lines().find_map(|line| line.strip_prefix("btime ")?.trim().parse().ok())
}

#[cfg(target_os = "linux")]
mod linux {
    use super::{Stat, USER_HZ, parse_boot_time, parse_max_fds, parse_rss, parse_stat};

    pub(super) fn stat() -> Option<Stat> {
        parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
    }

    pub(super) fn resident_bytes() -> Option<u64> {
        parse_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
    }

    /// Counted as the other client libraries count them: the listing's own descriptor included.
    pub(super) fn open_fds() -> Option<u64> {
        u64::try_from(std::fs::read_dir("/proc/self/fd").ok()?.count()).ok()
    }

    pub(super) fn max_fds() -> Option<u64> {
        parse_max_fds(&std::fs::read_to_string("/proc/self/limits").ok()?)
    }

    pub(super) fn start_time() -> Option<f64> {
        let boot = parse_boot_time(&std::fs::read_to_string("/proc/stat").ok()?)?;
        Some(boot as f64 + stat()?.start_ticks as f64 / USER_HZ)
    }
}

#[cfg(not(target_os = "linux"))]
mod linux {
    use super::Stat;

    pub(super) fn stat() -> Option<Stat> {
        None
    }

    pub(super) fn resident_bytes() -> Option<u64> {
        None
    }

    pub(super) fn open_fds() -> Option<u64> {
        None
    }

    pub(super) fn max_fds() -> Option<u64> {
        None
    }

    pub(super) fn start_time() -> Option<f64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 150 50 0 0 20 0 9 0 12345 \
                    987654321 2500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat(line), Some(Stat { cpu_ticks: 200, threads: 9, start_ticks: 12345, vsize: 987_654_321 }));
        assert_eq!(parse_stat("4242 (truncated) S 1"), None);
    }

    #[test]
    fn rss_limits_and_boot_time_are_read_from_their_files() {
        assert_eq!(parse_rss("Name:\tkit\nVmSize:\t  9000 kB\nVmRSS:\t  1200 kB\n"), Some(1200 * 1024));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        assert_eq!(parse_max_fds("Max open files            unlimited            unlimited            files"), None);
        assert_eq!(parse_boot_time("cpu  1 2 3\nbtime 1764800000\nprocesses 9\n"), Some(1_764_800_000));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_as_a_live_one() {
        let collector = ProcessCollector::new();
        let families = collector.collect();
        let value = |name: &str| {
            let family = families.iter().find(|f| f.name() == name).unwrap_or_else(|| panic!("{name} missing"));
            let metric = &family.get_metric()[0];
            if name.ends_with("_total") { metric.get_counter().get_value() } else { metric.get_gauge().get_value() }
        };
        assert!(value("process_resident_memory_bytes") > 1e6);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_threads") >= 1.0);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let started = value("process_start_time_seconds");
        assert!(started > now - 86_400.0 && started <= now + 1.0, "{started} vs {now}");
        assert!(value("process_cpu_seconds_total") >= 0.0);
    }
}
