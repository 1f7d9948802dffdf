//! The whole shop on PostgreSQL, a real Prometheus scraping it with the shipped prometheus.yml,
//! and a checkout through the gateway as a shopper makes it. Then: every process's /metrics
//! passes `promtool check metrics`, the counters of the contract moved, and every expression of
//! the dashboard and of the rules evaluates without error and returns series.
//!
//! Everything found wrong is gathered and reported at once, so one run names every metric that
//! is missing rather than the first.

use std::{net::SocketAddr, time::Duration};

use mercato_e2e::{
    prometheus::{Prometheus, observability_dir, promtool, report},
    whole::WholeShop,
};
use mercato_kit::testing::{Backend, http_get, patience};
use serde_json::{Value, json};

use crate::{
    exprs::{Expr, dashboard_exprs, rule_exprs, yaml},
    shopper::checkout,
};

/// Quick moves, so that the checkout's shipment leaves within seconds.
const SHIPPING: &[&str] = &["--dispatch-delay", "1s", "--delivery-delay", "2s", "--shipping-timer-interval", "100ms"];

/// How long the asynchronous parts (events, the shipment, a scrape after them) may take.
const SETTLE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_with_the_shipped_config_scrapes_a_checkout_and_every_expression_has_series() {
    let shop = WholeShop::start(Backend::Postgres, SHIPPING).await.unwrap();
    let mut admin: Vec<(&str, SocketAddr)> = vec![("gateway", shop.gateway.admin_addr)];
    for name in ["identity", "catalog", "orders", "payments", "shipping", "notifications"] {
        admin.push((name, shop.service(name).unwrap().admin_addr));
    }
    // Prometheus first, so that the checkout's increments happen between its scrapes.
    let prometheus = Prometheus::start(&scraping(&admin)).await.unwrap();
    every_target_up(&prometheus, admin.len()).await;

    let order = checkout(shop.gateway_addr(), None).await.order;

    let mut problems = Vec::new();
    problems.extend(counters_moved(&admin).await);
    problems.extend(lint(&admin).await);
    problems.extend(scraped_the_checkout(&prometheus).await);
    problems.extend(every_expression_has_series(&prometheus).await);
    assert!(
        problems.is_empty(),
        "after checkout {order} was CONFIRMED and shipped, {} problems:\n  {}\n\nPrometheus' log:\n{}",
        problems.len(),
        problems.join("\n  "),
        prometheus.log()
    );
    drop(prometheus);
    drop(shop);
}

