//! The tokio runtime's own numbers, from its stable metrics API, read at each scrape: tasks
//! that leak pile up in `alive_tasks`, a runtime short of workers shows in the queue depth.

use prometheus::{IntGauge, core::Collector, core::Desc, proto::MetricFamily};

use super::gauge;

/// See the module docs. The runtime is the one the scrape runs on, which in every binary is
/// the process's only one (`process::main` builds it); outside a runtime nothing is exported.
pub(super) struct RuntimeCollector {
    alive_tasks: IntGauge,
    global_queue_depth: IntGauge,
}

impl RuntimeCollector {
    pub(super) fn new() -> Self {
        Self {
            alive_tasks: gauge("mercato_runtime_alive_tasks", "Tokio tasks spawned and not yet finished."),
            global_queue_depth: gauge(
                "mercato_runtime_global_queue_depth",
                "Tasks waiting in the tokio runtime's global queue for a worker.",
            ),
        }
    }
}

impl Collector for RuntimeCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.alive_tasks.desc().into_iter().chain(self.global_queue_depth.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return Vec::new() };
        let metrics = runtime.metrics();
        self.alive_tasks.set(i64::try_from(metrics.num_alive_tasks()).unwrap_or(i64::MAX));
        self.global_queue_depth.set(i64::try_from(metrics.global_queue_depth()).unwrap_or(i64::MAX));
        self.alive_tasks.collect().into_iter().chain(self.global_queue_depth.collect()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_alive_is_counted() {
        let collector = RuntimeCollector::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move { rx.await.ok() });
        let alive = |families: Vec<MetricFamily>| {
            let family = families.into_iter().find(|f| f.name() == "mercato_runtime_alive_tasks");
            family.map(|f| f.get_metric()[0].get_gauge().get_value())
        };
        assert!(alive(collector.collect()).is_some_and(|n| n >= 1.0));
        tx.send(()).ok();
        task.await.ok();
    }

    #[test]
    fn outside_a_runtime_nothing_is_exported() {
        assert!(RuntimeCollector::new().collect().is_empty());
    }
}
