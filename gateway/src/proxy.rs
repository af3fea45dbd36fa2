//! The Pingora `ProxyHttp` implementation: each phase is one small decision that calls into
//! the module owning it (routing, upstream selection, header policy, status mapping, metrics,
//! access log). The per-request [`RequestCtx`] is filled in as the phases run; the logging
//! phase only reads it.

use std::any::Any;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use ipnet::IpNet;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::protocols::Digest;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};
use pingress_model::RoutePolicy;
use pingress_routing::{normalize_path, Host, PathError, RequestParts};

use crate::access_log::{AccessLog, Entry};
use crate::generation::{Generation, LiveConfig, RouteTarget};
use crate::headers::{self, ClientAddr};
use crate::limits::{self, Connections, Limits, ProtectionMetrics, Reason};
use crate::metrics::{Metrics, RequestOutcome};
use crate::request_id::RequestIds;
use crate::status;
use crate::tls::Sni;
use crate::upstream::{InFlight as EndpointInFlight, RequestKey};

/// Most attempts one request makes (the first plus retries of every kind).
const MAX_ATTEMPTS: usize = 1 + pingress_model::MAX_RETRIES as usize;

/// Upstream connection and I/O timeouts: the flags, or a route's annotations.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Establishing a TCP connection to an endpoint.
    pub connect: Duration,
    /// Between two reads from the upstream (response header or body).
    pub read: Duration,
    /// Between two writes to the upstream (request body).
    pub send: Duration,
    /// How long an idle pooled upstream connection is kept.
    pub idle: Duration,
}

pub struct IngressProxy {
    pub live: Arc<LiveConfig>,
    pub metrics: Arc<Metrics>,
    pub access_log: AccessLog,
    pub request_ids: RequestIds,
    pub timeouts: Timeouts,
    /// The port HTTPS redirects point at (omitted from the URL when 443).
    pub https_port: u16,
    /// `Strict-Transport-Security` value added to HTTPS responses, if any.
    pub hsts: Option<HeaderValue>,
    pub limits: Limits,
    /// Peers whose forwarding headers are kept (`--trusted-proxies`).
    pub trusted_proxies: Vec<IpNet>,
    pub connections: Arc<Connections>,
    pub protection: ProtectionMetrics,
}

