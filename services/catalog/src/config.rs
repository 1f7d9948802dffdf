//! catalog's own flags and subcommands, on top of the kit's (see `mercato_kit::service`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mercato_kit::config::Problems;

/// Flags only catalog has.
#[derive(Debug, Clone, Args)]
pub struct CatalogArgs {
    /// Load the bundled seed catalog at start-up (only rows that are missing).
    #[arg(long, env = "SEED_ON_START")]
    pub seed_on_start: bool,
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
}

impl CatalogArgs {
    pub fn validate(&self, _problems: &mut Problems) -> Option<Settings> {
        Some(Settings { seed_on_start: self.seed_on_start })
    }
}
