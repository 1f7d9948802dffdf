//! Who may call what on catalog, with real tokens from a real identity.

use mercato::catalog::v1::{self as pb, catalog_service_client::CatalogServiceClient};
use mercato_kit::testing::Backend;
use tonic::Code;

use crate::helpers::{new_product, spawn_app};

#[tokio::test]
async fn browsing_is_public_writes_are_admin_only_and_stock_is_for_services() {
    let app = spawn_app(Backend::Sqlite).await;
    let customer = app.identity.customer_token("shopper@mercato.test").await.unwrap();

    // Anyone may browse, with or without a token.
    let mut anonymous = CatalogServiceClient::new(app.channel.clone());
    anonymous.list_categories(pb::ListCategoriesRequest {}).await.unwrap();
    app.catalog_as(&customer).list_categories(pb::ListCategoriesRequest {}).await.unwrap();

    let create = || pb::CreateProductRequest { product: Some(new_product("TEST-AUTH-1", 5)), initial_stock: 1 };
    assert_eq!(anonymous.create_product(create()).await.unwrap_err().code(), Code::Unauthenticated);
    assert_eq!(app.catalog_as(&customer).create_product(create()).await.unwrap_err().code(), Code::PermissionDenied);
    let created = app.catalog().create_product(create()).await.unwrap().into_inner().product.unwrap();

    // Stock reservations: services only — an end user's token, even an admin's, is refused.
    let reserve = || pb::ReserveStockRequest {
        reservation_id: "auth-r1".into(),
        order_id: "o1".into(),
        lines: vec![pb::StockLine { product_id: created.id.clone(), quantity: 1 }],
    };
    let mut no_token = mercato::catalog::v1::stock_service_client::StockServiceClient::new(app.channel.clone());
    assert_eq!(no_token.reserve_stock(reserve()).await.unwrap_err().code(), Code::Unauthenticated);
    assert_eq!(app.stock_as(&customer).reserve_stock(reserve()).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(
        app.stock_as(&app.admin_token).reserve_stock(reserve()).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    app.stock().reserve_stock(reserve()).await.unwrap();

    // A token that does not verify is refused even on a public RPC.
    let garbage = app.catalog_as("not.a.token").list_categories(pb::ListCategoriesRequest {}).await.unwrap_err();
    assert_eq!(garbage.code(), Code::Unauthenticated);
    app.stop().await;
}
