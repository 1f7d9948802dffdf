//! sea-orm entities for catalog's tables (see the migration for constraints).

pub mod category;
pub mod inventory;
pub mod product;
pub mod product_category;
pub mod reservation;
pub mod reservation_line;
