//! orders' gRPC API: the caller's cart and orders (the saga's replies arrive as events).

pub mod cart;
pub mod convert;
pub mod orders;

use mercato_kit::auth::{Access, Caller, authorize};
use tonic::{Request, Status};

/// The signed-in caller; every RPC of orders acts for one.
fn signed_in<T>(request: &Request<T>) -> Result<Caller, Status> {
    authorize(request, Access::Authenticated)?.cloned().ok_or_else(|| Status::unauthenticated("sign in first"))
}
