//! Background workers: the long-running tasks a service owns besides its listener (key
//! reloading now; the outbox relay, event consumers and saga timers later).
//!
//! A worker is registered while the service is built and started when it runs. It receives its
//! shutdown as a value and must return once that fires, finishing what it holds (a message in
//! flight, a batch of marks). The lifecycle signals workers after the listener has drained, so
//! the work that in-flight calls left behind is still picked up, and waits for them within the
//! same shutdown bound. No worker is detached and none is aborted while it keeps to that bound.

use std::{
    fmt,
    future::Future,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::{task::JoinSet, time::Instant};

use crate::shutdown::Shutdown;

type Start = Box<dyn FnOnce(Shutdown) -> BoxFuture<'static, anyhow::Result<()>> + Send>;

/// Workers registered but not yet started.
#[derive(Default)]
pub struct Workers {
    // Behind a mutex only so that a server holding workers is `Sync` (its futures are `Send`)
    // without asking every worker's closure to be `Sync`; it is never contended.
    pending: Mutex<Vec<(&'static str, Start)>>,
}

impl fmt::Debug for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Workers {
    /// Registers `work`, started with the service and given the worker shutdown. Returning
    /// `Err` before shutdown fails the whole service (it drains and exits non-zero): a broken
    /// worker must not leave a process that looks healthy.
    pub fn add<F, Fut>(&mut self, name: &'static str, work: F) -> &mut Self
    where
        F: FnOnce(Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let start: Start = Box::new(move |stop| Box::pin(work(stop)));
        self.pending.get_mut().unwrap_or_else(PoisonError::into_inner).push((name, start));
        self
    }

    pub fn names(&self) -> Vec<&'static str> {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.iter().map(|(name, _)| *name).collect()
    }

    /// Starts every worker.
    pub(crate) fn start(self) -> RunningWorkers {
        let stop = Shutdown::new();
        let mut set = JoinSet::new();
        for (name, start) in self.pending.into_inner().unwrap_or_else(PoisonError::into_inner) {
            let work = start(stop.clone());
            set.spawn(async move { (name, work.await) });
        }
        RunningWorkers { set, stop }
    }
}

/// Started workers.
pub(crate) struct RunningWorkers {
    set: JoinSet<(&'static str, anyhow::Result<()>)>,
    stop: Shutdown,
}

impl RunningWorkers {
    /// Resolves when a worker ends on its own, before shutdown; never while all keep running.
    pub(crate) async fn failure(&mut self) -> anyhow::Error {
        loop {
            match self.set.join_next().await {
                None => std::future::pending::<()>().await,
                Some(Ok((name, Ok(())))) => tracing::info!(worker = name, "worker finished"),
                Some(Ok((name, Err(e)))) => return e.context(format!("worker {name} failed")),
                Some(Err(e)) => return anyhow::Error::new(e).context("a worker panicked"),
            }
        }
    }

    /// Signals every worker and waits for them until `deadline`. A worker still running then
    /// is named and dropped with the set (the only case in which one is cut short).
    pub(crate) async fn drain(mut self, deadline: Instant) -> anyhow::Result<()> {
        self.stop.trigger();
        let mut failed = None;
        loop {
            match tokio::time::timeout_at(deadline, self.set.join_next()).await {
                Ok(None) => break,
                Ok(Some(Ok((_, Ok(()))))) => {}
                Ok(Some(Ok((name, Err(e))))) => {
                    tracing::error!(worker = name, error = format!("{e:#}"), "worker failed while stopping");
                    failed.get_or_insert(e.context(format!("worker {name} failed while stopping")));
                }
                Ok(Some(Err(e))) => {
                    failed.get_or_insert(anyhow::Error::new(e).context("a worker panicked while stopping"));
                }
                Err(_) => {
                    tracing::warn!(still_running = self.set.len(), "shutdown timeout elapsed; stopping workers");
                    break;
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

/// A worker that runs `step` every `period` until shutdown. A failed step is logged and tried
/// again at the next tick: a periodic refresh that fails once (a database blip) must not take
/// the service down. The first step runs one period after start, since start-up already did it.
pub fn every<F, Fut>(
    name: &'static str,
    period: Duration,
    mut step: F,
) -> impl FnOnce(Shutdown) -> BoxFuture<'static, anyhow::Result<()>> + Send
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    move |stop: Shutdown| -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            loop {
                tokio::select! {
                    () = stop.wait() => return Ok(()),
                    () = tokio::time::sleep(period) => {
                        if let Err(e) = step().await {
                            tracing::warn!(worker = name, error = format!("{e:#}"), "periodic step failed");
                        }
                    }
                }
            }
        })
    }
}

/// A worker for durable due-times (a saga step's deadline, a shipment's next move): rows carry
/// the time they fall due, and `tick` handles those past due, at most `batch` of them, and says
/// how many. A full batch means more are waiting, so the next tick runs at once; otherwise the
/// worker waits `interval`. A failed tick is logged and tried again after the interval: the rows
/// stay due, so nothing is lost, and a database blip must not take the service down.
pub async fn poll_due<F, Fut, E>(
    name: &'static str,
    interval: Duration,
    batch: usize,
    stop: Shutdown,
    mut tick: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, E>>,
    E: fmt::Display,
{
    loop {
        let handled = tick().await.unwrap_or_else(|e| {
            tracing::warn!(worker = name, error = %e, "polling due rows failed; retrying");
            0
        });
        if handled >= batch && !stop.is_triggered() {
            continue;
        }
        tokio::select! {
            () = stop.wait() => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_periodic_worker_steps_on_each_tick_and_stops_on_shutdown() {
        let steps = Arc::new(AtomicUsize::new(0));
        let counted = steps.clone();
        let mut workers = Workers::default();
        workers.add(
            "tick",
            every("tick", Duration::from_secs(10), move || {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    anyhow::bail!("a failed step is not fatal")
                }
            }),
        );
        let running = workers.start();
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert_eq!(steps.load(Ordering::SeqCst), 3);
        running.drain(Instant::now() + Duration::from_secs(1)).await.unwrap();
    }

    #[tokio::test]
    async fn a_worker_that_fails_before_shutdown_is_reported() {
        let mut workers = Workers::default();
        workers.add("ok", |stop: Shutdown| async move {
            stop.wait().await;
            Ok(())
        });
        workers.add("broken", |_| async { anyhow::bail!("lost its connection for good") });
        let mut running = workers.start();
        let error = running.failure().await;
        assert!(format!("{error:#}").contains("worker broken failed"), "{error:#}");
        running.drain(Instant::now() + Duration::from_secs(1)).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn draining_waits_for_workers_to_finish_what_they_hold() {
        let finished = Arc::new(AtomicUsize::new(0));
        let done = finished.clone();
        let mut workers = Workers::default();
        workers.add("slow", move |stop: Shutdown| async move {
            stop.wait().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let running = workers.start();
        running.drain(Instant::now() + Duration::from_secs(5)).await.unwrap();
        assert_eq!(finished.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_past_the_deadline_is_cut_short() {
        let mut workers = Workers::default();
        workers.add("stuck", |_| std::future::pending::<anyhow::Result<()>>());
        let started = Instant::now();
        workers.start().drain(started + Duration::from_secs(3)).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(3));
    }
}
