//! Building blocks for services' domain types: the error a rule returns ([`Invalid`]) and
//! identifier newtypes ([`uuid_id!`](crate::uuid_id)). Parsing happens once, at the edge (each
//! service's `grpc/convert.rs`); past it only these validated values travel.

use std::borrow::Cow;

/// Why a value was refused, phrased to follow the field's name: `must not be empty`, reported
/// as `invalid product.name: must not be empty`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(Cow<'static, str>);

impl Invalid {
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        Self(reason.into())
    }

    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl From<String> for Invalid {
    fn from(reason: String) -> Self {
        Self(Cow::Owned(reason))
    }
}

impl From<&'static str> for Invalid {
    fn from(reason: &'static str) -> Self {
        Self(Cow::Borrowed(reason))
    }
}

/// Parses a UUID as an identifier of a `what` ("product"), normalised to its hyphenated
/// lower-case form so the same id is always the same string.
pub fn parse_uuid(raw: &str, what: &str) -> Result<String, Invalid> {
    if raw.is_empty() {
        return Err(Invalid::new("must not be empty"));
    }
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| Invalid::from(format!("{raw:?} is not a {what} id (a UUID)")))
}

/// A fresh UUIDv7 (time-ordered, so new rows land at the end of an index), hyphenated.
pub fn new_uuid() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// Declares an identifier newtype over a UUID kept as its normalised string: `parse` (for
/// input, with a field-ready error), `generate` (a new UUIDv7), `as_str`, `Display`, and
/// conversion into `String` for the wire and the database.
///
/// ```ignore
/// mercato_kit::uuid_id!(
///     /// A product's id.
///     ProductId, "product"
/// );
/// ```
#[macro_export]
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Checks that `raw` is a UUID; the error reads after the field's name.
            pub fn parse(raw: &str) -> Result<Self, $crate::domain::Invalid> {
                $crate::domain::parse_uuid(raw, $what).map(Self)
            }

            /// A new, time-ordered id.
            pub fn generate() -> Self {
                Self($crate::domain::new_uuid())
            }

            /// For values read back from this service's own database, which only ever
            /// stores ids that were parsed or generated.
            pub fn from_trusted(stored: String) -> Self {
                Self(stored)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    crate::uuid_id!(
        /// A test id.
        WidgetId,
        "widget"
    );

    #[test]
    fn ids_are_normalised_uuids_with_field_ready_errors() {
        let id = WidgetId::parse("364DC957-51CA-4F13-889E-665DF2D6633F").unwrap();
        assert_eq!(id.as_str(), "364dc957-51ca-4f13-889e-665df2d6633f");
        assert_eq!(WidgetId::parse("").unwrap_err().reason(), "must not be empty");
        assert_eq!(WidgetId::parse("42").unwrap_err().to_string(), r#""42" is not a widget id (a UUID)"#);
        let fresh = WidgetId::generate();
        assert_eq!(WidgetId::parse(fresh.as_str()).unwrap(), fresh);
        assert_eq!(String::from(fresh.clone()), fresh.to_string());
    }
}
