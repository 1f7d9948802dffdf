//! Start-up time: catalog spawned again and again against a migrated database, each run timed
//! from spawn to the first SERVING health check, then stopped with SIGTERM.

use std::time::Duration;

use crate::catalog::Catalog;

/// Grace for a stopped catalog to exit.
const STOP_GRACE: Duration = Duration::from_secs(25);

/// Start-up times and anything odd seen while stopping.
#[derive(Debug)]
pub struct Startup {
    pub runs: Vec<Duration>,
    pub warnings: Vec<String>,
}

/// Starts and stops catalog `runs` times.
pub async fn measure(catalog: &Catalog, runs: u32) -> anyhow::Result<Startup> {
    let mut result = Startup { runs: Vec::new(), warnings: Vec::new() };
    for run in 1..=runs {
        let started = catalog.start(&format!("startup-{run}")).await?;
        let took = started.spawn_to_serving;
        eprintln!("bench: start-up {run}/{runs}: spawn → SERVING {:.1} ms", took.as_secs_f64() * 1e3);
        result.runs.push(took);
        match started.proc.stop(STOP_GRACE).await {
            Ok(status) if status.success() => {}
            Ok(status) => result.warnings.push(format!("start-up run {run}: catalog exited {status} after SIGTERM")),
            Err(e) => result.warnings.push(format!("start-up run {run}: {e:#}")),
        }
    }
    Ok(result)
}
