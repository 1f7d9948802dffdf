//! sea-orm entities for notifications' tables (see the migration for constraints).

pub mod contact;
pub mod notification;
