//! Protection from hostile and broken clients: the request checks Pingora does not make itself,
//! and the connection limits and header deadline around the proxy application.
//!
//! ```text
//! accept (Pingora) -> LimitedApp::process_new                                connections.rs
//!                       |- over --max-connections / --max-connections-per-ip: closed at once
//!                       |- no request header within --client-header-timeout: closed
//!                       `- HttpProxy (Pingora parses; rejects what it knows to be malformed)
//!                            `- IngressProxy::request_filter -> screen                request.rs
//! ```
//!
//! docs/security.md lists every rule, its answer, and whether Pingora or this module enforces
//! it; tests/hostile.rs has a raw-bytes case for each.

mod connections;
mod request;

use std::time::Duration;

pub use ipnet::IpNet;
use pingora::apps::HttpServerOptions;
use pingora::protocols::http::v2::server::H2Options;
pub use pingress_routing::EncodedSlashes;

pub use connections::{connection_key, ConnectionKey, Connections, LimitedApp, ProtectionMetrics};
pub use request::{body_over_limit, check_request, Reason};

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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Small limits, for the tests of this module.
    pub(crate) fn limits() -> Limits {
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
}
