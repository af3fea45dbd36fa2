//! Background load for fault tests: keep-alive clients sending `GET`s through the gateway while
//! a test breaks something, counting every outcome. Bounded in requests per client and in time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::Connection;

/// What the clients of a [`Load`] saw.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// `2xx` answers that came from a backend (the body names it).
    pub ok: usize,
    /// Complete answers that were not a backend's `2xx` (e.g. a `502`, or the gateway's `404`).
    pub non_2xx: usize,
    /// Requests that got no complete answer: reset, closed, timed out, or refused connections.
    pub errors: usize,
    /// `ok` answers by backend name.
    pub by_backend: BTreeMap<String, usize>,
    /// Every answer by status code.
    pub statuses: BTreeMap<u16, usize>,
    /// The first few failures, described, for the assertion message.
    pub failures: Vec<String>,
    /// From start to the last client's end.
    pub elapsed: Duration,
}

impl LoadReport {
    /// Requests that failed one way or the other: `non_2xx + errors`.
    pub fn failed(&self) -> usize {
        self.non_2xx + self.errors
    }

    fn merge(&mut self, other: LoadReport) {
        self.ok += other.ok;
        self.non_2xx += other.non_2xx;
        self.errors += other.errors;
        for (k, v) in other.by_backend {
            *self.by_backend.entry(k).or_default() += v;
        }
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        let room = MAX_FAILURES.saturating_sub(self.failures.len());
        self.failures.extend(other.failures.into_iter().take(room));
    }
}

const MAX_FAILURES: usize = 10;

/// `clients` threads, each on its own keep-alive connection, sending `GET target` with `Host:
/// host` back to back. A client whose request fails opens a new connection and goes on. Each
/// stops after `max_requests` requests, after `max_time`, or on [`Load::finish`] (or drop).
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<LoadReport>>,
    started: Instant,
}

impl Load {
    pub fn start(
        addr: SocketAddr,
        host: &str,
        target: &str,
        clients: usize,
        max_requests: usize,
        max_time: Duration,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let started = Instant::now();
        let deadline = started + max_time;
        let threads = (0..clients)
            .map(|_| {
                let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
                let (host, target) = (host.to_string(), target.to_string());
                thread::spawn(move || {
                    let mut report = LoadReport::default();
                    let mut conn: Option<Connection> = None;
                    for _ in 0..max_requests {
                        if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                            break;
                        }
                        let result = conn
                            .take()
                            .map_or_else(|| Connection::open(addr), Ok)
                            .and_then(|mut c| {
                                let r = c.request("GET", &host, &target, &[])?;
                                // Keep the connection unless the gateway is closing it.
                                if r.headers.get("connection").map(String::as_str) != Some("close")
                                {
                                    conn = Some(c);
                                }
                                Ok(r)
                            });
                        let failure = match result {
                            Ok(r) => {
                                *report.statuses.entry(r.status).or_default() += 1;
                                match r.backend() {
                                    Some(b) if (200..300).contains(&r.status) => {
                                        report.ok += 1;
                                        *report.by_backend.entry(b.to_string()).or_default() += 1;
                                        ok.fetch_add(1, Ordering::SeqCst);
                                        None
                                    }
                                    _ => {
                                        report.non_2xx += 1;
                                        Some(format!("status {}: {}", r.status, r.body.trim()))
                                    }
                                }
                            }
                            Err(e) => {
                                report.errors += 1;
                                Some(format!("error: {e}"))
                            }
                        };
                        if let Some(failure) = failure {
                            failed.fetch_add(1, Ordering::SeqCst);
                            if report.failures.len() < MAX_FAILURES {
                                let at = started.elapsed().as_secs_f64();
                                report.failures.push(format!("at {at:.3}s: {failure}"));
                            }
                            if conn.is_none() {
                                // Do not spin on a refused connection.
                                thread::sleep(Duration::from_millis(10));
                            }
                        }
                    }
                    report
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            threads,
            started,
        }
    }

    /// `ok` answers so far.
    pub fn ok(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    /// Failed requests so far (`non_2xx + errors`).
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }

    /// Waits until `more` further `ok` answers came in (at most `timeout`); false on timeout.
    pub fn wait_for_more(&self, more: usize, timeout: Duration) -> bool {
        let target = self.ok() + more;
        crate::wait_until(timeout, || self.ok() >= target)
    }

    /// Stops the clients and adds up what they saw.
    pub fn finish(mut self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = LoadReport::default();
        for thread in self.threads.drain(..) {
            total.merge(thread.join().expect("load client panicked"));
        }
        total.elapsed = self.started.elapsed();
        total
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
