//! catalog's schema, owned by catalog alone. Migrations run at start-up (or with `catalog migrate`).

mod m0001_catalog;

mercato_kit::migrator!(m0001_catalog);
