//! orders' schema, owned by orders alone. Migrations run at start-up (or with `orders migrate`).

mod m0001_orders;

mercato_kit::migrator!(m0001_orders);
