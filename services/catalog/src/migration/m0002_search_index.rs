//! Trigram indexes for ListProducts' free-text search on PostgreSQL.
//!
//! The search is a substring match (`lower(name) LIKE '%…%' OR lower(description) LIKE …`),
//! which no B-tree can serve: without these, every search page scanned the whole table (about
//! 11 ms of CPU over 10,000 products, issue 13). pg_trgm's GIN indexes answer the same LIKE with
//! the same results, so the query does not change. pg_trgm ships with PostgreSQL and is a
//! trusted extension (any role that may create objects in the database can enable it); where it
//! cannot be enabled anyway, search keeps working by scanning, and catalog warns at start-up.
//! SQLite, the embedded default for development, keeps the scan.
//!
//! `fastupdate = off`: with GIN's default, new rows wait in a pending list that every search
//! reads through until (auto)vacuum merges it; 10,000 products loaded at once made each search
//! 27 ms instead of 1. Products are written rarely and read all the time, so each write updates
//! the index itself.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

/// The index on names; start-up looks for it to tell whether search is indexed.
pub(crate) const NAME_INDEX: &str = "idx_products_name_trgm";

/// The statements that make both indexes once pg_trgm is enabled: run by the migration, and
/// printed by start-up's warning for an operator to run where the migration could not.
pub(crate) const CREATE_INDEXES: &str = "\
CREATE INDEX IF NOT EXISTS idx_products_name_trgm ON products USING gin (lower(name) gin_trgm_ops) WITH (fastupdate = off); \
CREATE INDEX IF NOT EXISTS idx_products_description_trgm ON products USING gin (lower(description) gin_trgm_ops) WITH (fastupdate = off);";

// async_trait rewrites these signatures; spelling out `SchemaManager<'_>` would break them.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        // One DO block: an extension that cannot be enabled is a notice, not a failed migration.
        db.execute_unprepared(&format!(
            r#"DO $$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm cannot be enabled (%): product search will scan the table', SQLERRM;
    END;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        {CREATE_INDEXES}
    END IF;
END
$$"#
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP INDEX IF EXISTS idx_products_name_trgm").await?;
            db.execute_unprepared("DROP INDEX IF EXISTS idx_products_description_trgm").await?;
        }
        Ok(())
    }
}
