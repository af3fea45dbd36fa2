//! Prometheus metrics of the gateway. Every metric, its labels and the ingress-nginx names they
//! replace are listed in docs/metrics.md.
//!
//! Label sets are bounded: a route is labelled by its Ingress, its rule's host and path and
//! its Service, never by the raw request path, host or client address. The request path does
//! no label lookups: each route resolves its counters on its first request and keeps them
//! ([`RouteCounters`]), so counting costs a few atomic increments.

use std::sync::OnceLock;
use std::time::Duration;

use pingress_model::{ClusterId, HostMatch, ObjectRef, PathMatch};
use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::upstream::Upstream;

/// Status classes in label order; index 0 is "no response was sent".
const STATUS_CLASSES: [&str; 6] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];
/// Methods with a label of their own; everything else is `other`.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other",
];
/// The labels that identify a route.
const ROUTE_LABELS: [&str; 6] = [
    "namespace",
    "ingress",
    "host",
    "path",
    "service",
    "service_port",
];
/// Latency buckets in seconds: 1 ms to 60 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0,
];

/// All gateway metrics, registered in one registry.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    upstream_response_duration: HistogramVec,
    request_bytes: IntCounterVec,
    response_bytes: IntCounterVec,
    retries: IntCounterVec,
    upstream_connect_duration: HistogramVec,
    /// `[new, reused]` upstream connections.
    upstream_connections: [IntCounter; 2],
    ejections: IntCounterVec,
    upstream_endpoints: IntGaugeVec,
    pub requests_in_flight: IntGauge,
    pub downstream_http1_connections: IntGauge,
    /// TLS handshakes that reached certificate selection.
    pub tls_handshakes_started: IntCounter,
    tls_handshakes: IntCounterVec,
    pub access_log_dropped: IntCounter,
    pub config_generation: IntGauge,
    pub config_last_apply: Gauge,
    pub config_apply_duration: Histogram,
    pub config_routes: IntGauge,
    pub config_clusters: IntGauge,
    pub config_endpoints: IntGauge,
    pub config_certificates: IntGauge,
    config_channel_connected: IntGauge,
    config_channel_refused: IntCounter,
    config_stale: Gauge,
    /// Counters for requests that matched no route (404 from the gateway).
    unmatched: RouteCounters,
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    HistogramVec::new(opts, labels).expect("valid metric")
}

