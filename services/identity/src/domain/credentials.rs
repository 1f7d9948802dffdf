//! Email, password and display-name rules, as the values they produce: an `Email` or
//! `DisplayName` anywhere past `grpc::convert` has been checked, and a `Password` never prints.

use std::fmt;

use mercato_kit::domain::Invalid;

pub const MIN_PASSWORD: usize = 12;
/// Bounds hashing cost: argon2 over megabytes of "password" is a denial of service.
pub const MAX_PASSWORD: usize = 128;
pub const MAX_EMAIL: usize = 254;
pub const MAX_DISPLAY_NAME: usize = 100;

/// An email address, trimmed and lower-cased, of the shape `local@domain.tld`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("must not be empty".into());
        }
        if email.len() > MAX_EMAIL {
            return Err(format!("must be at most {MAX_EMAIL} characters").into());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("is not an email address".into());
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || email.chars().any(char::is_whitespace) || !domain_ok || domain.contains('@') {
            return Err("is not an email address".into());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that follows the policy: 12-128 characters, and not the account's email.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str, email: &str) -> Result<Self, Invalid> {
        let length = raw.chars().count();
        if length < MIN_PASSWORD {
            return Err(format!("must be at least {MIN_PASSWORD} characters").into());
        }
        if length > MAX_PASSWORD {
            return Err(format!("must be at most {MAX_PASSWORD} characters").into());
        }
        if raw.trim().to_lowercase() == email.trim().to_lowercase() {
            return Err("must not be your email address".into());
        }
        Ok(Self(raw.to_string()))
    }

    /// The plaintext, for hashing only.
    pub fn expose(self) -> String {
        self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A display name: trimmed, 1-100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.chars().count() > MAX_DISPLAY_NAME {
            return Err(format!("must be at most {MAX_DISPLAY_NAME} characters").into());
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        for bad in
            ["", "ada", "ada@", "@example.com", "ada@example", "a b@example.com", "ada@example..com", "a@b@c.com"]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_follow_the_policy() {
        assert!(Password::parse("correct horse battery", "ada@example.com").is_ok());
        assert!(Password::parse("short", "ada@example.com").is_err());
        assert!(Password::parse("ada@example.com", "ADA@example.com").is_err());
        assert!(Password::parse(&"x".repeat(129), "ada@example.com").is_err());
        let password = Password::parse("correct horse battery", "ada@example.com").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}
