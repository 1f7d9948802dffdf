//! Email, password and display-name rules.

pub const MIN_PASSWORD: usize = 12;
/// Bounds hashing cost: argon2 over megabytes of "password" is a denial of service.
pub const MAX_PASSWORD: usize = 128;
pub const MAX_EMAIL: usize = 254;
pub const MAX_DISPLAY_NAME: usize = 100;

/// Trims and lower-cases, then checks the shape `local@domain.tld`.
pub fn email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err("must not be empty".into());
    }
    if email.len() > MAX_EMAIL {
        return Err(format!("must be at most {MAX_EMAIL} characters"));
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
    Ok(email)
}

/// Length 12-128 (characters), and not the email address itself.
pub fn password(raw: &str, email: &str) -> Result<(), String> {
    let length = raw.chars().count();
    if length < MIN_PASSWORD {
        return Err(format!("must be at least {MIN_PASSWORD} characters"));
    }
    if length > MAX_PASSWORD {
        return Err(format!("must be at most {MAX_PASSWORD} characters"));
    }
    if raw.trim().to_lowercase() == email.trim().to_lowercase() {
        return Err("must not be your email address".into());
    }
    Ok(())
}

pub fn display_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.chars().count() > MAX_DISPLAY_NAME {
        return Err(format!("must be at most {MAX_DISPLAY_NAME} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in
            ["", "ada", "ada@", "@example.com", "ada@example", "a b@example.com", "ada@example..com", "a@b@c.com"]
        {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_follow_the_policy() {
        assert!(password("correct horse battery", "ada@example.com").is_ok());
        assert!(password("short", "ada@example.com").is_err());
        assert!(password("ada@example.com", "ADA@example.com").is_err());
        assert!(password(&"x".repeat(129), "ada@example.com").is_err());
    }
}
