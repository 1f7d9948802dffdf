//! What catalog publishes, and how every replica follows it.

use std::time::Duration;

use async_nats::jetstream::stream::Stream;
use mercato::catalog::v1::{self as pb, StockChangeReason, StockLevelChanged};
use mercato_identity::testing::TestIdentity;
use mercato_kit::{
    auth::service_token::Bearer,
    events::headers,
    testing::{Backend, ServiceProcess, TestDatabase, TestNats, eventually, next, next_within},
};

use crate::{
    helpers::{CatalogClient, create_product, on_both_databases, spawn_app},
    lifecycle::{SEEDED_ID, catalog_process},
};

async fn catalog_stream(app: &crate::helpers::TestApp) -> Stream {
    let nats = &app.test_catalog().nats;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    eventually(Duration::from_secs(10), "the CATALOG stream", || async { jetstream.get_stream("CATALOG").await.ok() })
        .await
}

/// Every message on the stream so far, with its type header.
async fn messages(stream: &Stream) -> Vec<async_nats::jetstream::message::StreamMessage> {
    let count = stream.get_info().await.unwrap().state.messages;
    let mut out = Vec::new();
    for sequence in 1..=count {
        out.push(stream.get_raw_message(sequence).await.unwrap());
    }
    out
}

async fn a_reservation_publishes_each_products_new_level_once_with_the_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = create_product(&app, "EVT-A", 10).await;
    let b = create_product(&app, "EVT-B", 4).await;
    let stream = catalog_stream(&app).await;
    let before = eventually(Duration::from_secs(10), "the creations' events", || async {
        let all = messages(&stream).await;
        (all.len() >= 4).then_some(all.len())
    })
    .await;

    let mut request = tonic::Request::new(pb::ReserveStockRequest {
        reservation_id: "evt-res-1".into(),
        order_id: "order-1".into(),
        lines: vec![
            pb::StockLine { product_id: a.clone(), quantity: 3 },
            pb::StockLine { product_id: b.clone(), quantity: 1 },
        ],
    });
    request.metadata_mut().insert("x-request-id", "reserve-evt-1".parse().unwrap());
    app.stock().reserve_stock(request).await.unwrap();
    // A replay changes nothing and publishes nothing.
    app.stock()
        .reserve_stock(pb::ReserveStockRequest {
            reservation_id: "evt-res-1".into(),
            order_id: "order-1".into(),
            lines: vec![
                pb::StockLine { product_id: a.clone(), quantity: 3 },
                pb::StockLine { product_id: b.clone(), quantity: 1 },
            ],
        })
        .await
        .unwrap();

    let new = eventually(Duration::from_secs(10), "the reservation's events", || async {
        let all = messages(&stream).await;
        (all.len() >= before + 2).then_some(all)
    })
    .await;
    let reserved: Vec<_> = new[before..].iter().collect();
    assert_eq!(reserved.len(), 2, "one event per product, none for the replay");
    for message in &reserved {
        let get = |name: &str| message.headers.get(name).map(|v| v.as_str().to_string());
        assert_eq!(message.subject.as_str(), "catalog.v1.stock_level_changed");
        assert_eq!(get(headers::EVENT_TYPE).as_deref(), Some("mercato.catalog.v1.StockLevelChanged"));
        assert_eq!(get(headers::PRODUCER).as_deref(), Some("catalog"));
        assert_eq!(get(headers::REQUEST_ID).as_deref(), Some("reserve-evt-1"));
        let event: StockLevelChanged = prost::Message::decode(message.payload.clone()).unwrap();
        assert_eq!(event.reason, StockChangeReason::Reserved as i32);
        assert_eq!(event.reservation_id, "evt-res-1");
        let stock = event.stock.unwrap();
        if event.product_id == a {
            assert_eq!((stock.on_hand, stock.reserved, stock.available), (10, 3, 7));
        } else {
            assert_eq!(event.product_id, b);
            assert_eq!((stock.on_hand, stock.reserved, stock.available), (4, 1, 3));
        }
    }
    app.stop().await;
}

async fn a_change_on_one_catalog_process_reaches_the_others_cache_and_watchers_within_a_second(backend: Backend) {
    let identity = TestIdentity::spawn(Backend::Sqlite, &[]).await.unwrap();
    let admin = identity.admin_token().await.unwrap();
    let nats = TestNats::start().await.unwrap();
    let db = TestDatabase::create(backend).await.unwrap();
    // A cache that would otherwise hold for a minute: only the event can refresh it in time.
    let flags = ["--cache-ttl", "60s"];
    let mut a = catalog_process(&db, &identity.url(), &nats.url(), &flags).await;
    let mut b = catalog_process(&db, &identity.url(), &nats.url(), &flags).await;
    // B follows new events only once its feed has started; a change before that is not news
    // to it (its cache is filled after).
    eventually(Duration::from_secs(10), "replica B following the stock feed", || async {
        b.log_lines()
            .iter()
            .any(|l| l.contains("following the feed") && l.contains("stock_level_changed"))
            .then_some(())
    })
    .await;
    let client = |process: &ServiceProcess| {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", process.grpc_addr)).unwrap();
        pb::catalog_service_client::CatalogServiceClient::with_interceptor(
            channel.connect_lazy(),
            Bearer::new(&admin).unwrap(),
        )
    };
    let (mut on_a, mut on_b) = (client(&a), client(&b));
    let get = |client: &CatalogClient| {
        let mut client = client.clone();
        async move {
            let product = client.get_product(pb::GetProductRequest { id: SEEDED_ID.into() }).await.ok()?;
            Some(product.into_inner().product?.stock?.on_hand)
        }
    };
    let before = get(&on_b).await.unwrap();
    let mut watch =
        on_b.watch_stock(pb::WatchStockRequest { product_id: SEEDED_ID.into() }).await.unwrap().into_inner();
    assert_eq!(next(&mut watch).await.unwrap().unwrap().stock.unwrap().on_hand, before);

    on_a.adjust_stock(pb::AdjustStockRequest { product_id: SEEDED_ID.into(), delta: 5 }).await.unwrap();

    let seen = next_within(&mut watch, Duration::from_secs(1)).await.unwrap().unwrap();
    assert_eq!(seen.stock.unwrap().on_hand, before + 5, "B's watcher saw A's change");
    eventually(Duration::from_secs(1), "B's cache to drop the product", || async {
        (get(&on_b).await? == before + 5).then_some(())
    })
    .await;
    drop(watch);
    for process in [&mut b, &mut a] {
        process.terminate().unwrap();
        assert!(process.wait(Duration::from_secs(15)).await.unwrap().success());
    }
}

on_both_databases!(
    a_reservation_publishes_each_products_new_level_once_with_the_request_id,
    a_change_on_one_catalog_process_reaches_the_others_cache_and_watchers_within_a_second,
);
