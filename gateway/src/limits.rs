//! Protection from hostile and broken clients: the request checks Pingora does not make itself,
//! and the connection limits and header deadline around the proxy application.
//!
//! ```text
//! accept (Pingora) -> LimitedApp::process_new
//!                       |- over --max-connections / --max-connections-per-ip: closed at once
//!                       |- no request header within --client-header-timeout: closed
//!                       `- HttpProxy (Pingora parses; rejects what it knows to be malformed)
//!                            `- IngressProxy::early_request_filter -> check_request (this file)
//! ```
//!
//! docs/security.md lists every rule, its answer, and whether Pingora or this module enforces
//! it; tests/hostile.rs has a raw-bytes case for each.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
pub use ipnet::IpNet;
use pingora::apps::{HttpServerOptions, ServerApp};
use pingora::http::RequestHeader;
use pingora::protocols::http::v2::server::H2Options;
use pingora::protocols::{SocketDigest, Stream};
use pingora::server::ShutdownWatch;
pub use pingress_routing::EncodedSlashes;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

/// The limits of `pingress run --help` ("Client limits").
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest request line (method, target, version) of an HTTP/1 request: `414` beyond it.
    pub max_request_line: usize,
    /// Largest request header section (HTTP/1, request line included; HTTP/2, the decoded
    /// header list): `431` beyond it.
    pub max_header_size: usize,
    /// Largest request body unless a route's annotation says otherwise; `0`: no limit.
    pub max_body_size: u64,
    pub encoded_slashes: EncodedSlashes,
    /// Forward header names containing `_` (nginx drops them by default, as we do).
    pub allow_underscores_in_headers: bool,
    /// A new connection must complete its first request header within this time.
    pub client_header_timeout: Duration,
    /// Longest wait between two reads of a request body.
    pub client_body_timeout: Duration,
    /// How long an idle keep-alive connection waits for its next request (per read).
    pub keepalive_timeout: Duration,
    /// Requests served on one HTTP/1 connection before it is closed.
    pub keepalive_requests: u32,
    /// Open client connections in all; `0`: no limit.
    pub max_connections: usize,
    /// Open client connections from one IP address; `0`: no limit.
    pub max_connections_per_ip: usize,
    /// Concurrent streams on one HTTP/2 connection.
    pub http2_max_concurrent_streams: u32,
}

/// HTTP/2 settings, explicit rather than inherited: concurrent streams, the decoded header
/// list (which also bounds a CONTINUATION flood: the h2 crate counts the list as the frames
/// arrive), and resets — at most 20 streams reset by the client before the server accepted
/// them (the rapid-reset attack, CVE-2023-44487) and 256 streams reset by the server for
/// errors before the connection is closed with `GOAWAY`.
pub fn h2_options(limits: &Limits) -> H2Options {
    let mut options = H2Options::default();
    options
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_size).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(Some(256));
    options
}

/// Keep-alive requests per HTTP/1 connection, and the idle time of an HTTP/2 connection.
pub fn server_options(limits: &Limits) -> HttpServerOptions {
    let mut options = HttpServerOptions::default();
    options.keepalive_request_limit = Some(limits.keepalive_requests);
    options.h2_idle_timeout = Some(limits.keepalive_timeout);
    options
}

/// The checks of an HTTP/1 or HTTP/2 request header that Pingora does not make (it already
/// refuses unparseable headers, differing `Content-Length`s, a final coding other than
/// `chunked`, duplicate `Host`, and an absolute-form target whose authority differs from
/// `Host`). `raw` is the HTTP/1 header section as received; `None` for HTTP/2.
pub fn check_request(
    req: &RequestHeader,
    raw: Option<&[u8]>,
    limits: &Limits,
) -> Result<(), Reason> {
    if let Some(raw) = raw {
        let line = raw.iter().position(|&b| b == b'\n').unwrap_or(raw.len());
        if line > limits.max_request_line {
            return Err(Reason::RequestLineTooLong);
        }
        if raw.len() > limits.max_header_size {
            return Err(Reason::HeaderTooLarge);
        }
        if req.version == http::Version::HTTP_11 && !req.headers.contains_key(HOST) {
            return Err(Reason::MissingHost);
        }
        let mut codings = req.headers.get_all(TRANSFER_ENCODING).iter();
        if let Some(coding) = codings.next() {
            // Only `chunked`, once: `gzip, chunked` and repeated codings are refused, as nginx
            // does. Pingora dropped a `Content-Length` sent along; the raw header still has it.
            if codings.next().is_some() || !coding.as_bytes().eq_ignore_ascii_case(b"chunked") {
                return Err(Reason::BadTransferEncoding);
            }
            if raw_field_count(raw, b"content-length") > 0 {
                return Err(Reason::ContentLengthWithTransferEncoding);
            }
        } else if let Some(length) = req.headers.get(CONTENT_LENGTH) {
            // Pingora accepts identical duplicates and lists (`3, 3`); a request smuggler's
            // favourite, refused. The raw scan only runs for requests with a body length.
            if length.as_bytes().contains(&b',') || raw_field_count(raw, b"content-length") > 1 {
                return Err(Reason::DuplicateContentLength);
            }
        }
    }
    Ok(())
}

