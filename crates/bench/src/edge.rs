//! The REST edge: catalog started again on the seeded database, the gateway in front of it and
//! hyper-json beside them. wrk loads hyper-json (the ceiling) and `GET /v1/products/{id}`
//! through the gateway; the gRPC load generator calls catalog directly at the same concurrency,
//! so the gateway's hop can be told apart from catalog's own time.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use anyhow::Context;

use crate::{
    catalog::Catalog,
    cli::Args,
    cpu,
    gateway::{self, Gateway},
    load::{self, LoadConfig, LoadResult},
    procs, report,
    wrk::{self, WrkConfig, WrkResult},
};

/// Below this ratio of the gateway's body size, hyper-json's canned body is flagged as stale.
const BODY_SIZE_TOLERANCE: f64 = 0.2;

/// What the REST phase measured.
#[derive(Debug)]
pub struct EdgeResult {
    pub path: String,
    /// The gateway's --worker-threads (0: its default).
    pub gateway_worker_threads: u32,
    pub wrk: WrkConfig,
    pub grpc_config: LoadConfig,
    pub hyper: WrkResult,
    pub gateway: WrkResult,
    pub grpc: LoadResult,
    /// The gateway's `VmRSS` right after its load run, and `VmHWM` then.
    pub gateway_rss_kib: u64,
    pub gateway_peak_rss_kib: u64,
    /// Where the CPU of the run through the gateway went.
    pub gateway_cpu: cpu::EdgeCpu,
    pub gateway_body_bytes: usize,
    pub hyper_body_bytes: usize,
    pub warnings: Vec<String>,
}

/// The REST phase's own settings, from the command line.
pub struct Edge<'a> {
    pub args: &'a Args,
    pub wrk_bin: PathBuf,
    pub logs: &'a Path,
}

/// `args` is left out: it holds `--pg-admin-url`, which may carry a password.
impl fmt::Debug for Edge<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Edge").field("wrk_bin", &self.wrk_bin).field("logs", &self.logs).finish_non_exhaustive()
    }
}

impl Edge<'_> {
    pub async fn measure(&self, catalog: &Catalog) -> anyhow::Result<EdgeResult> {
        let args = self.args;
        let wrk_config = WrkConfig {
            threads: args.wrk_threads,
            connections: args.http_connections,
            warmup: args.warmup,
            duration: args.duration,
            script: None,
        };
        let grpc_config = LoadConfig {
            product_id: args.product_id.clone(),
            concurrency: args.http_connections,
            connections: args.connections,
            warmup: args.warmup,
            duration: args.duration,
        };
        let path = format!("/v1/products/{}", args.product_id);
        let mut warnings = Vec::new();

        let catalog = catalog.start("gateway").await?;
        let mut gateway = Gateway {
            bin: args.gateway_bin.clone(),
            logs: self.logs.to_path_buf(),
            rate_limit_per_minute: args.gateway_rate_limit,
            worker_threads: args.gateway_worker_threads,
            extra: Vec::new(),
        }
        .start(catalog.grpc_addr)
        .await?;
        let (mut hyper, hyper_addr) = procs::spawn_listening("hyper-json", &args.hyper_json_bin).await?;

        let gateway_body = gateway::first_answer(&mut gateway.proc, gateway.addr, &path, &args.product_id).await?;
        eprintln!(
            "bench: gateway answers GET {path} with {} bytes: {}",
            gateway_body.len(),
            String::from_utf8_lossy(&gateway_body)
        );
        let hyper_body = gateway::first_answer(&mut hyper, hyper_addr, &path, "{\"product\":").await?;
        let (g, h) = (gateway_body.len() as f64, hyper_body.len() as f64);
        if (g - h).abs() > BODY_SIZE_TOLERANCE * g {
            warnings.push(format!(
                "hyper-json's body ({h} bytes) is far from the gateway's ({g} bytes): refresh \
                 hyper_json::PRODUCT_JSON from the response printed above"
            ));
        }

        eprintln!("bench: {}", report::EDGE_HEADER);
        let hyper_result = wrk::run(&self.wrk_bin, &format!("http://{hyper_addr}{path}"), &wrk_config)
            .await
            .context("wrk on hyper-json")?;
        eprintln!("bench: {}", report::wrk_row("hyper-json", &hyper_result));
        let grpc_result =
            load::run(catalog.grpc_addr, &grpc_config).await.context("direct gRPC load on catalog (REST phase)")?;
        eprintln!("bench: {}", report::edge_grpc_row("grpc-direct", &grpc_result));
        let watched = [gateway.proc.pid()?, catalog.proc.pid()?];
        let (gateway_result, run_cpu) =
            wrk::run_watching(&self.wrk_bin, &format!("http://{}{path}", gateway.addr), &wrk_config, &watched)
                .await
                .context("wrk through the gateway")?;
        let share = |i: usize| cpu::Share { cpu: run_cpu.watched.get(i).copied().unwrap_or_default() };
        let gateway_cpu = cpu::EdgeCpu {
            elapsed: run_cpu.elapsed,
            gateway: share(0),
            catalog: share(1),
            wrk: cpu::Share { cpu: run_cpu.wrk },
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        };
        let gateway_rss_kib = gateway.proc.rss_kib()?;
        let gateway_peak_rss_kib = gateway.proc.peak_rss_kib()?;
        eprintln!("bench: {}", report::wrk_row("gateway", &gateway_result));
        if gateway_result.error_count() > 0 {
            eprintln!("bench: gateway log ends:{}", gateway.proc.log_tail(10));
        }

        procs::stop_all([hyper, gateway.proc, catalog.proc], &mut warnings).await;
        Ok(EdgeResult {
            path,
            gateway_worker_threads: args.gateway_worker_threads,
            wrk: wrk_config,
            grpc_config,
            hyper: hyper_result,
            gateway: gateway_result,
            grpc: grpc_result,
            gateway_rss_kib,
            gateway_peak_rss_kib,
            gateway_cpu,
            gateway_body_bytes: gateway_body.len(),
            hyper_body_bytes: hyper_body.len(),
            warnings,
        })
    }
}
