//! Password hashing, refresh tokens and the signing-key ring.

pub mod keyring;
pub mod passwords;
pub mod refresh;
