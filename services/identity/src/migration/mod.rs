//! identity's schema, owned by identity alone.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m0001_identity;

pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m0001_identity::Migration)]
    }
}
