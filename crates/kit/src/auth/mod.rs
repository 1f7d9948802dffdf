//! Authentication and authorization, the same in every service.
//!
//! Identity signs access tokens (JWT, EdDSA/Ed25519, `kid` in the header) and publishes its
//! public keys as a JWKS. Every other binary verifies tokens locally with those keys: no call to
//! identity per request. The [`layer::AuthLayer`] turns a valid bearer token into a [`Caller`]
//! in the request's extensions and refuses an invalid one with UNAUTHENTICATED; each RPC then
//! states its [`policy::Access`] in one line.
//!
//! Services calling services: when acting for a user they forward that user's token; otherwise
//! they present a short-lived *service token* that identity issues against a client secret
//! (the OAuth2 client-credentials pattern). Service tokens carry a different audience than user
//! tokens, so an end user's token can never pass an `Internal` policy, and vice versa. We chose
//! tokens over mTLS because they need no certificate authority to run `just dev`, work through
//! any proxy, and reuse the verifier every service already has; mTLS can be layered under them
//! in a cluster (a mesh sidecar) without changing this code.

pub mod caller;
pub mod claims;
pub mod jwks_client;
pub mod keys;
pub mod layer;
pub mod policy;
pub mod service_token;
mod token_cache;
pub mod verifier;

pub use caller::{Caller, CallerKind};
pub use claims::Claims;
pub use keys::{PublicKey, SigningKey};
pub use layer::AuthLayer;
pub use policy::{Access, authorize};
pub use verifier::{AuthError, AuthSettings, KeySource, Verifier};
