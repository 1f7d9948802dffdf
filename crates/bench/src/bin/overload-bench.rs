//! `just bench` (overload part): the gateway in front of catalog (PostgreSQL) at twice what it
//! serves, open loop, for each `--max-in-flight`: what is served, how fast, what is refused,
//! and the gateway's memory, beside its unloaded latency measured in the same run.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Parser;
use mercato_bench::{
    catalog::Catalog,
    cpu,
    db::BenchDatabase,
    fetch,
    gateway::Gateway,
    overload::{self, Client, Phase},
    report::mb,
};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "target/release/catalog")]
    catalog_bin: PathBuf,
    #[arg(long, default_value = "target/release/gateway")]
    gateway_bin: PathBuf,
    /// Where databases may be created and dropped.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")]
    pg_admin_url: String,
    /// The gateway's in-flight limits to measure, comma-separated: `N` is `--max-in-flight N
    /// --in-flight-limit fixed`, `adaptive/N` is `--max-in-flight N --in-flight-limit adaptive`.
    #[arg(long, default_value = "1024,adaptive/1024,adaptive/256,256,64,16", value_delimiter = ',')]
    limits: Vec<Setting>,
    /// Seconds per phase.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Closed-loop callers that find the capacity.
    #[arg(long, default_value_t = 128)]
    callers: usize,
    /// The gateway's `--worker-threads` (1 serves most on this 2-core box; see the README).
    #[arg(long, default_value_t = 1)]
    gateway_worker_threads: u32,
}

/// One in-flight limit of the gateway.
#[derive(Debug, Clone)]
struct Setting {
    max: u32,
    adaptive: bool,
}

