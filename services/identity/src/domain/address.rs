//! Shipping address rules.

use mercato_kit::domain::Invalid;

/// A validated address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAddress {
    pub recipient_name: String,
    pub lines: Vec<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country_code: String,
    pub phone: String,
    pub make_default: bool,
}

pub const MAX_ADDRESSES: u64 = 20;
const MAX_FIELD: usize = 200;

/// A required single-line text field.
pub fn required(raw: &str) -> Result<String, Invalid> {
    let value = optional(raw)?;
    if value.is_empty() { Err("is required".into()) } else { Ok(value) }
}

/// An optional single-line text field.
pub fn optional(raw: &str) -> Result<String, Invalid> {
    let value = raw.trim();
    if value.chars().count() > MAX_FIELD {
        return Err(format!("must be at most {MAX_FIELD} characters").into());
    }
    if value.chars().any(char::is_control) {
        return Err("must be a single line".into());
    }
    Ok(value.to_string())
}

/// 1-3 non-empty lines.
pub fn lines(raw: &[String]) -> Result<Vec<String>, Invalid> {
    let lines: Vec<String> = raw.iter().map(|l| optional(l)).collect::<Result<_, _>>()?;
    let lines: Vec<String> = lines.into_iter().filter(|l| !l.is_empty()).collect();
    match lines.len() {
        0 => Err("needs at least one line".into()),
        1..=3 => Ok(lines),
        _ => Err("at most 3 lines".into()),
    }
}

/// ISO 3166-1 alpha-2, upper-cased.
pub fn country_code(raw: &str) -> Result<String, Invalid> {
    let code = raw.trim().to_uppercase();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(format!("{raw:?} is not an ISO 3166-1 alpha-2 code such as DE or US").into())
    }
}

/// Empty, or E.164-ish: an optional '+' and 6-15 digits (spaces and dashes ignored).
pub fn phone(raw: &str) -> Result<String, Invalid> {
    let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
    if compact.is_empty() {
        return Ok(String::new());
    }
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    if (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(compact)
    } else {
        Err("is not a phone number".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_fields() {
        assert_eq!(country_code(" de ").unwrap(), "DE");
        assert!(country_code("DEU").is_err());
        assert_eq!(phone("+49 30 1234-567").unwrap(), "+49301234567");
        assert!(phone("call me").is_err());
        assert_eq!(lines(&["Main St 1".into(), " ".into()]).unwrap(), ["Main St 1"]);
        assert!(lines(&[]).is_err());
        assert!(required(" ").is_err());
    }
}
