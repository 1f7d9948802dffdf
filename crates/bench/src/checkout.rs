//! The checkout under load, on PostgreSQL, through the gateway: signed-in customers fill a
//! cart from a 1,000-product catalog (Zipf-popular products) and place it. Every service is a
//! release process on a database of its own; identity runs in the bench to sign the tokens.
//! The ceiling is the same PostgreSQL's single-row INSERT rate (pgbench), measured in the same
//! run by the caller.
//!
//! Three figures:
//! - PlaceOrder accepted/s: carts are filled first (untimed), then 32 callers place them;
//! - checkouts/s to CONFIRMED: placements as fast as they go while the sagas run, counted by
//!   the orders confirmed per second;
//! - at half that rate, open loop: the time from PlaceOrder's commit to the order's
//!   confirmation (orders' own timestamps), and PlaceOrder's latency at the caller.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use hdrhistogram::Histogram;
use mercato::{
    catalog::v1::{self as catalog, catalog_service_client::CatalogServiceClient},
    google::r#type::Money,
    orders::v1::{self as pb, cart_service_client::CartServiceClient, order_service_client::OrderServiceClient},
};
use mercato_identity::testing::TestIdentity;
use mercato_kit::{
    auth::service_token::Bearer,
    testing::{Backend, FREE_PORTS, ServiceProcess, TestDatabase, TestNats},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tokio::sync::Mutex;
use tonic::{codegen::InterceptedService, transport::Channel};

use crate::cpu;

const PRODUCTS: usize = 1000;
const STOCK: i64 = 1_000_000_000;
const START: Duration = Duration::from_secs(60);

type Authed = InterceptedService<Channel, Bearer>;

/// What the run measured.
#[derive(Debug, Clone)]
pub struct CheckoutResult {
    pub in_flight: usize,
    pub placed_per_second: f64,
    pub place_p50_ms: f64,
    pub place_p99_ms: f64,
    pub place_machine_us: f64,
    pub confirmed_per_second: f64,
    pub confirmed_machine_us: f64,
    pub half_rate: f64,
    pub half_placed: u64,
    pub half_confirmed: u64,
    pub confirm_p50_ms: f64,
    pub confirm_p99_ms: f64,
    pub half_place_p99_ms: f64,
    /// Per service, over the whole run: messages its consumers retried later and dead-lettered,
    /// and batches rolled back (each costs a stall: a retry waits out `CONSUMER_BACKOFF`).
    pub consumer_trouble: Vec<ConsumerTrouble>,
}

#[derive(Debug, Clone)]
pub struct ConsumerTrouble {
    pub service: &'static str,
    pub processed: f64,
    pub retried: f64,
    pub dead_lettered: f64,
    pub batch_rollbacks: f64,
}

impl ConsumerTrouble {
    /// Sums the consumer counters of one service's `/metrics`.
    fn of(service: &'static str, metrics: &str) -> Self {
        let sum = |name: &str, label: Option<&str>| -> f64 {
            metrics
                .lines()
                .filter(|l| l.starts_with(name) && label.is_none_or(|label| l.contains(label)))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                // `sum` of no f64 is -0, which prints as "-0".
                .fold(0.0, |total, value| total + value)
        };
        Self {
            service,
            processed: sum("mercato_consumer_messages_total", Some("outcome=\"processed\"")),
            retried: sum("mercato_consumer_messages_total", Some("outcome=\"retried\"")),
            dead_lettered: sum("mercato_consumer_messages_total", Some("outcome=\"dead_lettered\"")),
            batch_rollbacks: sum("mercato_consumer_batch_rollbacks_total", None),
        }
    }
}

/// The services as processes on PostgreSQL, and the customers.
struct Shop {
    _identity: TestIdentity,
    _nats: TestNats,
    /// catalog, payments, orders, gateway.
    processes: Vec<ServiceProcess>,
    _databases: Vec<TestDatabase>,
    orders_db: DatabaseConnection,
    gateway: Channel,
    products: Vec<String>,
    customers: Vec<String>,
}

pub(crate) fn release_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("no directory")?.join(name);
    anyhow::ensure!(path.exists(), "{} is not built (cargo build --release)", path.display());
    Ok(path)
}

pub(crate) async fn spawn(bin: &Path, flags: &[String]) -> anyhow::Result<ServiceProcess> {
    let args: Vec<&str> = FREE_PORTS.iter().copied().chain(flags.iter().map(String::as_str)).collect();
    let bin = bin.to_str().context("binary path is not UTF-8")?;
    ServiceProcess::spawn(bin, &args, START).await
}

