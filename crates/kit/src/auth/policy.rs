//! Per-RPC access policies. Each handler names its policy in its first line; owner-only
//! resources are looked up by the caller's own id, so another user's resource reads as
//! NOT_FOUND (its existence never leaks).

use tonic::{Request, Status};

use super::caller::{Caller, CallerKind};

/// Who may call an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, with or without a token.
    Public,
    /// A signed-in end user (owner-only RPCs act on the caller's own resources).
    Authenticated,
    /// An end user with the admin role.
    Admin,
    /// Another mercato service presenting a service token; never an end user's token.
    Internal,
}

/// Checks `request` against `access`; returns the caller when there is one.
pub fn authorize<T>(request: &Request<T>, access: Access) -> Result<Option<&Caller>, Status> {
    let caller = Caller::of(request);
    match access {
        Access::Public => Ok(caller),
        Access::Authenticated => match caller {
            Some(c) if c.kind == CallerKind::User => Ok(Some(c)),
            Some(_) => Err(Status::permission_denied("this call needs an end user's token")),
            None => Err(unauthenticated()),
        },
        Access::Admin => match caller {
            Some(c) if c.is_admin() => Ok(Some(c)),
            Some(_) => Err(Status::permission_denied("this call needs the admin role")),
            None => Err(unauthenticated()),
        },
        Access::Internal => match caller {
            Some(c) if c.kind == CallerKind::Service => Ok(Some(c)),
            Some(_) => Err(Status::permission_denied("this call is for mercato services only")),
            None => Err(unauthenticated()),
        },
    }
}

/// The signed-in end user, for owner-only RPCs.
pub fn user<T>(request: &Request<T>) -> Result<&Caller, Status> {
    authorize(request, Access::Authenticated)?.ok_or_else(unauthenticated)
}

fn unauthenticated() -> Status {
    Status::unauthenticated("sign in: this call needs a bearer token")
}
