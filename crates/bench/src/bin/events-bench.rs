//! `just bench` (events part): the outbox → JetStream → consumer pipeline on PostgreSQL against
//! the same PostgreSQL's single-row INSERT ceiling (pgbench), then on SQLite.

use std::time::Duration;

use clap::Parser;
use mercato_bench::events;
use mercato_kit::testing::Backend;

/// Measures events/s through the whole pipeline and commit → consumer latency at half that
/// rate, beside pgbench's single-row INSERT rate of the same server.
#[derive(Debug, Parser)]
struct Args {
    /// Concurrent writers, each committing one event per transaction.
    #[arg(long, default_value_t = 8)]
    writers: usize,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Seconds measured, per phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// pgbench clients for the ceiling.
    #[arg(long, default_value_t = 8)]
    pgbench_clients: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (warmup, duration) = (Duration::from_secs(args.warmup), Duration::from_secs(args.seconds));
    eprintln!("events-bench: pgbench ceiling ({} clients, {}s)…", args.pgbench_clients, args.seconds);
    let measured = events::insert_ceiling(args.pgbench_clients, duration).await?;
    let ceiling = measured.per_second;
    let mut results = Vec::new();
    for backend in [Backend::Postgres, Backend::Sqlite] {
        eprintln!("events-bench: pipeline on {backend:?}…");
        results.push(events::pipeline(backend, args.writers, warmup, duration).await?);
    }
    println!("events pipeline (outbox → relay → JetStream → consumer with processed_events), {} writers", args.writers);
    println!(
        "  PostgreSQL single-row INSERT ceiling (pgbench -M prepared, {} clients): {ceiling:.0}/s, machine CPU {:.0} µs per insert",
        args.pgbench_clients, measured.machine_us_per_statement
    );
    for r in &results {
        let pg = r.backend == Backend::Postgres;
        let ratio =
            |rate: f64| if pg { format!(" ({:.1} % of the ceiling)", rate / ceiling * 100.0) } else { String::new() };
        println!("  {:?}:", r.backend);
        println!(
            "    drain of a committed backlog: {:.0} events/s{}",
            r.drain_events_per_second,
            ratio(r.drain_events_per_second)
        );
        println!(
            "      machine CPU {:.0} µs per event (relay and consumer {:.0} µs); the relay alone had published it at {:.0} events/s",
            r.drain_machine_us_per_event, r.drain_self_us_per_event, r.relay_events_per_second
        );
        println!(
            "    writers and pipeline together: {:.0} events/s{}",
            r.max_events_per_second,
            ratio(r.max_events_per_second)
        );
        println!(
            "    at {:.0}/s (half of that, open loop): commit → handler p50 {:.2} ms, p99 {:.2} ms",
            r.half_rate, r.p50_ms, r.p99_ms
        );
        println!("    bench process CPU (writers, relay, consumer): {:.0} µs per event", r.cpu_us_per_event);
    }
    if let Some(pg) = results.iter().find(|r| r.backend == Backend::Postgres) {
        let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
        println!(
            "  target ≥ 50 % of the ceiling: {} (drain {:.1} %, end to end {:.1} %)",
            verdict(pg.drain_events_per_second >= ceiling / 2.0),
            pg.drain_events_per_second / ceiling * 100.0,
            pg.max_events_per_second / ceiling * 100.0
        );
        println!("  target p99 ≤ 50 ms at half rate: {}", verdict(pg.p99_ms <= 50.0));
    }
    Ok(())
}
