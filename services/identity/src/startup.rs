//! Building identity (database, migrations, key ring, listeners) separately from running it.

use std::{io::Read, net::SocketAddr, time::Duration};

use anyhow::Context;
use axum::{Json, Router, routing::get};
use mercato::identity::v1::{
    identity_service_server::IdentityServiceServer, service_auth_service_server::ServiceAuthServiceServer,
    signing_key_service_server::SigningKeyServiceServer,
};
use mercato_kit::{
    Server, Shutdown,
    auth::caller::{ROLE_ADMIN, ROLE_CUSTOMER},
    db, worker,
};
use sea_orm::DatabaseConnection;

use crate::{
    config::Config,
    crypto::{keyring::KeyRing, passwords::Passwords},
    domain::credentials,
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

pub struct App {
    server: Server,
    db: DatabaseConnection,
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = connect_and_migrate(&config).await?;
        let keys = KeyRing::load(db.clone(), config.keys.clone(), config.access_ttl + LEEWAY).await?;
        let issuer = TokenIssuer {
            keys: keys.clone(),
            settings: config.common.auth.settings.clone(),
            access_ttl: config.access_ttl,
        };
        let passwords = Passwords::new().await?;
        if config.service_clients.is_empty() {
            tracing::warn!("SERVICE_CLIENTS is empty: no service can obtain a service token");
        }

        let mut server = Server::bind(&config.common).await?;
        let reloading = keys.clone();
        server.workers().add(
            "signing-key-reload",
            worker::every("signing-key-reload", KEY_RELOAD, move || {
                let keys = reloading.clone();
                async move { keys.reload().await.context("reloading signing keys") }
            }),
        );
        server.readiness().add(db::DatabaseReady(db.clone()));
        server.set_key_source(keys.clone());
        server.add_admin_routes(jwks_route(keys.clone()));
        server
            .add_service(IdentityServiceServer::new(IdentityApi {
                db: db.clone(),
                passwords,
                issuer: issuer.clone(),
                refresh_ttl: chrono::Duration::from_std(config.refresh_ttl)?,
            }))
            .add_service(ServiceAuthServiceServer::new(ServiceAuthApi {
                issuer: issuer.clone(),
                clients: config.service_clients.clone(),
            }))
            .add_service(SigningKeyServiceServer::new(SigningKeyApi { issuer }));
        Ok(Self { server, db })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.server.grpc_addr()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.server.admin_addr()
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        self.server.run(shutdown).await?;
        self.db.close().await.context("closing the database pool")?;
        tracing::info!("stopped");
        Ok(())
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

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    connect_and_migrate(config).await?.close().await?;
    Ok(())
}

/// `identity create-admin`: creates the account with the admin role, or grants the role to an
/// existing one (its password is left alone).
pub async fn create_admin(config: &Config, email: &str, display_name: &str) -> anyhow::Result<()> {
    let db = connect_and_migrate(config).await?;
    let user = ensure_admin(&db, email, display_name, read_password).await?;
    println!("admin {} ({})", user.email, user.id);
    db.close().await?;
    Ok(())
}

/// Creates the admin (asking `password` only if the account is new) or grants the role.
pub async fn ensure_admin(
    db: &DatabaseConnection,
    email: &str,
    display_name: &str,
    password: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<crate::storage::entity::user::Model> {
    let email = credentials::email(email).map_err(|e| anyhow::anyhow!("email {e}"))?;
    let display_name = credentials::display_name(display_name).map_err(|e| anyhow::anyhow!("display name {e}"))?;
    match users::by_email(db, &email).await? {
        Some(existing) => {
            let user = users::grant_role(db, existing, ROLE_ADMIN).await?;
            tracing::info!(user_id = %user.id, "admin role granted to an existing account");
            Ok(user)
        }
        None => {
            let password = password()?;
            credentials::password(&password, &email).map_err(|e| anyhow::anyhow!("password {e}"))?;
            let hash = Passwords::new().await?.hash(password).await?;
            let user = users::insert(db, &email, &display_name, hash, &[ROLE_CUSTOMER, ROLE_ADMIN]).await?;
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

async fn connect_and_migrate(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let db = db::connect(&config.database).await.context("connecting to the database")?;
    db::migrate::<Migrator>(&db).await.context("running migrations")?;
    Ok(db)
}
