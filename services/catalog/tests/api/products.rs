use std::collections::HashSet;

use mercato::catalog::v1 as pb;
use mercato_kit::testing::Backend;
use tonic::Code;

use crate::helpers::{create_product, new_product, on_both_databases, spawn_app};

/// The first product of the bundled seed, used by the README's grpcurl example.
const SEEDED_ID: &str = "364dc957-51ca-4f13-889e-665df2d6633f";

on_both_databases!(
    paging_walks_every_product_once_in_name_order,
    search_and_category_filters_narrow_the_list,
    products_are_created_read_and_updated,
    batch_get_returns_found_products_in_order_and_names_the_missing,
    categories_list_with_product_counts,
);

/// ListProducts' substring search is served by the trigram indexes on PostgreSQL (otherwise
/// every search page scans every product). Full scans are priced out for the EXPLAIN, so the
/// plan shows whether an index can serve a query of the search's shape at all.
#[tokio::test]
async fn search_is_served_by_trigram_indexes_on_postgres() {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let app = spawn_app(Backend::Postgres).await;
    let db = app.test_catalog().db.clone().expect("catalog runs on a database");
    let txn = db.begin().await.unwrap();
    // A plain index scan of the name index, filtering, would be an ordered scan of everything.
    txn.execute_unprepared("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off").await.unwrap();
    let explain = "EXPLAIN SELECT id FROM products \
                   WHERE lower(name) LIKE '%steel mug%' ESCAPE '\\' OR lower(description) LIKE '%steel mug%' ESCAPE '\\' \
                   ORDER BY name, id LIMIT 21";
    let plan = txn
        .query_all_raw(Statement::from_string(txn.get_database_backend(), explain.to_string()))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    txn.rollback().await.unwrap();
    for index in ["idx_products_name_trgm", "idx_products_description_trgm"] {
        assert!(plan.contains(index), "{index} not in the plan:\n{plan}");
    }
    app.stop().await;
}

async fn paging_walks_every_product_once_in_name_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut client = app.catalog();
    let (mut seen, mut names, mut token) = (HashSet::new(), Vec::new(), String::new());
    loop {
        let page = client
            .list_products(pb::ListProductsRequest { page_size: 7, page_token: token.clone(), ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        assert!(page.products.len() <= 7);
        for p in page.products {
            assert!(seen.insert(p.id.clone()), "{} returned twice", p.id);
            names.push(p.name);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 64, "the seed catalog has 64 products");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    app.stop().await;
}

async fn search_and_category_filters_narrow_the_list(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut client = app.catalog();
    let list = |query: &str, category: &str| pb::ListProductsRequest {
        query: query.into(),
        category: category.into(),
        page_size: 100,
        ..Default::default()
    };

    let found = client.list_products(list("STAINLESS steel", "")).await.unwrap().into_inner().products;
    assert!(!found.is_empty());
    for p in &found {
        let text = format!("{} {}", p.name, p.description).to_lowercase();
        assert!(text.contains("stainless steel"), "{text}");
    }

    let coffee = client.list_products(list("", "coffee")).await.unwrap().into_inner().products;
    assert!(!coffee.is_empty());
    assert!(coffee.iter().all(|p| p.category_ids.contains(&"coffee".to_string())));

    let both = client.list_products(list("stainless", "coffee")).await.unwrap().into_inner().products;
    assert!(both.len() <= coffee.len() && both.len() <= found.len());
    assert!(both.iter().all(|p| p.category_ids.contains(&"coffee".to_string())));

    let none = client.list_products(list("zzz-no-such-thing", "")).await.unwrap().into_inner();
    assert!(none.products.is_empty() && none.next_page_token.is_empty());

    // LIKE wildcards in a query are matched literally.
    let percent = client.list_products(list("%", "")).await.unwrap().into_inner().products;
    assert!(percent.iter().all(|p| format!("{}{}", p.name, p.description).contains('%')));
    app.stop().await;
}

async fn products_are_created_read_and_updated(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut client = app.catalog();
    let id = create_product(&app, "TEST-CRUD-1", 5).await;

    let product =
        client.get_product(pb::GetProductRequest { id: id.clone() }).await.unwrap().into_inner().product.unwrap();
    assert_eq!(product.sku, "TEST-CRUD-1");
    assert_eq!(product.stock, Some(pb::StockLevel { on_hand: 5, reserved: 0, available: 5 }));
    assert_eq!(product.price.as_ref().unwrap().nanos, 500_000_000);

    // Only the masked field changes, even though others are set in the message.
    let updated = client
        .update_product(pb::UpdateProductRequest {
            id: id.clone(),
            product: Some(pb::Product { name: "Renamed".into(), sku: "IGNORED-SKU".into(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["name".into()] }),
        })
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    assert_eq!((updated.name.as_str(), updated.sku.as_str()), ("Renamed", "TEST-CRUD-1"));

    // Without a mask, every non-default field is applied.
    let updated = client
        .update_product(pb::UpdateProductRequest {
            id: id.clone(),
            product: Some(pb::Product { category_ids: vec!["tea".into(), "kitchen".into()], ..Default::default() }),
            update_mask: None,
        })
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    assert_eq!(updated.category_ids, ["kitchen", "tea"]);
    assert_eq!(updated.name, "Renamed");
    // Reads right after a write see it (the read cache is invalidated, not waited out).
    let read =
        client.get_product(pb::GetProductRequest { id: id.clone() }).await.unwrap().into_inner().product.unwrap();
    assert_eq!((read.name.as_str(), read.category_ids.len()), ("Renamed", 2));

    let stock = client
        .adjust_stock(pb::AdjustStockRequest { product_id: id.clone(), delta: 3 })
        .await
        .unwrap()
        .into_inner()
        .stock
        .unwrap();
    assert_eq!(stock.on_hand, 8);

    let duplicate = client
        .create_product(pb::CreateProductRequest { product: Some(new_product("TEST-CRUD-1", 1)), initial_stock: 0 })
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    let unknown_category = client
        .create_product(pb::CreateProductRequest {
            product: Some(pb::Product {
                category_ids: vec!["no-such-category".into()],
                ..new_product("TEST-CRUD-2", 1)
            }),
            initial_stock: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown_category.code(), Code::InvalidArgument);

    let too_much = client.adjust_stock(pb::AdjustStockRequest { product_id: id, delta: -9 }).await.unwrap_err();
    assert_eq!(too_much.code(), Code::FailedPrecondition);
    app.stop().await;
}

async fn batch_get_returns_found_products_in_order_and_names_the_missing(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = create_product(&app, "TEST-BATCH-1", 1).await;
    let missing = "00000000-0000-4000-8000-000000000000".to_string();
    let response = app
        .catalog()
        .batch_get_products(pb::BatchGetProductsRequest {
            ids: vec![created.clone(), missing.clone(), SEEDED_ID.into(), created.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = response.products.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [created.as_str(), SEEDED_ID]);
    assert_eq!(response.missing_ids, [missing]);
    app.stop().await;
}

async fn categories_list_with_product_counts(backend: Backend) {
    let app = spawn_app(backend).await;
    let categories = app.catalog().list_categories(pb::ListCategoriesRequest {}).await.unwrap().into_inner().categories;
    assert_eq!(categories.len(), 8);
    let names: Vec<_> = categories.iter().map(|c| c.name.clone()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(categories.iter().all(|c| c.product_count > 0));
    app.stop().await;
}
