//! Products, categories and stock levels as the catalog API reads and writes them.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    ExprTrait, FromQueryResult, Order, QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, RuntimeErr,
    Select, Statement,
    sea_query::{Expr, Func, LikeExpr, Query, Values},
};
use sea_query_sqlx::SqlxValues;

use mercato_kit::db;

use super::entity::{category, inventory, product, product_category};
use crate::{
    domain::product::{CategoryId, ProductDraft, ProductId, ProductPatch},
    error::{Error, Result},
};

/// A product with its categories and stock.
#[derive(Debug, Clone)]
pub struct ProductRecord {
    pub product: product::Model,
    pub category_ids: Vec<String>,
    pub on_hand: i64,
    pub reserved: i64,
}

/// What ListProducts asks for.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Lower-cased free text.
    pub query: Option<String>,
    pub category: Option<String>,
    /// Keyset cursor: (name, id) of the last product of the previous page.
    pub after: Option<(String, String)>,
    pub limit: u64,
}

/// One page plus whether more follow.
pub async fn list(db: &DatabaseConnection, filter: &ListFilter) -> Result<(Vec<ProductRecord>, bool)> {
    let mut select = product::Entity::find();
    if let Some(query) = &filter.query {
        let pattern = format!("%{}%", escape_like(query));
        let lower = |col: product::Column| Expr::expr(Func::lower(Expr::col((product::Entity, col))));
        select = select.filter(
            Condition::any()
                .add(lower(product::Column::Name).like(LikeExpr::new(pattern.clone()).escape('\\')))
                .add(lower(product::Column::Description).like(LikeExpr::new(pattern).escape('\\'))),
        );
    }
    if let Some(category) = &filter.category {
        select = select.filter(
            product::Column::Id.in_subquery(
                Query::select()
                    .column(product_category::Column::ProductId)
                    .from(product_category::Entity)
                    .and_where(product_category::Column::CategoryId.eq(category.as_str()))
                    .to_owned(),
            ),
        );
    }
    if let Some((name, id)) = &filter.after {
        select = select.filter(Condition::any().add(product::Column::Name.gt(name.as_str())).add(
            Condition::all().add(product::Column::Name.eq(name.as_str())).add(product::Column::Id.gt(id.as_str())),
        ));
    }
    let select = select
        .order_by(product::Column::Name, Order::Asc)
        .order_by(product::Column::Id, Order::Asc)
        .limit(filter.limit + 1);
    let mut products = if filter.query.is_some() && db.get_database_backend() == DbBackend::Postgres {
        decode(&search_on_postgres(db, statement(db.get_database_backend(), select)).await?)?
    } else {
        read(db, select).await?
    };
    let more = mercato_kit::page::trim(&mut products, filter.limit);
    Ok((products, more))
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Option<ProductRecord>> {
    Ok(read(db, product::Entity::find_by_id(id)).await?.pop())
}

/// Products for `ids`, in the order of `ids`; missing ones are simply absent.
pub async fn batch_get(db: &impl ConnectionTrait, ids: &[ProductId]) -> Result<Vec<ProductRecord>> {
    let select = product::Entity::find().filter(product::Column::Id.is_in(ids.iter().map(ProductId::as_str)));
    let mut by_id: HashMap<String, ProductRecord> =
        read(db, select).await?.into_iter().map(|r| (r.product.id.clone(), r)).collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id.as_str())).collect())
}

/// Creates a product with its categories and initial stock, inside the caller's transaction.
pub async fn create(txn: &DatabaseTransaction, draft: ProductDraft, initial_stock: i64) -> Result<ProductRecord> {
    ensure_categories_exist(txn, &draft.category_ids).await?;
    let now = Utc::now();
    let id = String::from(ProductId::generate());
    let row = product::ActiveModel {
        id: Set(id.clone()),
        sku: Set(draft.sku.to_string()),
        name: Set(draft.name),
        description: Set(draft.description),
        price_currency: Set(draft.price.currency().to_string()),
        price_units: Set(draft.price.units()),
        price_nanos: Set(draft.price.nanos()),
        image_url: Set(draft.image_url),
        created_at: Set(now),
        updated_at: Set(now),
    };
    product::Entity::insert(row)
        .exec_without_returning(txn)
        .await
        .map_err(|e| if db::is_unique_violation(&e) { Error::SkuTaken(draft.sku.to_string()) } else { e.into() })?;
    set_categories(txn, &id, &draft.category_ids).await?;
    inventory::Entity::insert(inventory::ActiveModel {
        product_id: Set(id.clone()),
        on_hand: Set(initial_stock),
        reserved: Set(0),
        updated_at: Set(now),
    })
    .exec_without_returning(txn)
    .await?;
    let record = get(txn, &id).await?.ok_or_else(|| Error::ProductNotFound(id.clone()))?;
    tracing::info!(product_id = %id, sku = %draft.sku, "product created");
    Ok(record)
}

