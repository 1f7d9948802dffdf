//! catalog's schema, owned by catalog alone. Migrations run at start-up (or with `catalog migrate`).

mod m0001_catalog;
pub(crate) mod m0002_search_index;

mercato_kit::migrator!(m0001_catalog, m0002_search_index);