impl std::str::FromStr for Setting {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let (adaptive, max) = match raw.strip_prefix("adaptive/") {
            Some(max) => (true, max),
            None => (false, raw),
        };
        let max = max.parse().map_err(|e| format!("{raw:?}: {e}"))?;
        Ok(Self { max, adaptive })
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.adaptive { "adaptive" } else { "fixed" };
        write!(f, "--max-in-flight {} --in-flight-limit {kind}", self.max)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for bin in [&args.catalog_bin, &args.gateway_bin] {
        anyhow::ensure!(bin.is_file(), "{} not found: build it first (cargo build --release)", bin.display());
    }
    let logs = tempfile::Builder::new().prefix("mercato-overload-").tempdir()?;
    let db = BenchDatabase::create(&args.pg_admin_url).await?;
    let outcome = measure(&args, db.url(), logs.path()).await;
    db.drop_now().await?;
    let lines = outcome?;
    println!(
        "gateway overload (GET /v1/products/{{id}} over the 64 seeded products, open loop, via catalog on PostgreSQL)"
    );
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

async fn measure(args: &Args, database_url: &str, logs: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let nats = mercato_kit::testing::TestNats::start().await.context("starting nats-server")?;
    let catalog = Catalog::new(&args.catalog_bin, database_url, &nats.url(), logs);
    catalog.migrate().await?;
    catalog.seed().await?;
    let serving = catalog.start("overload").await?;
    let window = Duration::from_secs(args.seconds);
    let mut lines = Vec::new();
    // What the gateway can serve is measured once, with the first setting (a high fixed limit
    // unless told otherwise), so every setting is offered the same twice-that; a low or an
    // adaptive limit would refuse some of the closed-loop callers and understate it.
    let mut capacity = None;
    for limit in &args.limits {
        let gateway = Gateway {
            bin: args.gateway_bin.clone(),
            logs: logs.to_path_buf(),
            rate_limit_per_minute: 1_000_000,
            worker_threads: args.gateway_worker_threads,
            extra: vec![
                "--max-in-flight".into(),
                limit.max.to_string(),
                "--in-flight-limit".into(),
                (if limit.adaptive { "adaptive" } else { "fixed" }).into(),
            ],
        }
        .start(serving.grpc_addr)
        .await?;
        let (status, body) = fetch::get(gateway.addr, "/v1/products?pageSize=100").await?;
        anyhow::ensure!(status == 200, "listing products: {status}");
        let list: serde_json::Value = serde_json::from_slice(&body)?;
        let paths: Vec<String> = list["products"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some(format!("/v1/products/{}", p["id"].as_str()?)))
            .collect();
        anyhow::ensure!(!paths.is_empty(), "no products listed");
        let paths = Arc::new(paths);
        let client = Arc::new(Client::connect(gateway.addr).await?);

        overload::capacity(&client, &paths, args.callers, Duration::from_secs(2)).await?;
        let capacity = match capacity {
            Some(measured) => measured,
            None => {
                eprintln!("overload-bench: {limit}: capacity…");
                let measured = overload::capacity(&client, &paths, args.callers, window).await?;
                lines.push(format!("  capacity: {measured:.0}/s ({} closed-loop callers, {limit})", args.callers));
                *capacity.insert(measured)
            }
        };
        eprintln!("overload-bench: unloaded latency at a tenth of {capacity:.0}/s…");
        let unloaded = overload::open_loop(&client, &paths, capacity / 10.0, window).await?;
        eprintln!("overload-bench: twice the capacity…");
        let pids = [gateway.proc.pid()?, serving.proc.pid()?, std::process::id()];
        let cpu_before = (pids.map(cpu::of_process), cpu::of_machine()?);
        let over = overload::open_loop(&client, &paths, capacity * 2.0, window).await?;
        let cpu_after = (pids.map(cpu::of_process), cpu::of_machine()?);
        let (rss, peak) = (gateway.proc.rss_kib()?, gateway.proc.peak_rss_kib()?);
        let (_, metrics) = fetch::get(gateway.admin_addr, "/metrics").await?;
        let chosen = String::from_utf8_lossy(&metrics)
            .lines()
            .find_map(|l| l.strip_prefix("mercato_in_flight_limit ")?.trim().parse::<f64>().ok());
        let answered = (over.served.len() + over.refused + over.other).max(1) as f64;
        let per_request = |before: &anyhow::Result<Duration>, after: &anyhow::Result<Duration>| match (before, after) {
            (Ok(b), Ok(a)) => a.saturating_sub(*b).as_secs_f64() * 1e6 / answered,
            _ => f64::NAN,
        };
        let cpu_line = format!(
            "    CPU per request answered (served or refused): machine {:.0} µs = gateway {:.0} + catalog {:.0} + load generator {:.0} + the rest (PostgreSQL, kernel)",
            cpu_after.1.saturating_sub(cpu_before.1).as_secs_f64() * 1e6 / answered,
            per_request(&cpu_before.0[0], &cpu_after.0[0]),
            per_request(&cpu_before.0[1], &cpu_after.0[1]),
            per_request(&cpu_before.0[2], &cpu_after.0[2]),
        );
        lines.push(report(limit, &unloaded, &over, rss, peak));
        if limit.adaptive {
            let chosen = chosen.map_or("not exported".into(), |c| format!("{c:.0}"));
            lines.push(format!("    the adaptive limit at the end of the 2x phase: {chosen}"));
        }
        lines.push(cpu_line);
        gateway.proc.stop(Duration::from_secs(10)).await?;
    }
    serving.proc.stop(Duration::from_secs(10)).await?;
    Ok(lines)
}

fn report(limit: &Setting, unloaded: &Phase, over: &Phase, rss: u64, peak: u64) -> String {
    let ratio = over.ms(0.99) / unloaded.ms(0.99).max(0.001);
    let verdict = if ratio <= 2.0 && over.other == 0 { "PASS" } else { "MISS" };
    let mut out = format!(
        "  {limit}:\n\
         \x20   unloaded (open loop at {:.0}/s): p50 {:.2} ms, p99 {:.2} ms\n\
         \x20   at {:.0}/s offered (2x): served {:.0}/s (p50 {:.2} ms, p99 {:.2} ms = {ratio:.1}x unloaded), \
         refused (503/429) {:.0}/s, other {}\n\
         \x20   gateway RSS {:.1} MB after, peak {:.1} MB\n\
         \x20   target: admitted p99 <= 2x unloaded, nothing but 503/429 beyond capacity: {verdict}",
        unloaded.offered_per_s,
        unloaded.ms(0.5),
        unloaded.ms(0.99),
        over.offered_per_s,
        over.served_per_s(),
        over.ms(0.5),
        over.ms(0.99),
        over.refused_per_s(),
        over.other,
        mb(rss),
        mb(peak),
    );
    if let Some(sample) = &over.sample_other {
        out.push_str(&format!("\n    an unexpected answer: {sample}"));
    }
    out
}
