//! notifications' tables: contacts and the notifications sent.

pub mod contacts;
pub mod entity;
pub mod notifications;
