//! SIGKILL orders, payments or catalog in the middle of 50 concurrent checkouts and restart
//! it at once; afterwards nothing is lost, nothing is taken twice, and stock adds up.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use mercato::{
    catalog::v1::{self as catalog, catalog_service_client::CatalogServiceClient},
    orders::v1::{self as pb, cart_service_client::CartServiceClient, order_service_client::OrderServiceClient},
    payments::v1::{self as payments, payment_service_client::PaymentServiceClient},
};
use mercato_e2e::shop::{Part, Shop};
use mercato_kit::{
    auth::service_token::Bearer,
    testing::{Backend, eventually},
};
use mercato_payments::provider::test::read_ledger;
use tonic::{Code, codegen::InterceptedService, transport::Channel};

const CUSTOMERS: usize = 10;
const CHECKOUTS_EACH: usize = 5;
const PRODUCTS: usize = 5;
const STOCK: i64 = 15;
/// The crash comes once this many orders are placed.
const CRASH_AFTER: usize = 15;
const SETTLE: Duration = Duration::from_secs(60);

type Authed = InterceptedService<Channel, Bearer>;

fn client(url: &str) -> Channel {
    Channel::from_shared(url.to_string()).unwrap().connect_lazy()
}

/// A call that may meet the crashed service: tried again until it answers for itself.
/// UNAVAILABLE, a broken connection or a deadline is the crash; anything else is the answer.
async fn through_the_crash<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let until = tokio::time::Instant::now() + mercato_kit::testing::patience(Duration::from_secs(60));
    loop {
        match call().await {
            Err(s)
                if matches!(s.code(), Code::Unavailable | Code::Unknown | Code::DeadlineExceeded | Code::Cancelled)
                    && tokio::time::Instant::now() < until =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// One customer's checkouts, one after another: fill the cart, place with a fresh key
/// (retried with the same key through the crash). The ids of the orders placed.
async fn shop(
    orders: OrderServiceClient<Authed>,
    cart: CartServiceClient<Authed>,
    products: Arc<Vec<String>>,
    customer: usize,
    placed: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..CHECKOUTS_EACH {
        let picks = [(customer + n) % PRODUCTS, (customer + 2 * n + 1) % PRODUCTS];
        for (i, pick) in picks.iter().enumerate() {
            let request = pb::AddCartItemRequest {
                product_id: products[*pick].clone(),
                quantity: i32::try_from(1 + (customer + n + i) % 3).unwrap(),
            };
            let added = through_the_crash(|| {
                let (mut cart, request) = (cart.clone(), request.clone());
                async move { cart.add_cart_item(request).await }
            })
            .await;
            // A retried add that had landed may push a line past 99: the cart says so.
            if let Err(status) = added {
                assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            }
        }
        let token = if (customer * CHECKOUTS_EACH + n) % 7 == 3 { "tok_chargeDeclined" } else { "tok_visa" };
        let request = pb::PlaceOrderRequest {
            idempotency_key: uuid::Uuid::now_v7().to_string(),
            shipping_address: Some(pb::Address {
                recipient_name: format!("Customer {customer}"),
                address_lines: vec!["1 Main Street".into()],
                city: "Springfield".into(),
                country_code: "US".into(),
                ..Default::default()
            }),
            payment_method_token: token.into(),
        };
        let order = through_the_crash(|| {
            let (mut orders, request) = (orders.clone(), request.clone());
            async move { orders.place_order(request).await }
        })
        .await
        .expect("placed (the same order however often asked)")
        .into_inner()
        .order
        .unwrap();
        placed.fetch_add(1, Ordering::Relaxed);
        ids.push(order.id);
    }
    ids
}

async fn checkouts_survive_a_crash_of(backend: Backend, victim: Part) {
    // A provider that takes a moment, so the crash finds charges in flight. Messages a killed
    // process had taken come back after CONSUMER_ACK_WAIT: short here, so the run is short.
    let every = ["--consumer-ack-wait", "3s"];
    let mut shop_ =
        Shop::start(backend, &every, &["--test-provider-latency", "20ms"], &["--saga-step-timeout", "5s"], false)
            .await
            .unwrap();
    let admin = shop_.identity.admin_token().await.unwrap();
    let bearer = |token: &str| Bearer::new(token).unwrap();
    let mut catalog_admin = CatalogServiceClient::with_interceptor(client(&shop_.url(Part::Catalog)), bearer(&admin));
    let mut products = Vec::new();
    for i in 0..PRODUCTS {
        let product = catalog::Product {
            sku: format!("CRASH-{i}-{}", &uuid::Uuid::now_v7().simple().to_string()[..12]).to_uppercase(),
            name: format!("Crash test product {i}"),
            price: Some(mercato::google::r#type::Money { currency_code: "USD".into(), units: 10 + i as i64, nanos: 0 }),
            ..Default::default()
        };
        let created = catalog_admin
            .create_product(catalog::CreateProductRequest { product: Some(product), initial_stock: STOCK })
            .await
            .unwrap();
        products.push(created.into_inner().product.unwrap().id);
    }
    let products = Arc::new(products);

    let placed = Arc::new(AtomicUsize::new(0));
    let orders_url = shop_.url(Part::Orders);
    let mut customers = Vec::new();
    for c in 0..CUSTOMERS {
        let token = shop_.identity.customer_token(&format!("crash{c}@example.com")).await.unwrap();
        let orders = OrderServiceClient::with_interceptor(client(&orders_url), bearer(&token));
        let cart = CartServiceClient::with_interceptor(client(&orders_url), bearer(&token));
        customers.push(tokio::spawn(shop(orders, cart, products.clone(), c, placed.clone())));
    }
    eventually(SETTLE, "the first orders", || async { (placed.load(Ordering::Relaxed) >= CRASH_AFTER).then_some(()) })
        .await;
    shop_.crash_and_restart(victim).await.unwrap();
    let mut ids = Vec::new();
    for customer in customers {
        match customer.await {
            Ok(placed) => ids.extend(placed),
            Err(e) => {
                for line in shop_
                    .process(Part::Orders)
                    .log_lines()
                    .iter()
                    .filter(|l| l.contains("ERROR") || l.contains("error"))
                {
                    eprintln!("orders: {line}");
                }
                panic!("a customer failed: {e}");
            }
        }
    }
    assert_eq!(ids.len(), CUSTOMERS * CHECKOUTS_EACH);

    // Every order settles, and there are no others.
    let mut orders_admin = OrderServiceClient::with_interceptor(client(&orders_url), bearer(&admin));
    let until = tokio::time::Instant::now() + mercato_kit::testing::patience(SETTLE);
    let all = loop {
        let all = list_all(&mut orders_admin).await;
        let settled = [pb::OrderStatus::Confirmed as i32, pb::OrderStatus::Cancelled as i32];
        let open: Vec<&pb::Order> = all.iter().filter(|o| !settled.contains(&o.status)).collect();
        if open.is_empty() {
            break all;
        }
        if tokio::time::Instant::now() > until {
            for order in open.iter().take(3) {
                let got = orders_admin.get_order(pb::GetOrderRequest { id: order.id.clone() }).await.unwrap();
                let steps: Vec<_> = got
                    .into_inner()
                    .steps
                    .iter()
                    .map(|s| format!("{} {} {}: {}", s.step, s.kind, s.name, s.outcome))
                    .collect();
                eprintln!("unsettled {}: {steps:#?}", order.id);
            }
            panic!("{} of {} orders did not settle within {SETTLE:?}", open.len(), all.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(all.len(), ids.len(), "one order per checkout, no more");
    let confirmed: Vec<&pb::Order> = all.iter().filter(|o| o.status == pb::OrderStatus::Confirmed as i32).collect();
    assert!(!confirmed.is_empty() && confirmed.len() < all.len(), "a mix of outcomes: {} confirmed", confirmed.len());

    // Money: one payment per charged order, completed only for confirmed ones; the provider
    // took each charge once and gave back each cancelled one once. A cancelled order's refund
    // is not waited for by the saga (it may still sit in the PAYMENTS stream, or wait out the
    // ack wait of a message the killed payments had taken), so money is audited until it
    // settles; a second charge or payment never would.
    let mut payments_admin = PaymentServiceClient::with_interceptor(client(&shop_.url(Part::Payments)), bearer(&admin));
    let until = tokio::time::Instant::now() + mercato_kit::testing::patience(SETTLE);
    loop {
        let problems = money_problems(&mut payments_admin, &shop_.ledger, &all).await;
        if problems.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "money did not settle within {SETTLE:?}: {problems:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Stock: what is gone is what confirmed orders bought; nothing is left held.
    let mut sold: HashMap<&str, i64> = HashMap::new();
    for order in &confirmed {
        for line in &order.lines {
            *sold.entry(line.product_id.as_str()).or_default() += i64::from(line.quantity);
        }
    }
    let levels = eventually(SETTLE, "every reservation to be released or committed", || {
        let mut catalog_admin = catalog_admin.clone();
        let ids = products.to_vec();
        async move {
            let found = catalog_admin.batch_get_products(catalog::BatchGetProductsRequest { ids }).await.ok()?;
            let products = found.into_inner().products;
            products.iter().all(|p| p.stock.as_ref().is_some_and(|s| s.reserved == 0)).then_some(products)
        }
    })
    .await;
    for product in levels {
        let stock = product.stock.unwrap();
        let gone = sold.get(product.id.as_str()).copied().unwrap_or(0);
        assert_eq!(STOCK, stock.on_hand + gone, "{}: on hand {} + sold {gone}", product.id, stock.on_hand);
    }
}

/// What is wrong with the money of `orders` now, as payments and the provider's ledger show it.
async fn money_problems(
    payments_admin: &mut PaymentServiceClient<Authed>,
    ledger: &std::path::Path,
    orders: &[pb::Order],
) -> Vec<String> {
    // Payments first, the ledger second: the provider writes its ledger before payments commits,
    // so the ledger read after is never behind the payments read before.
    let mut payments = Vec::new();
    for order in orders {
        let listed = payments_admin
            .list_payments(payments::ListPaymentsRequest { order_id: order.id.clone(), ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .payments;
        payments.push(listed);
    }
    let ledger = read_ledger(ledger).unwrap();
    let mut problems = Vec::new();
    for (order, listed) in orders.iter().zip(payments) {
        let charge_refs: Vec<&str> = ledger
            .iter()
            .filter(|e| e.description == format!("order {}", order.id) && !e.reference.is_empty())
            .map(|e| e.reference.as_str())
            .collect();
        let (charges, refunds) =
            (charge_refs.len(), ledger.iter().filter(|e| charge_refs.contains(&e.description.as_str())).count());
        let status = listed.first().map(|p| p.status);
        let id = &order.id;
        if listed.len() > 1 {
            problems.push(format!("order {id} has {} payments", listed.len()));
        }
        if charges > 1 {
            problems.push(format!("order {id} charged {charges} times"));
        }
        if order.status == pb::OrderStatus::Confirmed as i32 {
            if status != Some(payments::PaymentStatus::Completed as i32) || (charges, refunds) != (1, 0) {
                problems
                    .push(format!("confirmed order {id}: payment {status:?}, {charges} charges, {refunds} refunds"));
            }
        } else if status == Some(payments::PaymentStatus::Completed as i32) || refunds != charges {
            problems.push(format!(
                "cancelled order {id} kept money: payment {status:?}, {charges} charges, {refunds} refunds"
            ));
        }
    }
    problems
}

/// Every order, as an admin lists them.
async fn list_all(orders_admin: &mut OrderServiceClient<Authed>) -> Vec<pb::Order> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListOrdersRequest { page_size: 100, page_token, ..Default::default() };
        let page = orders_admin.list_orders(request).await.expect("orders listed").into_inner();
        all.extend(page.orders);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

macro_rules! crash_tests {
    ($($name:ident: $part:expr),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                checkouts_survive_a_crash_of(Backend::Sqlite, $part).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                checkouts_survive_a_crash_of(Backend::Postgres, $part).await
            }
        }
    )*};
}

crash_tests!(
    orders_killed_mid_checkout: Part::Orders,
    payments_killed_mid_checkout: Part::Payments,
    catalog_killed_mid_checkout: Part::Catalog,
);
