//! The lifecycle every binary shares, written once: the services behind the kit's gRPC server
//! and the gateway's own HTTP listener both run through [`Lifecycle::run`].
//!
//! 1. The admin listener, the workers and the main listener start; health reports SERVING and
//!    /startupz turns green.
//! 2. On shutdown (or when the listener or a worker fails): /readyz fails and health reports
//!    NOT_SERVING, long-lived streams are told to end ([`Lifecycle::draining`]), and serving goes
//!    on for `shutdown.delay` so load balancers notice.
//! 3. The listener stops accepting and in-flight calls drain.
//! 4. Workers are signalled and finish what they hold (after the calls, which may have left
//!    them work).
//! 5. The admin listener stops.
//!
//! Steps 2–5 share one deadline, `shutdown.timeout`; whatever is still running then is dropped.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use axum::Router;
use tokio::{net::TcpListener, task::JoinHandle, time::Instant};
use tonic_health::{
    ServingStatus,
    pb::health_server::{Health, HealthServer},
    server::HealthReporter,
};

use crate::{admin::Readiness, config::ShutdownTimings, shutdown::Shutdown, worker::Workers};

/// Shared by the kit's gRPC server and the gateway. See the module docs.
pub struct Lifecycle {
    timings: ShutdownTimings,
    health: HealthReporter,
    services: Vec<&'static str>,
    readiness: Readiness,
    draining: Shutdown,
    stop_accepting: Shutdown,
    workers: Workers,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("timings", &self.timings)
            .field("services", &self.services)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

/// The admin listener and what it serves.
#[derive(Debug)]
pub struct Admin {
    pub listener: TcpListener,
    pub router: Router,
}

impl Lifecycle {
    /// A lifecycle and the grpc.health.v1 service whose statuses it sets.
    pub fn new(timings: ShutdownTimings) -> (Self, HealthServer<impl Health>) {
        let (health, service) = tonic_health::server::health_reporter();
        let lifecycle = Self {
            timings,
            health,
            services: Vec::new(),
            readiness: Readiness::default(),
            draining: Shutdown::new(),
            stop_accepting: Shutdown::new(),
            workers: Workers::default(),
        };
        (lifecycle, service)
    }

    /// A gRPC service whose health status follows the server's (besides "", the whole server).
    pub fn add_health_name(&mut self, name: &'static str) {
        self.services.push(name);
    }

    pub fn health_names(&self) -> &[&'static str] {
        &self.services
    }

    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    pub fn workers(&mut self) -> &mut Workers {
        &mut self.workers
    }

    /// Fires when shutdown begins: open server streams end on it, so that draining does not
    /// wait for a watcher that would never hang up.
    pub fn draining(&self) -> Shutdown {
        self.draining.clone()
    }

    /// Fires when the listener must stop accepting; the serving future passed to
    /// [`Lifecycle::run`] ends once it has drained after this.
    pub fn stop_accepting(&self) -> Shutdown {
        self.stop_accepting.clone()
    }

    /// Runs `serving` (built on [`Lifecycle::stop_accepting`]) with the admin listener and the
    /// workers until `shutdown`, then shuts down as the module docs describe. `addrs` are the
    /// bound gRPC and admin addresses, logged once serving (tests read them from that line).
    pub async fn run<F>(
        mut self,
        shutdown: Shutdown,
        addrs: (SocketAddr, SocketAddr),
        admin: Admin,
        serving: F,
    ) -> anyhow::Result<()>
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (grpc_addr, admin_addr) = addrs;
        let admin_stop = Shutdown::new();
        let admin_server = axum::serve(admin.listener, admin.router).with_graceful_shutdown(admin_stop.wait());
        let admin_task = tokio::spawn(async move { admin_server.await });
        let mut workers = std::mem::take(&mut self.workers).start();
        let mut server: JoinHandle<anyhow::Result<()>> = tokio::spawn(serving);

        self.set_status(ServingStatus::Serving).await;
        self.readiness.mark_started();
        tracing::info!(%grpc_addr, %admin_addr, "serving");

        let (failure, server_ended) = tokio::select! {
            () = shutdown.wait() => (None, false),
            result = &mut server => (Some(match result {
                Ok(Ok(())) => anyhow::anyhow!("the listener stopped unexpectedly"),
                Ok(Err(e)) => e.context("the listener failed"),
                Err(e) => anyhow::Error::new(e).context("the listener task failed"),
            }), true),
            error = workers.failure() => (Some(error), false),
        };
        if let Some(e) = &failure {
            tracing::error!(error = format!("{e:#}"), "shutting down after a failure");
        }

