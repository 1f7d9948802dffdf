//! The two ends of every binary's `main`: refuse bad configuration before anything starts, and
//! turn the outcome into an exit code with the failure logged as a cause chain.

use std::process::ExitCode;

use crate::config::{ConfigError, EXIT_CONFIG};

/// The configuration, or (after printing every problem to stderr) the exit code to return.
pub fn config_or_exit<T>(service: &str, config: Result<T, ConfigError>) -> Result<T, ExitCode> {
    config.map_err(|e| {
        eprintln!("{service}: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

/// 0 on success; otherwise the error is logged and the exit code is 1.
pub fn exit_code(service: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "{service} failed");
            ExitCode::FAILURE
        }
    }
}