impl Metrics {
    /// Creates every metric and registers it in `registry` (which may hold others, e.g. the
    /// controller's).
    pub fn new(registry: Registry) -> Self {
        let route_and = |extra: &[&'static str]| -> Vec<&'static str> {
            ROUTE_LABELS.iter().chain(extra).copied().collect()
        };
        let requests = counter_vec(
            "pingress_requests_total",
            "Requests answered, by route, method and status class (none: no response was sent)",
            &route_and(&["method", "status"]),
        );
        let request_duration = histogram_vec(
            "pingress_request_duration_seconds",
            "Time from the start of a request to the end of its response, by route",
            &ROUTE_LABELS,
        );
        let upstream_response_duration = histogram_vec(
            "pingress_upstream_response_duration_seconds",
            "Time from choosing an endpoint to receiving its response header, by route",
            &ROUTE_LABELS,
        );
        let request_bytes = counter_vec(
            "pingress_request_bytes_total",
            "Request body bytes received from clients, by route",
            &ROUTE_LABELS,
        );
        let response_bytes = counter_vec(
            "pingress_response_bytes_total",
            "Response body bytes sent to clients, by route",
            &ROUTE_LABELS,
        );
        let retries = counter_vec(
            "pingress_upstream_retries_total",
            "Upstream attempts beyond the first, by route",
            &ROUTE_LABELS,
        );
        let upstream_connect_duration = histogram_vec(
            "pingress_upstream_connect_duration_seconds",
            "Time to open a new upstream connection, by Service",
            &["namespace", "service", "service_port"],
        );
        let connections = counter_vec(
            "pingress_upstream_connections_total",
            "Upstream connections used for requests: reused=\"true\" from the keep-alive pool, \"false\" newly opened",
            &["reused"],
        );
        let upstream_connections = ["false", "true"].map(|r| connections.with_label_values(&[r]));
        let ejections = counter_vec(
            "pingress_upstream_ejections_total",
            "Endpoints taken out of rotation after consecutive failures (connect errors or 5xx), by Service",
            &["namespace", "service", "service_port"],
        );
        let upstream_endpoints = IntGaugeVec::new(
            Opts::new(
                "pingress_upstream_endpoints",
                "Endpoints of each Service port by state at scrape time: healthy (in rotation), unhealthy (failing active health checks), ejected (after consecutive failed requests)",
            ),
            &["namespace", "service", "service_port", "state"],
        )
        .expect("valid metric");
        let tls_handshakes = counter_vec(
            "pingress_tls_handshakes_total",
            "Completed TLS handshakes on the HTTPS listener, by protocol version",
            &["protocol"],
        );
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        let metrics = Metrics {
            unmatched: RouteCounters::new(&requests, &request_duration, &upstream_response_duration, &request_bytes, &response_bytes, &retries, ["", "", "", "", "", ""]),
            requests_in_flight: gauge(
                "pingress_requests_in_flight",
                "Requests being handled (HTTP/1.x and HTTP/2)",
            ),
            downstream_http1_connections: gauge(
                "pingress_downstream_http1_connections",
                "Open HTTP/1.x client connections (HTTP/2 connections are not counted; see pingress_requests_in_flight)",
            ),
            tls_handshakes_started: counter(
                "pingress_tls_handshakes_started_total",
                "TLS handshakes that reached certificate selection; minus pingress_tls_handshakes_total, the ones that failed after it",
            ),
            access_log_dropped: counter(
                "pingress_access_log_dropped_total",
                "Access log lines dropped because the writer fell behind (the request path never waits for it)",
            ),
            config_generation: gauge(
                "pingress_config_generation",
                "Generation number of the configuration the gateway serves (0: none yet)",
            ),
            config_last_apply: Gauge::new(
                "pingress_config_last_apply_timestamp_seconds",
                "Unix time at which the live configuration was applied",
            )
            .expect("valid metric"),
            config_apply_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "pingress_config_apply_duration_seconds",
                    "Time to compile a configuration into route tables and swap it in",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )
            .expect("valid metric"),
            config_routes: gauge(
                "pingress_config_routes",
                "Routes (host and path rules, plus the default backend) in the live configuration",
            ),
            config_clusters: gauge(
                "pingress_config_clusters",
                "Service ports (clusters) in the live configuration",
            ),
            config_endpoints: gauge(
                "pingress_config_endpoints",
                "Ready endpoints across all clusters of the live configuration",
            ),
            config_certificates: gauge(
                "pingress_config_certificates",
                "TLS certificates in the live configuration (the self-signed default not counted)",
            ),
            config_channel_connected: gauge(
                "pingress_config_channel_connected",
                "1 while the gateway is connected to its controller (pingress gateway only)",
            ),
            config_channel_refused: counter(
                "pingress_config_channel_refused_total",
                "Configurations from the controller the gateway refused: another Snapshot schema (a controller of another Pingress version) or unreadable; the last good one keeps serving (pingress gateway only)",
            ),
            config_stale: Gauge::new(
                "pingress_config_stale_seconds",
                "How long the config channel has been down: the live configuration may be this much out of date (pingress gateway only; 0 while connected)",
            )
            .expect("valid metric"),
            registry,
            requests,
            request_duration,
            upstream_response_duration,
            request_bytes,
            response_bytes,
            retries,
            upstream_connect_duration,
            upstream_connections,
            ejections,
            upstream_endpoints,
            tls_handshakes,
        };
        let collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(metrics.requests.clone()),
            Box::new(metrics.request_duration.clone()),
            Box::new(metrics.upstream_response_duration.clone()),
            Box::new(metrics.request_bytes.clone()),
            Box::new(metrics.response_bytes.clone()),
            Box::new(metrics.retries.clone()),
            Box::new(metrics.upstream_connect_duration.clone()),
            Box::new(connections),
            Box::new(metrics.ejections.clone()),
            Box::new(metrics.upstream_endpoints.clone()),
            Box::new(metrics.requests_in_flight.clone()),
            Box::new(metrics.downstream_http1_connections.clone()),
            Box::new(metrics.tls_handshakes_started.clone()),
            Box::new(metrics.tls_handshakes.clone()),
            Box::new(metrics.access_log_dropped.clone()),
            Box::new(metrics.config_generation.clone()),
            Box::new(metrics.config_last_apply.clone()),
            Box::new(metrics.config_apply_duration.clone()),
            Box::new(metrics.config_routes.clone()),
            Box::new(metrics.config_clusters.clone()),
            Box::new(metrics.config_endpoints.clone()),
            Box::new(metrics.config_certificates.clone()),
            Box::new(metrics.config_channel_connected.clone()),
            Box::new(metrics.config_channel_refused.clone()),
            Box::new(metrics.config_stale.clone()),
        ];
        for collector in collectors {
            metrics
                .registry
                .register(collector)
                .expect("unique metric names");
        }
        metrics
    }

    /// The counters of a route declared by `origin`, matched at `host` and `path`, for its
    /// backend `cluster` (`None`: the route answers itself).
    pub fn route_counters(
        &self,
        origin: &ObjectRef,
        cluster: Option<&ClusterId>,
        host: Option<&HostMatch>,
        path: Option<&PathMatch>,
    ) -> RouteCounters {
        let labels = [
            origin.namespace.clone(),
            origin.name.clone(),
            host.map_or(String::new(), |h| h.to_string()),
            path.map_or(String::new(), |p| match p {
                PathMatch::Prefix(p) if p.is_empty() => "/".to_string(),
                PathMatch::Exact(p) | PathMatch::Prefix(p) => p.clone(),
                PathMatch::Regex(r) => r.pattern.clone(),
            }),
            cluster.map_or(String::new(), |c| c.service().to_string()),
            cluster.map_or(String::new(), |c| c.port().to_string()),
        ];
        RouteCounters::new(
            &self.requests,
            &self.request_duration,
            &self.upstream_response_duration,
            &self.request_bytes,
            &self.response_bytes,
            &self.retries,
            labels.each_ref().map(String::as_str),
        )
    }

    /// The counters for requests that matched no route.
    pub fn unmatched(&self) -> &RouteCounters {
        &self.unmatched
    }

    /// Counts an upstream connection taken for a request; a new one also records how long
    /// connecting took, under its Service.
    pub fn observe_upstream_connection(
        &self,
        reused: bool,
        cluster: &ClusterId,
        connect_time: Duration,
    ) {
        self.upstream_connections[usize::from(reused)].inc();
        if !reused {
            self.upstream_connect_duration
                .with_label_values(&[cluster.namespace(), cluster.service(), cluster.port()])
                .observe(connect_time.as_secs_f64());
        }
    }

    /// Counts an ejection of `endpoint` from `cluster`, and logs it.
    pub fn observe_ejection(&self, cluster: &ClusterId, endpoint: std::net::SocketAddr) {
        self.ejections
            .with_label_values(&[cluster.namespace(), cluster.service(), cluster.port()])
            .inc();
        tracing::warn!(%cluster, %endpoint, "endpoint ejected after consecutive failures");
    }

    /// Counts a completed TLS handshake.
    pub fn observe_tls_handshake(&self, protocol: &str) {
        self.tls_handshakes.with_label_values(&[protocol]).inc();
    }

    /// Sets `pingress_upstream_endpoints` from the live generation's upstreams.
    pub fn refresh_endpoints<'a>(
        &self,
        upstreams: impl Iterator<Item = &'a std::sync::Arc<Upstream>>,
    ) {
        self.upstream_endpoints.reset();
        for upstream in upstreams {
            let (namespace, (service, port)) = (
                upstream.id.namespace(),
                (upstream.id.service(), upstream.id.port()),
            );
            let counts = upstream.endpoint_health();
            for (state, count) in ["healthy", "unhealthy", "ejected"].iter().zip(counts) {
                self.upstream_endpoints
                    .with_label_values(&[namespace, service, port, state])
                    .set(count as i64);
            }
        }
    }

    /// Sets the config channel gauges.
    pub fn refresh_channel(&self, channel: &pingress_channel::ChannelStatus) {
        self.config_channel_connected
            .set(i64::from(channel.connected()));
        self.config_stale.set(channel.stale_for().as_secs_f64());
        let refused = channel.refused();
        self.config_channel_refused
            .inc_by(refused.saturating_sub(self.config_channel_refused.get()));
    }

    /// The Prometheus text exposition of every metric in the registry.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        out
    }
}

