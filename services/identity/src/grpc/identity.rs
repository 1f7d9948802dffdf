//! IdentityService: accounts, sessions, profile, addresses and the JWKS.

use mercato::identity::v1::{self as pb, identity_service_server::IdentityService};
use mercato_kit::{
    auth::{Access, authorize, caller::ROLE_CUSTOMER, policy},
    db,
    events::Outbox,
};
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::convert;
use crate::{
    crypto::passwords::Passwords,
    error::Error,
    events,
    storage::{
        addresses,
        sessions::{self, Rotation},
        users,
    },
    tokens::TokenIssuer,
};

#[derive(Debug)]
pub struct IdentityApi {
    pub db: DatabaseConnection,
    pub passwords: Passwords,
    pub issuer: TokenIssuer,
    pub refresh_ttl: chrono::Duration,
    pub outbox: Outbox,
}

#[tonic::async_trait]
impl IdentityService for IdentityApi {
    async fn register(&self, request: Request<pb::RegisterRequest>) -> Result<Response<pb::RegisterResponse>, Status> {
        authorize(&request, Access::Public)?;
        let new = convert::register_request(request.get_ref())?;
        let hash = self.passwords.hash(new.password.expose()).await?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let user = users::insert(&txn, new.email.as_str(), new.display_name.as_str(), hash, &[ROLE_CUSTOMER]).await?;
        events::registered(&self.outbox, &txn, &user).await?;
        self.outbox.commit(txn).await.map_err(Error::from)?;
        tracing::info!(user_id = %user.id, "user registered");
        Ok(Response::new(pb::RegisterResponse { user: Some(convert::user(&user)) }))
    }

    async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        authorize(&request, Access::Public)?;
        let attempt = convert::login_request(request.into_inner())?;
        // Whatever the email, one argon2 verification runs: no timing oracle for accounts.
        let user = users::by_email(&self.db, &attempt.email).await?;
        let ok = self.passwords.verify(attempt.password, user.as_ref().map(|u| u.password_hash.clone())).await?;
        let Some(user) = user.filter(|_| ok) else {
            tracing::info!("login failed");
            return Err(Error::BadCredentials.into());
        };
        let access = self.issuer.access_token(&user)?;
        let refresh = sessions::start(&self.db, &user.id, self.refresh_ttl).await?;
        tracing::info!(user_id = %user.id, "login");
        Ok(Response::new(pb::LoginResponse {
            tokens: Some(convert::tokens(access, refresh)),
            user: Some(convert::user(&user)),
        }))
    }

    async fn refresh(&self, request: Request<pb::RefreshRequest>) -> Result<Response<pb::RefreshResponse>, Status> {
        authorize(&request, Access::Public)?;
        let token = convert::refresh_request(request.into_inner())?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let (user, refresh) = match sessions::rotate(&txn, &token, self.refresh_ttl).await? {
            Rotation::Rotated(user, refresh) => {
                txn.commit().await.map_err(Error::from)?;
                (user, refresh)
            }
            Rotation::Reused { family_id, user_id } => {
                // Nothing of this attempt may stand; the revocation must, so it commits alone.
                txn.rollback().await.map_err(Error::from)?;
                sessions::revoke_family(&self.db, &family_id).await?;
                tracing::warn!(%user_id, %family_id, "refresh token reuse: family revoked");
                return Err(Error::RefreshReuse.into());
            }
        };
        let access = self.issuer.access_token(&user)?;
        Ok(Response::new(pb::RefreshResponse { tokens: Some(convert::tokens(access, refresh)) }))
    }

    async fn get_me(&self, request: Request<pb::GetMeRequest>) -> Result<Response<pb::GetMeResponse>, Status> {
        let caller = policy::user(&request)?;
        let user = users::by_id(&self.db, &caller.subject)
            .await?
            .ok_or_else(|| Error::NotFound("user", caller.subject.clone()))?;
        Ok(Response::new(pb::GetMeResponse { user: Some(convert::user(&user)) }))
    }

    async fn update_profile(
        &self,
        request: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::UpdateProfileResponse>, Status> {
        let user_id = policy::user(&request)?.subject.clone();
        let display_name = convert::update_profile_request(request.into_inner())?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let updated = users::set_display_name(&txn, &user_id, display_name.as_str()).await?;
        events::profile_changed(&self.outbox, &txn, &updated, false).await?;
        self.outbox.commit(txn).await.map_err(Error::from)?;
        Ok(Response::new(pb::UpdateProfileResponse { user: Some(convert::user(&updated)) }))
    }

    async fn add_address(
        &self,
        request: Request<pb::AddAddressRequest>,
    ) -> Result<Response<pb::AddAddressResponse>, Status> {
        let user_id = policy::user(&request)?.subject.clone();
        let new = convert::add_address_request(request.get_ref())?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let address = addresses::add(&txn, &user_id, new).await?;
        txn.commit().await.map_err(Error::from)?;
        Ok(Response::new(pb::AddAddressResponse { address: Some(convert::address(address)) }))
    }

    async fn list_addresses(
        &self,
        request: Request<pb::ListAddressesRequest>,
    ) -> Result<Response<pb::ListAddressesResponse>, Status> {
        let user_id = policy::user(&request)?.subject.clone();
        let list = addresses::list(&self.db, &user_id).await?;
        Ok(Response::new(pb::ListAddressesResponse { addresses: list.into_iter().map(convert::address).collect() }))
    }

    async fn delete_address(
        &self,
        request: Request<pb::DeleteAddressRequest>,
    ) -> Result<Response<pb::DeleteAddressResponse>, Status> {
        let user_id = policy::user(&request)?.subject.clone();
        let id = convert::address_id_request(&request.get_ref().address_id)?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        addresses::delete(&txn, &user_id, &id).await?;
        txn.commit().await.map_err(Error::from)?;
        Ok(Response::new(pb::DeleteAddressResponse {}))
    }

    async fn set_default_address(
        &self,
        request: Request<pb::SetDefaultAddressRequest>,
    ) -> Result<Response<pb::SetDefaultAddressResponse>, Status> {
        let user_id = policy::user(&request)?.subject.clone();
        let id = convert::address_id_request(&request.get_ref().address_id)?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let address = addresses::set_default(&txn, &user_id, &id).await?;
        txn.commit().await.map_err(Error::from)?;
        Ok(Response::new(pb::SetDefaultAddressResponse { address: Some(convert::address(address)) }))
    }

    async fn get_jwks(&self, request: Request<pb::GetJwksRequest>) -> Result<Response<pb::GetJwksResponse>, Status> {
        authorize(&request, Access::Public)?;
        let keys = self
            .issuer
            .keys
            .published()?
            .into_iter()
            .map(|k| pb::Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: k.x,
                y: String::new(),
                kid: k.kid,
                alg: "EdDSA".into(),
                r#use: "sig".into(),
            })
            .collect();
        Ok(Response::new(pb::GetJwksResponse { keys }))
    }
}
