//! What a notification says, independent of how it is delivered.

pub mod email;
pub mod html;
pub mod templates;
