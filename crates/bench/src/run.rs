//! One bench run, in order: database, start-up, idle memory, echo-server, load on both gRPC
//! targets, then the REST edge (hyper-json, gateway, direct gRPC), summary. Every child dies with
//! the run, and the database is dropped whatever happened.

use std::{path::Path, time::Duration};

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    catalog::Catalog,
    cli::Args,
    db::BenchDatabase,
    edge::Edge,
    load::{self, LoadConfig},
    procs,
    report::{self, Summary},
    startup, wrk,
};

/// How long catalog sits idle before its memory is read.
const IDLE_FOR: Duration = Duration::from_secs(2);

/// Runs the whole bench and prints the summary. Errors when something broke, including any
/// failed request.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let load_average_at_start = procs::load_average();
    for bin in [&args.catalog_bin, &args.echo_bin, &args.gateway_bin, &args.hyper_json_bin] {
        anyhow::ensure!(
            bin.is_file(),
            "{} not found: build it first \
             (cargo build --release -p mercato-catalog -p mercato-gateway -p mercato-bench)",
            bin.display()
        );
    }
    let wrk_bin = wrk::locate(&args.wrk)?;
    let logs = tempfile::Builder::new().prefix("mercato-bench-").tempdir().context("creating a folder for logs")?;
    let db = BenchDatabase::create(&args.pg_admin_url).await?;
    eprintln!("bench: created database {}", db.name());

    // Dropping the measuring future on a signal kills its children (kill_on_drop), so the
    // database can still be dropped below.
    let outcome = tokio::select! {
        outcome = measure(&args, &wrk_bin, db.url(), logs.path()) => outcome,
        signal = interrupted() => Err(anyhow::anyhow!("interrupted by {signal}")),
    };
    let name = db.name().to_string();
    let dropped = db.drop_now().await;
    match &dropped {
        Ok(()) => eprintln!("bench: dropped database {name}"),
        Err(e) => eprintln!("bench: could not drop database {name}: {e:#}"),
    }

    let mut summary = outcome?;
    summary.load_average.insert(0, ("at start", load_average_at_start));
    summary.load_average.push(("at the end", procs::load_average()));
    print!("{summary}");
    dropped?;
    let edge = &summary.edge;
    for (name, result) in [
        ("echo-server", &summary.echo),
        ("catalog", &summary.catalog),
        ("catalog (direct gRPC, REST phase)", &edge.grpc),
    ] {
        anyhow::ensure!(result.error_count() == 0, "{name}: {} requests failed", result.error_count());
    }
    for (name, result) in [("hyper-json", &edge.hyper), ("gateway", &edge.gateway)] {
        anyhow::ensure!(result.error_count() == 0, "{name}: {}", result.describe_errors());
    }
    Ok(())
}

async fn measure(args: &Args, wrk_bin: &Path, database_url: &str, logs: &Path) -> anyhow::Result<Summary> {
    let nats = mercato_kit::testing::TestNats::start().await.context("starting the bench's nats-server")?;
    let catalog = Catalog::new(&args.catalog_bin, database_url, &nats.url(), logs);
    catalog.migrate().await?;
    let startup = startup::measure(&catalog, args.startup_runs).await?;
    let mut warnings = startup.warnings;

    catalog.seed().await?;
    let serving = catalog.start("load").await?;
    tokio::time::sleep(IDLE_FOR).await;
    let idle_rss_kib = serving.proc.rss_kib()?;
    eprintln!("bench: catalog idle RSS {:.1} MB", report::mb(idle_rss_kib));

    let (echo, echo_addr) = procs::spawn_listening("echo-server", &args.echo_bin).await?;
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

    procs::stop_all([echo, serving.proc], &mut warnings).await;

    let load_average_before_rest = procs::load_average();
    let mut edge = Edge { args, wrk_bin: wrk_bin.to_path_buf(), logs }.measure(&catalog).await?;
    warnings.append(&mut edge.warnings);
    Ok(Summary {
        load: config,
        echo: echo_result,
        catalog: catalog_result,
        startup: startup.runs,
        idle_rss_kib,
        load_rss_kib,
        peak_rss_kib,
        edge,
        load_average: vec![("before the REST phase", load_average_before_rest)],
        warnings,
    })
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