/// What an HTTP/1.x connection carries from request to request (keep-alive): the client's
/// address, formatted once, and `pingress_downstream_http1_connections` kept up until the
/// connection drops.
struct ConnectionGuard {
    gauge: prometheus::IntGauge,
    client: Option<Arc<ClientAddr>>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// What the phases learn about one request, filled in as they run.
pub struct RequestCtx {
    started: Instant,
    /// The request arrived over TLS.
    tls: bool,
    request_id: String,
    /// The matched route; `None` for requests the gateway answered itself before routing.
    route: Option<Arc<RouteTarget>>,
    /// The endpoint chosen for the last attempt.
    endpoint: Option<SocketAddr>,
    /// Every endpoint tried so far, not to be chosen again for this request.
    tried: Vec<SocketAddr>,
    /// The connecting client (HTTP/1: shared by every request of the connection).
    client: Option<Arc<ClientAddr>>,
    /// Counts the request against its endpoint's in-flight requests.
    endpoint_in_flight: Option<EndpointInFlight>,
    /// The route's timeouts (annotations, else the flags).
    timeouts: Timeouts,
    /// Retries the route allows after the request was sent (idempotent requests only).
    retries: u8,
    /// Upstream attempts (`upstream_peer` calls).
    attempts: usize,
    /// When the last endpoint was chosen.
    peer_chosen: Option<Instant>,
    /// The route's request body limit (`0`: none) and the body bytes read so far.
    body_limit: u64,
    body_read: u64,
    /// Time from choosing the endpoint to the upstream's response header.
    upstream_duration: Option<Duration>,
    connection: Option<Arc<ConnectionGuard>>,
    _in_flight: InFlight,
}

/// Keeps `pingress_requests_in_flight` up for the life of a request context.
struct InFlight(prometheus::IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What `request_filter` decided.
enum Decision {
    Proxy(Arc<RouteTarget>, RoutePolicy),
    /// Answer this status without proxying.
    Respond(u16),
    /// `308` to this `https://` URL.
    Redirect(String),
}

impl IngressProxy {
    /// Counts a failed attempt against its endpoint (towards ejection).
    fn record_failure(&self, ctx: &RequestCtx) {
        if let (Some(route), Some(endpoint)) = (&ctx.route, ctx.endpoint) {
            if route.upstream.record(endpoint, false) {
                self.metrics.observe_ejection(&route.backend, endpoint);
            }
        }
    }

    async fn respond(session: &mut Session, code: u16) -> Result<()> {
        session
            .respond_error_with_body(code, Bytes::from_static(status::body_for(code).as_bytes()))
            .await
    }

    async fn redirect(session: &mut Session, location: &str) -> Result<()> {
        let mut response = ResponseHeader::build(308, Some(2))?;
        response.insert_header(http::header::LOCATION, location)?;
        response.insert_header(http::header::CONTENT_LENGTH, "0")?;
        session
            .write_response_header(Box::new(response), true)
            .await
    }

    /// Routes a request: `421` when its SNI and Host need different certificates, a redirect
    /// when plain HTTP reaches a TLS host, the route's target, or `404`.
    fn decide(&self, generation: &Generation, session: &Session, tls: bool) -> Decision {
        let req = session.req_header();
        let host = Host::new(headers::request_host(req));
        if let Some(sni) = sni_of(session) {
            let certs = &generation.tls;
            if *sni != *host
                && !Arc::ptr_eq(certs.select(Some(sni)), certs.select(Some(host.as_str())))
            {
                return Decision::Respond(421);
            }
        }
        let parts = RequestParts {
            method: &req.method,
            headers: &req.headers,
            query: req.uri.query(),
        };
        let found = generation.routes.find(&host, req.uri.path(), &parts);
        let redirect = !tls
            && generation.tls.is_tls_host(&host)
            && found.is_none_or(|route| route.ssl_redirect);
        if redirect {
            return Decision::Redirect(self.https_url(&host, req));
        }
        match found {
            Some(route) => match route.target {
                Some(target) => {
                    target.resolve(&route, &self.metrics);
                    Decision::Proxy(target.clone(), target.policy.clone())
                }
                // A route that does not forward, or has no backend: not served yet.
                None => Decision::Respond(500),
            },
            None => Decision::Respond(404),
        }
    }

    /// The checks of [`limits::check_request`], then the path normalised in place: what is
    /// matched is what is forwarded.
    fn screen(&self, session: &mut Session) -> std::result::Result<(), Reason> {
        let raw = session
            .as_downstream()
            .as_http1()
            .map(|h1| h1.get_headers_raw_bytes());
        limits::check_request(session.req_header(), raw.as_deref(), &self.limits)?;
        let uri = &session.req_header().uri;
        let path = match normalize_path(uri.path(), self.limits.encoded_slashes) {
            Ok(Cow::Borrowed(_)) => return Ok(()),
            Ok(Cow::Owned(path)) => path,
            Err(e) => {
                tracing::debug!(path = uri.path(), "refused path: {e}");
                return Err(match e {
                    PathError::EncodedSlash => Reason::EncodedSlash,
                    _ => Reason::BadPath,
                });
            }
        };
        let target = match uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        let mut parts = uri.clone().into_parts();
        parts.path_and_query = Some(target.parse().map_err(|_| Reason::BadPath)?);
        let uri = http::Uri::from_parts(parts).map_err(|_| Reason::BadPath)?;
        session.req_header_mut().set_uri(uri);
        Ok(())
    }

    /// Answers a refused request and closes the connection: the rest of what the client sent
    /// (a body, a pipelined request) is never read.
    async fn reject(&self, session: &mut Session, reason: Reason) -> Result<()> {
        self.protection.rejected(reason);
        tracing::debug!(
            client = ?session.client_addr().map(|a| a.to_string()),
            status = reason.status(),
            reason = reason.label(),
            "request refused"
        );
        session.set_keepalive(None);
        Self::respond(session, reason.status()).await
    }

    /// The keep-alive idle time before the next request, and the body read timeout.
    fn apply_client_timeouts(&self, session: &mut Session) {
        if session.get_keepalive().is_some() {
            let idle = self.limits.keepalive_timeout.as_secs().max(1);
            session.set_keepalive(Some(idle));
        }
        session.set_read_timeout(Some(self.limits.client_body_timeout));
    }

    fn https_url(&self, host: &str, req: &RequestHeader) -> String {
        let host = if host.contains(':') {
            format!("[{host}]") // an IPv6 literal
        } else {
            host.to_string()
        };
        let port = match self.https_port {
            443 => String::new(),
            port => format!(":{port}"),
        };
        let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
        format!("https://{host}{port}{target}")
    }
}

/// The request's `Content-Length`, if it has a valid one (Pingora refused invalid ones).
fn declared_length(req: &RequestHeader) -> Option<u64> {
    req.headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The SNI name of the request's TLS connection, if it had one.
fn sni_of(session: &Session) -> Option<&str> {
    let digest = session.digest()?.ssl_digest.as_ref()?;
    digest.extension.get::<Sni>().map(|s| s.0.as_str())
}

fn tls_version(session: &Session) -> Option<&str> {
    Some(session.digest()?.ssl_digest.as_ref()?.version.as_ref())
}

#[async_trait]
impl ProxyHttp for IngressProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        self.metrics.requests_in_flight.inc();
        RequestCtx {
            started: Instant::now(),
            tls: false,
            request_id: String::new(),
            route: None,
            endpoint: None,
            tried: Vec::new(),
            client: None,
            endpoint_in_flight: None,
            timeouts: self.timeouts,
            retries: 0,
            attempts: 0,
            peer_chosen: None,
            body_limit: 0,
            body_read: 0,
            upstream_duration: None,
            connection: None,
            _in_flight: InFlight(self.metrics.requests_in_flight.clone()),
        }
    }

    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
        previous: Box<dyn Any + Send + Sync>,
    ) {
        ctx.connection = previous.downcast::<Arc<ConnectionGuard>>().ok().map(|g| *g);
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        match &ctx.connection {
            Some(connection) => ctx.client = connection.client.clone(),
            None => {
                // The first request of a connection (every stream of an HTTP/2 one): the header
                // deadline is met.
                if let Some(socket) = session.digest().and_then(|d| d.socket_digest.as_ref()) {
                    self.connections
                        .request_seen(limits::connection_key(socket));
                }
                ctx.client = session
                    .client_addr()
                    .and_then(|a| a.as_inet())
                    .map(|a| Arc::new(ClientAddr::new(a.ip())));
                if !session.as_downstream().is_http2() {
                    let gauge = self.metrics.downstream_http1_connections.clone();
                    gauge.inc();
                    ctx.connection = Some(Arc::new(ConnectionGuard {
                        gauge,
                        client: ctx.client.clone(),
                    }));
                }
            }
        }
        ctx.request_id = self.request_ids.of(session.req_header());
        Ok(())
    }

