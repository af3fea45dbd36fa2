//! Connection limits: client connections counted in all and per IP address, and the deadline
//! for a new connection's first request header, enforced by wrapping Pingora's HTTP
//! application ([`LimitedApp`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use pingora::apps::ServerApp;
use pingora::protocols::{SocketDigest, Stream};
use pingora::server::ShutdownWatch;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

use super::{Limits, Reason};

/// The `reason` labels of `pingress_downstream_connections_refused_total`.
const REFUSAL_REASONS: [&str; 3] = [
    "max_connections",
    "max_connections_per_ip",
    "header_timeout",
];

/// Counters of what this module refused.
#[derive(Clone)]
pub struct ProtectionMetrics {
    pub requests_rejected: IntCounterVec,
    pub connections_refused: IntCounterVec,
    pub connections_open: IntGauge,
}

impl ProtectionMetrics {
    pub fn rejected(&self, reason: Reason) {
        self.requests_rejected
            .with_label_values(&[reason.label()])
            .inc();
    }

    pub fn new(registry: &Registry) -> Self {
        let requests_rejected = IntCounterVec::new(
            Opts::new(
                "pingress_requests_rejected_total",
                "Requests the gateway refused before routing, by reason (docs/security.md).",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let connections_refused = IntCounterVec::new(
            Opts::new(
                "pingress_downstream_connections_refused_total",
                "Client connections closed by the gateway: max_connections, max_connections_per_ip, header_timeout.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let connections_open = IntGauge::new(
            "pingress_downstream_connections",
            "Client connections open (HTTP/1 and HTTP/2, plain and TLS).",
        )
        .expect("valid metric");
        // Every reason from the start, at 0, so that rates and alerts work before the first.
        for reason in Reason::ALL {
            requests_rejected.with_label_values(&[reason.label()]);
        }
        for reason in REFUSAL_REASONS {
            connections_refused.with_label_values(&[reason]);
        }
        for metric in [
            Box::new(requests_rejected.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(connections_refused.clone()),
            Box::new(connections_open.clone()),
        ] {
            registry.register(metric).expect("metric registered once");
        }
        ProtectionMetrics {
            requests_rejected,
            connections_refused,
            connections_open,
        }
    }
}

/// Identifies an open connection: the address of its socket digest, which Pingora shares (one
/// `Arc`) between the accepted stream and every request session on it. [`LimitedApp`] holds
/// the `Arc` while the connection is registered, so the address cannot be reused meanwhile.
pub type ConnectionKey = usize;

/// The [`ConnectionKey`] of a socket digest.
pub fn connection_key(digest: &Arc<SocketDigest>) -> ConnectionKey {
    Arc::as_ptr(digest) as ConnectionKey
}

/// Open client connections, in all and per IP address, and whether each has sent a request.
pub struct Connections {
    max_total: usize,
    max_per_ip: usize,
    state: Mutex<State>,
    metrics: ProtectionMetrics,
}

#[derive(Default)]
struct State {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// Connections (by key) that have not yet completed a request header.
    waiting: HashMap<ConnectionKey, bool>,
}

/// One admitted connection; leaving its count when dropped.
struct Admitted {
    connections: Arc<Connections>,
    ip: Option<IpAddr>,
    key: Option<ConnectionKey>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut state = self.connections.state.lock();
        state.total -= 1;
        if let Some(ip) = self.ip {
            if let Some(count) = state.per_ip.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    state.per_ip.remove(&ip);
                }
            }
        }
        if let Some(key) = self.key {
            state.waiting.remove(&key);
        }
        drop(state);
        self.connections.metrics.connections_open.dec();
    }
}

impl Connections {
    pub fn new(limits: &Limits, metrics: ProtectionMetrics) -> Arc<Self> {
        Arc::new(Connections {
            max_total: limits.max_connections,
            max_per_ip: limits.max_connections_per_ip,
            state: Mutex::new(State::default()),
            metrics,
        })
    }