        let deadline = Instant::now() + self.timings.timeout;
        tracing::info!(delay = ?self.timings.delay, timeout = ?self.timings.timeout, "shutting down: reporting NOT_SERVING");
        self.readiness.mark_draining();
        self.set_status(ServingStatus::NotServing).await;
        self.draining.trigger();
        if failure.is_none() {
            tokio::time::sleep_until(deadline.min(Instant::now() + self.timings.delay)).await;
        }

        tracing::info!("closing the listener and draining in-flight calls");
        self.stop_accepting.trigger();
        if !server_ended {
            match tokio::time::timeout_at(deadline, &mut server).await {
                Ok(Ok(Ok(()))) => tracing::info!("drained"),
                Ok(Ok(Err(e))) => {
                    tracing::warn!(error = format!("{e:#}"), "the listener ended with an error while draining")
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "the listener task failed while draining"),
                Err(_) => {
                    tracing::warn!(timeout = ?self.timings.timeout, "shutdown timeout elapsed; dropping calls still in flight");
                    server.abort();
                }
            }
        }

        let workers = workers.drain(deadline).await;
        admin_stop.trigger();
        let _ = tokio::time::timeout_at(deadline.max(Instant::now() + Duration::from_millis(100)), admin_task).await;
        match failure {
            Some(e) => Err(e),
            None => workers.context("stopping the workers"),
        }
    }

    async fn set_status(&self, status: ServingStatus) {
        // "" is the whole server, as Kubernetes' gRPC probe asks by default.
        self.health.set_service_status("", status).await;
        for name in &self.services {
            self.health.set_service_status(*name, status).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    async fn admin() -> Admin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Admin { listener, router: Router::new() }
    }

    fn timings(delay_ms: u64) -> ShutdownTimings {
        ShutdownTimings { delay: Duration::from_millis(delay_ms), timeout: Duration::from_secs(5) }
    }

    #[tokio::test]
    async fn shutdown_runs_not_serving_then_drain_then_workers_in_that_order() {
        let (mut lifecycle, _health) = Lifecycle::new(timings(50));
        let events = Arc::new(Mutex::new(Vec::new()));
        let readiness = lifecycle.readiness().clone();

        let log = events.clone();
        let stop_accepting = lifecycle.stop_accepting();
        let ready = readiness.clone();
        let serving = async move {
            stop_accepting.wait().await;
            let (ready_now, _) = ready.check().await;
            log.lock().unwrap().push(format!("stop accepting (ready: {ready_now})"));
            Ok(())
        };
        let log = events.clone();
        let draining = lifecycle.draining();
        lifecycle.workers().add("recorder", move |stop: Shutdown| async move {
            stop.wait().await;
            assert!(draining.is_triggered(), "streams were told to end before workers stop");
            log.lock().unwrap().push("worker stopped".to_string());
            Ok(())
        });

        let shutdown = Shutdown::new();
        let addrs = (SocketAddr::from(([127, 0, 0, 1], 1)), SocketAddr::from(([127, 0, 0, 1], 2)));
        let run = tokio::spawn(lifecycle.run(shutdown.clone(), addrs, admin().await, serving));
        tokio::time::timeout(Duration::from_secs(5), async {
            while !readiness.is_started() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        assert!(readiness.check().await.0, "ready once started");
        shutdown.trigger();
        run.await.unwrap().unwrap();
        assert_eq!(*events.lock().unwrap(), ["stop accepting (ready: false)", "worker stopped"]);
    }

    #[tokio::test]
    async fn a_failing_worker_takes_the_service_down_with_its_error() {
        let (mut lifecycle, _health) = Lifecycle::new(timings(10_000));
        lifecycle.workers().add("broken", |_| async { anyhow::bail!("the broker is gone for good") });
        let stop_accepting = lifecycle.stop_accepting();
        let serving = async move {
            stop_accepting.wait().await;
            Ok(())
        };
        let addrs = (SocketAddr::from(([127, 0, 0, 1], 1)), SocketAddr::from(([127, 0, 0, 1], 2)));
        let started = Instant::now();
        let result = lifecycle.run(Shutdown::new(), addrs, admin().await, serving).await;
        let error = format!("{:#}", result.unwrap_err());
        assert!(error.contains("worker broken failed") && error.contains("broker is gone"), "{error}");
        // A failure skips the load-balancer delay: nothing is gained by serving on broken.
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_listener_that_stops_on_its_own_is_an_error() {
        let (lifecycle, _health) = Lifecycle::new(timings(0));
        let addrs = (SocketAddr::from(([127, 0, 0, 1], 1)), SocketAddr::from(([127, 0, 0, 1], 2)));
        let result = lifecycle.run(Shutdown::new(), addrs, admin().await, async { Ok(()) }).await;
        assert!(format!("{:#}", result.unwrap_err()).contains("stopped unexpectedly"));
    }
}
