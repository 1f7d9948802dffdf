//! One bench run, in order: database, start-up, idle memory, echo-server, load on both targets,
//! summary. Every child dies with the run, and the database is dropped whatever happened.

use std::{net::SocketAddr, path::Path, process::Stdio, time::Duration};

use anyhow::Context;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
    signal::unix::{SignalKind, signal},
};

use crate::{
    catalog::Catalog,
    cli::Args,
    db::BenchDatabase,
    load::{self, LoadConfig},
    procs::Proc,
    report::{self, Summary},
    startup,
};

/// Grace for servers to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(25);
/// How long catalog sits idle before its memory is read.
const IDLE_FOR: Duration = Duration::from_secs(2);

/// Runs the whole bench and prints the summary. Errors when something broke, including any
/// failed request.
pub async fn run(args: Args) -> anyhow::Result<()> {
    for bin in [&args.catalog_bin, &args.echo_bin] {
        anyhow::ensure!(
            bin.is_file(),
            "{} not found: build it first (cargo build --release -p mercato-catalog -p mercato-bench)",
            bin.display()
        );
    }
    let logs = tempfile::Builder::new().prefix("mercato-bench-").tempdir().context("creating a folder for logs")?;
    let db = BenchDatabase::create(&args.pg_admin_url).await?;
    eprintln!("bench: created database {}", db.name());

    // Dropping the measuring future on a signal kills its children (kill_on_drop), so the
    // database can still be dropped below.
    let outcome = tokio::select! {
        outcome = measure(&args, db.url(), logs.path()) => outcome,
        signal = interrupted() => Err(anyhow::anyhow!("interrupted by {signal}")),
    };
    let name = db.name().to_string();
    let dropped = db.drop_now().await;
    match &dropped {
        Ok(()) => eprintln!("bench: dropped database {name}"),
        Err(e) => eprintln!("bench: could not drop database {name}: {e:#}"),
    }

    let summary = outcome?;
    print!("{summary}");
    dropped?;
    for (name, result) in [("echo-server", &summary.echo), ("catalog", &summary.catalog)] {
        anyhow::ensure!(result.error_count() == 0, "{name}: {} requests failed", result.error_count());
    }
    Ok(())
}

async fn measure(args: &Args, database_url: &str, logs: &Path) -> anyhow::Result<Summary> {
    let catalog = Catalog::new(&args.catalog_bin, database_url, logs);
    catalog.migrate().await?;
    let startup = startup::measure(&catalog, args.startup_runs).await?;
    let mut warnings = startup.warnings;

    catalog.seed().await?;
    let serving = catalog.start("load").await?;
    tokio::time::sleep(IDLE_FOR).await;
    let idle_rss_kib = serving.proc.rss_kib()?;
    eprintln!("bench: catalog idle RSS {:.1} MB", report::mb(idle_rss_kib));

    let (echo, echo_addr) = start_echo(&args.echo_bin).await?;
    let config = LoadConfig {
        product_id: args.product_id.clone(),
        concurrency: args.concurrency,
        connections: args.connections,
        warmup: args.warmup,
        duration: args.duration,
    };
    eprintln!("bench: {}", report::LOAD_HEADER);
    let echo_result = load::run(echo_addr, &config).await.context("load on echo-server")?;
    eprintln!("bench: {}", report::load_row("echo", &echo_result));
    let catalog_result = load::run(serving.grpc_addr, &config).await.context("load on catalog")?;
    let load_rss_kib = serving.proc.rss_kib()?;
    let peak_rss_kib = serving.proc.peak_rss_kib()?;
    eprintln!("bench: {}", report::load_row("catalog", &catalog_result));

    for proc in [echo, serving.proc] {
        let name = proc.name().to_string();
        match proc.stop(STOP_GRACE).await {
            Ok(status) if status.success() => {}
            Ok(status) => warnings.push(format!("{name} exited {status} after SIGTERM")),
            Err(e) => warnings.push(format!("{e:#}")),
        }
    }
    Ok(Summary {
        load: config,
        echo: echo_result,
        catalog: catalog_result,
        startup: startup.runs,
        idle_rss_kib,
        load_rss_kib,
        peak_rss_kib,
        warnings,
    })
}

/// Starts echo-server on a free port and reads the address from its `listening` line.
async fn start_echo(bin: &Path) -> anyhow::Result<(Proc, SocketAddr)> {
    let mut command = Command::new(bin);
    command.args(["--addr", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut proc = Proc::spawn("echo-server", command, None)?;
    let stdout = proc.child_mut().stdout.take().context("echo-server has no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .context("echo-server did not print its address within 10s")??
        .context("echo-server exited before printing its address")?;
    let addr = line
        .strip_prefix("listening ")
        .and_then(|addr| addr.trim().parse().ok())
        .with_context(|| format!("echo-server printed {line:?}, not `listening <addr>`"))?;
    // Keep draining so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((proc, addr))
}

/// Resolves with the name of the first SIGINT or SIGTERM.
async fn interrupted() -> &'static str {
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
