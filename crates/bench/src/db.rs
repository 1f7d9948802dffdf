//! A PostgreSQL database that exists for one bench run.

use std::fmt;

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database};

/// A freshly created database; [`BenchDatabase::drop_now`] removes it.
pub struct BenchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

/// Both URLs may carry a password: only the database's name is shown.
impl fmt::Debug for BenchDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BenchDatabase").field("name", &self.name).finish_non_exhaustive()
    }
}

impl BenchDatabase {
    /// Creates `mercato_bench_<random>` on the server `admin_url` points at.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("mercato_bench_{}", uuid::Uuid::new_v4().simple());
        let url = database_url(admin_url, &name)?;
        let conn =
            Database::connect(admin_url).await.with_context(|| format!("connecting to PostgreSQL at {admin_url}"))?;
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating database {name}"))?;
        conn.close().await?;
        Ok(Self { admin_url: admin_url.to_string(), name, url })
    }

    /// The URL catalog gets: the admin URL with its database swapped.
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

/// `admin_url` with its database part replaced by `name`; query options (such as
/// `?sslmode=disable`) are kept.
fn database_url(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    match base.rsplit_once('/') {
        Some((server, _)) if server.contains("://") && !server.ends_with('/') => Ok(format!("{server}/{name}{query}")),
        _ => anyhow::bail!("--pg-admin-url {admin_url:?} has no /<database> part"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_swapped_and_options_kept() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "b").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            database_url("postgres://u@h/postgres?sslmode=disable", "b").unwrap(),
            "postgres://u@h/b?sslmode=disable"
        );
        assert!(database_url("postgres://u@h", "b").is_err());
    }
}
