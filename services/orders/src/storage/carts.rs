//! Cart rows: one per (user, product). The name and price are what catalog said when the
//! product was last added, for display only; checkout prices the cart again.

use chrono::Utc;
use mercato_kit::money::Money;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, Statement, Value};

use super::entity::cart_item;
use crate::{
    domain::cart::{Lines, MAX_LINES, MAX_QUANTITY, Quantity},
    error::Result,
};

/// A user's cart items, in the order their products were first added.
pub async fn items(db: &impl ConnectionTrait, user_id: &str) -> Result<Vec<cart_item::Model>> {
    Ok(cart_item::Entity::find()
        .filter(cart_item::Column::UserId.eq(user_id))
        .order_by_asc(cart_item::Column::AddedAt)
        .order_by_asc(cart_item::Column::ProductId)
        .all(db)
        .await?)
}

/// The quantities of `items`, for the cart's rules.
pub fn lines(items: &[cart_item::Model]) -> Lines {
    Lines::from_stored(items.iter().map(|i| (i.product_id.clone(), u32::try_from(i.quantity).unwrap_or(1))))
}

/// What catalog said of a product when it was added.
#[derive(Debug, Clone)]
pub struct Shown<'a> {
    pub name: &'a str,
    pub price: Option<Money>,
}

/// Adds `quantity` units of `product_id` to the cart in one statement, if the cart's rules
/// allow it (the sum at most [`MAX_QUANTITY`], a new product only below [`MAX_LINES`]);
/// whether it was added. One statement, so two additions at once both count (reading the
/// quantity first and writing the sum lost one of them), and one round trip instead of a
/// transaction's four. Under READ COMMITTED two new products added at the same instant to a
/// cart of 49 can both pass the count; the sum per product is always exact.
pub async fn add(
    db: &impl ConnectionTrait,
    user_id: &str,
    product_id: &str,
    quantity: Quantity,
    shown: Shown<'_>,
) -> Result<bool> {
    let backend = db.get_database_backend();
    let (currency, units, nanos) = match shown.price {
        Some(price) => (price.currency().as_str().to_string(), price.units(), price.nanos()),
        None => (String::new(), 0, 0),
    };
    let quantity = i32::try_from(quantity.get()).unwrap_or(i32::MAX);
    let sql = format!(
        "INSERT INTO cart_items (user_id, product_id, quantity, product_name, price_currency, price_units, \
         price_nanos, added_at, updated_at) \
         SELECT {user}, {product}, {quantity}, {name}, {currency}, {units}, {nanos}, {now}, {now} \
         WHERE (SELECT count(*) FROM cart_items WHERE user_id = {user}) < {MAX_LINES} \
         OR EXISTS (SELECT 1 FROM cart_items WHERE user_id = {user} AND product_id = {product}) \
         ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = cart_items.quantity + excluded.quantity, \
         product_name = excluded.product_name, price_currency = excluded.price_currency, \
         price_units = excluded.price_units, price_nanos = excluded.price_nanos, updated_at = excluded.updated_at \
         WHERE cart_items.quantity + excluded.quantity <= {MAX_QUANTITY}",
        user = placeholder(backend, 1),
        product = placeholder(backend, 2),
        quantity = placeholder(backend, 3),
        name = placeholder(backend, 4),
        currency = placeholder(backend, 5),
        units = placeholder(backend, 6),
        nanos = placeholder(backend, 7),
        now = placeholder(backend, 8),
    );
    let values: [Value; 8] = [
        user_id.into(),
        product_id.into(),
        quantity.into(),
        shown.name.into(),
        currency.into(),
        units.into(),
        nanos.into(),
        Utc::now().into(),
    ];
    let done = db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(done.rows_affected() == 1)
}

/// The `n`th (from 1) bind parameter in `backend`'s syntax; SQLite's `?NNN` may repeat one.
fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// Removes `product_id` from the cart; whether it was there.
pub async fn remove(db: &impl ConnectionTrait, user_id: &str, product_id: &str) -> Result<bool> {
    let deleted = cart_item::Entity::delete_many()
        .filter(cart_item::Column::UserId.eq(user_id))
        .filter(cart_item::Column::ProductId.eq(product_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// Empties the cart of what was checked out: the items as they were read, so that an item
/// added (or topped up) while the order was being priced stays in the cart.
pub async fn remove_checked_out(db: &impl ConnectionTrait, user_id: &str, items: &[cart_item::Model]) -> Result<()> {
    for item in items {
        cart_item::Entity::delete_many()
            .filter(cart_item::Column::UserId.eq(user_id))
            .filter(cart_item::Column::ProductId.eq(item.product_id.as_str()))
            .filter(cart_item::Column::Quantity.eq(item.quantity))
            .exec(db)
            .await?;
    }
    Ok(())
}
