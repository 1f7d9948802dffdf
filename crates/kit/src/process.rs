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

/// The multi-threaded runtime every binary runs on, with `worker_threads` workers (`None`: one
/// per CPU the process may use). Built after the configuration is validated, since the thread
/// count is part of it.
pub fn runtime(service: &str, worker_threads: Option<usize>) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = worker_threads {
        builder.worker_threads(threads);
    }
    builder.build().map_err(|e| {
        eprintln!("{service}: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}
