//! catalog's own flags and subcommands, on top of the kit's (see `mercato_kit::service`).

use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand};
use mercato_kit::config::{Problems, parse_duration};

/// Flags only catalog has.
#[derive(Debug, Clone, Args)]
pub struct CatalogArgs {
    /// Load the bundled seed catalog at start-up (only rows that are missing).
    #[arg(long, env = "SEED_ON_START")]
    pub seed_on_start: bool,

    /// Longest a product stays in this replica's read cache. Changes made anywhere drop it at
    /// once through catalog's events; this bounds staleness while NATS is unreachable.
    #[arg(long, env = "CACHE_TTL", default_value = "1s")]
    pub cache_ttl: String,
}

/// Subcommands only catalog has.
#[derive(Debug, Clone, Subcommand)]
pub enum CatalogCommand {
    /// Apply migrations and load a seed catalog (the bundled one unless --file), then exit.
    Seed {
        /// A seed file in the format of services/catalog/seed/catalog.json.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// catalog's validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed_on_start: bool,
    pub cache_ttl: Duration,
}

impl CatalogArgs {
    pub fn validate(&self, problems: &mut Problems) -> Option<Settings> {
        let cache_ttl = problems.check("CACHE_TTL (--cache-ttl)", parse_duration(&self.cache_ttl));
        Some(Settings { seed_on_start: self.seed_on_start, cache_ttl: cache_ttl? })
    }
}
