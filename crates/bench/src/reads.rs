//! The shop's hot read paths as real traffic has them: signed-in shoppers (a bearer token per
//! request, drawn from many customers) reading a large catalog (10,000 products by default)
//! through the gateway's REST API, products chosen uniformly at random and Zipf-distributed
//! (s = 1.1), with the catalog's read cache on and off, a search page of 20, and the cart.
//! One cached product without a token, the best case, is measured beside, never instead.
//!
//! Every figure is a ratio to a ceiling measured in the same run on the same PostgreSQL:
//! pgbench's SELECT-by-primary-key rate (`-S`, prepared statements). wrk drives the load with
//! a generated Lua script holding the ids and the tokens; CPU is read per process and for the
//! whole machine, so each row says what one request costs.

use std::{path::Path, time::Duration};

use anyhow::Context;
use mercato::orders::v1::{self as pb, cart_service_client::CartServiceClient};
use mercato_identity::testing::TestIdentity;
use mercato_kit::{
    auth::service_token::Bearer,
    testing::{Backend, ServiceProcess, TestDatabase, TestNats},
};
use sea_orm::{ConnectionTrait, Statement};
use tonic::transport::Channel;

use crate::{
    checkout::{release_binary, spawn},
    events::{self, Ceiling},
    procs,
    wrk::{self, WrkConfig, WrkResult},
};

/// What to measure and how hard.
#[derive(Debug, Clone)]
pub struct ReadsConfig {
    pub products: usize,
    pub customers: usize,
    pub connections: u32,
    pub warmup: Duration,
    pub duration: Duration,
    pub pgbench_clients: u32,
    /// `--cache-ttl` of the cached catalog; `None` leaves catalog's default.
    pub cache_ttl: Option<String>,
    /// Only the rows whose name contains this (all when `None`).
    pub only: Option<String>,
}

/// How a row's requests are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Uniform,
    Zipf,
    One,
    Search,
    Cart,
    /// AddCartItem and RemoveCartItem in turn, so carts stay the size they were.
    AddRemove,
}

impl Pick {
    fn lua(self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::Zipf => "zipf",
            Self::One => "one",
            Self::Search => "search",
            Self::Cart => "cart",
            Self::AddRemove => "addremove",
        }
    }
}

/// One measured row.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: &'static str,
    /// The row counts toward a target of this share of the ceiling, if it has one.
    pub target_pct: Option<f64>,
    pub result: WrkResult,
    pub machine_us: f64,
    pub gateway_us: f64,
    pub catalog_us: f64,
    pub orders_us: f64,
}

impl Row {
    pub fn pct_of(&self, ceiling: &Ceiling) -> f64 {
        self.result.requests_per_sec / ceiling.per_second * 100.0
    }

