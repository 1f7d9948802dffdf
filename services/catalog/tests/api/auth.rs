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

#[tokio::test]
async fn services_present_cached_service_tokens_or_forward_the_users_token() {
    use mercato::identity::v1::{GetMeRequest, identity_service_client::IdentityServiceClient};
    use mercato_identity::testing::SERVICE_SECRET;
    use mercato_kit::auth::{
        AuthSettings, Verifier,
        jwks_client::IdentityJwks,
        service_token::{ServiceTokens, forward_user},
    };

    let app = spawn_app(Backend::Sqlite).await;
    let product = crate::helpers::create_product(&app, "TEST-SVC-TOKENS", 3).await;

    // A service acting for itself: a service token, fetched once and reused while it is fresh.
    let tokens =
        ServiceTokens::new(app.identity.channel.clone(), "orders", mercato_kit::Secret::new(SERVICE_SECRET.into()));
    let first = tokens.token().await.unwrap();
    assert_eq!(tokens.token().await.unwrap(), first, "cached, not reissued per call");
    let mut request = tonic::Request::new(pb::ReserveStockRequest {
        reservation_id: "svc-1".into(),
        order_id: "o-svc".into(),
        lines: vec![pb::StockLine { product_id: product, quantity: 1 }],
    });
    tokens.authorize(&mut request).await.unwrap();
    let mut stock = mercato::catalog::v1::stock_service_client::StockServiceClient::new(app.channel.clone());
    stock.reserve_stock(request).await.unwrap();

    // A service acting for a user: the user's own token travels on, and the next service sees the user.
    let customer = app.identity.customer_token("forwarded@example.com").await.unwrap();
    let verifier = Verifier::new(
        AuthSettings::default(),
        IdentityJwks::new(app.identity.channel.clone()),
        std::time::Duration::from_secs(1),
    );
    let caller = verifier.verify(&customer).await.unwrap();
    let mut request = tonic::Request::new(GetMeRequest {});
    forward_user(&caller, &mut request).unwrap();
    let me = IdentityServiceClient::new(app.identity.channel.clone()).get_me(request).await.unwrap().into_inner();
    assert_eq!(me.user.unwrap().email, "forwarded@example.com");

    let wrong = ServiceTokens::new(
        app.identity.channel.clone(),
        "orders",
        mercato_kit::Secret::new("not-the-secret-000".into()),
    );
    assert_eq!(wrong.token().await.unwrap_err().code(), Code::Unauthenticated);
    app.stop().await;
}
