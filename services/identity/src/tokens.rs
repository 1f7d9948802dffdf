//! Issuing access tokens (users) and service tokens (services), and checking service
//! credentials.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use mercato_kit::{
    Secret,
    auth::{AuthSettings, Claims, claims::now},
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    crypto::keyring::KeyRing,
    error::{Error, Result},
    storage::entity::user,
};

/// Service tokens live briefly: a leaked one is useless within minutes.
pub const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct TokenIssuer {
    pub keys: KeyRing,
    pub settings: AuthSettings,
    pub access_ttl: Duration,
}

impl TokenIssuer {
    pub fn access_token(&self, user: &user::Model) -> Result<(String, DateTime<Utc>)> {
        self.sign(
            user.id.clone(),
            user.email.clone(),
            user.role_list(),
            self.settings.audience.clone(),
            self.access_ttl,
        )
    }

    pub fn service_token(&self, service: &str) -> Result<(String, DateTime<Utc>)> {
        self.sign(
            format!("service:{service}"),
            String::new(),
            vec!["service".into()],
            self.settings.service_audience.clone(),
            SERVICE_TOKEN_TTL,
        )
    }

    fn sign(
        &self,
        sub: String,
        email: String,
        roles: Vec<String>,
        aud: String,
        ttl: Duration,
    ) -> Result<(String, DateTime<Utc>)> {
        let iat = now();
        let exp = iat + ttl.as_secs();
        let claims = Claims {
            sub,
            email,
            roles,
            iss: self.settings.issuer.clone(),
            aud,
            iat,
            nbf: iat,
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = self.keys.active()?.sign(&claims).map_err(Error::Internal)?;
        let expires = DateTime::from_timestamp(i64::try_from(exp).unwrap_or(i64::MAX), 0).unwrap_or_else(Utc::now);
        Ok((token, expires))
    }
}

/// Configured service credentials: name → SHA-256 of the secret.
#[derive(Clone, Default)]
pub struct ServiceClients(HashMap<String, [u8; 32]>);

impl std::fmt::Debug for ServiceClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl ServiceClients {
    /// Parses `name=secret,name=secret`.
    pub fn parse(raw: &Secret<String>) -> std::result::Result<Self, String> {
        let mut clients = HashMap::new();
        for entry in raw.expose().split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, secret) = entry.split_once('=').ok_or_else(|| "each entry must be name=secret".to_string())?;
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                return Err(format!("{name:?} is not a service name (lowercase letters and '-')"));
            }
            if secret.len() < 16 {
                return Err(format!("the secret for {name} must be at least 16 characters"));
            }
            clients.insert(name.to_string(), Sha256::digest(secret.as_bytes()).into());
        }
        Ok(Self(clients))
    }

    /// Constant-time in the secret; an unknown name costs the same as a wrong secret.
    pub fn check(&self, name: &str, secret: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let (expected, known) = match self.0.get(name) {
            Some(digest) => (*digest, true),
            None => ([0u8; 32], false),
        };
        bool::from(presented.ct_eq(&expected)) && known
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_credentials_parse_and_check() {
        let clients =
            ServiceClients::parse(&Secret::new("orders=0123456789abcdef, payments=fedcba9876543210".into())).unwrap();
        assert!(clients.check("orders", "0123456789abcdef"));
        assert!(!clients.check("orders", "fedcba9876543210"));
        assert!(!clients.check("nobody", "0123456789abcdef"));
        assert!(ServiceClients::parse(&Secret::new("orders=short".into())).is_err());
        assert!(ServiceClients::parse(&Secret::new("Orders=0123456789abcdef".into())).is_err());
        assert!(!format!("{clients:?}").contains("0123"));
    }
}
