//! Local verification of access tokens against identity's published keys.
//!
//! Keys are fetched lazily and cached by `kid`. A token naming an unknown `kid` triggers a
//! refresh (that is how a rotated-in key is learned). Refreshes are serialised and spaced at
//! least `min_refresh` apart: a request that arrives sooner waits for the next slot instead of
//! being refused, so a token signed with a key rotated in a moment ago still verifies, while a
//! flood of forged kids costs at most one JWKS request per `min_refresh`.
//!
//! What a verification concludes is remembered per token until it expires
//! ([`super::token_cache`]): each token is verified once per process, not once per call.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use jsonwebtoken::{DecodingKey, Validation, errors::ErrorKind};

use super::{
    caller::{Caller, CallerKind},
    claims::{self, Claims},
    keys::{ALGORITHM, PublicKey},
    token_cache::{Cached, TokenCache},
};
use crate::secret::Secret;

/// Where public keys come from: identity's GetJwks over gRPC, or identity's own key ring.
pub trait KeySource: Send + Sync + 'static {
    fn fetch(&self) -> BoxFuture<'_, anyhow::Result<Vec<PublicKey>>>;
}

/// What a token must say to be accepted.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub issuer: String,
    /// Audience of end-user tokens.
    pub audience: String,
    /// Audience of service tokens.
    pub service_audience: String,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: "mercato-identity".into(),
            audience: "mercato".into(),
            service_audience: "mercato-internal".into(),
        }
    }
}

/// Why a token was refused. The message is safe to return to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("token signed by an unknown key")]
    UnknownKey,
    #[error("token expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("signing keys are unavailable")]
    KeysUnavailable,
}

/// A token naming an unknown key refetches the JWKS at most this often: often enough that a
/// freshly rotated key is learned within a second, rarely enough that forged kids cannot turn
/// into a flood of JWKS requests.
pub const MIN_KEY_REFRESH: Duration = Duration::from_secs(1);

/// Clock skew tolerated on exp/nbf.
const LEEWAY_SECS: u64 = 30;
/// Cached keys are refreshed in the background of a request this often.
const MAX_KEY_AGE: Duration = Duration::from_secs(300);
/// Verified tokens remembered at once: a few megabytes at most (an entry is about one token's
/// length plus its claims). Past it, entries are dropped, expired ones first.
pub const TOKEN_CACHE_ENTRIES: usize = 4096;

pub struct Verifier {
    settings: AuthSettings,
    source: Box<dyn KeySource>,
    min_refresh: Duration,
    cache: RwLock<Cache>,
    refreshing: tokio::sync::Mutex<()>,
    tokens: TokenCache,
    /// Unix seconds; the one clock that both fresh and remembered verifications check exp
    /// and nbf against.
    clock: fn() -> u64,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("settings", &self.settings)
            .field("min_refresh", &self.min_refresh)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
}

