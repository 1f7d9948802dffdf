//! Protobuf ⇄ domain for identity.

use mercato::identity::v1 as pb;
use mercato_kit::error::FieldViolations;

use tonic::Status;

use crate::{
    domain::{
        address::{self as rules, NewAddress},
        credentials::{self, DisplayName, Email, Password},
    },
    storage::{entity, sessions::Issued},
};

/// A validated Register.
#[derive(Debug)]
pub struct Registration {
    pub email: Email,
    pub display_name: DisplayName,
    pub password: Password,
}

pub fn register_request(req: &pb::RegisterRequest) -> Result<Registration, Status> {
    let mut v = FieldViolations::new();
    let email = v.check("email", Email::parse(&req.email));
    let display_name = v.check("display_name", DisplayName::parse(&req.display_name));
    let password = v.check("password", Password::parse(&req.password, &req.email));
    let (email, (display_name, password)) = v.finish(email.zip(display_name.zip(password)))?;
    Ok(Registration { email, display_name, password })
}

/// A login attempt. The email is only normalised, not checked for shape: a malformed one
/// simply matches no account, and answers like any wrong credential.
#[derive(Debug)]
pub struct LoginAttempt {
    pub email: String,
    pub password: String,
}

pub fn login_request(req: pb::LoginRequest) -> Result<LoginAttempt, Status> {
    let mut v = FieldViolations::new();
    if req.email.trim().is_empty() {
        v.add("email", "is required");
    }
    if req.password.is_empty() {
        v.add("password", "is required");
    }
    if req.password.chars().count() > credentials::MAX_PASSWORD {
        v.add("password", format!("must be at most {} characters", credentials::MAX_PASSWORD));
    }
    v.finish(Some(()))?;
    Ok(LoginAttempt { email: req.email.trim().to_lowercase(), password: req.password })
}

/// The refresh token presented (opaque; at most 256 characters).
pub fn refresh_request(req: pb::RefreshRequest) -> Result<String, Status> {
    let mut v = FieldViolations::new();
    if req.refresh_token.is_empty() || req.refresh_token.len() > 256 {
        v.add("refresh_token", "is required (at most 256 characters)");
    }
    v.finish(Some(req.refresh_token))
}

/// UpdateProfile may change the display name only.
pub fn update_profile_request(req: pb::UpdateProfileRequest) -> Result<DisplayName, Status> {
    let mut v = FieldViolations::new();
    let Some(user) = req.user else {
        v.add("user", "is required");
        return Err(v.into_status());
    };
    for path in req.update_mask.map(|m| m.paths).unwrap_or_default() {
        if path != "display_name" {
            v.add("update_mask", format!("{path:?} cannot be updated here; only display_name can"));
        }
    }
    let display_name = v.check("user.display_name", DisplayName::parse(&user.display_name));
    v.finish(display_name)
}

pub fn add_address_request(req: &pb::AddAddressRequest) -> Result<NewAddress, Status> {
    let mut v = FieldViolations::new();
    let new = new_address(req.address.as_ref(), &mut v);
    v.finish(new)
}

/// An address id as the caller sent it: another user's, or a made-up one, reads as NOT_FOUND.
pub fn address_id_request(raw: &str) -> Result<String, Status> {
    let mut v = FieldViolations::new();
    if raw.is_empty() || raw.len() > 64 {
        v.add("address_id", "is required (at most 64 characters)");
    }
    v.finish(Some(raw.to_string()))
}

pub use mercato_kit::time::timestamp;

pub fn user(u: &entity::user::Model) -> pb::User {
    pb::User {
        id: u.id.clone(),
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        roles: u.role_list(),
        create_time: Some(timestamp(u.created_at)),
        update_time: Some(timestamp(u.updated_at)),
    }
}

pub fn address(a: entity::address::Model) -> pb::Address {
    pb::Address {
        id: a.id,
        recipient_name: a.recipient_name,
        address_lines: serde_json::from_str(&a.address_lines).unwrap_or_default(),
        city: a.city,
        region: a.region,
        postal_code: a.postal_code,
        country_code: a.country_code,
        phone: a.phone,
        is_default: a.is_default,
        create_time: Some(timestamp(a.created_at)),
    }
}

pub fn tokens(access: (String, chrono::DateTime<chrono::Utc>), refresh: Issued) -> pb::AuthTokens {
    let (access_token, access_expires) = access;
    let expires_in = (access_expires - chrono::Utc::now()).num_seconds().max(0);
    pb::AuthTokens {
        access_token,
        token_type: "Bearer".into(),
        access_token_expire_time: Some(timestamp(access_expires)),
        expires_in: i32::try_from(expires_in).unwrap_or(i32::MAX),
        refresh_token: refresh.token,
        refresh_token_expire_time: Some(timestamp(refresh.expires_at)),
    }
}

fn new_address(a: Option<&pb::Address>, v: &mut FieldViolations) -> Option<NewAddress> {
    let Some(a) = a else {
        v.add("address", "is required");
        return None;
    };
    let recipient_name = v.check("address.recipient_name", rules::required(&a.recipient_name));
    let lines = v.check("address.address_lines", rules::lines(&a.address_lines));
    let city = v.check("address.city", rules::required(&a.city));
    let region = v.check("address.region", rules::optional(&a.region));
    let postal_code = v.check("address.postal_code", rules::optional(&a.postal_code));
    let country_code = v.check("address.country_code", rules::country_code(&a.country_code));
    let phone = v.check("address.phone", rules::phone(&a.phone));
    Some(NewAddress {
        recipient_name: recipient_name?,
        lines: lines?,
        city: city?,
        region: region?,
        postal_code: postal_code?,
        country_code: country_code?,
        phone: phone?,
        make_default: a.is_default,
    })
}
