//! sea-orm entities for shipping's tables (see the migration for constraints).

pub mod shipment;
