//! Paging for every List RPC: page sizes, and opaque keyset tokens. A token holds the sort
//! key of the last item returned plus the filters it was issued for, base64url-encoded JSON;
//! the service rejects it when used with other filters, so a client cannot silently mix the
//! pages of two queries.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

use crate::domain::Invalid;

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// A request's `page_size`: 0 is the default, more than the maximum is the maximum.
pub fn page_size(raw: i32) -> Result<u64, Invalid> {
    match raw {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err("must not be negative".into()),
        n => Ok(u64::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE)),
    }
}

/// Cuts a page fetched with `limit + 1` rows down to `limit`; whether there was more (a next
/// page). Asking for one more row is how a listing knows without counting.
pub fn trim<T>(rows: &mut Vec<T>, limit: u64) -> bool {
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    more
}

/// A cursor as a page token.
pub fn encode<C: Serialize>(cursor: &C) -> String {
    // A cursor is plain strings and numbers: serialising it cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

/// A page token as the cursor it was made from.
pub fn decode<C: DeserializeOwned>(token: &str) -> Result<C, Invalid> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(Invalid::new("is not a page token issued by this service"))
}

/// The cursor of a request's page token: `None` for the first page (no token). A token is
/// bound to the filter it was issued for (`issued_for` reads that from the cursor), so the
/// next page of one listing cannot be asked for with another listing's filter.
pub fn cursor_for<C: DeserializeOwned, F: PartialEq + ?Sized>(
    token: &str,
    filter: &F,
    issued_for: impl FnOnce(&C) -> &F,
    filter_name: &str,
) -> Result<Option<C>, Invalid> {
    if token.is_empty() {
        return Ok(None);
    }
    let cursor = decode::<C>(token)?;
    if issued_for(&cursor) != filter {
        return Err(Invalid::from(format!("was issued for a different {filter_name}")));
    }
    Ok(Some(cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_keeps_the_page_and_says_whether_more_came() {
        let mut rows = vec![1, 2, 3];
        assert!(trim(&mut rows, 2));
        assert_eq!(rows, [1, 2]);
        assert!(!trim(&mut rows, 2));
        assert_eq!(rows, [1, 2]);
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Cursor {
        after: String,
    }

    #[test]
    fn sizes_default_and_clamp() {
        assert_eq!(page_size(0), Ok(20));
        assert_eq!(page_size(7), Ok(7));
        assert_eq!(page_size(1000), Ok(100));
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let cursor = Cursor { after: "x".into() };
        assert_eq!(decode::<Cursor>(&encode(&cursor)), Ok(cursor));
        assert!(decode::<Cursor>("garbage!").is_err());
        assert!(decode::<Cursor>(&encode(&42)).is_err());
    }

    #[test]
    fn a_token_serves_only_the_filter_it_was_issued_for() {
        let token = encode(&Cursor { after: "order-1".into() });
        fn of(c: &Cursor) -> &str {
            &c.after
        }
        assert_eq!(cursor_for("", "anything", of, "order_id"), Ok(None));
        assert_eq!(cursor_for(&token, "order-1", of, "order_id"), Ok(Some(Cursor { after: "order-1".into() })));
        let other = cursor_for(&token, "order-2", of, "order_id").unwrap_err();
        assert_eq!(other.to_string(), "was issued for a different order_id");
        assert!(cursor_for("garbage!", "order-1", of, "order_id").is_err());
    }
}
