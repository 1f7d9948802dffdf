//! payments' schema, owned by payments alone. Migrations run at start-up (or with `payments migrate`).

mod m0001_payments;

mercato_kit::migrator!(m0001_payments);
