//! sea-orm entities for payments' tables (see the migration for constraints).

pub mod payment;
