use mercato::{catalog::v1 as pb, google::r#type::Money};
use mercato_kit::testing::Backend;
use tonic::Code;

use crate::helpers::{new_product, spawn_app, violated_fields};

#[tokio::test]
async fn invalid_requests_get_field_violations_and_unknown_ids_not_found() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut catalog = app.catalog();

    let empty_id = catalog.get_product(pb::GetProductRequest { id: String::new() }).await.unwrap_err();
    assert_eq!(violated_fields(&empty_id), ["id"]);

    let negative_page =
        catalog.list_products(pb::ListProductsRequest { page_size: -1, ..Default::default() }).await.unwrap_err();
    assert_eq!(violated_fields(&negative_page), ["page_size"]);

    let bad_token = catalog
        .list_products(pb::ListProductsRequest { page_token: "not-a-token".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad_token), ["page_token"]);

    let negative_price = catalog
        .create_product(pb::CreateProductRequest {
            product: Some(pb::Product {
                price: Some(Money { currency_code: "USD".into(), units: -5, nanos: 0 }),
                ..new_product("TEST-NEG", 1)
            }),
            initial_stock: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&negative_price), ["product.price.units"]);

    // Every problem is reported at once, not just the first.
    let many = catalog
        .create_product(pb::CreateProductRequest {
            product: Some(pb::Product {
                sku: "lower case".into(),
                name: " ".into(),
                image_url: "ftp://x".into(),
                ..Default::default()
            }),
            initial_stock: -1,
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&many),
        ["product.sku", "product.name", "product.price", "product.image_url", "initial_stock"]
    );

    let unknown = catalog
        .get_product(pb::GetProductRequest { id: "00000000-0000-4000-8000-000000000000".into() })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    let bad_mask = catalog
        .update_product(pb::UpdateProductRequest {
            id: "00000000-0000-4000-8000-000000000000".into(),
            product: Some(pb::Product::default()),
            update_mask: Some(prost_types::FieldMask { paths: vec!["stock".into()] }),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad_mask), ["update_mask"]);

    let mut stock = app.stock();
    let bad_lines = stock
        .reserve_stock(pb::ReserveStockRequest {
            reservation_id: String::new(),
            order_id: String::new(),
            lines: vec![pb::StockLine { product_id: "x".into(), quantity: 0 }],
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad_lines), ["reservation_id", "lines[0].product_id", "lines[0].quantity"]);

    let unknown_reservation =
        stock.commit_stock(pb::CommitStockRequest { reservation_id: "never-made".into() }).await.unwrap_err();
    assert_eq!(unknown_reservation.code(), Code::NotFound);
    app.stop().await;
}