impl Verifier {
    pub fn new(settings: AuthSettings, source: impl KeySource, min_refresh: Duration) -> Self {
        Self {
            settings,
            source: Box::new(source),
            min_refresh,
            cache: RwLock::new(Cache::default()),
            refreshing: tokio::sync::Mutex::new(()),
            tokens: TokenCache::new(TOKEN_CACHE_ENTRIES),
            clock: claims::now,
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Verifies signature, algorithm, issuer, audience, exp and nbf, and returns the caller.
    /// A token verified before is answered from memory until the second it expires.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let now = (self.clock)();
        match self.tokens.get(token, now) {
            Cached::Valid(caller) => return Ok(caller),
            Cached::Expired => return Err(AuthError::Expired),
            Cached::Miss => {}
        }
        let (caller, valid_until) = self.verify_fresh(token, now).await?;
        self.tokens.insert(token, &caller, valid_until, now);
        Ok(caller)
    }

    /// The whole verification; returns the caller and the last second its token is valid.
    async fn verify_fresh(&self, token: &str, now: u64) -> Result<(Caller, u64), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        // Pinned: whatever the header claims, only EdDSA is ever verified ("none", HS256 with
        // the public key as secret, and the rest are refused before any key is touched).
        if header.alg != ALGORITHM {
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(AuthError::Invalid("no kid in header".into()))?;
        let key = self.key(&kid).await?;

        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience, &self.settings.service_audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // exp and nbf are checked below, against `self.clock`, as remembered tokens are.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
                ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience".into()),
                ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer".into()),
                ErrorKind::InvalidAlgorithm => AuthError::Algorithm(format!("{:?}", header.alg)),
                _ => AuthError::Malformed,
            })?
            .claims;
        let valid_until = claims.exp.saturating_add(LEEWAY_SECS);
        if now > valid_until {
            return Err(AuthError::Expired);
        }
        if claims.nbf > now.saturating_add(LEEWAY_SECS) {
            return Err(AuthError::Invalid("not valid yet".into()));
        }
        let kind = if claims.aud == self.settings.service_audience { CallerKind::Service } else { CallerKind::User };
        let caller = Caller {
            subject: claims.sub,
            email: claims.email,
            roles: claims.roles,
            kind,
            token: Secret::new(token.to_string()),
        };
        Ok((caller, valid_until))
    }

    async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, AuthError> {
        let (cached, stale) = {
            let cache = self.cache.read().map_err(|_| AuthError::KeysUnavailable)?;
            let stale = cache.fetched_at.is_none_or(|at| at.elapsed() > MAX_KEY_AGE);
            (cache.keys.get(kid).cloned(), stale)
        };
        match cached {
            Some(key) if !stale => Ok(key),
            Some(key) => {
                // Known key, old cache: refresh, but a failed refresh must not refuse a key we know.
                let _ = self.refresh(None).await;
                Ok(self.cached(kid).unwrap_or(key))
            }
            None => {
                self.refresh(Some(kid)).await?;
                self.cached(kid).ok_or(AuthError::UnknownKey)
            }
        }
    }

    fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.cache.read().ok()?.keys.get(kid).cloned()
    }

    /// Refetches the key set. For an unknown kid it waits for the next refresh slot; a routine
    /// refresh (`missing: None`) is skipped when the last one is recent.
    async fn refresh(&self, missing: Option<&str>) -> Result<(), AuthError> {
        let _one_at_a_time = self.refreshing.lock().await;
        if let Some(kid) = missing
            && self.cached(kid).is_some()
        {
            // Learned while this request waited for the lock.
            return Ok(());
        }
        let last = self.cache.read().map_err(|_| AuthError::KeysUnavailable)?.fetched_at;
        if let Some(at) = last
            && at.elapsed() < self.min_refresh
        {
            if missing.is_none() {
                return Ok(());
            }
            tokio::time::sleep(self.min_refresh.saturating_sub(at.elapsed())).await;
        }
        let for_unknown_kid = missing.is_some();
        let keys = match self.source.fetch().await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), for_unknown_kid, "fetching signing keys failed");
                return Err(AuthError::KeysUnavailable);
            }
        };
        let keys: HashMap<_, _> =
            keys.into_iter().filter_map(|k| Some((k.kid.clone(), Arc::new(k.decoding_key()?)))).collect();
        tracing::debug!(keys = keys.len(), "signing keys refreshed");
        let mut cache = self.cache.write().map_err(|_| AuthError::KeysUnavailable)?;
        cache.keys = keys;
        cache.fetched_at = Some(Instant::now());
        Ok(())
    }
}

/// Keys held in memory: identity's own ring, and tests.
#[derive(Debug, Clone, Default)]
pub struct StaticKeys(pub Arc<RwLock<Vec<PublicKey>>>);

impl KeySource for StaticKeys {
    fn fetch(&self) -> BoxFuture<'_, anyhow::Result<Vec<PublicKey>>> {
        Box::pin(async move { self.0.read().map(|k| k.clone()).map_err(|_| anyhow::anyhow!("key ring poisoned")) })
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;
    use crate::auth::{claims::now, keys::SigningKey};

    fn claims(aud: &str, exp: u64) -> Claims {
        Claims {
            sub: "user-1".into(),
            email: "a@example.com".into(),
            roles: vec!["customer".into()],
            iss: "mercato-identity".into(),
            aud: aud.into(),
            iat: now(),
            nbf: now(),
            exp,
            jti: "j".into(),
        }
    }

    fn verifier(keys: &[&SigningKey]) -> Verifier {
        let ring = StaticKeys::default();
        *ring.0.write().unwrap() = keys.iter().map(|k| k.public().clone()).collect();
        Verifier::new(AuthSettings::default(), ring, Duration::ZERO)
    }

    #[tokio::test]
    async fn accepts_a_good_token_and_tells_users_from_services() {
        let key = SigningKey::generate().unwrap();
        let v = verifier(&[&key]);
        let user = v.verify(&key.sign(&claims("mercato", now() + 60)).unwrap()).await.unwrap();
        assert_eq!((user.subject.as_str(), user.kind), ("user-1", CallerKind::User));
        let service = v.verify(&key.sign(&claims("mercato-internal", now() + 60)).unwrap()).await.unwrap();
        assert_eq!(service.kind, CallerKind::Service);
    }

    #[tokio::test]
    async fn refuses_expired_tampered_foreign_and_wrong_audience_tokens() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let v = verifier(&[&key]);
        let expired = key.sign(&claims("mercato", now() - 120)).unwrap();
        assert_eq!(v.verify(&expired).await.unwrap_err(), AuthError::Expired);
        let wrong_aud = key.sign(&claims("elsewhere", now() + 60)).unwrap();
        assert!(matches!(v.verify(&wrong_aud).await.unwrap_err(), AuthError::Invalid(_)));
        assert_eq!(
            v.verify(&other.sign(&claims("mercato", now() + 60)).unwrap()).await.unwrap_err(),
            AuthError::UnknownKey
        );

