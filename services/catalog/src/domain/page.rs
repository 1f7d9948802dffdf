//! Paging: page sizes and opaque keyset tokens. A token holds the sort key of the last item
//! returned plus the filters it was issued for, base64url-encoded; it is rejected if used with
//! other filters, so a client can't silently mix pages of two queries.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mercato_kit::domain::Invalid;
use serde::{Deserialize, Serialize};

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

pub fn page_size(raw: i32) -> Result<u64, Invalid> {
    match raw {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err("must not be negative".into()),
        n => Ok(u64::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE)),
    }
}

/// Where the next page starts, for the filters it was issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductCursor {
    #[serde(rename = "q")]
    pub query: String,
    #[serde(rename = "c")]
    pub category: String,
    #[serde(rename = "n")]
    pub after_name: String,
    #[serde(rename = "i")]
    pub after_id: String,
}

impl ProductCursor {
    pub fn encode(&self) -> String {
        // Serialising plain strings cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a token and checks it belongs to these filters.
    pub fn decode(token: &str, query: &str, category: &str) -> Result<Self, Invalid> {
        let cursor: Self = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(Invalid::new("is not a page token issued by this service"))?;
        if cursor.query != query || cursor.category != category {
            return Err("was issued for a different query or category".into());
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_and_clamp() {
        assert_eq!(page_size(0), Ok(20));
        assert_eq!(page_size(7), Ok(7));
        assert_eq!(page_size(1000), Ok(100));
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_filters() {
        let c =
            ProductCursor { query: "mug".into(), category: "".into(), after_name: "Mug".into(), after_id: "x".into() };
        let token = c.encode();
        assert_eq!(ProductCursor::decode(&token, "mug", ""), Ok(c));
        assert!(ProductCursor::decode(&token, "tea", "").is_err());
        assert!(ProductCursor::decode("garbage!", "mug", "").is_err());
    }
}