    fn admit(self: &Arc<Self>, ip: Option<IpAddr>, key: Option<ConnectionKey>) -> Option<Admitted> {
        let mut state = self.state.lock();
        let refused = if self.max_total != 0 && state.total >= self.max_total {
            Some("max_connections")
        } else if self.max_per_ip != 0
            && ip.is_some_and(|ip| state.per_ip.get(&ip).copied().unwrap_or(0) >= self.max_per_ip)
        {
            Some("max_connections_per_ip")
        } else {
            None
        };
        if let Some(reason) = refused {
            drop(state);
            self.refused(reason);
            return None;
        }
        state.total += 1;
        if let Some(ip) = ip {
            *state.per_ip.entry(ip).or_default() += 1;
        }
        if let Some(key) = key {
            state.waiting.insert(key, false);
        }
        drop(state);
        self.metrics.connections_open.inc();
        Some(Admitted {
            connections: self.clone(),
            ip,
            key,
        })
    }

    fn refused(&self, reason: &str) {
        self.metrics
            .connections_refused
            .with_label_values(&[reason])
            .inc();
    }

    /// The connection `key` has completed a request header: the header deadline no
    /// longer applies to it.
    pub fn request_seen(&self, key: ConnectionKey) {
        let mut state = self.state.lock();
        if let Some(seen) = state.waiting.get_mut(&key) {
            *seen = true;
        }
    }

    fn has_seen_request(&self, key: ConnectionKey) -> bool {
        let state = self.state.lock();
        state.waiting.get(&key).is_none_or(|seen| *seen)
    }
}

/// Wraps Pingora's HTTP application: every connection is admitted against the connection
/// limits, counted while open, and closed when its first request header has not arrived within
/// the header timeout (Pingora's own timeout is per read, so a client trickling a byte at a
/// time would otherwise hold the connection for ever).
pub struct LimitedApp<A> {
    inner: Arc<A>,
    connections: Arc<Connections>,
    header_timeout: Duration,
}

impl<A> LimitedApp<A> {
    pub fn new(inner: A, connections: Arc<Connections>, header_timeout: Duration) -> Self {
        LimitedApp {
            inner: Arc::new(inner),
            connections,
            header_timeout,
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for LimitedApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let digest = stream.get_socket_digest();
        let ip = digest
            .as_ref()
            .and_then(|d| d.peer_addr())
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let key = digest.as_ref().map(connection_key);
        let _admitted = self.connections.admit(ip, key)?;
        let deadline = async {
            tokio::time::sleep(self.header_timeout).await;
            if key.is_none_or(|key| self.connections.has_seen_request(key)) {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            reused = self.inner.process_new(stream, shutdown) => reused,
            () = deadline => {
                self.connections.refused("header_timeout");
                None
            }
        }
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::tests::limits;

    #[test]
    fn connections_are_counted_per_ip_and_in_all() {
        let connections = Connections::new(&limits(), ProtectionMetrics::new(&Registry::new()));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = connections.admit(Some(a), Some(10)).expect("first");
        assert!(connections.admit(Some(a), Some(11)).is_none(), "per IP");
        let second = connections.admit(Some(b), Some(12)).expect("other IP");
        assert!(
            connections
                .admit(Some("127.0.0.3".parse().unwrap()), None)
                .is_none(),
            "in all"
        );
        assert!(!connections.has_seen_request(10));
        connections.request_seen(10);
        assert!(connections.has_seen_request(10));
        drop(first);
        drop(second);
        let again = connections.admit(Some(a), Some(10)).expect("released");
        assert!(
            !connections.has_seen_request(10),
            "a new connection on a reused key"
        );
        drop(again);
        let refused = &connections.metrics.connections_refused;
        assert_eq!(
            refused.with_label_values(&["max_connections_per_ip"]).get(),
            1
        );
        assert_eq!(refused.with_label_values(&["max_connections"]).get(), 1);
        assert_eq!(connections.metrics.connections_open.get(), 0);
    }
}
