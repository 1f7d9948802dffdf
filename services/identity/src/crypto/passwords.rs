//! argon2id password hashing with OWASP's parameters (19 MiB, 2 passes, 1 lane). Hashing is
//! CPU-bound for tens of milliseconds, so it runs on the blocking pool, never on a runtime
//! worker. A login for an unknown email verifies against a dummy hash made with the same
//! parameters, so both failures cost the same time.

use std::{fmt, sync::Arc};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version, password_hash::SaltString,
};

use crate::error::Error;

/// OWASP Password Storage Cheat Sheet, argon2id option 2.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

#[derive(Clone)]
pub struct Passwords {
    dummy: Arc<String>,
}

/// The dummy hash is not shown: nothing a reader needs, and a password hash all the same.
impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

fn argon2() -> Result<Argon2<'static>, Error> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
        .map_err(|e| Error::Internal(anyhow::anyhow!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::Internal(anyhow::anyhow!("no OS randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Internal(anyhow::anyhow!("salt: {e}")))?;
    Ok(argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Internal(anyhow::anyhow!("hashing: {e}")))?
        .to_string())
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    // Parameters come from the stored hash, so older hashes keep verifying after a change.
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

impl Passwords {
    /// Prepares the dummy hash (one hashing cost, paid once at start-up).
    pub async fn new() -> Result<Self, Error> {
        let dummy = run_blocking(|| hash_blocking("not a real password, only spent time")).await??;
        Ok(Self { dummy: Arc::new(dummy) })
    }

    pub async fn hash(&self, password: String) -> Result<String, Error> {
        run_blocking(move || hash_blocking(&password)).await?
    }

    /// Verifies `password` against `hash`, or against the dummy when there is no user, so the
    /// answer takes as long either way.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Error> {
        let found = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.as_ref().clone());
        let ok = run_blocking(move || verify_blocking(&password, &hash)).await?;
        Ok(found && ok)
    }
}

async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(anyhow::anyhow!("hashing task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id_with_owasp_parameters() {
        let passwords = Passwords::new().await.unwrap();
        let hash = passwords.hash("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(passwords.verify("correct horse battery".into(), Some(hash.clone())).await.unwrap());
        assert!(!passwords.verify("wrong horse battery".into(), Some(hash)).await.unwrap());
        assert!(!passwords.verify("anything at all".into(), None).await.unwrap());
    }
}
