//! identity's schema, owned by identity alone. Migrations run at start-up (or with `identity migrate`).

mod m0001_identity;

mercato_kit::migrator!(m0001_identity);
