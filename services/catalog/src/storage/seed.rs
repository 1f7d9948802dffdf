//! Loads a seed catalog (JSON) into an empty or partly seeded database. Only rows that do not
//! exist yet are inserted, so running it on every `just dev` start is safe and never resets
//! stock that has moved.

use chrono::Utc;
use mercato_kit::money::Money;
use sea_orm::{ActiveValue::Set, DatabaseTransaction, EntityTrait, sea_query::OnConflict};
use serde::Deserialize;

use super::entity::{category, inventory, product, product_category};
use crate::domain::product::{self as rules, CategoryId, ProductId, Sku};

/// The catalog `just dev` starts with.
pub const DEFAULT_SEED: &str = include_str!("../../seed/catalog.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    pub categories: Vec<SeedCategory>,
    pub products: Vec<SeedProduct>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedCategory {
    pub id: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedProduct {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category_ids: Vec<String>,
    pub price: SeedMoney,
    pub image_url: String,
    pub stock: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedMoney {
    pub currency_code: String,
    pub units: i64,
    pub nanos: i32,
}

/// How many rows a seed run added.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub categories: u64,
    pub products: u64,
}

/// Parses and checks a seed file with the same rules the API applies.
pub fn parse(json: &str) -> anyhow::Result<SeedFile> {
    let seed: SeedFile = serde_json::from_str(json)?;
    let mut problems = Vec::new();
    for c in &seed.categories {
        if let Err(e) = CategoryId::parse(&c.id) {
            problems.push(format!("category {}: {e}", c.id));
        }
    }
    for p in &seed.products {
        let checks = [
            ProductId::parse(&p.id).err().map(|e| format!("id {e}")),
            Sku::parse(&p.sku).err().map(|e| format!("sku {e}")),
            rules::name(&p.name).err().map(|e| format!("name {e}")),
            rules::description(&p.description).err().map(|e| format!("description {e}")),
            rules::image_url(&p.image_url).err().map(|e| format!("image_url {e}")),
            rules::category_ids(&p.category_ids).err().map(|e| format!("category_ids: {e}")),
            Money::price(&p.price.currency_code, p.price.units, p.price.nanos)
                .err()
                .map(|e| format!("price.{}: {e}", e.field())),
            (p.stock < 0).then(|| "stock must not be negative".to_string()),
            p.category_ids
                .iter()
                .find(|id| !seed.categories.iter().any(|c| &c.id == *id))
                .map(|id| format!("unknown category {id}")),
        ];
        problems.extend(checks.into_iter().flatten().map(|e| format!("product {}: {e}", p.sku)));
    }
    if problems.is_empty() { Ok(seed) } else { anyhow::bail!("invalid seed file:\n  {}", problems.join("\n  ")) }
}

/// Inserts whatever of `seed` is missing, inside the caller's transaction.
pub async fn load(txn: &DatabaseTransaction, seed: &SeedFile) -> anyhow::Result<SeedReport> {
    let now = Utc::now();
    let mut report = SeedReport::default();
    for c in &seed.categories {
        report.categories += category::Entity::insert(category::ActiveModel {
            id: Set(c.id.clone()),
            name: Set(c.name.clone()),
            description: Set(c.description.clone()),
            created_at: Set(now),
        })
        .on_conflict(OnConflict::column(category::Column::Id).do_nothing().to_owned())
        .exec_without_returning(txn)
        .await?;
    }
    for p in &seed.products {
        let inserted = product::Entity::insert(product::ActiveModel {
            id: Set(p.id.clone()),
            sku: Set(p.sku.clone()),
            name: Set(p.name.clone()),
            description: Set(p.description.clone()),
            price_currency: Set(p.price.currency_code.clone()),
            price_units: Set(p.price.units),
            price_nanos: Set(p.price.nanos),
            image_url: Set(p.image_url.clone()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict(OnConflict::column(product::Column::Id).do_nothing().to_owned())
        .exec_without_returning(txn)
        .await?;
        if inserted == 0 {
            continue;
        }
        report.products += 1;
        if !p.category_ids.is_empty() {
            product_category::Entity::insert_many(
                p.category_ids.iter().map(|c| product_category::ActiveModel {
                    product_id: Set(p.id.clone()),
                    category_id: Set(c.clone()),
                }),
            )
            .exec_without_returning(txn)
            .await?;
        }
        inventory::Entity::insert(inventory::ActiveModel {
            product_id: Set(p.id.clone()),
            on_hand: Set(p.stock),
            reserved: Set(0),
            updated_at: Set(now),
        })
        .exec_without_returning(txn)
        .await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bundled_seed_is_valid_and_large_enough() {
        let seed = super::parse(super::DEFAULT_SEED).expect("bundled seed is valid");
        assert!(seed.products.len() >= 50);
        assert!(seed.categories.len() >= 4);
    }
}