/// Applies `patch`, inside the caller's transaction.
pub async fn update(txn: &DatabaseTransaction, id: &str, patch: ProductPatch) -> Result<ProductRecord> {
    let Some(existing) = product::Entity::find_by_id(id).one(txn).await? else {
        return Err(Error::ProductNotFound(id.to_string()));
    };
    let mut row: product::ActiveModel = existing.into();
    if let Some(sku) = &patch.sku {
        row.sku = Set(sku.to_string());
    }
    if let Some(name) = patch.name {
        row.name = Set(name);
    }
    if let Some(description) = patch.description {
        row.description = Set(description);
    }
    if let Some(price) = patch.price {
        row.price_currency = Set(price.currency().to_string());
        row.price_units = Set(price.units());
        row.price_nanos = Set(price.nanos());
    }
    if let Some(url) = patch.image_url {
        row.image_url = Set(url);
    }
    row.updated_at = Set(Utc::now());
    product::Entity::update(row).exec(txn).await.map_err(|e| match (&patch.sku, db::is_unique_violation(&e)) {
        (Some(sku), true) => Error::SkuTaken(sku.to_string()),
        _ => e.into(),
    })?;
    if let Some(category_ids) = &patch.category_ids {
        ensure_categories_exist(txn, category_ids).await?;
        product_category::Entity::delete_many().filter(product_category::Column::ProductId.eq(id)).exec(txn).await?;
        set_categories(txn, id, category_ids).await?;
    }
    let record = get(txn, id).await?.ok_or_else(|| Error::ProductNotFound(id.to_string()))?;
    tracing::info!(product_id = %id, "product updated");
    Ok(record)
}

/// Adds `delta` to on-hand stock in one statement (on hand never drops below reserved), then
/// reads the level back: both inside the caller's transaction.
pub async fn adjust_stock(db: &DatabaseTransaction, id: &str, delta: i64) -> Result<(i64, i64)> {
    let updated = inventory::Entity::update_many()
        .col_expr(inventory::Column::OnHand, Expr::col(inventory::Column::OnHand).add(delta))
        .col_expr(inventory::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(inventory::Column::ProductId.eq(id))
        .filter(Expr::col(inventory::Column::OnHand).add(delta).gte(Expr::col(inventory::Column::Reserved)))
        .exec(db)
        .await?;
    let level =
        inventory::Entity::find_by_id(id).one(db).await?.ok_or_else(|| Error::ProductNotFound(id.to_string()))?;
    if updated.rows_affected == 0 {
        return Err(Error::StockBelowReserved { removing: -delta, on_hand: level.on_hand, reserved: level.reserved });
    }
    tracing::info!(product_id = %id, delta, on_hand = level.on_hand, "stock adjusted");
    Ok((level.on_hand, level.reserved))
}

/// (product id, on hand, reserved) of each of `ids` that exists.
pub async fn stock_levels(db: &impl ConnectionTrait, ids: &[&str]) -> Result<Vec<(String, i64, i64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(inventory::Entity::find()
        .filter(inventory::Column::ProductId.is_in(ids.iter().copied()))
        .order_by(inventory::Column::ProductId, Order::Asc)
        .all(db)
        .await?
        .into_iter()
        .map(|l| (l.product_id, l.on_hand, l.reserved))
        .collect())
}

/// (on hand, reserved) of one product.
pub async fn stock_level(db: &impl ConnectionTrait, id: &str) -> Result<Option<(i64, i64)>> {
    Ok(inventory::Entity::find_by_id(id).one(db).await?.map(|l| (l.on_hand, l.reserved)))
}

#[derive(Debug, FromQueryResult)]
struct CategoryCount {
    category_id: String,
    products: i64,
}

/// Every category with its product count, ordered by name.
pub async fn list_categories(db: &impl ConnectionTrait) -> Result<Vec<(category::Model, i64)>> {
    let categories = category::Entity::find()
        .order_by(category::Column::Name, Order::Asc)
        .order_by(category::Column::Id, Order::Asc)
        .all(db)
        .await?;
    let counts: HashMap<String, i64> = product_category::Entity::find()
        .select_only()
        .column(product_category::Column::CategoryId)
        .column_as(product_category::Column::ProductId.count(), "products")
        .group_by(product_category::Column::CategoryId)
        .into_model::<CategoryCount>()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.category_id, c.products))
        .collect();
    Ok(categories
        .into_iter()
        .map(|c| {
            let n = counts.get(&c.id).copied().unwrap_or(0);
            (c, n)
        })
        .collect())
}

