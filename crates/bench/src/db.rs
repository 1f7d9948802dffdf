//! A PostgreSQL database that exists for one bench run.

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database};

/// A freshly created database; [`BenchDatabase::drop_now`] removes it.
pub struct BenchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl BenchDatabase {
    /// Creates `mercato_bench_<random>` on the server `admin_url` points at.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("mercato_bench_{}", uuid::Uuid::new_v4().simple());
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) if server.contains("://") && !server.ends_with('/') => {
                format!("{server}/{name}")
            }
            _ => anyhow::bail!("--pg-admin-url {admin_url:?} has no /<database> part"),
        };
        let conn =
            Database::connect(admin_url).await.with_context(|| format!("connecting to PostgreSQL at {admin_url}"))?;
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating database {name}"))?;
        conn.close().await?;
        Ok(Self { admin_url: admin_url.to_string(), name, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, disconnecting anything still attached to it.
    pub async fn drop_now(self) -> anyhow::Result<()> {
        let conn = Database::connect(&self.admin_url)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {}", self.admin_url))?;
        conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            .await
            .with_context(|| format!("dropping database {}", self.name))?;
        conn.close().await?;
        Ok(())
    }
}
