//! catalog's schema, owned by catalog alone. Migrations run at start-up (or with `catalog migrate`).

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m0001_catalog;

pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m0001_catalog::Migration)]
    }
}
