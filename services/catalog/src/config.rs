//! catalog's own flags and subcommands, on top of the kit's (see `mercato_kit::service`).

use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand};
use mercato_kit::config::{Problems, parse_count, parse_duration};

/// Flags only catalog has.
#[derive(Debug, Clone, Args)]
pub struct CatalogArgs {
    /// Load the bundled seed catalog at start-up (only rows that are missing).
    #[arg(long, env = "SEED_ON_START")]
    pub seed_on_start: bool,

    /// Longest a product stays in this replica's read cache (0s: no cache). Changes made
    /// anywhere drop it at once through catalog's events; this bounds staleness while NATS is
    /// unreachable.
    #[arg(long, env = "CACHE_TTL", default_value = "30s")]
    pub cache_ttl: String,

    /// Most products this replica's read cache holds (about 1 KB each).
    #[arg(long, env = "CACHE_MAX_PRODUCTS", default_value = "20000")]
    pub cache_max_products: String,
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
    pub cache_max_products: usize,
}

impl CatalogArgs {
    pub fn validate(&self, problems: &mut Problems) -> Option<Settings> {
        let cache_ttl = problems.check("CACHE_TTL (--cache-ttl)", parse_duration(&self.cache_ttl));
        let cache_max_products = problems
            .check("CACHE_MAX_PRODUCTS (--cache-max-products)", parse_count(&self.cache_max_products, 1, 1_000_000));
        Some(Settings {
            seed_on_start: self.seed_on_start,
            cache_ttl: cache_ttl?,
            cache_max_products: usize::try_from(cache_max_products?).ok()?,
        })
    }
}
