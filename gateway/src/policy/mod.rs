//! Edge policies, each a tower layer, stacked in `startup::edge_service` (outermost first):
//! observe (request id, span, RED metrics by route, access log) → CORS → authentication →
//! rate limits.

pub mod auth;
pub mod kind;
pub mod observe;
pub mod ratelimit;
pub mod route;