impl Shop {
    async fn consumer_trouble(&self) -> anyhow::Result<Vec<ConsumerTrouble>> {
        let mut trouble = Vec::new();
        for (service, process) in ["catalog", "payments", "orders"].into_iter().zip(&self.processes) {
            let (_, metrics) = mercato_kit::testing::http_get(process.admin_addr, "/metrics").await?;
            trouble.push(ConsumerTrouble::of(service, &metrics));
        }
        Ok(trouble)
    }

    async fn start(customers: usize) -> anyhow::Result<Self> {
        let identity = TestIdentity::spawn(Backend::Postgres, &[]).await?;
        let nats = TestNats::start().await?;
        let mut databases = Vec::new();
        let mut processes = Vec::new();
        let common = |db: &TestDatabase| -> Vec<String> {
            ["--database-url", db.url(), "--identity-url", &identity.url(), "--nats-url", &nats.url()]
                .map(str::to_string)
                .into()
        };
        let catalog_db = TestDatabase::create(Backend::Postgres).await?;
        let catalog = spawn(&release_binary("catalog")?, &common(&catalog_db)).await?;
        let payments_db = TestDatabase::create(Backend::Postgres).await?;
        let payments = spawn(&release_binary("payments")?, &common(&payments_db)).await?;
        let orders_db = TestDatabase::create(Backend::Postgres).await?;
        let mut flags = common(&orders_db);
        flags.extend(["--catalog-url".to_string(), format!("http://{}", catalog.grpc_addr)]);
        let orders = spawn(&release_binary("orders")?, &flags).await?;
        let gateway_flags: Vec<String> = [
            "--identity-url".to_string(),
            identity.url(),
            "--catalog-url".to_string(),
            format!("http://{}", catalog.grpc_addr),
            "--orders-url".to_string(),
            format!("http://{}", orders.grpc_addr),
            "--payments-url".to_string(),
            format!("http://{}", payments.grpc_addr),
            "--rate-limit-per-minute".to_string(),
            "1000000".to_string(),
        ]
        .into();
        let gateway = spawn(&release_binary("gateway")?, &gateway_flags).await?;
        let gateway_channel = Channel::from_shared(format!("http://{}", gateway.grpc_addr))?.connect().await?;
        let orders_conn = sea_orm::Database::connect(orders_db.url()).await?;
        let admin = identity.admin_token().await?;
        let mut catalog_admin = CatalogServiceClient::with_interceptor(
            Channel::from_shared(format!("http://{}", catalog.grpc_addr))?.connect().await?,
            Bearer::new(&admin)?,
        );
        let mut products = Vec::with_capacity(PRODUCTS);
        for i in 0..PRODUCTS {
            let product = catalog::Product {
                sku: format!("BENCH-{i:05}"),
                name: format!("Bench product {i}"),
                price: Some(Money { currency_code: "USD".into(), units: 5 + (i % 50) as i64, nanos: 0 }),
                ..Default::default()
            };
            let created = catalog_admin
                .create_product(catalog::CreateProductRequest { product: Some(product), initial_stock: STOCK })
                .await?;
            products.push(created.into_inner().product.context("no product")?.id);
        }
        let mut tokens = Vec::with_capacity(customers);
        for c in 0..customers {
            tokens.push(identity.customer_token(&format!("bench{c}@example.com")).await?);
        }
        databases.extend([catalog_db, payments_db, orders_db]);
        processes.extend([catalog, payments, orders, gateway]);
        Ok(Self {
            _identity: identity,
            _nats: nats,
            processes,
            _databases: databases,
            orders_db: orders_conn,
            gateway: gateway_channel,
            products,
            customers: tokens,
        })
    }

    fn orders(&self, token: &str) -> anyhow::Result<OrderServiceClient<Authed>> {
        Ok(OrderServiceClient::with_interceptor(self.gateway.clone(), Bearer::new(token)?))
    }

    fn cart(&self, token: &str) -> anyhow::Result<CartServiceClient<Authed>> {
        Ok(CartServiceClient::with_interceptor(self.gateway.clone(), Bearer::new(token)?))
    }

    /// Orders whose status is (or, with `not`, is not) one of `statuses`.
    async fn count(&self, not: bool, statuses: &str) -> anyhow::Result<u64> {
        let sql =
            format!("SELECT count(*) AS n FROM orders WHERE status {}IN ({statuses})", if not { "NOT " } else { "" });
        let row = self
            .orders_db
            .query_one_raw(Statement::from_string(self.orders_db.get_database_backend(), sql))
            .await?
            .context("no count")?;
        Ok(u64::try_from(row.try_get::<i64>("", "n")?).unwrap_or(0))
    }

    async fn confirmed(&self) -> anyhow::Result<u64> {
        self.count(false, "'CONFIRMED'").await
    }

    async fn stop(self) {
        for process in &self.processes {
            let _ = process.terminate();
        }
    }
}

