use futures::future::join_all;
use mercato::catalog::v1::{self as pb, ReservationStatus};
use mercato_kit::testing::Backend;
use mercato_kit::testing::next;
use tonic::Code;

use crate::helpers::{TestApp, create_product, on_both_databases, spawn_app};

on_both_databases!(
    fifty_concurrent_reservations_of_ten_units_reserve_exactly_ten,
    a_repeated_reservation_id_reserves_once,
    reservations_are_all_or_nothing,
    release_and_commit_follow_the_reservation_lifecycle,
);

fn reserve(id: &str, product_id: &str, quantity: i32) -> pb::ReserveStockRequest {
    pb::ReserveStockRequest {
        reservation_id: id.into(),
        order_id: format!("order-{id}"),
        lines: vec![pb::StockLine { product_id: product_id.into(), quantity }],
    }
}

async fn stock_of(app: &TestApp, id: &str) -> pb::StockLevel {
    app.catalog()
        .get_product(pb::GetProductRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap()
        .stock
        .unwrap()
}

async fn fifty_concurrent_reservations_of_ten_units_reserve_exactly_ten(backend: Backend) {
    let app = spawn_app(backend).await;
    let product = create_product(&app, "TEST-RACE", 10).await;
    let calls = (0..50).map(|i| {
        let mut stock = app.stock();
        let request = reserve(&format!("race-{i}"), &product, 1);
        async move { stock.reserve_stock(request).await.map(|r| r.into_inner().reservation.unwrap().status) }
    });
    let statuses: Vec<i32> = join_all(calls).await.into_iter().map(|r| r.expect("every call answers")).collect();
    let reserved = statuses.iter().filter(|s| **s == ReservationStatus::Reserved as i32).count();
    let rejected = statuses.iter().filter(|s| **s == ReservationStatus::Rejected as i32).count();
    assert_eq!((reserved, rejected), (10, 40));
    assert_eq!(stock_of(&app, &product).await, pb::StockLevel { on_hand: 10, reserved: 10, available: 0 });
    app.stop().await;
}

async fn a_repeated_reservation_id_reserves_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let product = create_product(&app, "TEST-IDEMPOTENT", 10).await;
    // The same reservation sent ten times at once, then once more.
    let calls = (0..10).map(|_| {
        let mut stock = app.stock();
        let request = reserve("same-id", &product, 3);
        async move { stock.reserve_stock(request).await }
    });
    for result in join_all(calls).await {
        let reservation = result.unwrap().into_inner().reservation.unwrap();
        assert_eq!(reservation.status, ReservationStatus::Reserved as i32);
    }
    app.stock().reserve_stock(reserve("same-id", &product, 3)).await.unwrap();
    assert_eq!(stock_of(&app, &product).await.reserved, 3);

    // Reusing the id for different lines is refused, not silently merged.
    let conflict = app.stock().reserve_stock(reserve("same-id", &product, 4)).await.unwrap_err();
    assert_eq!(conflict.code(), Code::FailedPrecondition);
    app.stop().await;
}

async fn reservations_are_all_or_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let plenty = create_product(&app, "TEST-PLENTY", 100).await;
    let scarce = create_product(&app, "TEST-SCARCE", 1).await;
    let reservation = app
        .stock()
        .reserve_stock(pb::ReserveStockRequest {
            reservation_id: "mixed".into(),
            order_id: "order-mixed".into(),
            lines: vec![
                pb::StockLine { product_id: plenty.clone(), quantity: 5 },
                pb::StockLine { product_id: scarce.clone(), quantity: 2 },
            ],
        })
        .await
        .unwrap()
        .into_inner()
        .reservation
        .unwrap();
    assert_eq!(reservation.status, ReservationStatus::Rejected as i32);
    assert_eq!(reservation.shortages, [pb::StockShortage { product_id: scarce.clone(), requested: 2, available: 1 }]);
    assert_eq!(stock_of(&app, &plenty).await.reserved, 0, "the line that fitted was not kept");
    assert_eq!(stock_of(&app, &scarce).await.reserved, 0);
    app.stop().await;
}

