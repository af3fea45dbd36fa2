//! What the process does with its signals: Pingora's, with a drain delay in front of SIGTERM.
//!
//! ```text
//! SIGTERM -> /readyz answers 503 "draining"; the listeners keep accepting for --shutdown-delay
//!            (load balancers and kube-proxy take the node out meanwhile)
//!         -> Pingora's graceful terminate: listeners closed, requests in flight get
//!            --shutdown-timeout, then the process exits
//! SIGINT  -> immediate stop (also during the delay)
//! SIGQUIT -> graceful upgrade: hand the listening sockets to a successor (--upgrade)
//! ```
//!
//! Without the delay, a connection that a client opened just before the listener closed (still
//! in the kernel's accept queue) is reset unanswered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{signal, SignalKind};

/// Set once SIGTERM arrived: `/readyz` fails from then on.
#[derive(Debug, Default)]
pub struct Draining(AtomicBool);

impl Draining {
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Pingora's Unix signal handling, with the drain delay before a graceful terminate.
pub struct SignalWatch {
    pub draining: Arc<Draining>,
    pub delay: Duration,
}

#[async_trait]
impl ShutdownSignalWatch for SignalWatch {
    async fn recv(&self) -> ShutdownSignal {
        let mut upgrade = signal(SignalKind::quit()).expect("SIGQUIT handler");
        let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = upgrade.recv() => return ShutdownSignal::GracefulUpgrade,
            _ = interrupt.recv() => return ShutdownSignal::FastShutdown,
            _ = terminate.recv() => {}
        }
        self.draining.start();
        if !self.delay.is_zero() {
            tracing::info!(
                delay = ?self.delay,
                "SIGTERM: /readyz now fails; still serving until the delay is over"
            );
            tokio::select! {
                () = tokio::time::sleep(self.delay) => {}
                _ = interrupt.recv() => return ShutdownSignal::FastShutdown,
            }
        }
        tracing::info!("closing the listeners; requests in flight may finish");
        ShutdownSignal::GracefulTerminate
    }
}
