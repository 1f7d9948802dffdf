//! Protobuf ⇄ domain for identity.

use mercato::identity::v1 as pb;
use mercato_kit::error::FieldViolations;

use crate::{
    domain::address::{self as rules, NewAddress},
    storage::{entity, sessions::Issued},
};

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

pub fn new_address(a: Option<&pb::Address>, v: &mut FieldViolations) -> Option<NewAddress> {
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
