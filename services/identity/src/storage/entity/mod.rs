//! sea-orm entities for identity's tables.

pub mod address;
pub mod refresh_token;
pub mod signing_key;
pub mod user;
