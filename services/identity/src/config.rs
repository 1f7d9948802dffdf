//! identity's own flags and subcommands, on top of the kit's (see `mercato_kit::service`).

use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand};
use mercato_kit::{Problems, Secret, config::parse_duration};

use crate::{crypto::keyring::KeyOrigin, tokens::ServiceClients};

/// Flags only identity has.
#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    /// Ed25519 PKCS#8 PEM files, comma-separated; the first signs, all are published. Unset:
    /// keys are generated and kept in identity's database (dev).
    #[arg(long, env = "SIGNING_KEY_FILES", value_delimiter = ',')]
    pub signing_key_files: Vec<PathBuf>,

    /// Lifetime of access tokens.
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value = "15m")]
    pub access_token_ttl: String,

    /// Lifetime of refresh tokens.
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value = "30d")]
    pub refresh_token_ttl: String,

    /// Services allowed to obtain service tokens: `name=secret,name=secret` (secrets 16+ chars).
    #[arg(long, env = "SERVICE_CLIENTS", hide_env_values = true, default_value = "")]
    pub service_clients: String,
}

/// Subcommands only identity has.
#[derive(Debug, Clone, Subcommand)]
pub enum IdentityCommand {
    /// Create an administrator (or grant the admin role to an existing account). The password
    /// is read from ADMIN_PASSWORD, or from standard input.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Administrator")]
        display_name: String,
    },
    /// Publish every user's contact details as they stand (UserProfileChanged, marked
    /// republished) through the outbox: the backfill for a consumer that joined after users
    /// registered. The running service's relay sends them; running it twice only repeats them.
    RepublishUsers {
        /// Users per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch: u64,
    },
}

/// identity's validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub keys: KeyOrigin,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub service_clients: ServiceClients,
}

impl IdentityArgs {
    pub fn validate(&self, problems: &mut Problems) -> Option<Settings> {
        let access_ttl =
            problems.check("ACCESS_TOKEN_TTL (--access-token-ttl)", parse_duration(&self.access_token_ttl));
        if let Some(ttl) = access_ttl
            && !(Duration::from_secs(60)..=Duration::from_secs(3600)).contains(&ttl)
        {
            problems.push("ACCESS_TOKEN_TTL (--access-token-ttl)", "must be between 1m and 1h");
        }
        let refresh_ttl =
            problems.check("REFRESH_TOKEN_TTL (--refresh-token-ttl)", parse_duration(&self.refresh_token_ttl));
        let service_clients = problems.check(
            "SERVICE_CLIENTS (--service-clients)",
            ServiceClients::parse(&Secret::new(self.service_clients.clone())),
        );
        for path in &self.signing_key_files {
            if !path.is_file() {
                problems.push(
                    "SIGNING_KEY_FILES (--signing-key-files)",
                    format!("{} is not a readable file", path.display()),
                );
            }
        }
        let keys = if self.signing_key_files.is_empty() {
            KeyOrigin::Database
        } else {
            KeyOrigin::Files(self.signing_key_files.clone())
        };
        Some(Settings { keys, access_ttl: access_ttl?, refresh_ttl: refresh_ttl?, service_clients: service_clients? })
    }
}
