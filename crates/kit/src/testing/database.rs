//! Databases that exist for one test: a SQLite file in a temporary folder, or a fresh
//! PostgreSQL database on the machine's server, dropped afterwards.

use sea_orm::{ConnectionTrait, Database};

/// PostgreSQL server the tests create their databases on. Override with `MERCATO_TEST_PG_URL`.
/// No TLS on loopback: sqlx's handshake costs ~170 ms per connection here, paid by every test
/// database's pool, and encryption shows in every profile of the events pipeline.
pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test: a SQLite file in a temporary folder, or a freshly
/// created PostgreSQL database that is dropped when this value is.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    backend: Backend,
    // Keeps the SQLite folder alive.
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                Ok(Self { url, backend, _dir: Some(dir), pg: None })
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let name = format!("mercato_test_{}", uuid::Uuid::new_v4().simple());
                let conn = Database::connect(&admin)
                    .await
                    .map_err(|e| anyhow::anyhow!("connecting to PostgreSQL at {admin} for a test database: {e}"))?;
                conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
                conn.close().await?;
                let url = database_url(&admin, &name)?;
                Ok(Self { url, backend, _dir: None, pg: Some((admin, name)) })
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Path of the SQLite file, for tests that lock it from outside.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self._dir.as_ref().map(|d| d.path().join("test.db"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else {
            return;
        };
        // Drop runs outside async code paths; a short-lived thread with its own runtime does it.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let conn = Database::connect(&admin).await.ok()?;
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()?;
                conn.close().await.ok()
            })
        })
        .join();
    }
}

/// `admin` with its database replaced by `name`, its query (sslmode…) kept.
fn database_url(admin: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = admin.split_once('?').map_or((admin, None), |(base, query)| (base, Some(query)));
    let Some((server, _)) = base.rsplit_once('/') else {
        anyhow::bail!("MERCATO_TEST_PG_URL has no database part");
    };
    Ok(match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    })
}

fn pg_admin_url() -> String {
    std::env::var("MERCATO_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_test_database_url_keeps_the_servers_options() {
        assert_eq!(
            super::database_url("postgres://u@h:5432/postgres?sslmode=disable", "t1").unwrap(),
            "postgres://u@h:5432/t1?sslmode=disable"
        );
        assert_eq!(super::database_url("postgres://u@h/postgres", "t2").unwrap(), "postgres://u@h/t2");
    }
}
