//! Who is calling: put into request extensions by the auth layer.

use tonic::Request;

use crate::secret::Secret;

/// A signed-in user, or another service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    User,
    Service,
}

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user id, or `service:<name>`.
    pub subject: String,
    pub email: String,
    pub roles: Vec<String>,
    pub kind: CallerKind,
    /// The bearer token as received, to forward when acting for this caller.
    pub token: Secret<String>,
}

pub const ROLE_ADMIN: &str = "admin";
pub const ROLE_CUSTOMER: &str = "customer";

impl Caller {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn is_admin(&self) -> bool {
        self.kind == CallerKind::User && self.has_role(ROLE_ADMIN)
    }

    /// The caller of `request`, if it presented a valid token.
    pub fn of<T>(request: &Request<T>) -> Option<&Caller> {
        request.extensions().get::<Caller>()
    }
}
