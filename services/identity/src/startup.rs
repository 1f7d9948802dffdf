//! Building identity (database, migrations, key ring, listeners) separately from running it.

use std::{io::Read, time::Duration};

use anyhow::Context;
use axum::{Json, Router, routing::get};
use mercato::identity::v1::{
    identity_service_server::IdentityServiceServer, service_auth_service_server::ServiceAuthServiceServer,
    signing_key_service_server::SigningKeyServiceServer,
};
use mercato_kit::{
    Problems,
    auth::caller::{ROLE_ADMIN, ROLE_CUSTOMER},
    config::ServiceDefaults,
    events::{Outbox, StreamSpec},
    service::{self, Service, Setup},
    worker,
};
use sea_orm::DatabaseConnection;

use crate::{
    config::{IdentityArgs, IdentityCommand, Settings},
    crypto::{keyring::KeyRing, passwords::Passwords},
    domain::credentials::{DisplayName, Email, Password},
    error::Error,
    events,
    grpc::{
        identity::IdentityApi,
        internal::{ServiceAuthApi, SigningKeyApi},
    },
    migration::Migrator,
    storage::users,
    tokens::TokenIssuer,
};

/// Other replicas may rotate keys: reread them this often.
const KEY_RELOAD: Duration = Duration::from_secs(60);
/// Clock leeway verifiers allow; retired keys stay published this much longer.
const LEEWAY: Duration = Duration::from_secs(60);

/// The identity service.
#[derive(Debug)]
pub struct Identity;

/// identity's configuration.
pub type Config = service::Config<Settings>;

impl Service for Identity {
    const DEFAULTS: ServiceDefaults =
        ServiceDefaults { name: "identity", version: env!("CARGO_PKG_VERSION"), grpc_port: 50051, admin_port: 9081 };
    const ABOUT: &'static str = "mercato identity: users, credentials, sessions, addresses and token signing keys.";

    type Args = IdentityArgs;
    type Command = IdentityCommand;
    type Settings = Settings;
    type Migrator = Migrator;

    const STREAM: Option<StreamSpec> = Some(StreamSpec { name: events::STREAM, subjects: &["identity.v1.>"] });

    fn settings(args: &IdentityArgs, problems: &mut Problems) -> Option<Settings> {
        args.validate(problems)
    }

    async fn build(setup: Setup<'_, Settings>) -> anyhow::Result<()> {
        let Setup { config, db, server, events } = setup;
        let outbox = events.context("identity declares a stream, so it has events")?.outbox().clone();
        let settings = &config.service;
        let keys = KeyRing::load(db.clone(), settings.keys.clone(), settings.access_ttl + LEEWAY).await?;
        let issuer = TokenIssuer {
            keys: keys.clone(),
            settings: config.common.auth.settings.clone(),
            access_ttl: settings.access_ttl,
        };
        let passwords = Passwords::new().await?;
        if settings.service_clients.is_empty() {
            tracing::warn!("SERVICE_CLIENTS is empty: no service can obtain a service token");
        }

        let reloading = keys.clone();
        server.workers().add(
            "signing-key-reload",
            worker::every("signing-key-reload", KEY_RELOAD, move || {
                let keys = reloading.clone();
                async move { keys.reload().await.context("reloading signing keys") }
            }),
        );
        server.set_key_source(keys.clone());
        server.add_admin_routes(jwks_route(keys.clone()));
        server
            .add_service(IdentityServiceServer::new(IdentityApi {
                db: db.clone(),
                passwords,
                issuer: issuer.clone(),
                refresh_ttl: chrono::Duration::from_std(settings.refresh_ttl)?,
                outbox,
            }))
            .add_service(ServiceAuthServiceServer::new(ServiceAuthApi {
                issuer: issuer.clone(),
                clients: settings.service_clients.clone(),
            }))
            .add_service(SigningKeyServiceServer::new(SigningKeyApi { issuer }));
        Ok(())
    }

    async fn run_command(command: IdentityCommand, config: &Config, db: &DatabaseConnection) -> anyhow::Result<()> {
        // Appended here, sent by the running service's relay.
        let outbox = Outbox::detached(config.common.service, config.common.version);
        match command {
            IdentityCommand::CreateAdmin { email, display_name } => {
                let user = ensure_admin(db, &outbox, &email, &display_name, read_password).await?;
                println!("admin {} ({})", user.email, user.id);
                Ok(())
            }
            IdentityCommand::RepublishUsers { batch } => {
                let count = events::republish_users(db, &outbox, batch).await?;
                println!("{count} users republished (UserProfileChanged) to the outbox; a running identity sends them");
                Ok(())
            }
        }
    }
}

/// /.well-known/jwks.json on the admin port, for verifiers that speak HTTP rather than gRPC.
fn jwks_route(keys: KeyRing) -> Router {
    Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let keys = keys.clone();
            async move {
                let published = keys.published().unwrap_or_default();
                Json(serde_json::json!({"keys": published.iter().map(|k| k.to_json()).collect::<Vec<_>>()}))
            }
        }),
    )
}

/// Creates the admin (asking `password` only if the account is new) or grants the role.
pub async fn ensure_admin(
    db: &DatabaseConnection,
    outbox: &Outbox,
    email: &str,
    display_name: &str,
    password: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<crate::storage::entity::user::Model> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("email {e}"))?;
    let display_name = DisplayName::parse(display_name).map_err(|e| anyhow::anyhow!("display name {e}"))?;
    match users::by_email(db, email.as_str()).await? {
        Some(existing) => {
            let user = users::grant_role(db, existing, ROLE_ADMIN).await?;
            tracing::info!(user_id = %user.id, "admin role granted to an existing account");
            Ok(user)
        }
        None => {
            let password =
                Password::parse(&password()?, email.as_str()).map_err(|e| anyhow::anyhow!("password {e}"))?;
            let hash = Passwords::new().await?.hash(password.expose()).await?;
            let txn = mercato_kit::db::begin_write(db).await.map_err(Error::from)?;
            let user =
                users::insert(&txn, email.as_str(), display_name.as_str(), hash, &[ROLE_CUSTOMER, ROLE_ADMIN]).await?;
            events::registered(outbox, &txn, &user).await?;
            outbox.commit(txn).await.map_err(Error::from)?;
            tracing::info!(user_id = %user.id, "admin created");
            Ok(user)
        }
    }
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("ADMIN_PASSWORD") {
        return Ok(password);
    }
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("reading the password from stdin")?;
    Ok(input.trim_end_matches(['\r', '\n']).to_string())
}