async fn release_and_commit_follow_the_reservation_lifecycle(backend: Backend) {
    let app = spawn_app(backend).await;
    let product = create_product(&app, "TEST-LIFECYCLE", 10).await;
    let mut stock = app.stock();

    stock.reserve_stock(reserve("to-release", &product, 4)).await.unwrap();
    stock.reserve_stock(reserve("to-commit", &product, 2)).await.unwrap();
    assert_eq!(stock_of(&app, &product).await, pb::StockLevel { on_hand: 10, reserved: 6, available: 4 });

    for _ in 0..2 {
        let released = stock
            .release_stock(pb::ReleaseStockRequest { reservation_id: "to-release".into() })
            .await
            .unwrap()
            .into_inner()
            .reservation
            .unwrap();
        assert_eq!(released.status, ReservationStatus::Released as i32);
    }
    assert_eq!(stock_of(&app, &product).await, pb::StockLevel { on_hand: 10, reserved: 2, available: 8 });

    for _ in 0..2 {
        let committed = stock
            .commit_stock(pb::CommitStockRequest { reservation_id: "to-commit".into() })
            .await
            .unwrap()
            .into_inner()
            .reservation
            .unwrap();
        assert_eq!(committed.status, ReservationStatus::Committed as i32);
    }
    assert_eq!(stock_of(&app, &product).await, pb::StockLevel { on_hand: 8, reserved: 0, available: 8 });

    let late_release =
        stock.release_stock(pb::ReleaseStockRequest { reservation_id: "to-commit".into() }).await.unwrap_err();
    assert_eq!(late_release.code(), Code::FailedPrecondition);
    let commit_released =
        stock.commit_stock(pb::CommitStockRequest { reservation_id: "to-release".into() }).await.unwrap_err();
    assert_eq!(commit_released.code(), Code::FailedPrecondition);

    // A release that overtakes its reservation leaves a tombstone: the late reservation takes nothing.
    stock.release_stock(pb::ReleaseStockRequest { reservation_id: "overtaken".into() }).await.unwrap();
    let late = stock.reserve_stock(reserve("overtaken", &product, 1)).await.unwrap().into_inner().reservation.unwrap();
    assert_eq!(late.status, ReservationStatus::Released as i32);
    assert_eq!(stock_of(&app, &product).await.reserved, 0);
    app.stop().await;
}

#[tokio::test]
async fn watch_stock_streams_the_current_level_then_every_change() {
    let app = spawn_app(Backend::Sqlite).await;
    let product = create_product(&app, "TEST-WATCH", 5).await;
    let mut anonymous = mercato::catalog::v1::catalog_service_client::CatalogServiceClient::new(app.channel.clone());
    let mut stream =
        anonymous.watch_stock(pb::WatchStockRequest { product_id: product.clone() }).await.unwrap().into_inner();
    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(first.stock, Some(pb::StockLevel { on_hand: 5, reserved: 0, available: 5 }));

    app.stock().reserve_stock(reserve("watched", &product, 2)).await.unwrap();
    let second = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(second.stock, Some(pb::StockLevel { on_hand: 5, reserved: 2, available: 3 }));
    app.stock().commit_stock(pb::CommitStockRequest { reservation_id: "watched".into() }).await.unwrap();
    let third = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(third.stock, Some(pb::StockLevel { on_hand: 3, reserved: 0, available: 3 }));

    let unknown = anonymous
        .watch_stock(pb::WatchStockRequest { product_id: "00000000-0000-4000-8000-000000000000".into() })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    // Shutdown ends open streams instead of waiting for them: stop() would time out otherwise.
    app.stop().await;
    assert!(next(&mut stream).await.is_none_or(|r| r.is_err()));
}
