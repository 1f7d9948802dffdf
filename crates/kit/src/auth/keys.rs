//! Ed25519 signing keys and their public halves as JWKs.
//!
//! A key's id is its RFC 7638 thumbprint, so the same key always has the same `kid` wherever it
//! is loaded from (database in dev, PEM files in production).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use sha2::{Digest, Sha256};

use super::claims::Claims;
use crate::secret::Secret;

/// The one algorithm mercato signs and accepts.
pub const ALGORITHM: Algorithm = Algorithm::EdDSA;

/// A private signing key.
pub struct SigningKey {
    kid: String,
    seed: Secret<[u8; 32]>,
    encoding: EncodingKey,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> anyhow::Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
        Self::from_seed(seed)
    }

    /// Rebuilds a key from its 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> anyhow::Result<Self> {
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = key.to_pkcs8_der().map_err(|e| anyhow::anyhow!("encoding the key as PKCS#8: {e}"))?;
        let public = PublicKey::from_bytes(key.verifying_key().to_bytes());
        Ok(Self {
            kid: public.kid.clone(),
            seed: Secret::new(seed),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            public,
        })
    }

    /// Loads a PKCS#8 PEM file's content (`openssl genpkey -algorithm ed25519`).
    pub fn from_pkcs8_pem(pem: &str) -> anyhow::Result<Self> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 PEM key: {e}"))?;
        Self::from_seed(key.to_bytes())
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The seed, for persisting the key (identity's own table in dev).
    pub fn seed(&self) -> &Secret<[u8; 32]> {
        &self.seed
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `claims` as a compact JWT with `alg: EdDSA` and this key's `kid`.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| anyhow::anyhow!("signing a token: {e}"))
    }
}

/// A public key as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    /// base64url of the 32 raw public key bytes (the JWK `x` member).
    pub x: String,
}

impl PublicKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let x = URL_SAFE_NO_PAD.encode(bytes);
        // RFC 7638: SHA-256 over the required members in lexicographic order, no spaces.
        let thumbprint = Sha256::digest(format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
        Self { kid: URL_SAFE_NO_PAD.encode(thumbprint), x }
    }

    /// Rebuilds a published key; `None` unless it is a well-formed Ed25519 JWK.
    pub fn from_jwk(kty: &str, crv: &str, x: &str, kid: &str) -> Option<Self> {
        if kty != "OKP" || crv != "Ed25519" || kid.is_empty() {
            return None;
        }
        let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(x).ok()?.try_into().ok()?;
        Some(Self { kid: kid.to_string(), x: URL_SAFE_NO_PAD.encode(bytes) })
    }

    pub fn decoding_key(&self) -> Option<DecodingKey> {
        DecodingKey::from_ed_components(&self.x).ok()
    }

    /// The JWK as JSON, for /.well-known/jwks.json.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": self.x, "kid": self.kid, "alg": "EdDSA", "use": "sig"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kids_are_stable_thumbprints_and_seeds_round_trip() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_seed(*key.seed().expose()).unwrap();
        assert_eq!(key.kid(), again.kid());
        assert_eq!(key.public(), again.public());
        let jwk = key.public().to_json();
        let back = PublicKey::from_jwk("OKP", "Ed25519", jwk["x"].as_str().unwrap(), key.kid()).unwrap();
        assert_eq!(&back, key.public());
        assert!(PublicKey::from_jwk("RSA", "Ed25519", &back.x, "k").is_none());
        assert!(format!("{key:?}").contains(key.kid()));
    }
}
