//! Rules for product fields.

use super::money::Money;

/// Everything needed to create a product.
#[derive(Debug, Clone)]
pub struct ProductDraft {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category_ids: Vec<String>,
    pub price: Money,
    pub image_url: String,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub category_ids: Option<Vec<String>>,
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

pub fn sku(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.len() > MAX_SKU {
        return Err(format!("must be 1-{MAX_SKU} characters"));
    }
    if !raw.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-') {
        return Err("may contain only A-Z, 0-9 and '-'".into());
    }
    Ok(raw.to_string())
}

pub fn name(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.chars().count() > MAX_NAME {
        return Err(format!("must be at most {MAX_NAME} characters"));
    }
    Ok(trimmed.to_string())
}

pub fn description(raw: &str) -> Result<String, String> {
    if raw.chars().count() > MAX_DESCRIPTION {
        return Err(format!("must be at most {MAX_DESCRIPTION} characters"));
    }
    Ok(raw.trim().to_string())
}

/// Empty, or an absolute http(s) URL without spaces.
pub fn image_url(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Ok(String::new());
    }
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or("must be an absolute http(s) URL")?;
    if raw.len() > MAX_URL || rest.is_empty() || rest.starts_with('/') || raw.chars().any(char::is_whitespace) {
        return Err("must be an absolute http(s) URL without spaces".into());
    }
    Ok(raw.to_string())
}

/// A category id is a lowercase slug: a-z, 0-9 and '-', 1-64 characters.
pub fn category_id(raw: &str) -> Result<String, String> {
    if raw.is_empty()
        || raw.len() > 64
        || !raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("{raw:?} is not a category id (lowercase a-z, 0-9, '-')"));
    }
    Ok(raw.to_string())
}

/// Deduplicates, keeping first occurrences in order.
pub fn category_ids(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.len() > MAX_CATEGORIES {
        return Err(format!("at most {MAX_CATEGORIES} categories"));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for id in raw {
        let id = category_id(id)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Product ids are UUIDs; anything else can name no product.
pub fn product_id(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| format!("{raw:?} is not a product id (a UUID)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_rules() {
        assert!(sku("COF-0001").is_ok());
        assert!(sku("cof-1").is_err());
        assert!(sku("").is_err());
        assert_eq!(name("  Mug ").unwrap(), "Mug");
        assert!(name("   ").is_err());
        assert!(name(&"x".repeat(201)).is_err());
        assert!(image_url("https://img.example/a.jpg").is_ok());
        assert!(image_url("").is_ok());
        assert!(image_url("ftp://x").is_err());
        assert!(image_url("https://").is_err());
        assert_eq!(category_ids(&["tea".into(), "tea".into(), "coffee".into()]).unwrap(), ["tea", "coffee"]);
        assert!(category_ids(&["Tea".into()]).is_err());
        assert!(product_id("364dc957-51ca-4f13-889e-665df2d6633f").is_ok());
        assert!(product_id("42").is_err());
    }
}