/// Zipf(s = 1) over the catalog: a few products are in most carts.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Self {
        let weights: Vec<f64> = (1..=n).map(|k| 1.0 / k as f64).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        Self {
            cdf: weights
                .iter()
                .map(|w| {
                    acc += w / total;
                    acc
                })
                .collect(),
        }
    }

    fn sample(&self) -> usize {
        let u: f64 = rand::random();
        self.cdf.partition_point(|p| *p < u).min(self.cdf.len() - 1)
    }
}

fn request(key: String) -> pb::PlaceOrderRequest {
    pb::PlaceOrderRequest {
        idempotency_key: key,
        shipping_address: Some(pb::Address {
            recipient_name: "Bench Customer".into(),
            address_lines: vec!["1 Load Street".into()],
            city: "Benchville".into(),
            country_code: "DE".into(),
            ..Default::default()
        }),
        payment_method_token: "tok_visa".into(),
    }
}

/// Puts one or two Zipf-chosen products in the customer's cart.
async fn fill(shop: &Shop, zipf: &Zipf, token: &str) -> anyhow::Result<()> {
    let mut cart = shop.cart(token)?;
    let lines = 1 + usize::from(rand::random::<bool>());
    for _ in 0..lines {
        let product_id = shop.products[zipf.sample()].clone();
        cart.add_cart_item(pb::AddCartItemRequest { product_id, quantity: 1 }).await?;
    }
    Ok(())
}

fn ms(histogram: &Histogram<u64>, q: f64) -> f64 {
    histogram.value_at_quantile(q) as f64 / 1000.0
}

/// Runs the three phases; see the module docs.
pub async fn run(in_flight: usize, seconds: u64) -> anyhow::Result<CheckoutResult> {
    let customers = in_flight * 4;
    eprintln!("checkout-bench: starting the services, {PRODUCTS} products, {customers} customers…");
    let shop = Arc::new(Shop::start(customers).await?);
    let zipf = Arc::new(Zipf::new(PRODUCTS));

    // 1. PlaceOrder from filled carts, 32 callers, rounds until `seconds` of placing.
    let mut placing = Duration::ZERO;
    let mut placed = 0u64;
    let mut place_latency = Histogram::<u64>::new(3)?;
    let mut place_cpu = Duration::ZERO;
    let warm = place_round(&shop, &zipf, in_flight).await?;
    drop(warm);
    while placing < Duration::from_secs(seconds) {
        let (elapsed, latencies, cpu_spent) = {
            let round = place_round(&shop, &zipf, in_flight).await?;
            (round.elapsed, round.latencies, round.cpu)
        };
        placing += elapsed;
        placed += latencies.len();
        place_cpu += cpu_spent;
        place_latency.add(latencies)?;
    }
    let placed_per_second = placed as f64 / placing.as_secs_f64();
    eprintln!("checkout-bench: {placed} placed at {placed_per_second:.0}/s; waiting for their sagas…");
    let drained = Instant::now();

    // Let the sagas of phase 1 finish.
    drain(&shop).await?;
    eprintln!("checkout-bench: sagas done {:.1} s after the last placement", drained.elapsed().as_secs_f64());

    // 2. Checkouts to CONFIRMED: fill and place, as fast as it goes, and count confirmations.
    let before = shop.confirmed().await?;
    let cpu_before = cpu::of_machine()?;
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for w in 0..in_flight {
        let (shop, zipf) = (shop.clone(), zipf.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < stop_at {
                for token in shop.customers.iter().skip(w).step_by(in_flight) {
                    fill(&shop, &zipf, token).await?;
                    shop.orders(token)?.place_order(request(uuid::Uuid::now_v7().to_string())).await?;
                    n += 1;
                }
            }
            anyhow::Ok(n)
        }));
    }
    let mut sent = 0;
    for worker in workers {
        sent += worker.await??;
    }
    drain(&shop).await?;
    let elapsed = started.elapsed();
    let confirmed = shop.confirmed().await? - before;
    let confirmed_per_second = confirmed as f64 / elapsed.as_secs_f64();
    let confirmed_machine_us = (cpu::of_machine()? - cpu_before).as_secs_f64() * 1e6 / confirmed.max(1) as f64;
    if confirmed != sent {
        // Sagas slower than the placements time out (SAGA_STEP_TIMEOUT) and cancel.
        eprintln!("checkout-bench: {sent} placed, {confirmed} confirmed, the rest cancelled");
    }

    // 3. Half that rate, open loop: arrivals on a fixed schedule, whatever the answers.
    let half_rate = confirmed_per_second / 2.0;
    let interval = Duration::from_secs_f64(1.0 / half_rate.max(1.0));
    let pool = Arc::new(Mutex::new(shop.customers.clone()));
    let since = chrono::Utc::now();
    let open_started = Instant::now();
    let mut tasks = Vec::new();
    let mut next = tokio::time::Instant::now();
    while open_started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep_until(next).await;
        next += interval;
        let (shop, zipf, pool) = (shop.clone(), zipf.clone(), pool.clone());
        tasks.push(tokio::spawn(async move {
            let Some(token) = pool.lock().await.pop() else {
                anyhow::bail!("every customer is mid-checkout: the system is behind the schedule");
            };
            fill(&shop, &zipf, &token).await?;
            let sent = Instant::now();
            shop.orders(&token)?.place_order(request(uuid::Uuid::now_v7().to_string())).await?;
            let took = sent.elapsed();
            pool.lock().await.push(token);
            anyhow::Ok(took)
        }));
    }
    let mut half_place = Histogram::<u64>::new(3)?;
    let mut half_placed = 0;
    for task in tasks {
        let took = task.await??;
        half_place.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX))?;
        half_placed += 1;
    }
    drain(&shop).await?;
    let rows = shop
        .orders_db
        .query_all_raw(Statement::from_sql_and_values(
            shop.orders_db.get_database_backend(),
            "SELECT EXTRACT(EPOCH FROM (updated_at - created_at)) * 1000000 AS us FROM orders \
             WHERE status = 'CONFIRMED' AND created_at >= $1",
            [since.into()],
        ))
        .await?;
    let mut confirm = Histogram::<u64>::new(3)?;
    for row in &rows {
        let us: f64 = row.try_get::<f64>("", "us").or_else(|_| {
            row.try_get::<sea_orm::prelude::Decimal>("", "us").map(|d| d.to_string().parse().unwrap_or(0.0))
        })?;
        confirm.record(us.max(1.0) as u64)?;
    }
    let result = CheckoutResult {
        in_flight,
        placed_per_second,
        place_p50_ms: ms(&place_latency, 0.5),
        place_p99_ms: ms(&place_latency, 0.99),
        place_machine_us: place_cpu.as_secs_f64() * 1e6 / placed.max(1) as f64,
        confirmed_per_second,
        confirmed_machine_us,
        half_rate,
        half_placed,
        half_confirmed: rows.len() as u64,
        confirm_p50_ms: ms(&confirm, 0.5),
        confirm_p99_ms: ms(&confirm, 0.99),
        half_place_p99_ms: ms(&half_place, 0.99),
        consumer_trouble: shop.consumer_trouble().await?,
    };
    if let Ok(shop) = Arc::try_unwrap(shop) {
        shop.stop().await;
    }
    Ok(result)
}