/// One finished request, as the metrics see it.
pub struct RequestOutcome<'a> {
    pub method: &'a str,
    /// `None` when no response was sent.
    pub status: Option<u16>,
    pub duration: Duration,
    /// Time to the upstream's response header, if an upstream answered.
    pub upstream_duration: Option<Duration>,
    pub request_bytes: usize,
    pub response_bytes: usize,
    pub retries: usize,
}

/// The resolved counters of one route (or of the unmatched requests). The request counters by
/// method and status class are resolved on first use.
pub struct RouteCounters {
    requests: Box<[OnceLock<IntCounter>]>,
    requests_vec: IntCounterVec,
    labels: [String; 6],
    duration: Histogram,
    upstream_duration: Histogram,
    request_bytes: IntCounter,
    response_bytes: IntCounter,
    retries: IntCounter,
}

impl RouteCounters {
    fn new(
        requests: &IntCounterVec,
        duration: &HistogramVec,
        upstream_duration: &HistogramVec,
        request_bytes: &IntCounterVec,
        response_bytes: &IntCounterVec,
        retries: &IntCounterVec,
        labels: [&str; 6],
    ) -> Self {
        RouteCounters {
            requests: (0..METHODS.len() * STATUS_CLASSES.len())
                .map(|_| OnceLock::new())
                .collect(),
            requests_vec: requests.clone(),
            labels: labels.map(str::to_string),
            duration: duration.with_label_values(&labels),
            upstream_duration: upstream_duration.with_label_values(&labels),
            request_bytes: request_bytes.with_label_values(&labels),
            response_bytes: response_bytes.with_label_values(&labels),
            retries: retries.with_label_values(&labels),
        }
    }

