//! The applier: the background service that compiles every Snapshot arriving on the config
//! channel, newest first, swaps it in, registers its health checks, and releases the
//! generations it replaced once no request holds them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingress_model::Snapshot;
use tokio::sync::watch;

use super::{live, Generation, LiveConfig};
use crate::metrics::Metrics;

/// Applies every Snapshot that arrives on the config channel, newest first, until shutdown.
pub struct ConfigApplier {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub live: Arc<LiveConfig>,
    pub metrics: Arc<Metrics>,
}

/// The CPU time this thread has used: with `elapsed_us`, it tells a slow compile from one that
/// waited for a busy CPU (the applier shares the cores with the proxy threads).
#[allow(unsafe_code)]
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write to; the clock id is a constant Linux knows.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// How often retired generations are checked for requests still holding them.
const RELEASE_EVERY: Duration = Duration::from_millis(100);

impl ConfigApplier {
    /// Applies `snapshot`; returns the generation it replaced.
    fn apply(&self, snapshot: Arc<Snapshot>) -> Arc<Generation> {
        let started = std::time::Instant::now();
        let cpu_started = thread_cpu_time();
        let generation = snapshot.generation;
        let clusters = snapshot.clusters.len();
        let endpoints: usize = snapshot.clusters.values().map(|c| c.endpoints.len()).sum();
        let certificates = snapshot.tls.certificates.len();
        let previous = self.live.swap(snapshot);
        let elapsed = started.elapsed();
        let cpu = thread_cpu_time().saturating_sub(cpu_started);
        let routes = self.live.load().routes.len();
        let m = &self.metrics;
        m.config_generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
        m.config_apply_duration.observe(elapsed.as_secs_f64());
        m.config_routes.set(routes as i64);
        m.config_clusters.set(clusters as i64);
        m.config_endpoints.set(endpoints as i64);
        m.config_certificates.set(certificates as i64);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        m.config_last_apply.set(now.as_secs_f64());
        tracing::info!(
            generation,
            routes,
            elapsed_us = elapsed.as_micros() as u64,
            cpu_us = cpu.as_micros() as u64,
            "configuration applied"
        );
        let started = std::time::Instant::now();
        let registered = self.live.register_health_checks();
        if registered > 0 {
            tracing::info!(
                generation,
                endpoints = registered,
                elapsed_us = started.elapsed().as_micros() as u64,
                "health checks registered"
            );
        }
        previous
    }

    /// Drops the retired generations no request holds any more (here, not on a request's
    /// thread) and gives the memory they freed back to the system.
    fn release(retired: &mut Vec<Arc<Generation>>) {
        let started = std::time::Instant::now();
        if live::release(retired) {
            live::return_freed_memory();
            tracing::debug!(
                elapsed_us = started.elapsed().as_micros() as u64,
                "retired configuration released"
            );
        }
    }
}

#[async_trait]
impl BackgroundService for ConfigApplier {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut snapshots = self.snapshots.clone();
        let mut retired: Vec<Arc<Generation>> = Vec::new();
        loop {
            let snapshot = snapshots.borrow_and_update().clone();
            if snapshot.generation > 0 {
                retired.push(self.apply(snapshot));
            }
            loop {
                Self::release(&mut retired);
                tokio::select! {
                    changed = snapshots.changed() => if changed.is_err() {
                        tracing::warn!("config channel closed; keeping the last configuration");
                        return;
                    } else {
                        break;
                    },
                    _ = shutdown.changed() => return,
                    // Only while a retired generation waits for its last requests.
                    _ = tokio::time::sleep(RELEASE_EVERY), if !retired.is_empty() => {}
                }
            }
        }
    }
}