struct Round {
    elapsed: Duration,
    latencies: Histogram<u64>,
    cpu: Duration,
}

/// Fills every customer's cart, then `in_flight` callers place them all: how long the placing
/// took, each PlaceOrder's latency, and the machine's CPU meanwhile.
async fn place_round(shop: &Arc<Shop>, zipf: &Arc<Zipf>, in_flight: usize) -> anyhow::Result<Round> {
    let mut fills = Vec::new();
    for w in 0..in_flight {
        let (shop, zipf) = (shop.clone(), zipf.clone());
        fills.push(tokio::spawn(async move {
            for token in shop.customers.iter().skip(w).step_by(in_flight) {
                fill(&shop, &zipf, token).await?;
            }
            anyhow::Ok(())
        }));
    }
    for f in fills {
        f.await??;
    }
    let cpu_before = cpu::of_machine()?;
    let started = Instant::now();
    let mut callers = Vec::new();
    for w in 0..in_flight {
        let shop = shop.clone();
        callers.push(tokio::spawn(async move {
            let mut latencies = Histogram::<u64>::new(3)?;
            for token in shop.customers.iter().skip(w).step_by(in_flight) {
                let sent = Instant::now();
                shop.orders(token)?.place_order(request(uuid::Uuid::now_v7().to_string())).await?;
                latencies.record(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX))?;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Histogram::<u64>::new(3)?;
    for caller in callers {
        latencies.add(caller.await??)?;
    }
    let elapsed = started.elapsed();
    Ok(Round { elapsed, latencies, cpu: cpu::of_machine()? - cpu_before })
}

/// Waits until no order is still on its way; fails if none settles for 30 s.
async fn drain(shop: &Shop) -> anyhow::Result<()> {
    let (mut last, mut moved) = (u64::MAX, Instant::now());
    loop {
        let open = shop.count(true, "'CONFIRMED', 'CANCELLED'").await?;
        if open == 0 {
            return Ok(());
        }
        if open < last {
            (last, moved) = (open, Instant::now());
        }
        anyhow::ensure!(moved.elapsed() < Duration::from_secs(30), "{open} orders open and none settled for 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
