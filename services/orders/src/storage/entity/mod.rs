//! sea-orm entities for orders' tables (see the migration for constraints).

pub mod cart_item;
pub mod order;
pub mod order_line;
pub mod order_step;