    pub fn tail_ratio(&self) -> f64 {
        if self.result.p50_ms > 0.0 { self.result.p99_ms / self.result.p50_ms } else { f64::INFINITY }
    }
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct ReadsReport {
    pub ceiling: Ceiling,
    pub products: usize,
    pub customers: usize,
    pub connections: u32,
    pub rows: Vec<Row>,
    /// Peak resident memory of each process, in KiB, after every row.
    pub peak_rss_kib: Vec<(&'static str, u64)>,
    /// Bare hyper answering a canned product JSON under the same wrk load: what any HTTP
    /// server in front costs at least, beside the database's ceiling.
    pub hyper: Ceiled,
}

/// A ceiling server's rate under the rows' load, and the machine's CPU per request.
#[derive(Debug, Clone)]
pub struct Ceiled {
    pub result: WrkResult,
    pub machine_us: f64,
}

/// The processes under load. They log at info (ServiceProcess waits for the `serving` line);
/// nothing on the read path logs per request at that level.
struct Shop {
    identity: TestIdentity,
    _nats: TestNats,
    databases: Vec<TestDatabase>,
    catalog: ServiceProcess,
    uncached_catalog: ServiceProcess,
    orders: ServiceProcess,
    gateway: ServiceProcess,
    uncached_gateway: ServiceProcess,
}

pub async fn run(config: &ReadsConfig) -> anyhow::Result<ReadsReport> {
    let wrk_bin = wrk::locate(Path::new("wrk"))?;
    eprintln!("reads-bench: pgbench -S ceiling ({} clients)…", config.pgbench_clients);
    let ceiling = events::select_ceiling(config.pgbench_clients, config.duration).await?;
    eprintln!("reads-bench: ceiling {:.0} selects/s; starting the shop…", ceiling.per_second);
    let shop = Shop::start(config.cache_ttl.as_deref()).await?;
    let catalog_db = sea_orm::Database::connect(shop.databases[0].url()).await?;
    let ids = insert_products(&catalog_db, config.products).await?;
    catalog_db.close().await?;
    eprintln!("reads-bench: {} products; signing in {} customers…", ids.len(), config.customers);
    let mut tokens = Vec::with_capacity(config.customers);
    for c in 0..config.customers {
        tokens.push(shop.identity.customer_token(&format!("reader{c}@example.com")).await?);
    }
    fill_carts(&shop, &tokens, &ids).await?;

    let rows: [(&'static str, Pick, bool, bool, Option<f64>); 8] = [
        ("GET /v1/products/{id}, signed in, uniform", Pick::Uniform, true, true, Some(50.0)),
        ("GET /v1/products/{id}, signed in, Zipf s=1.1", Pick::Zipf, true, true, None),
        ("GET /v1/products/{id}, signed in, uniform, read cache off", Pick::Uniform, true, false, Some(30.0)),
        ("GET /v1/products/{id}, no token, uniform", Pick::Uniform, false, true, None),
        ("ListProducts (search, page of 20), signed in", Pick::Search, true, true, Some(20.0)),
        ("GetCart (3 lines), signed in", Pick::Cart, true, true, Some(20.0)),
        ("AddCartItem / RemoveCartItem in turn, signed in", Pick::AddRemove, true, true, Some(20.0)),
        ("best case: one cached product, no token", Pick::One, false, true, None),
    ];
    let mut measured = Vec::new();
    let wanted = |name: &str| config.only.as_deref().is_none_or(|only| name.contains(only));
    for (name, pick, signed_in, cached, target_pct) in rows.into_iter().filter(|row| wanted(row.0)) {
        eprintln!("reads-bench: {name}…");
        let script = tempfile::Builder::new().suffix(".lua").tempfile()?;
        std::fs::write(script.path(), lua(pick, signed_in, &ids, &tokens))?;
        let (gateway, catalog) =
            if cached { (&shop.gateway, &shop.catalog) } else { (&shop.uncached_gateway, &shop.uncached_catalog) };
        let wrk_config = WrkConfig {
            threads: 1,
            connections: config.connections,
            warmup: config.warmup,
            duration: config.duration,
            script: Some(script.path().to_path_buf()),
        };
        let pids = [pid(gateway)?, pid(catalog)?, pid(&shop.orders)?];
        let url = format!("http://{}", gateway.grpc_addr);
        let (result, cpu) = wrk::run_watching(&wrk_bin, &url, &wrk_config, &pids).await?;
        let requests = result.requests.max(1) as f64;
        let us = |d: Duration| d.as_secs_f64() * 1e6 / requests;
        measured.push(Row {
            name,
            target_pct,
            machine_us: us(cpu.machine),
            gateway_us: us(cpu.watched[0]),
            catalog_us: us(cpu.watched[1]),
            orders_us: us(cpu.watched[2]),
            result,
        });
    }
    let hyper = bare_hyper(&wrk_bin, config).await?;
    let peak_rss_kib = [
        ("gateway", &shop.gateway),
        ("catalog", &shop.catalog),
        ("catalog (cache off)", &shop.uncached_catalog),
        ("orders", &shop.orders),
    ]
    .into_iter()
    .map(|(name, p)| (name, p.peak_rss_kib().unwrap_or(0)))
    .collect();
    shop.stop();
    Ok(ReadsReport {
        ceiling,
        products: ids.len(),
        customers: config.customers,
        connections: config.connections,
        rows: measured,
        peak_rss_kib,
        hyper,
    })
}

/// hyper-json (this crate's canned-JSON server) under the rows' wrk load.
async fn bare_hyper(wrk_bin: &Path, config: &ReadsConfig) -> anyhow::Result<Ceiled> {
    eprintln!("reads-bench: bare hyper (canned product JSON)…");
    let (hyper, addr) = procs::spawn_listening("hyper-json", &release_binary("hyper-json")?).await?;
    let wrk_config = WrkConfig {
        threads: 1,
        connections: config.connections,
        warmup: config.warmup,
        duration: config.duration,
        script: None,
    };
    let measured = wrk::run_watching(wrk_bin, &format!("http://{addr}/v1/products/any"), &wrk_config, &[hyper.pid()?])
        .await
        .context("wrk on hyper-json");
    hyper.stop(Duration::from_secs(5)).await?;
    let (result, cpu) = measured?;
    let machine_us = cpu.machine.as_secs_f64() * 1e6 / result.requests.max(1) as f64;
    Ok(Ceiled { result, machine_us })
}

fn pid(process: &ServiceProcess) -> anyhow::Result<u32> {
    process.pid().context("a service of the bench exited")
}

impl Shop {
    async fn start(cache_ttl: Option<&str>) -> anyhow::Result<Self> {
        let identity = TestIdentity::spawn(Backend::Postgres, &[]).await?;
        let nats = TestNats::start().await?;
        let common = |db: &TestDatabase, extra: &[&str]| -> Vec<String> {
            ["--database-url", db.url(), "--identity-url", &identity.url(), "--nats-url", &nats.url()]
                .iter()
                .chain(extra)
                .map(|f| f.to_string())
                .collect()
        };
        let catalog_db = TestDatabase::create(Backend::Postgres).await?;
        let mut cached = vec![];
        if let Some(ttl) = cache_ttl {
            cached.extend(["--cache-ttl", ttl]);
        }
        let catalog = spawn(&release_binary("catalog")?, &common(&catalog_db, &cached)).await?;
        // A second replica on the same database with its read cache off: every read is a miss.
        let uncached_catalog = spawn(&release_binary("catalog")?, &common(&catalog_db, &["--cache-ttl", "0s"])).await?;
        let orders_db = TestDatabase::create(Backend::Postgres).await?;
        let catalog_url = format!("http://{}", catalog.grpc_addr);
        let orders = spawn(&release_binary("orders")?, &common(&orders_db, &["--catalog-url", &catalog_url])).await?;
        let gateway_to = |catalog: &ServiceProcess| -> Vec<String> {
            [
                "--identity-url".to_string(),
                identity.url(),
                "--catalog-url".to_string(),
                format!("http://{}", catalog.grpc_addr),
                "--orders-url".to_string(),
                format!("http://{}", orders.grpc_addr),
                "--rate-limit-per-minute".to_string(),
                "1000000".to_string(),
            ]
            .into()
        };
        let gateway = spawn(&release_binary("gateway")?, &gateway_to(&catalog)).await?;
        let uncached_gateway = spawn(&release_binary("gateway")?, &gateway_to(&uncached_catalog)).await?;
        Ok(Self {
            identity,
            _nats: nats,
            databases: vec![catalog_db, orders_db],
            catalog,
            uncached_catalog,
            orders,
            gateway,
            uncached_gateway,
        })
    }

    fn stop(&self) {
        for process in [&self.gateway, &self.uncached_gateway, &self.orders, &self.catalog, &self.uncached_catalog] {
            let _ = process.terminate();
        }
    }
}

/// `count` products with stock, written straight into catalog's tables in two statements (the
/// API would take minutes for 10,000); their ids in SKU order, which is also their Zipf rank.
async fn insert_products(db: &sea_orm::DatabaseConnection, count: usize) -> anyhow::Result<Vec<String>> {
    db.execute_unprepared(&format!(
        "INSERT INTO products (id, sku, name, description, price_currency, price_units, price_nanos, image_url, \
         created_at, updated_at) \
         SELECT gen_random_uuid()::text, 'READ-' || lpad(i::text, 6, '0'), 'Bench product ' || i, \
         'Product ' || i || ' of the read bench''s catalog: a realistic description of a few words.', 'USD', \
         5 + i % 50, 990000000, 'https://images.mercato.example/products/read-' || i || '.jpg', now(), now() \
         FROM generate_series(1, {count}) AS i"
    ))
    .await?;
    db.execute_unprepared(
        "INSERT INTO inventory (product_id, on_hand, reserved, updated_at) \
         SELECT id, 1000000, 0, now() FROM products WHERE sku LIKE 'READ-%'",
    )
    .await?;
    db.execute_unprepared("ANALYZE").await?;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM products WHERE sku LIKE 'READ-%' ORDER BY sku".to_string(),
        ))
        .await?;
    rows.iter().map(|r| Ok(r.try_get::<String>("", "id")?)).collect()
}

/// Three lines in every customer's cart, for the GetCart row.
async fn fill_carts(shop: &Shop, tokens: &[String], ids: &[String]) -> anyhow::Result<()> {
    let channel = Channel::from_shared(format!("http://{}", shop.gateway.grpc_addr))?.connect().await?;
    for (c, token) in tokens.iter().enumerate() {
        let mut cart = CartServiceClient::with_interceptor(channel.clone(), Bearer::new(token)?);
        for line in 0..3 {
            let product_id = ids[(c * 7 + line * 101) % ids.len()].clone();
            cart.add_cart_item(pb::AddCartItemRequest { product_id, quantity: 1 }).await?;
        }
    }
    Ok(())
}

/// The wrk script of a row: the ids and tokens as Lua tables, and a `request` that picks.
fn lua(pick: Pick, signed_in: bool, ids: &[String], tokens: &[String]) -> String {
    let list = |items: &[String]| items.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(",");
    format!(
        r#"local ids = {{{ids}}}
local tokens = {{{tokens}}}
local mode, signed_in, n = "{mode}", {signed_in}, #ids
local turn = -1
local cdf = {{}}
if mode == "zipf" then
  local total = 0
  for k = 1, n do total = total + 1 / k ^ 1.1 end
  local acc = 0
  for k = 1, n do acc = acc + (1 / k ^ 1.1) / total; cdf[k] = acc end
end
local function zipf()
  local u, lo, hi = math.random(), 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end
function init(args) math.randomseed(os.time() + math.floor(os.clock() * 1000000)) end
request = function()
  local headers = {{}}
  if signed_in then headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)] end
  local path
  if mode == "uniform" then path = "/v1/products/" .. ids[math.random(n)]
  elseif mode == "zipf" then path = "/v1/products/" .. ids[zipf()]
  elseif mode == "one" then path = "/v1/products/" .. ids[1]
  elseif mode == "search" then path = "/v1/products?pageSize=20&query=product%20" .. math.random(999)
  elseif mode == "addremove" then
    -- Request 2k adds a product to customer k's cart and 2k+1 removes it again (removing a
    -- line that is not there is not an error), so carts neither grow nor hit their limits.
    turn = turn + 1
    local pair = math.floor(turn / 2)
    local customer = pair % #tokens + 1
    headers["Authorization"] = "Bearer " .. tokens[customer]
    local product = ids[(customer * 13 + math.floor(pair / #tokens) % 4 * 211) % n + 1]
    if turn % 2 == 0 then
      headers["Content-Type"] = "application/json"
      return wrk.format("POST", "/v1/cart/items", headers, '{{"productId":"' .. product .. '","quantity":1}}')
    end
    return wrk.format("DELETE", "/v1/cart/items/" .. product, headers)
  else path = "/v1/cart" end
  return wrk.format("GET", path, headers)
end
"#,
        ids = list(ids),
        tokens = list(tokens),
        mode = pick.lua(),
        signed_in = signed_in,
    )
}
