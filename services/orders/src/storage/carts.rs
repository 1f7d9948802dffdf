//! Cart rows: one per (user, product). The name and price are what catalog said when the
//! product was last added, for display only; checkout prices the cart again.

use chrono::Utc;
use mercato_kit::money::Money;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    sea_query::OnConflict,
};

use super::entity::cart_item;
use crate::{domain::cart::Lines, error::Result};

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

/// Sets `product_id`'s quantity to `quantity` (adding the row if it is new).
pub async fn put(
    db: &impl ConnectionTrait,
    user_id: &str,
    product_id: &str,
    quantity: u32,
    shown: Shown<'_>,
) -> Result<()> {
    let now = Utc::now();
    let (currency, units, nanos) = match shown.price {
        Some(price) => (price.currency().as_str().to_string(), price.units(), price.nanos()),
        None => (String::new(), 0, 0),
    };
    let row = cart_item::Model {
        user_id: user_id.to_string(),
        product_id: product_id.to_string(),
        quantity: i32::try_from(quantity).unwrap_or(i32::MAX),
        product_name: shown.name.to_string(),
        price_currency: currency,
        price_units: units,
        price_nanos: nanos,
        added_at: now,
        updated_at: now,
    };
    cart_item::Entity::insert(row.into_active_model().reset_all())
        .on_conflict(
            OnConflict::columns([cart_item::Column::UserId, cart_item::Column::ProductId])
                .update_columns([
                    cart_item::Column::Quantity,
                    cart_item::Column::ProductName,
                    cart_item::Column::PriceCurrency,
                    cart_item::Column::PriceUnits,
                    cart_item::Column::PriceNanos,
                    cart_item::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
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