    /// Refuses malformed requests (docs/security.md), normalises the path, routes the request
    /// by host and path; answers `404`, `421`, `413` or a redirect itself.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        if let Err(reason) = self.screen(session) {
            self.reject(session, reason).await?;
            return Ok(true);
        }
        self.apply_client_timeouts(session);
        let decision = self.decide(&self.live.load(), session, ctx.tls);
        match decision {
            Decision::Proxy(target, policy) => {
                let limit = policy.max_body_size.unwrap_or(self.limits.max_body_size);
                if limits::body_over_limit(declared_length(session.req_header()), limit) {
                    ctx.route = Some(target);
                    self.reject(session, Reason::BodyTooLarge).await?;
                    return Ok(true);
                }
                ctx.body_limit = limit;
                ctx.route = Some(target);
                let t = &mut ctx.timeouts;
                t.connect = policy.connect_timeout.unwrap_or(t.connect);
                t.read = policy.read_timeout.unwrap_or(t.read);
                t.send = policy.send_timeout.unwrap_or(t.send);
                ctx.retries = policy.retries;
                return Ok(false);
            }
            Decision::Respond(code) => Self::respond(session, code).await?,
            Decision::Redirect(location) => Self::redirect(session, &location).await?,
        }
        Ok(true)
    }

    /// Picks the next endpoint of the routed upstream by its policy, skipping those this
    /// request already tried.
    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let Some(route) = ctx.route.as_ref() else {
            return Error::e_explain(ErrorType::InternalError, "upstream_peer before routing");
        };
        let upstream = &route.upstream;
        if ctx.attempts == 0 {
            upstream.earn_retry();
        }
        let client_ip = ctx.client.as_ref().map(|c| c.ip);
        let key = RequestKey::new(&session.req_header().headers, client_ip);
        let Some((addr, in_flight)) = upstream.select(&key, &ctx.tried) else {
            // Nothing at all (503), or every endpoint already failed this request (502).
            let code = if ctx.attempts == 0 { 503 } else { 502 };
            return Error::e_explain(
                ErrorType::HTTPStatus(code),
                format!("no ready endpoint left in {}", upstream.id),
            );
        };
        ctx.attempts += 1;
        ctx.tried.push(addr);
        ctx.endpoint = Some(addr);
        ctx.endpoint_in_flight = Some(in_flight);
        ctx.peer_chosen = Some(Instant::now());
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(ctx.timeouts.connect);
        peer.options.read_timeout = Some(ctx.timeouts.read);
        peer.options.write_timeout = Some(ctx.timeouts.send);
        peer.options.idle_timeout = Some(ctx.timeouts.idle);
        Ok(Box::new(peer))
    }

    /// A connection failure: nothing was sent, so any method may go to another endpoint, while
    /// attempts and the retry budget last.
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        self.record_failure(ctx);
        let retry = ctx.route.as_ref().is_some_and(|r| {
            ctx.attempts < MAX_ATTEMPTS
                && ctx.attempts < r.upstream.endpoints().len()
                && r.upstream.allow_retry()
        });
        e.set_retry(retry);
        e
    }

    /// A failure after the request was (partly) sent: only idempotent requests are retried, on
    /// another endpoint, when the route allows retries (or when a reused pooled connection
    /// turned out to be closed, which Pingora retries by default), within the retry budget.
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        self.record_failure(ctx);
        let mut e = e.more_context(format!("Peer: {peer}"));
        let idempotent = session.req_header().method.is_idempotent()
            && !session.as_ref().retry_buffer_truncated();
        let upstream = ctx.route.as_ref().map(|r| &r.upstream);
        let allowed = ctx.attempts <= usize::from(ctx.retries) && ctx.attempts < MAX_ATTEMPTS;
        if !idempotent || upstream.is_none() {
            e.set_retry(false);
        } else if allowed && upstream.is_some_and(|u| u.allow_retry()) {
            e.set_retry(true);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        e
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        reused: bool,
        _peer: &HttpPeer,
        _fd: std::os::unix::io::RawFd,
        _digest: Option<&Digest>,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let (Some(route), Some(chosen)) = (&ctx.route, ctx.peer_chosen) {
            self.metrics
                .observe_upstream_connection(reused, &route.backend, chosen.elapsed());
        }
        Ok(())
    }

    /// Counts the body against the route's limit: a chunked body that grows past it is cut
    /// and answered `413` (the upstream connection that saw part of it is not reused).
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(chunk) = body {
            ctx.body_read += chunk.len() as u64;
            if ctx.body_limit != 0 && ctx.body_read > ctx.body_limit {
                self.protection.rejected(Reason::BodyTooLarge);
                return Error::e_explain(ErrorType::HTTPStatus(413), "request body over the limit");
            }
        }
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let host = headers::request_host_value(session.req_header());
        let proto = if ctx.tls { "https" } else { "http" };
        headers::set_forwarded(
            upstream_request,
            ctx.client.as_deref(),
            &self.trusted_proxies,
            host,
            proto,
        )?;
        if !self.limits.allow_underscores_in_headers {
            headers::drop_underscored(upstream_request);
        }
        upstream_request.insert_header(headers::REQUEST_ID, &ctx.request_id)
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream_duration = ctx.peer_chosen.map(|t| t.elapsed());
        if let (Some(route), Some(endpoint)) = (&ctx.route, ctx.endpoint) {
            let success = upstream_response.status.as_u16() < 500;
            if route.upstream.record(endpoint, success) {
                self.metrics.observe_ejection(&route.backend, endpoint);
            }
        }
        headers::strip_response_hop_by_hop(upstream_response);
        if let (true, Some(hsts)) = (ctx.tls, &self.hsts) {
            upstream_response.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts)?;
        }
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = status::for_error(e);
        if let Some(code) = code {
            if let Err(write_error) = Self::respond(session, code).await {
                tracing::debug!("could not send the {code} error response: {write_error}");
            }
        }
        if let (Some(route), Some(endpoint)) = (&ctx.route, ctx.endpoint) {
            tracing::warn!(cluster = %route.upstream.id, %endpoint, status = code, request_id = %ctx.request_id, "proxying failed: {e}");
        }
        FailToProxy {
            error_code: code.unwrap_or(0),
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let req = session.req_header();
        let status = session.response_written().map(|r| r.status.as_u16());
        let duration = ctx.started.elapsed();
        let outcome = RequestOutcome {
            method: req.method.as_str(),
            status,
            duration,
            upstream_duration: ctx.upstream_duration,
            request_bytes: session.body_bytes_read(),
            response_bytes: session.body_bytes_sent(),
            retries: ctx.attempts.saturating_sub(1),
        };
        let info = ctx.route.as_ref().and_then(|r| r.resolved());
        info.map_or(self.metrics.unmatched(), |i| &i.counters)
            .observe(&outcome);

        if !self.access_log.enabled() {
            return;
        }
        let service = ctx.route.as_ref().map(|r| r.backend.cluster.as_str());
        self.access_log.log(&Entry {
            time: SystemTime::now(),
            request_id: &ctx.request_id,
            client: session.client_addr().and_then(|a| a.as_inet()).copied(),
            method: outcome.method,
            host: headers::request_host(req),
            path: req.uri.path(),
            protocol: if session.as_downstream().is_http2() {
                "HTTP/2"
            } else {
                "HTTP/1.1"
            },
            status: status.unwrap_or(0),
            request_bytes: outcome.request_bytes,
            response_bytes: outcome.response_bytes,
            duration: duration.as_secs_f64(),
            upstream_duration: ctx.upstream_duration.map(|d| d.as_secs_f64()),
            ingress: info.map(|i| i.ingress.as_str()),
            route: info.map(|i| i.rule.as_str()),
            service,
            endpoint: ctx.endpoint,
            retries: outcome.retries,
            tls: tls_version(session),
            user_agent: req
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        });
    }

    fn persist_connection_context(
        &self,
        _session: &Session,
        ctx: &RequestCtx,
    ) -> Option<Box<dyn Any + Send + Sync>> {
        ctx.connection
            .clone()
            .map(|g| Box::new(g) as Box<dyn Any + Send + Sync>)
    }
}
