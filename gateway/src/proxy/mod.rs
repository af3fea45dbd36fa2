//! The request path: Pingora's `ProxyHttp` implemented as its list of phases, each a few lines
//! calling the module that owns the decision.
//!
//! ```text
//! early_request_filter  client and connection bookkeeping, request id      context.rs
//! request_filter        admission (framing, sizes, path) -> route decision  admit.rs, decide.rs
//!                       -> proxy, or the gateway's own answer               respond.rs
//! upstream_peer         the next endpoint of the route's upstream           peer.rs
//!                       or a fallback's                                     fallback.rs
//! fail_to_connect,      retry, or an error page, or not                     retry.rs
//! error_while_proxy
//! request_body_filter   the route's body limit
//! upstream_request_filter   forwarding headers (crate::headers), a fallback's request
//! upstream_response_filter  passive health, a retry or an error page for the status,
//!                           hop-by-hop headers, HSTS
//! fail_to_proxy         error -> status, in one place                       status.rs
//! logging               metrics and the access log                          log.rs
//! ```
//!
//! The per-request [`RequestCtx`] is filled in as the phases run; the logging phase only
//! reads it.

mod admit;
mod context;
mod decide;
mod fallback;
mod log;
mod peer;
mod redirect;
mod respond;
mod retry;
mod status;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::protocols::Digest;
use pingora::proxy::{FailToProxy, ProxyHttp, ProxyWarnLogContext, Session};
use pingora::{Error, ErrorType, Result};

pub use context::RequestCtx;

use crate::access_log::AccessLog;
use crate::config::{Action, LiveConfig};
use crate::headers;
use crate::limits::{Connections, Limits, ProtectionMetrics, Reason};
use crate::metrics::Metrics;
use crate::request_id::RequestIds;
use context::TurnedDown;
use decide::Decision;
use fallback::Leg;
use retry::{Attempt, Failure};

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

/// The gateway's proxy application: the live configuration and everything the phases share.
pub struct IngressProxy {
    pub live: Arc<LiveConfig>,
    pub metrics: Arc<Metrics>,
    pub access_log: AccessLog,
    pub request_ids: RequestIds,
    pub timeouts: Timeouts,
    /// The port HTTPS redirects point at (omitted from the URL when 443).
    pub https_port: u16,
    pub limits: Limits,
    pub connections: Arc<Connections>,
    pub protection: ProtectionMetrics,
}

impl IngressProxy {
    /// Whether the failed attempt is tried again on another endpoint of the current leg.
    fn retry(&self, session: &Session, ctx: &RequestCtx, failure: Failure) -> retry::Decision {
        let Some(upstream) = ctx.upstream() else {
            return retry::Decision::Fail;
        };
        let attempt = Attempt {
            failure,
            idempotent: session.req_header().method.is_idempotent(),
            replayable: !session.as_ref().retry_buffer_truncated(),
            responded: session.response_written().is_some(),
            attempts: ctx.leg_attempts,
            endpoints: upstream.endpoints().len(),
            elapsed: ctx.leg_started.map_or(Duration::ZERO, |t| t.elapsed()),
        };
        retry::decide(&ctx.retry_policy(), &attempt, || upstream.allow_retry())
    }

    /// Switches to an error page when the route replaces the status the gateway would answer
    /// for `e`, and nothing of a response went to the client yet; true when it did.
    fn error_page(&self, session: &Session, ctx: &mut RequestCtx, e: &Error) -> bool {
        let leg = status::for_error(e)
            .filter(|_| session.response_written().is_none())
            .filter(|_| !session.as_ref().retry_buffer_truncated())
            .and_then(|code| fallback::error_page(ctx, code, false));
        if let Some(leg) = leg {
            ctx.switch(leg);
        }
        leg.is_some()
    }