/// How many header lines of the raw HTTP/1 header section are named `name` (lower case).
fn raw_field_count(raw: &[u8], name: &[u8]) -> usize {
    raw.split(|&b| b == b'\n')
        .skip(1)
        .filter(|line| {
            line.len() > name.len()
                && line[name.len()] == b':'
                && line[..name.len()].eq_ignore_ascii_case(name)
        })
        .count()
}

/// Whether a declared body length is over `limit` (`0`: no limit).
pub fn body_over_limit(declared: Option<u64>, limit: u64) -> bool {
    limit != 0 && declared.is_some_and(|length| length > limit)
}

/// Why a request was refused: the `reason` label of `pingress_requests_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    RequestLineTooLong,
    HeaderTooLarge,
    MissingHost,
    BadTransferEncoding,
    ContentLengthWithTransferEncoding,
    DuplicateContentLength,
    BadPath,
    EncodedSlash,
    BodyTooLarge,
}

impl Reason {
    const ALL: [Reason; 9] = [
        Reason::RequestLineTooLong,
        Reason::HeaderTooLarge,
        Reason::MissingHost,
        Reason::BadTransferEncoding,
        Reason::ContentLengthWithTransferEncoding,
        Reason::DuplicateContentLength,
        Reason::BadPath,
        Reason::EncodedSlash,
        Reason::BodyTooLarge,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Reason::RequestLineTooLong => "request_line_too_long",
            Reason::HeaderTooLarge => "header_too_large",
            Reason::MissingHost => "missing_host",
            Reason::BadTransferEncoding => "bad_transfer_encoding",
            Reason::ContentLengthWithTransferEncoding => "content_length_with_transfer_encoding",
            Reason::DuplicateContentLength => "duplicate_content_length",
            Reason::BadPath => "bad_path",
            Reason::EncodedSlash => "encoded_slash",
            Reason::BodyTooLarge => "body_too_large",
        }
    }

    /// The status the client gets.
    pub fn status(self) -> u16 {
        match self {
            Reason::RequestLineTooLong => 414,
            Reason::HeaderTooLarge => 431,
            Reason::BodyTooLarge => 413,
            _ => 400,
        }
    }
}

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
        let mut state = self.connections.state.lock().expect("not poisoned");
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
        let mut state = self.state.lock().expect("not poisoned");
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
        let mut state = self.state.lock().expect("not poisoned");
        if let Some(seen) = state.waiting.get_mut(&key) {
            *seen = true;
        }
    }

    fn has_seen_request(&self, key: ConnectionKey) -> bool {
        let state = self.state.lock().expect("not poisoned");
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

    fn limits() -> Limits {
        Limits {
            max_request_line: 64,
            max_header_size: 256,
            max_body_size: 0,
            encoded_slashes: EncodedSlashes::Keep,
            allow_underscores_in_headers: false,
            client_header_timeout: Duration::from_secs(1),
            client_body_timeout: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(1),
            keepalive_requests: 10,
            max_connections: 2,
            max_connections_per_ip: 1,
            http2_max_concurrent_streams: 10,
        }
    }

    /// Parses `raw` as Pingora has, roughly: the request line, then the fields.
    fn check(raw: &str) -> Result<(), Reason> {
        let mut lines = raw.split("\r\n");
        let mut start = lines.next().unwrap().split(' ');
        let (method, target) = (start.next().unwrap(), start.next().unwrap());
        let mut req = RequestHeader::build(method, target.as_bytes(), None).unwrap();
        for line in lines.take_while(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').unwrap();
            req.append_header(name.to_string(), value.trim()).unwrap();
        }
        check_request(&req, Some(raw.as_bytes()), &limits())
    }

    fn reason(raw: &str) -> &'static str {
        check(raw).map_or_else(|r| r.label(), |()| "ok")
    }

    #[test]
    fn framing_rules() {
        let rows = [
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "ok"),
            ("GET / HTTP/1.1\r\n\r\n", "missing_host"),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                "ok",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                "bad_transfer_encoding",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                "bad_transfer_encoding",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\ncontent-LENGTH: 3\r\n\r\n",
                "content_length_with_transfer_encoding",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
                "duplicate_content_length",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n",
                "duplicate_content_length",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nX-Content-Length: 3\r\nContent-Length: 3\r\n\r\n",
                "ok",
            ),
        ];
        for (raw, want) in rows {
            assert_eq!(reason(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn size_limits() {
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "x".repeat(64));
        assert_eq!(check(&long_target).unwrap_err().status(), 414);
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "y".repeat(256)
        );
        assert_eq!(check(&big).unwrap_err().status(), 431);
        assert!(body_over_limit(Some(11), 10));
        assert!(!body_over_limit(Some(10), 10));
        assert!(!body_over_limit(Some(u64::MAX), 0));
        assert!(!body_over_limit(None, 10));
    }

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