/// The shipped prometheus.yml as it is but for:
/// - each static target replaced by the test stack's admin address of the same `service`;
/// - the rule_files patterns made absolute (they are relative to the file, which is written to a
///   temporary folder);
/// - scrape and evaluation every second instead of 15 s, so that rates have their two samples,
///   and the recording rules their evaluations, within seconds of the checkout.
fn scraping(admin: &[(&str, SocketAddr)]) -> Value {
    let mut config = yaml("prometheus/prometheus.yml");
    for key in ["scrape_interval", "scrape_timeout", "evaluation_interval"] {
        config["global"][key] = json!("1s");
    }
    let dir = observability_dir().join("prometheus");
    let rule_files: Vec<Value> = config["rule_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!(dir.join(p.as_str().unwrap()).to_str().unwrap()))
        .collect();
    config["rule_files"] = Value::Array(rule_files);
    let mut replaced = 0;
    for job in config["scrape_configs"].as_array_mut().unwrap() {
        for static_config in job["static_configs"].as_array_mut().unwrap() {
            let service = static_config["labels"]["service"].as_str().unwrap().to_string();
            let (_, addr) = admin.iter().find(|(name, _)| *name == service).unwrap_or_else(|| panic!("{service} runs"));
            static_config["targets"] = json!([addr.to_string()]);
            replaced += 1;
        }
    }
    assert_eq!(replaced, admin.len(), "prometheus.yml scrapes every process of the shop");
    config
}

async fn every_target_up(prometheus: &Prometheus, expected: usize) {
    let deadline = tokio::time::Instant::now() + patience(SETTLE);
    loop {
        let targets = prometheus.targets().await.unwrap();
        let up = targets.iter().filter(|t| t["health"] == "up").count();
        if targets.len() == expected && up == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{up} of {expected} targets up: {targets:#?}\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The sum of the samples of `name` (with `label`, if given) in a text exposition.
fn sum(exposition: &str, name: &str, label: Option<(&str, &str)>) -> f64 {
    let wanted = label.map(|(k, v)| format!("{k}=\"{v}\""));
    exposition
        .lines()
        .filter(|line| {
            line.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                && wanted.as_ref().is_none_or(|w| line.contains(w.as_str()))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A series a checkout must move: (process, metric, label, at least).
type Moved = (&'static str, &'static str, Option<(&'static str, &'static str)>, f64);

/// What the checkout must have counted, process by process.
const MOVED: &[Moved] = &[
    ("gateway", "http_server_requests_total", Some(("route", "POST /v1/orders")), 1.0),
    ("identity", "grpc_server_handled_total", Some(("grpc_method", "Register")), 1.0),
    ("orders", "grpc_server_started_total", Some(("grpc_method", "PlaceOrder")), 1.0),
    ("orders", "grpc_server_handled_total", Some(("grpc_method", "PlaceOrder")), 1.0),
    ("orders", "grpc_server_handling_seconds_count", Some(("grpc_method", "PlaceOrder")), 1.0),
    ("orders", "mercato_orders_placed_total", None, 1.0),
    ("orders", "mercato_orders_confirmed_total", None, 1.0),
    ("orders", "mercato_revenue_total", None, 0.01),
    ("orders", "mercato_checkout_time_to_confirmed_seconds_count", None, 1.0),
    ("orders", "mercato_outbox_published_total", None, 1.0),
    ("orders", "mercato_consumer_messages_total", Some(("outcome", "processed")), 1.0),
    ("catalog", "mercato_consumer_messages_total", Some(("outcome", "processed")), 1.0),
    ("payments", "mercato_payments_authorized_total", None, 1.0),
    ("payments", "mercato_outbox_published_total", None, 1.0),
    ("shipping", "mercato_shipments_dispatched_total", None, 1.0),
    ("notifications", "mercato_notifications_sent_total", Some(("channel", "email")), 1.0),
];

/// Every counter of [`MOVED`] at least where it should be (the asynchronous ones given
/// [`SETTLE`]), and every process ready and using CPU: what is still short, if anything.
async fn counters_moved(admin: &[(&str, SocketAddr)]) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + patience(SETTLE);
    loop {
        let mut short = Vec::new();
        for (process, addr) in admin {
            let (_, text) = http_get(*addr, "/metrics").await.unwrap();
            for (_, metric, label, least) in MOVED.iter().filter(|(p, ..)| p == process) {
                let value = sum(&text, metric, *label);
                if value < *least {
                    short.push(format!("{process}: {metric}{label:?} is {value}, not at least {least}"));
                }
            }
            for (metric, least) in [("mercato_ready", 1.0), ("process_cpu_seconds_total", f64::MIN_POSITIVE)] {
                let value = sum(&text, metric, None);
                if value < least {
                    short.push(format!("{process}: {metric} is {value}"));
                }
            }
        }
        if short.is_empty() || tokio::time::Instant::now() >= deadline {
            return short;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `promtool check metrics` on each process's /metrics (its standard input): every complaint.
async fn lint(admin: &[(&str, SocketAddr)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (process, addr) in admin {
        let (code, text) = http_get(*addr, "/metrics").await.unwrap();
        assert_eq!(code, 200, "{process} /metrics");
        let output = promtool(&["check", "metrics"], Some(&text)).unwrap();
        if !output.status.success() {
            problems.push(format!("{process}: promtool check metrics: {}", report(&output).trim()));
        }
    }
    problems
}

/// Prometheus itself has the checkout: its confirmed order and its PlaceOrder, scraped.
async fn scraped_the_checkout(prometheus: &Prometheus) -> Vec<String> {
    let checks = [
        "sum(mercato_orders_confirmed_total) >= 1",
        r#"sum(grpc_server_handled_total{service="orders", grpc_method="PlaceOrder"}) >= 1"#,
        "sum(mercato_shipments_dispatched_total) >= 1",
    ];
    let deadline = tokio::time::Instant::now() + patience(SETTLE);
    loop {
        let mut missing = Vec::new();
        for check in checks {
            match prometheus.query(check).await.unwrap() {
                Ok(series) if !series.is_empty() => {}
                Ok(_) => missing.push(format!("Prometheus has not scraped the checkout: {check} is false")),
                Err(e) => missing.push(format!("{check}: {e}")),
            }
        }
        if missing.is_empty() || tokio::time::Instant::now() >= deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every expression of the dashboard (its variables filled in) and of the rules (an alert's
/// without its thresholds: see `exprs::without_thresholds`) asked of Prometheus until each has
/// returned at least one series, within [`SETTLE`]. A query Prometheus refuses is a problem at
/// once; one still empty at the deadline is reported with where it comes from. Nothing is
/// excused: a metric the contract lists but a process creates only on its first increment (a
/// decline, a cancellation, a retry) has no series after a checkout that went well, and is
/// reported here like a metric that does not exist.
async fn every_expression_has_series(prometheus: &Prometheus) -> Vec<String> {
    let mut pending: Vec<Expr> = dashboard_exprs().into_iter().chain(rule_exprs()).collect();
    let mut problems = Vec::new();
    let deadline = tokio::time::Instant::now() + patience(SETTLE);
    loop {
        let mut still = Vec::new();
        for expr in pending {
            match prometheus.query(&expr.promql).await.unwrap() {
                Err(e) => problems.push(format!("{}: does not evaluate: {e}\n      {}", expr.origin, expr.promql)),
                Ok(series) if series.is_empty() => still.push(expr),
                Ok(_) => {}
            }
        }
        pending = still;
        if pending.is_empty() || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    problems.extend(pending.iter().map(|e| format!("{}: no series\n      {}", e.origin, e.promql.replace('\n', " "))));
    problems
}
