//! `just bench` (checkout part): PlaceOrder and whole checkouts through the gateway on
//! PostgreSQL, against the same PostgreSQL's single-row INSERT ceiling (pgbench).

use std::time::Duration;

use clap::Parser;
use mercato_bench::{checkout, events};

/// See `mercato_bench::checkout`.
#[derive(Debug, Parser)]
struct Args {
    /// Callers placing orders at once.
    #[arg(long, default_value_t = 32)]
    in_flight: usize,
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
    eprintln!("checkout-bench: pgbench ceiling ({} clients, {}s)…", args.pgbench_clients, args.seconds);
    let ceiling = events::insert_ceiling(args.pgbench_clients, Duration::from_secs(args.seconds)).await?;
    eprintln!("checkout-bench: ceiling {:.0} inserts/s", ceiling.per_second);
    let r = checkout::run(args.in_flight, args.seconds).await?;
    let c = ceiling.per_second;
    let pct = |rate: f64| rate / c * 100.0;
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!("checkout through the gateway (gRPC), PostgreSQL, 1,000 products (Zipf), signed-in customers");
    println!(
        "  PostgreSQL single-row INSERT ceiling (pgbench -M prepared, {} clients): {c:.0}/s, machine CPU {:.0} µs per insert",
        args.pgbench_clients, ceiling.machine_us_per_statement
    );
    println!(
        "  PlaceOrder accepted at {} in flight: {:.0}/s = {:.1} % of the ceiling (p50 {:.1} ms, p99 {:.1} ms; machine CPU {:.0} µs per order)",
        r.in_flight,
        r.placed_per_second,
        pct(r.placed_per_second),
        r.place_p50_ms,
        r.place_p99_ms,
        r.place_machine_us
    );
    println!(
        "  checkouts to CONFIRMED (cart, PlaceOrder, saga): {:.0}/s = {:.1} % of the ceiling (machine CPU {:.0} µs per checkout)",
        r.confirmed_per_second,
        pct(r.confirmed_per_second),
        r.confirmed_machine_us
    );
    println!(
        "  at {:.0}/s (half of that, open loop; {} placed, {} confirmed): PlaceOrder commit → CONFIRMED p50 {:.1} ms, p99 {:.1} ms; PlaceOrder p99 {:.1} ms",
        r.half_rate, r.half_placed, r.half_confirmed, r.confirm_p50_ms, r.confirm_p99_ms, r.half_place_p99_ms
    );
    for t in &r.consumer_trouble {
        println!(
            "  {} consumers over the run: {:.0} processed, {:.0} retried later, {:.0} dead-lettered, {:.0} batches rolled back",
            t.service, t.processed, t.retried, t.dead_lettered, t.batch_rollbacks
        );
    }
    println!("  target PlaceOrder ≥ 50 % of the ceiling: {}", verdict(pct(r.placed_per_second) >= 50.0));
    println!("  target checkouts ≥ 4 % of the ceiling: {}", verdict(pct(r.confirmed_per_second) >= 4.0));
    println!("  target p99 time to CONFIRMED ≤ 100 ms at half rate: {}", verdict(r.confirm_p99_ms <= 100.0));
    Ok(())
}
