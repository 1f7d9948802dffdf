//! Product values and the rules for them. Each constructor is the only way to make its value,
//! so a `Sku` or `CategoryId` anywhere past `grpc::convert` has been checked.

use mercato_kit::{domain::Invalid, money::Money};

mercato_kit::uuid_id!(
    /// A product's id: a UUID, normalised.
    ProductId,
    "product"
);

/// Everything needed to create a product.
#[derive(Debug, Clone)]
pub struct ProductDraft {
    pub sku: Sku,
    pub name: String,
    pub description: String,
    pub category_ids: Vec<CategoryId>,
    pub price: Money,
    pub image_url: String,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub sku: Option<Sku>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub category_ids: Option<Vec<CategoryId>>,
    pub price: Option<Money>,
    pub image_url: Option<String>,
}

impl ProductPatch {
    pub fn is_empty(&self) -> bool {
        self.sku.is_none()
            && self.name.is_none()
            && self.description.is_none()
            && self.category_ids.is_none()
            && self.price.is_none()
            && self.image_url.is_none()
    }
}

pub const MAX_NAME: usize = 200;
pub const MAX_DESCRIPTION: usize = 4000;
pub const MAX_SKU: usize = 64;
pub const MAX_URL: usize = 2048;
pub const MAX_CATEGORIES: usize = 20;
/// Bound on a single stock movement, far above any real delivery, far below overflow.
pub const MAX_STOCK: i64 = 1_000_000_000;

/// A stock-keeping unit: 1-64 of A-Z, 0-9 and '-'.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > MAX_SKU {
            return Err(format!("must be 1-{MAX_SKU} characters").into());
        }
        if !raw.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-') {
            return Err("may contain only A-Z, 0-9 and '-'".into());
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Sku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A category id: a lowercase slug of a-z, 0-9 and '-', 1-64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CategoryId(String);

impl CategoryId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty()
            || raw.len() > 64
            || !raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!("{raw:?} is not a category id (lowercase a-z, 0-9, '-')").into());
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<CategoryId> for String {
    fn from(id: CategoryId) -> String {
        id.0
    }
}

/// Trimmed, 1-200 characters.
pub fn name(raw: &str) -> Result<String, Invalid> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.chars().count() > MAX_NAME {
        return Err(format!("must be at most {MAX_NAME} characters").into());
    }
    Ok(trimmed.to_string())
}

pub fn description(raw: &str) -> Result<String, Invalid> {
    if raw.chars().count() > MAX_DESCRIPTION {
        return Err(format!("must be at most {MAX_DESCRIPTION} characters").into());
    }
    Ok(raw.trim().to_string())
}

/// Empty, or an absolute http(s) URL without spaces.
pub fn image_url(raw: &str) -> Result<String, Invalid> {
    if raw.is_empty() {
        return Ok(String::new());
    }
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or(Invalid::new("must be an absolute http(s) URL"))?;
    if raw.len() > MAX_URL || rest.is_empty() || rest.starts_with('/') || raw.chars().any(char::is_whitespace) {
        return Err("must be an absolute http(s) URL without spaces".into());
    }
    Ok(raw.to_string())
}

/// At most 20, deduplicated keeping first occurrences in order.
pub fn category_ids(raw: &[String]) -> Result<Vec<CategoryId>, Invalid> {
    if raw.len() > MAX_CATEGORIES {
        return Err(format!("at most {MAX_CATEGORIES} categories").into());
    }
    let mut out: Vec<CategoryId> = Vec::with_capacity(raw.len());
    for id in raw {
        let id = CategoryId::parse(id)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Stock a product starts with: 0 up to [`MAX_STOCK`].
pub fn initial_stock(raw: i64) -> Result<i64, Invalid> {
    if (0..=MAX_STOCK).contains(&raw) { Ok(raw) } else { Err(format!("must be 0-{MAX_STOCK}").into()) }
}

/// A stock movement: non-zero, within ±[`MAX_STOCK`].
pub fn stock_delta(raw: i64) -> Result<i64, Invalid> {
    if raw != 0 && raw.abs() <= MAX_STOCK {
        Ok(raw)
    } else {
        Err(format!("must be non-zero and within ±{MAX_STOCK}").into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn field_rules() {
        assert!(Sku::parse("COF-0001").is_ok());
        assert!(Sku::parse("cof-1").is_err());
        assert!(Sku::parse("").is_err());
        assert_eq!(name("  Mug ").unwrap(), "Mug");
        assert!(name("   ").is_err());
        assert!(name(&"x".repeat(201)).is_err());
        assert!(image_url("https://img.example/a.jpg").is_ok());
        assert!(image_url("").is_ok());
        assert!(image_url("ftp://x").is_err());
        assert!(image_url("https://").is_err());
        let ids = category_ids(&["tea".into(), "tea".into(), "coffee".into()]).unwrap();
        assert_eq!(ids.iter().map(CategoryId::as_str).collect::<Vec<_>>(), ["tea", "coffee"]);
        assert!(category_ids(&["Tea".into()]).is_err());
        assert!(ProductId::parse("364dc957-51ca-4f13-889e-665df2d6633f").is_ok());
        assert!(ProductId::parse("42").is_err());
        assert!(initial_stock(-1).is_err());
        assert!(stock_delta(0).is_err());
        assert_eq!(stock_delta(-3).unwrap(), -3);
    }
}
