//! `just bench` (read paths): signed-in shoppers over a large catalog through the gateway, on
//! PostgreSQL, against the same PostgreSQL's SELECT-by-primary-key ceiling (pgbench -S).

use std::time::Duration;

use clap::Parser;
use mercato_bench::{
    reads::{self, ReadsConfig},
    report::mb,
};

/// See `mercato_bench::reads`.
#[derive(Debug, Parser)]
struct Args {
    /// Products in the catalog.
    #[arg(long, default_value_t = 10_000)]
    products: usize,
    /// Signed-in customers whose tokens the requests carry.
    #[arg(long, default_value_t = 64)]
    customers: usize,
    /// wrk connections (one thread).
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// Seconds measured per row (after a warm-up of 3 s).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// pgbench clients for the ceiling.
    #[arg(long, default_value_t = 8)]
    pgbench_clients: u32,
    /// The read cache's TTL of the cached catalog (catalog's own default when not given).
    #[arg(long)]
    cache_ttl: Option<String>,
    /// Only the rows whose name contains this text (e.g. "search"); the rest are skipped.
    #[arg(long)]
    only: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = ReadsConfig {
        products: args.products,
        customers: args.customers,
        connections: args.connections,
        warmup: Duration::from_secs(3),
        duration: Duration::from_secs(args.seconds),
        pgbench_clients: args.pgbench_clients,
        cache_ttl: args.cache_ttl.clone(),
        only: args.only.clone(),
    };
    let r = reads::run(&config).await?;
    let c = &r.ceiling;
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!(
        "read paths through the gateway (REST), PostgreSQL, {} products, {} signed-in customers, wrk 1 thread × {} connections",
        r.products, r.customers, r.connections
    );
    println!(
        "  ceiling: PostgreSQL SELECT by primary key (pgbench -S -M prepared, {} clients): {:.0}/s, machine CPU {:.0} µs per select",
        args.pgbench_clients, c.per_second, c.machine_us_per_statement
    );
    println!(
        "  {:<58} {:>8} {:>7} {:>8} {:>8} {:>6} {:>9} {:>20} {:>7}",
        "row", "req/s", "% ceil", "p50 ms", "p99 ms", "p99/50", "machine µs", "gw/catalog/orders µs", "errors"
    );
    for row in &r.rows {
        println!(
            "  {:<58} {:>8.0} {:>6.1}% {:>8.2} {:>8.2} {:>6.1} {:>9.0} {:>20} {:>7}",
            row.name,
            row.result.requests_per_sec,
            row.pct_of(c),
            row.result.p50_ms,
            row.result.p99_ms,
            row.tail_ratio(),
            row.machine_us,
            format!("{:.0}/{:.0}/{:.0}", row.gateway_us, row.catalog_us, row.orders_us),
            row.result.error_count(),
        );
    }
    println!(
        "  beside: bare hyper, canned product JSON, same wrk load: {:.0}/s = {:.1}% of the ceiling, machine CPU {:.0} µs per request (no proxy, no gRPC, no database: above any row)",
        r.hyper.result.requests_per_sec,
        r.hyper.result.requests_per_sec / c.per_second * 100.0,
        r.hyper.machine_us
    );
    let rss: Vec<String> = r.peak_rss_kib.iter().map(|(name, kib)| format!("{name} {:.1} MB", mb(*kib))).collect();
    println!("  peak RSS: {}", rss.join(", "));
    for row in &r.rows {
        if let Some(target) = row.target_pct {
            println!("  target {} ≥ {target:.0} % of the ceiling: {}", row.name, verdict(row.pct_of(c) >= target));
        }
    }
    let tails = r.rows.iter().all(|row| row.tail_ratio() <= 4.0);
    println!("  target p99 ≤ 4 × p50 in every row: {}", verdict(tails));
    let gateway_ok = r.peak_rss_kib.iter().filter(|(n, _)| *n == "gateway").all(|(_, kib)| mb(*kib) <= 30.0);
    let services_ok = r.peak_rss_kib.iter().filter(|(n, _)| *n != "gateway").all(|(_, kib)| mb(*kib) <= 40.0);
    println!("  target gateway RSS ≤ 30 MB, every service ≤ 40 MB: {}", verdict(gateway_ok && services_ok));
    let errors: u64 = r.rows.iter().map(|row| row.result.error_count()).sum();
    anyhow::ensure!(errors == 0, "{errors} requests failed: the figures are not of working requests");
    Ok(())
}