async fn ensure_categories_exist(db: &impl ConnectionTrait, ids: &[CategoryId]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let found: Vec<String> = category::Entity::find()
        .select_only()
        .column(category::Column::Id)
        .filter(category::Column::Id.is_in(ids.iter().map(CategoryId::as_str)))
        .into_tuple()
        .all(db)
        .await?;
    let missing: Vec<String> =
        ids.iter().filter(|id| !found.iter().any(|f| f == id.as_str())).map(|id| id.as_str().to_string()).collect();
    if missing.is_empty() { Ok(()) } else { Err(Error::UnknownCategories(missing)) }
}

async fn set_categories(db: &impl ConnectionTrait, product_id: &str, ids: &[CategoryId]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    product_category::Entity::insert_many(ids.iter().map(|c| product_category::ActiveModel {
        product_id: Set(product_id.to_string()),
        category_id: Set(c.as_str().to_string()),
    }))
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The products `select` finds, each with its stock and categories from correlated subqueries
/// of the same statement: one round trip per read, whatever the page size (it was three: the
/// products, then their categories, then their stock), which is most of a cache miss's cost.
async fn read(db: &impl ConnectionTrait, select: Select<product::Entity>) -> Result<Vec<ProductRecord>> {
    decode(&db.query_all_raw(statement(db.get_database_backend(), select)).await?)
}

/// A search page on PostgreSQL, as an unnamed statement: planned for its own pattern each time.
/// Through sea-orm it would be a named prepared statement, and after five executions
/// PostgreSQL settles on a generic plan that cannot know how selective `LIKE $1` is: it walks
/// the name index through every product (16 ms over 10,000) instead of asking the trigram
/// indexes (0.5 ms). An unnamed statement costs a second round trip (parse, then bind), which
/// is nothing beside that.
async fn search_on_postgres(db: &DatabaseConnection, statement: Statement) -> Result<Vec<QueryResult>> {
    let values = statement.values.unwrap_or(Values(Vec::new()));
    let rows = sea_orm::sqlx::query_with(sea_orm::sqlx::AssertSqlSafe(statement.sql), SqlxValues(values))
        .persistent(false)
        .fetch_all(db.get_postgres_connection_pool())
        .await
        .map_err(|e| Error::Database(DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(e)))))?;
    Ok(rows.into_iter().map(QueryResult::from).collect())
}

fn statement(backend: DbBackend, select: Select<product::Entity>) -> Statement {
    // Category ids are slugs of a-z, 0-9 and '-', so a comma separates them unambiguously.
    let categories = match backend {
        DbBackend::Postgres => "string_agg(pc.category_id, ',')",
        _ => "group_concat(pc.category_id, ',')",
    };
    select
        .expr_as(
            Expr::cust(r#"(SELECT i.on_hand FROM inventory i WHERE i.product_id = "products"."id")"#),
            "stock_on_hand",
        )
        .expr_as(
            Expr::cust(r#"(SELECT i.reserved FROM inventory i WHERE i.product_id = "products"."id")"#),
            "stock_reserved",
        )
        .expr_as(
            Expr::cust(format!(
                r#"(SELECT {categories} FROM product_categories pc WHERE pc.product_id = "products"."id")"#
            )),
            "category_list",
        )
        .build(backend)
}

fn decode(rows: &[QueryResult]) -> Result<Vec<ProductRecord>> {
    rows.iter()
        .map(|row| {
            let product = product::Model::from_query_result(row, "")?;
            let list: Option<String> = row.try_get("", "category_list")?;
            let mut category_ids: Vec<String> =
                list.iter().flat_map(|l| l.split(',')).filter(|c| !c.is_empty()).map(str::to_string).collect();
            // Neither aggregate promises an order; the API lists categories sorted.
            category_ids.sort_unstable();
            Ok(ProductRecord {
                category_ids,
                on_hand: row.try_get::<Option<i64>>("", "stock_on_hand")?.unwrap_or(0),
                reserved: row.try_get::<Option<i64>>("", "stock_reserved")?.unwrap_or(0),
                product,
            })
        })
        .collect()
}

/// Escapes LIKE wildcards so a query for "50%" matches the text "50%".
fn escape_like(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(super::escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