    /// Whether a response header with `status` is turned down before it reaches the client:
    /// retried on another endpoint (the route's `http_NNN` tokens), else replaced by an error
    /// page (the route's custom errors, when it intercepts).
    fn turn_down(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
        status: u16,
    ) -> Option<TurnedDown> {
        if ctx.retry_policy().on.status(status)
            && self.retry(session, ctx, Failure::Status(status)) == retry::Decision::Retry
        {
            return Some(TurnedDown::Retry);
        }
        if session.as_ref().retry_buffer_truncated() {
            // The body cannot be sent again: the response stands.
            return None;
        }
        let leg = fallback::error_page(ctx, status, true)?;
        ctx.switch(leg);
        Some(TurnedDown::ErrorPage)
    }
}

#[async_trait]
impl ProxyHttp for IngressProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(&self.metrics, self.timeouts)
    }

    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
        previous: Box<dyn Any + Send + Sync>,
    ) {
        ctx.resume(previous);
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.attach_client(session, &self.connections, &self.metrics);
        ctx.request_id = self.request_ids.of(session.req_header());
        Ok(())
    }

    /// Refuses malformed requests (docs/security.md), normalises the path, routes the request
    /// by host and path; answers `404`, `421`, `413` or a redirect itself.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        if let Err(reason) = admit::screen(session, &self.limits) {
            respond::reject(session, reason, &self.protection).await?;
            return Ok(true);
        }
        admit::apply_client_timeouts(session, &self.limits);
        let generation = self.live.load();
        let client = ctx.client.as_deref();
        let decision = decide::decide(
            &generation,
            session,
            ctx.tls,
            client,
            self.https_port,
            &self.metrics,
        );
        match decision {
            Decision::Proxy(target, backend) => {
                let limit = target
                    .policy
                    .max_body_size
                    .unwrap_or(self.limits.max_body_size);
                let over = admit::declares_body_over(session.req_header(), limit);
                ctx.route_to(target, backend, limit);
                if over {
                    respond::reject(session, Reason::BodyTooLarge, &self.protection).await?;
                    return Ok(true);
                }
                Ok(false)
            }
            Decision::Answer(target) => {
                let answered = match &target.action {
                    Action::Respond { status, body } => {
                        respond::status_with(session, *status, body.as_ref()).await
                    }
                    // A redirect whose location the request cannot make; a forwarding route
                    // without a backend to offer.
                    Action::Redirect { .. } | Action::Forward(_) => {
                        respond::status(session, 500).await
                    }
                };
                ctx.route = Some(target);
                answered.map(|()| true)
            }
            Decision::RouteRedirect(target, code, location) => {
                ctx.route = Some(target);
                respond::redirect(session, code, location)
                    .await
                    .map(|()| true)
            }
            Decision::Respond(code) => respond::status(session, code).await.map(|()| true),
            Decision::HttpsRedirect(code, location) => respond::redirect(session, code, location)
                .await
                .map(|()| true),
        }
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        peer::next(session, ctx)
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.turned_down = None;
        ctx.record_attempt(false, &self.metrics);
        let decision = self.retry(session, ctx, Failure::connect(&e));
        let retry = decision == retry::Decision::Retry || self.error_page(session, ctx, &e);
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        // A response header turned down on purpose (upstream_response_filter): the next
        // attempt is already decided, and the endpoint did not fail.
        if ctx.turned_down.is_some() && session.response_written().is_none() {
            e.set_retry(true);
            return e;
        }
        ctx.turned_down = None;
        ctx.record_attempt(false, &self.metrics);
        match self.retry(session, ctx, Failure::sent(&e)) {
            retry::Decision::Retry => e.set_retry(true),
            retry::Decision::AsPingora => {
                e.retry.decide_reuse(client_reused);
                if !e.retry() && self.error_page(session, ctx, &e) {
                    e.set_retry(true);
                }
            }
            retry::Decision::Fail => {
                let page = self.error_page(session, ctx, &e);
                e.set_retry(page);
            }
        }
        e
    }

    /// A response replaced by an error page is no failure of its endpoint: no warning.
    fn suppress_proxy_warn_log(
        &self,
        _session: &Session,
        ctx: &RequestCtx,
        _error: &Error,
        _context: ProxyWarnLogContext,
    ) -> bool {
        ctx.turned_down == Some(TurnedDown::ErrorPage)
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
        if let (Some(upstream), Some(chosen)) = (ctx.upstream(), ctx.peer_chosen) {
            self.metrics
                .observe_upstream_connection(reused, &upstream.id, chosen.elapsed());
        }
        Ok(())
    }

    /// A chunked body that grows past the route's limit is cut and answered `413` (the
    /// upstream connection that saw part of it is not reused).
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if body.as_ref().is_some_and(|c| ctx.body_over_limit(c.len())) {
            self.protection.rejected(Reason::BodyTooLarge);
            return Error::e_explain(ErrorType::HTTPStatus(413), "request body over the limit");
        }
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(route) = &ctx.route else {
            return Ok(());
        };
        let settings = &route.settings;
        let host = headers::request_host_value(session.req_header());
        let proto = if ctx.tls { "https" } else { "http" };
        headers::set_forwarded(
            upstream_request,
            ctx.client.as_deref(),
            &settings.trusted_proxies,
            host,
            proto,
        )?;
        if !settings.underscores_in_headers {
            headers::drop_underscored(upstream_request);
        }
        upstream_request.insert_header(headers::REQUEST_ID, &ctx.request_id)?;
        match ctx.leg {
            Leg::Primary => route.filters.upstream_request(upstream_request),
            Leg::NoEndpoints => {
                fallback::rewrite(session, upstream_request, ctx)?;
                route.filters.upstream_request(upstream_request)
            }
            // nginx's named error location sets its own headers and inherits none of the
            // route's.
            Leg::ErrorPage(_) => fallback::rewrite(session, upstream_request, ctx),
        }
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream_duration = ctx.peer_chosen.map(|t| t.elapsed());
        let status = upstream_response.status.as_u16();
        ctx.record_attempt(status < 500, &self.metrics);
        let may_turn_down = ctx
            .route
            .as_ref()
            .is_some_and(|r| r.fallback.is_some() || r.policy.retry.on.any_status());
        if may_turn_down {
            if let Some(turned_down) = self.turn_down(session, ctx, status) {
                ctx.turned_down = Some(turned_down);
                return Error::e_explain(ErrorType::HTTPStatus(status), "response turned down");
            }
        }
        headers::strip_response_hop_by_hop(upstream_response);
        let Some(route) = &ctx.route else {
            return Ok(());
        };
        if let (true, Some(hsts)) = (ctx.tls, &route.settings.hsts) {
            upstream_response.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts)?;
        }
        match ctx.leg {
            Leg::ErrorPage(_) => Ok(()),
            Leg::Primary | Leg::NoEndpoints => route.filters.response(upstream_response),
        }
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = status::for_error(e);
        if let Some(code) = code {
            let written = match (ctx.leg, code) {
                (Leg::ErrorPage(_), 404) => respond::error_page_404(session).await,
                _ => respond::status(session, code).await,
            };
            if let Err(write_error) = written {
                tracing::debug!("could not send the {code} error response: {write_error}");
            }
        }
        if let (Some(upstream), Some(endpoint)) = (ctx.upstream(), ctx.endpoint) {
            tracing::warn!(cluster = %upstream.id, %endpoint, status = code, request_id = %ctx.request_id, "proxying failed: {e}");
        }
        FailToProxy {
            error_code: code.unwrap_or(0),
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        log::finish(session, ctx, &self.metrics, &self.access_log);
    }

    fn persist_connection_context(
        &self,
        _session: &Session,
        ctx: &RequestCtx,
    ) -> Option<Box<dyn Any + Send + Sync>> {
        ctx.persisted()
    }
}
