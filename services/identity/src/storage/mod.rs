//! Repository functions over identity's tables.

pub mod addresses;
pub mod entity;
pub mod sessions;
pub mod users;
