//! The per-request context: what the phases learn about one request, filled in as they run.
//! The logging phase only reads it; nothing is recomputed.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pingora::proxy::Session;
use pingress_model::Retry;

use super::fallback::Leg;
use super::Timeouts;
use crate::config::{RouteInfo, RouteTarget};
use crate::headers::ClientAddr;
use crate::limits::{self, Connections};
use crate::metrics::Metrics;
use crate::upstream::{InFlight as EndpointInFlight, Upstream};

/// What an HTTP/1.x connection carries from request to request (keep-alive): the client's
/// address, formatted once, and `pingress_downstream_http1_connections` kept up until the
/// connection drops.
pub(super) struct ConnectionGuard {
    gauge: prometheus::IntGauge,
    client: Option<Arc<ClientAddr>>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// Keeps `pingress_requests_in_flight` up for the life of a request context.
struct InFlight(prometheus::IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Why a response header was turned down before anything reached the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TurnedDown {
    /// Its status is retried on another endpoint.
    Retry,
    /// Its status is replaced by an error page (the leg has switched).
    ErrorPage,
}

/// What the phases learn about one request, filled in as they run.
pub struct RequestCtx {
    pub(super) started: Instant,
    /// The request arrived over TLS.
    pub(super) tls: bool,
    pub(super) request_id: String,
    /// The matched route; `None` for requests the gateway answered itself before routing.
    pub(super) route: Option<Arc<RouteTarget>>,
    /// The route's backend chosen for this request; `None` when the route answers itself.
    pub(super) backend: Option<usize>,
    /// The endpoint chosen for the last attempt.
    pub(super) endpoint: Option<SocketAddr>,
    /// Every endpoint tried so far, not to be chosen again for this request.
    pub(super) tried: Vec<SocketAddr>,
    /// The connecting client (HTTP/1: shared by every request of the connection).
    pub(super) client: Option<Arc<ClientAddr>>,
    /// Counts the request against its endpoint's in-flight requests.
    pub(super) endpoint_in_flight: Option<EndpointInFlight>,
    /// The route's timeouts (annotations, else the flags).
    pub(super) timeouts: Timeouts,
    /// Which request of the exchange is being made: to the route's backend, or a fallback's.
    pub(super) leg: Leg,
    /// Upstream attempts (`upstream_peer` calls that chose an endpoint), every leg's.
    pub(super) attempts: usize,
    /// Attempts of the current leg.
    pub(super) leg_attempts: usize,
    /// When the current leg's first attempt was started (for the retry timeout).
    pub(super) leg_started: Option<Instant>,
    /// Attempts beyond each leg's first.
    pub(super) retried: usize,
    /// The last response header was turned down on purpose, and is no failure of its
    /// endpoint: retried for its status, or replaced by an error page.
    pub(super) turned_down: Option<TurnedDown>,
    /// When the last endpoint was chosen.
    pub(super) peer_chosen: Option<Instant>,
    /// The route's request body limit (`0`: none) and the body bytes read so far.
    pub(super) body_limit: u64,
    pub(super) body_read: u64,
    /// Time from choosing the endpoint to the upstream's response header.
    pub(super) upstream_duration: Option<Duration>,
    connection: Option<Arc<ConnectionGuard>>,
    _in_flight: InFlight,
}

impl RequestCtx {
    /// A new request, counted in `pingress_requests_in_flight` until the context drops.
    pub(super) fn new(metrics: &Metrics, timeouts: Timeouts) -> Self {
        metrics.requests_in_flight.inc();
        RequestCtx {
            started: Instant::now(),
            tls: false,
            request_id: String::new(),
            route: None,
            backend: None,
            endpoint: None,
            tried: Vec::new(),
            client: None,
            endpoint_in_flight: None,
            timeouts,
            leg: Leg::Primary,
            attempts: 0,
            leg_attempts: 0,
            leg_started: None,
            retried: 0,
            turned_down: None,
            peer_chosen: None,
            body_limit: 0,
            body_read: 0,
            upstream_duration: None,
            connection: None,
            _in_flight: InFlight(metrics.requests_in_flight.clone()),
        }
    }

    /// Takes over what the previous request of a keep-alive connection left
    /// ([`RequestCtx::persisted`]).
    pub(super) fn resume(&mut self, previous: Box<dyn Any + Send + Sync>) {
        self.connection = previous.downcast::<Arc<ConnectionGuard>>().ok().map(|g| *g);
    }

    /// What the next request on this connection inherits.
    pub(super) fn persisted(&self) -> Option<Box<dyn Any + Send + Sync>> {
        self.connection
            .clone()
            .map(|g| Box::new(g) as Box<dyn Any + Send + Sync>)
    }

    /// Learns the client: from the connection's earlier requests, or, on the first request of
    /// a connection (every stream of an HTTP/2 one), from the socket — whose header deadline
    /// is then met.
    pub(super) fn attach_client(
        &mut self,
        session: &Session,
        connections: &Connections,
        metrics: &Metrics,
    ) {
        if let Some(connection) = &self.connection {
            self.client = connection.client.clone();
            return;
        }
        if let Some(socket) = session.digest().and_then(|d| d.socket_digest.as_ref()) {
            connections.request_seen(limits::connection_key(socket));
        }
        self.client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| Arc::new(ClientAddr::new(a.ip())));
        if !session.as_downstream().is_http2() {
            let gauge = metrics.downstream_http1_connections.clone();
            gauge.inc();
            self.connection = Some(Arc::new(ConnectionGuard {
                gauge,
                client: self.client.clone(),
            }));
        }
    }

    /// Sends the request to backend `backend` of `target`, under the route's policy: its
    /// timeouts over the flags', and `body_limit` (`0`: none).
    pub(super) fn route_to(&mut self, target: Arc<RouteTarget>, backend: usize, body_limit: u64) {
        let policy = &target.policy;
        self.body_limit = body_limit;
        let t = &mut self.timeouts;
        t.connect = policy.connect_timeout.unwrap_or(t.connect);
        t.read = policy.read_timeout.unwrap_or(t.read);
        t.send = policy.send_timeout.unwrap_or(t.send);
        self.route = Some(target);
        self.backend = Some(backend);
    }

    /// The upstream of the current leg: the chosen backend's, or its fallback's.
    pub(super) fn upstream(&self) -> Option<&Arc<Upstream>> {
        let route = self.route.as_ref()?;
        match self.leg {
            Leg::Primary => self.backend_upstream(),
            Leg::NoEndpoints => route.fallback.as_ref()?.no_endpoints.as_ref(),
            Leg::ErrorPage(_) => route.fallback.as_ref()?.errors.as_ref()?.backend.as_ref(),
        }
    }

    /// The upstream of the chosen backend, whatever the leg.
    pub(super) fn backend_upstream(&self) -> Option<&Arc<Upstream>> {
        let route = self.route.as_ref()?;
        Some(&route.backend(self.backend?)?.upstream)
    }

    /// The retry policy of the current leg: the route's, and ingress-nginx's default for an
    /// error page (its named location inherits the server's).
    pub(super) fn retry_policy(&self) -> Retry {
        match (&self.route, self.leg) {
            (Some(route), Leg::Primary | Leg::NoEndpoints) => route.policy.retry,
            _ => Retry::default(),
        }
    }

    /// Starts the next leg: its own attempts, endpoints and retry timeout.
    pub(super) fn switch(&mut self, leg: Leg) {
        self.leg = leg;
        self.leg_attempts = 0;
        self.leg_started = None;
        self.tried.clear();
        self.endpoint = None;
        self.endpoint_in_flight = None;
    }

    /// The route's metrics and log labels, once resolved.
    pub(super) fn route_info(&self) -> Option<&RouteInfo> {
        self.route.as_ref()?.resolved(self.backend)
    }

    /// Counts a chunk of request body; true once the body is over the route's limit.
    pub(super) fn body_over_limit(&mut self, chunk: usize) -> bool {
        self.body_read += chunk as u64;
        self.body_limit != 0 && self.body_read > self.body_limit
    }

    /// Records how the last attempt went on its endpoint (a failure counts towards ejection,
    /// which is counted and logged).
    pub(super) fn record_attempt(&self, success: bool, metrics: &Metrics) {
        if let (Some(upstream), Some(endpoint)) = (self.upstream(), self.endpoint) {
            if upstream.record(endpoint, success) {
                metrics.observe_ejection(&upstream.id, endpoint);
            }
        }
    }
}
