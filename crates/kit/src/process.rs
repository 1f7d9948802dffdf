//! Every binary's `main`, once: refuse bad configuration before anything starts, build the
//! runtime the configuration asks for, install logging, run, and turn the outcome into an exit
//! code with the failure logged as a cause chain.

use std::process::ExitCode;

use crate::{
    CommonConfig,
    config::{ConfigError, EXIT_CONFIG},
    telemetry, trace,
};

/// Runs `run` with the validated configuration and returns the process's exit code: 78 (after
/// printing every problem to stderr) for bad configuration, 1 for a failure (logged), else 0.
/// `common` picks the kit's part out of the service's configuration.
pub fn main<C, F, Fut>(
    service: &str,
    config: Result<C, ConfigError>,
    common: impl FnOnce(&C) -> &CommonConfig,
    run: F,
) -> ExitCode
where
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{service}: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let common = common(&config);
    let (name, version, log, trace) = (common.service, common.version, common.log.clone(), common.trace.clone());
    let runtime = match runtime(common.worker_threads) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{service}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Inside the runtime: the exporters do their I/O on it.
        let (pipeline, tracer) = match trace::Pipeline::start(&trace, name, version) {
            Ok(started) => started.unzip(),
            Err(e) => {
                eprintln!("{service}: cannot start trace export: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        telemetry::init(name, version, &log, tracer.map(|tracer| (tracer, trace.sampler())));
        let code = match run(config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "{service} failed");
                ExitCode::FAILURE
            }
        };
        // Last, once every call and worker is done: their spans are in the queue by now.
        if let Some(pipeline) = pipeline {
            pipeline.shutdown().await;
        }
        code
    })
}

/// The multi-threaded runtime every binary runs on, with `worker_threads` workers (`None`: one
/// per CPU the process may use). Built after the configuration is validated, since the thread
/// count is part of it.
fn runtime(worker_threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = worker_threads {
        builder.worker_threads(threads);
    }
    builder.build()
}