    /// Records one finished request.
    pub fn observe(&self, outcome: &RequestOutcome) {
        let method = METHODS
            .iter()
            .position(|m| *m == outcome.method)
            .unwrap_or(METHODS.len() - 1);
        let status = match outcome.status {
            Some(code @ 100..=599) => usize::from(code / 100),
            _ => 0,
        };
        self.requests[method * STATUS_CLASSES.len() + status]
            .get_or_init(|| {
                let [a, b, c, d, e, f] = self.labels.each_ref().map(String::as_str);
                self.requests_vec.with_label_values(&[
                    a,
                    b,
                    c,
                    d,
                    e,
                    f,
                    METHODS[method],
                    STATUS_CLASSES[status],
                ])
            })
            .inc();
        self.duration.observe(outcome.duration.as_secs_f64());
        if let Some(upstream) = outcome.upstream_duration {
            self.upstream_duration.observe(upstream.as_secs_f64());
        }
        self.request_bytes.inc_by(outcome.request_bytes as u64);
        self.response_bytes.inc_by(outcome.response_bytes as u64);
        self.retries.inc_by(outcome.retries as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_requests_are_counted_with_bounded_labels() {
        let metrics = Metrics::new(Registry::new());
        let route = metrics.route_counters(
            &ObjectRef::new("shop", "front"),
            Some(&ClusterId::new(&ObjectRef::new("shop", "web"), "http").unwrap()),
            Some(&HostMatch::Wildcard("example.com".into())),
            Some(&PathMatch::prefix("/")),
        );
        let outcome = |method, status| RequestOutcome {
            method,
            status,
            duration: Duration::from_millis(3),
            upstream_duration: Some(Duration::from_millis(2)),
            request_bytes: 10,
            response_bytes: 100,
            retries: 0,
        };
        route.observe(&outcome("GET", Some(200)));
        route.observe(&outcome("GET", Some(204)));
        route.observe(&outcome("BREW", Some(503)));
        metrics.unmatched().observe(&outcome("GET", Some(404)));
        let text = String::from_utf8(metrics.render()).unwrap();
        let labels = r#"host="*.example.com",ingress="front",method="GET",namespace="shop",path="/",service="web",service_port="http",status="2xx""#;
        assert!(
            text.contains(&format!("pingress_requests_total{{{labels}}} 2")),
            "{text}"
        );
        assert!(text.contains(r#"method="other",namespace="shop",path="/",service="web",service_port="http",status="5xx"} 1"#), "{text}");
        assert!(text.contains(r#"pingress_requests_total{host="",ingress="",method="GET",namespace="",path="",service="",service_port="",status="4xx"} 1"#), "{text}");
        assert!(text.contains(r#"pingress_response_bytes_total{host="*.example.com",ingress="front",namespace="shop",path="/",service="web",service_port="http"} 300"#), "{text}");
        assert!(text.contains("pingress_config_generation 0"), "{text}");
    }
}
