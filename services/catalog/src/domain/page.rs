//! Product listing's page token (the kit's `page` makes and reads it): the sort key of the
//! last product returned plus the query and category it was issued for.

pub use mercato_kit::page::page_size;
use mercato_kit::{domain::Invalid, page};
use serde::{Deserialize, Serialize};

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
        page::encode(self)
    }

    /// Decodes a token and checks it belongs to these filters.
    pub fn decode(token: &str, query: &str, category: &str) -> Result<Self, Invalid> {
        let cursor: Self = page::decode(token)?;
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
    fn tokens_round_trip_and_are_bound_to_their_filters() {
        let c =
            ProductCursor { query: "mug".into(), category: "".into(), after_name: "Mug".into(), after_id: "x".into() };
        let token = c.encode();
        assert_eq!(ProductCursor::decode(&token, "mug", ""), Ok(c));
        assert!(ProductCursor::decode(&token, "tea", "").is_err());
        assert!(ProductCursor::decode("garbage!", "mug", "").is_err());
    }
}
