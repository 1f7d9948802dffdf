//! The keys identity signs with and publishes.
//!
//! In dev the ring lives in identity's database: a key is generated on first start and kept;
//! `RotateSigningKey` adds a new one and retires the old, which stays published until every
//! token it signed has expired. In production keys come from PEM files (the first signs, all
//! are published, so the next key can be published before it starts signing).

use std::{
    fmt,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::Utc;
use futures::future::BoxFuture;
use mercato_kit::auth::{KeySource, PublicKey, SigningKey};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};

use crate::{error::Error, storage::entity::signing_key};

/// Where keys come from.
#[derive(Debug, Clone)]
pub enum KeyOrigin {
    Database,
    Files(Vec<PathBuf>),
}

struct Ring {
    active: Arc<SigningKey>,
    published: Vec<PublicKey>,
}

/// Cheap to clone; shared by the API, the verifier and the admin JWKS route.
#[derive(Clone)]
pub struct KeyRing {
    ring: Arc<RwLock<Ring>>,
    origin: KeyOrigin,
    db: DatabaseConnection,
    /// Retired keys stay published this long (longest token lifetime plus clock leeway).
    publish_retired_for: Duration,
}

/// Key ids only: the signing key itself is never shown.
impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_read`: a Debug call must never block on (or deadlock with) a rotation.
        let ring = self.ring.try_read().ok();
        f.debug_struct("KeyRing")
            .field("active_kid", &ring.as_ref().map(|r| r.active.kid().to_string()))
            .field(
                "published_kids",
                &ring.as_ref().map(|r| r.published.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>()),
            )
            .field("origin", &self.origin)
            .field("publish_retired_for", &self.publish_retired_for)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads the ring, generating the first key in dev.
    pub async fn load(
        db: DatabaseConnection,
        origin: KeyOrigin,
        publish_retired_for: Duration,
    ) -> anyhow::Result<Self> {
        let ring = match &origin {
            KeyOrigin::Files(paths) => ring_from_files(paths)?,
            KeyOrigin::Database => ring_from_database(&db, publish_retired_for).await?,
        };
        tracing::info!(
            active_kid = ring.active.kid(),
            published = ring.published.len(),
            ?origin,
            "signing keys loaded"
        );
        Ok(Self { ring: Arc::new(RwLock::new(ring)), origin, db, publish_retired_for })
    }

    /// The key that signs now.
    pub fn active(&self) -> Result<Arc<SigningKey>, Error> {
        Ok(self.read()?.active.clone())
    }

    /// Every key in the JWKS.
    pub fn published(&self) -> Result<Vec<PublicKey>, Error> {
        Ok(self.read()?.published.clone())
    }

    /// Rereads the database (other replicas may have rotated).
    pub async fn reload(&self) -> anyhow::Result<()> {
        if let KeyOrigin::Database = self.origin {
            let ring = ring_from_database(&self.db, self.publish_retired_for).await?;
            *self.ring.write().map_err(|_| anyhow::anyhow!("key ring poisoned"))? = ring;
        }
        Ok(())
    }

    /// Makes a new key the signer and retires the current one.
    pub async fn rotate(&self) -> Result<(String, Vec<String>), Error> {
        if let KeyOrigin::Files(_) = self.origin {
            return Err(Error::KeysFromFiles);
        }
        let key = SigningKey::generate().map_err(Error::Internal)?;
        let txn = self.db.begin().await?;
        let now = Utc::now();
        signing_key::Entity::update_many()
            .col_expr(signing_key::Column::RetiredAt, sea_orm::sea_query::Expr::value(now))
            .filter(signing_key::Column::RetiredAt.is_null())
            .exec(&txn)
            .await?;
        insert(&txn, &key).await?;
        txn.commit().await?;
        self.reload().await.map_err(Error::Internal)?;
        let ring = self.read()?;
        tracing::info!(active_kid = ring.active.kid(), "signing key rotated");
        Ok((ring.active.kid().to_string(), ring.published.iter().map(|k| k.kid.clone()).collect()))
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Ring>, Error> {
        self.ring.read().map_err(|_| Error::Internal(anyhow::anyhow!("key ring poisoned")))
    }
}

/// identity verifies its own tokens against its ring; asked for keys (an unknown kid, at most
/// once a second), it first rereads the database, where another replica may have rotated.
impl KeySource for KeyRing {
    fn fetch(&self) -> BoxFuture<'_, anyhow::Result<Vec<PublicKey>>> {
        Box::pin(async move {
            self.reload().await?;
            self.published().map_err(|e| anyhow::anyhow!("{e}"))
        })
    }
}

fn ring_from_files(paths: &[PathBuf]) -> anyhow::Result<Ring> {
    let mut keys = Vec::new();
    for path in paths {
        let pem = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        keys.push(SigningKey::from_pkcs8_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?);
    }
    let mut keys = keys.into_iter();
    let active = keys.next().ok_or_else(|| anyhow::anyhow!("no signing key files"))?;
    let mut published = vec![active.public().clone()];
    published.extend(keys.map(|k| k.public().clone()));
    Ok(Ring { active: Arc::new(active), published })
}

async fn ring_from_database(db: &DatabaseConnection, publish_retired_for: Duration) -> anyhow::Result<Ring> {
    let mut rows = signing_key::Entity::find().order_by_desc(signing_key::Column::CreatedAt).all(db).await?;
    if !rows.iter().any(|r| r.retired_at.is_none()) {
        let key = SigningKey::generate()?;
        tracing::info!(kid = key.kid(), "no signing key yet: generated one");
        insert(db, &key).await?;
        rows = signing_key::Entity::find().order_by_desc(signing_key::Column::CreatedAt).all(db).await?;
    }
    let cutoff = Utc::now() - chrono::Duration::from_std(publish_retired_for)?;
    let mut active = None;
    let mut published = Vec::new();
    for row in rows {
        let seed: [u8; 32] = STANDARD
            .decode(&row.seed)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("signing key {} has a malformed seed", row.kid))?;
        let key = SigningKey::from_seed(seed)?;
        match row.retired_at {
            None if active.is_none() => {
                published.push(key.public().clone());
                active = Some(key);
            }
            Some(retired) if retired < cutoff => {}
            _ => published.push(key.public().clone()),
        }
    }
    let active = active.ok_or_else(|| anyhow::anyhow!("no active signing key"))?;
    Ok(Ring { active: Arc::new(active), published })
}

async fn insert(db: &impl sea_orm::ConnectionTrait, key: &SigningKey) -> Result<(), sea_orm::DbErr> {
    signing_key::Entity::insert(signing_key::ActiveModel {
        kid: Set(key.kid().to_string()),
        seed: Set(STANDARD.encode(key.seed().expose())),
        created_at: Set(Utc::now()),
        retired_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}
