//! A real identity for other crates' tests (feature `testing`): in-process, on free ports, with
//! known service credentials, and helpers that mint real tokens through the real API.

use std::net::SocketAddr;

use mercato::identity::v1::{
    IssueServiceTokenRequest, LoginRequest, RegisterRequest, identity_service_client::IdentityServiceClient,
    service_auth_service_client::ServiceAuthServiceClient,
};
use mercato_kit::{
    events::Outbox,
    service::Service,
    testing::{Backend, Running, TestDatabase, TestNats, service_args},
};
use tonic::transport::Channel;

use crate::{Identity, startup::ensure_admin};

/// Every test service authenticates with this secret.
pub const SERVICE_SECRET: &str = "test-service-secret-0123456789";
/// Service names that may obtain service tokens from a test identity.
pub const SERVICES: &[&str] = &["catalog", "orders", "payments", "shipping", "notifications", "gateway", "tests"];
pub const ADMIN_EMAIL: &str = "admin@mercato.test";
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug)]
pub struct TestIdentity {
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub channel: Channel,
    pub db: sea_orm::DatabaseConnection,
    /// identity's own nats-server, unless the test gave it one (`--nats-url` in the flags).
    pub nats: Option<TestNats>,
    running: Running,
}

impl TestIdentity {
    /// Starts identity on `backend` with `extra` flags appended. Without a `--nats-url` among
    /// them it gets a nats-server of its own (never the machine's).
    pub async fn spawn(backend: Backend, extra: &[&str]) -> anyhow::Result<Self> {
        Self::spawn_with(TestDatabase::create(backend).await?, extra).await
    }

    /// Starts identity on an existing test database.
    pub async fn spawn_on(database: TestDatabase) -> anyhow::Result<Self> {
        Self::spawn_with(database, &[]).await
    }

    async fn spawn_with(database: TestDatabase, extra: &[&str]) -> anyhow::Result<Self> {
        let clients: Vec<String> = SERVICES.iter().map(|s| format!("{s}={SERVICE_SECRET}")).collect();
        let clients = clients.join(",");
        let mut args = service_args(Identity::DEFAULTS.name, &database);
        args.extend(["--service-clients".to_string(), clients]);
        let nats = if extra.contains(&"--nats-url") { None } else { Some(TestNats::start().await?) };
        if let Some(nats) = &nats {
            args.extend(["--nats-url".to_string(), nats.url()]);
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        let running = Running::service::<Identity>(args, Some(database)).await?;
        let db = running.db.clone().ok_or_else(|| anyhow::anyhow!("identity runs without a database"))?;
        let channel = Channel::from_shared(running.url())?.connect().await?;
        Ok(Self { grpc_addr: running.grpc_addr, admin_addr: running.admin_addr, channel, db, nats, running })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub fn client(&self) -> IdentityServiceClient<Channel> {
        IdentityServiceClient::new(self.channel.clone())
    }

    /// Registers `email` (password [`PASSWORD`]) and returns its access token.
    pub async fn customer_token(&self, email: &str) -> anyhow::Result<String> {
        self.client()
            .register(RegisterRequest {
                email: email.into(),
                password: PASSWORD.into(),
                display_name: "Test Customer".into(),
            })
            .await?;
        self.login(email).await
    }

    /// An administrator's access token (the admin is created on first use).
    pub async fn admin_token(&self) -> anyhow::Result<String> {
        let outbox = Outbox::detached(Identity::DEFAULTS.name, Identity::DEFAULTS.version);
        ensure_admin(&self.db, &outbox, ADMIN_EMAIL, "Test Admin", || Ok(PASSWORD.to_string())).await?;
        self.login(ADMIN_EMAIL).await
    }

    pub async fn login(&self, email: &str) -> anyhow::Result<String> {
        let tokens = self
            .client()
            .login(LoginRequest { email: email.into(), password: PASSWORD.into() })
            .await?
            .into_inner()
            .tokens
            .ok_or_else(|| anyhow::anyhow!("login returned no tokens"))?;
        Ok(tokens.access_token)
    }

    /// A service token for `service` (one of [`SERVICES`]).
    pub async fn service_token(&self, service: &str) -> anyhow::Result<String> {
        Ok(ServiceAuthServiceClient::new(self.channel.clone())
            .issue_service_token(IssueServiceTokenRequest {
                service_name: service.into(),
                client_secret: SERVICE_SECRET.into(),
            })
            .await?
            .into_inner()
            .access_token)
    }

    /// Triggers shutdown and waits (bounded) for identity to drain and stop.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.running.stop().await
    }
}