        let good = key.sign(&claims("mercato", now() + 60)).unwrap();
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        let mut body: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        body["roles"] = serde_json::json!(["admin"]);
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap());
        assert!(matches!(v.verify(&parts.join(".")).await.unwrap_err(), AuthError::Invalid(_)));

        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#, key.kid())),
            parts[1]
        );
        assert!(v.verify(&none).await.is_err());
        assert_eq!(v.verify("not a token").await.unwrap_err(), AuthError::Malformed);
    }

    /// The clock of the one test that moves time.
    static CLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    fn test_clock() -> u64 {
        CLOCK.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_remembered_token_expires_on_time_and_a_token_one_byte_off_is_verified_afresh() {
        let key = SigningKey::generate().unwrap();
        let mut v = verifier(&[&key]);
        v.clock = test_clock;
        let start = now();
        CLOCK.store(start, std::sync::atomic::Ordering::SeqCst);
        let exp = start + 60;
        let token = key.sign(&claims("mercato", exp)).unwrap();
        assert_eq!(v.verify(&token).await.unwrap().subject, "user-1");
        assert!(matches!(v.tokens.get(&token, start), Cached::Valid(_)), "remembered after one verification");

        // One byte off, in the signature or in the claims: not the remembered token.
        let mut signature_off = token.clone().into_bytes();
        let last = signature_off.len() - 2;
        signature_off[last] = if signature_off[last] == b'A' { b'B' } else { b'A' };
        let signature_off = String::from_utf8(signature_off).unwrap();
        assert!(matches!(v.verify(&signature_off).await.unwrap_err(), AuthError::Invalid(_)));
        let dot = token.find('.').unwrap() + 3;
        let mut claims_off = token.clone().into_bytes();
        claims_off[dot] = if claims_off[dot] == b'x' { b'y' } else { b'x' };
        assert!(v.verify(&String::from_utf8(claims_off).unwrap()).await.is_err());
        assert_eq!(v.tokens.len(), 1, "refused tokens are not remembered");

        // Valid through exp plus the leeway, refused the second after, as a fresh one is.
        CLOCK.store(exp + LEEWAY_SECS, std::sync::atomic::Ordering::SeqCst);
        v.verify(&token).await.unwrap();
        CLOCK.store(exp + LEEWAY_SECS + 1, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(v.verify(&token).await.unwrap_err(), AuthError::Expired);
        assert_eq!(v.verify(&token).await.unwrap_err(), AuthError::Expired, "and afresh");
        let fresh = key.sign(&Claims { jti: "another".into(), ..claims("mercato", exp) }).unwrap();
        assert_eq!(v.verify(&fresh).await.unwrap_err(), AuthError::Expired, "a never-seen token with that exp");
    }

    /// Counts fetches, to see the refresh bound at work.
    struct Counting(StaticKeys, Arc<std::sync::atomic::AtomicUsize>);

    impl KeySource for Counting {
        fn fetch(&self) -> BoxFuture<'_, anyhow::Result<Vec<PublicKey>>> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.fetch()
        }
    }

    #[tokio::test]
    async fn a_rotated_in_key_is_learned_and_forged_kids_are_rate_limited() {
        let old = SigningKey::generate().unwrap();
        let ring = StaticKeys::default();
        *ring.0.write().unwrap() = vec![old.public().clone()];
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let v =
            Verifier::new(AuthSettings::default(), Counting(ring.clone(), fetches.clone()), Duration::from_millis(200));
        v.verify(&old.sign(&claims("mercato", now() + 60)).unwrap()).await.unwrap();

        // Rotation: the new key is published, and a token signed with it arrives at once.
        let new = SigningKey::generate().unwrap();
        ring.0.write().unwrap().push(new.public().clone());
        v.verify(&new.sign(&claims("mercato", now() + 60)).unwrap()).await.unwrap();

        // Forged kids: refreshes stay spaced by min_refresh however fast they arrive.
        let before = fetches.load(std::sync::atomic::Ordering::SeqCst);
        let started = Instant::now();
        for _ in 0..10 {
            let forged = SigningKey::generate().unwrap();
            let token = forged.sign(&claims("mercato", now() + 60)).unwrap();
            assert_eq!(v.verify(&token).await.unwrap_err(), AuthError::UnknownKey);
        }
        let spent = u32::try_from(fetches.load(std::sync::atomic::Ordering::SeqCst) - before).unwrap();
        let allowed = started.elapsed().as_millis() / 200 + 1;
        assert!(u128::from(spent) <= allowed, "{spent} fetches in {:?}", started.elapsed());
    }
}
