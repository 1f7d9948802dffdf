//! Correlation ids. A caller's `x-request-id` is kept if it is well formed (so one id follows a
//! request through every hop), otherwise a fresh UUID is used.

use http::HeaderValue;

/// The header (and gRPC metadata key) that carries the id.
pub const HEADER: &str = "x-request-id";

/// Longest id accepted from a caller.
const MAX_LEN: usize = 128;

/// The request's correlation id, available in request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// Keeps `incoming` if it is well formed, else generates one.
    pub fn from_header(incoming: Option<&HeaderValue>) -> Self {
        incoming
            .and_then(|v| v.to_str().ok())
            .filter(|s| is_well_formed(s))
            .map(|s| Self(s.to_string()))
            .unwrap_or_else(Self::generate)
    }

    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Settles `req`'s id: the caller's if well formed, else a new one, written back onto the
    /// request (so it travels on) and put in its extensions. Returns the id and the header value
    /// to echo on the response.
    pub fn settle<B>(req: &mut http::Request<B>) -> (Self, Option<HeaderValue>) {
        let id = Self::from_header(req.headers().get(HEADER));
        let header = HeaderValue::from_str(id.as_str()).ok();
        if let Some(value) = &header {
            req.headers_mut().insert(HEADER, value.clone());
        }
        req.extensions_mut().insert(id.clone());
        (id, header)
    }
}

/// 1-128 characters of letters, digits, `-`, `_`, `.`, `:`: enough for UUIDs, ULIDs and trace
/// ids, and nothing that could forge a log line or header.
pub fn is_well_formed(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_good_ids_and_replaces_bad_ones() {
        let good = HeaderValue::from_static("abc-123_X.y:z");
        assert_eq!(RequestId::from_header(Some(&good)).as_str(), "abc-123_X.y:z");
        for bad in ["", "has space", "new\u{7f}line", &"x".repeat(129)] {
            let value = HeaderValue::from_str(bad).ok();
            let id = RequestId::from_header(value.as_ref());
            assert_ne!(id.as_str(), bad);
            assert!(uuid::Uuid::parse_str(id.as_str()).is_ok());
        }
        assert!(uuid::Uuid::parse_str(RequestId::from_header(None).as_str()).is_ok());
    }
}
