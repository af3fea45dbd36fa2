//! What the gateway knows about one endpoint across generations: requests in flight,
//! consecutive failures and ejection. Atomics only: the request path never locks.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Milliseconds since the process started: the clock of ejections.
pub(super) fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// What the gateway knows about one endpoint across generations.
#[derive(Debug, Default)]
pub struct EndpointState {
    in_flight: AtomicUsize,
    failures: AtomicU32,
    ejected_until_ms: AtomicU64,
}

impl EndpointState {
    pub(super) fn ejected(&self, now: u64) -> bool {
        self.ejected_until_ms.load(Ordering::Relaxed) > now
    }

    /// Requests to this endpoint now in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request against this endpoint until the returned guard drops.
    pub(super) fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Records how a request went: a failure (connect error or 5xx) counts towards ejection
    /// after `eject_after` in a row (0: never) for `eject_for`; a success resets the count.
    /// Returns true when this failure ejected the endpoint.
    pub(super) fn record(&self, success: bool, eject_after: u32, eject_for: Duration) -> bool {
        if success {
            self.failures.store(0, Ordering::Relaxed);
            return false;
        }
        if eject_after == 0 || self.failures.fetch_add(1, Ordering::Relaxed) + 1 < eject_after {
            return false;
        }
        self.failures.store(0, Ordering::Relaxed);
        let until = now_ms() + eject_for.as_millis() as u64;
        self.ejected_until_ms.store(until, Ordering::Relaxed);
        true
    }
}

/// Holds one in-flight request against an endpoint; dropping it ends the request.
pub struct InFlight(Arc<EndpointState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
