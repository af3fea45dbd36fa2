//! The request path: Pingora's `ProxyHttp` implemented as its list of phases, each a few lines
//! calling the module that owns the decision.
//!
//! ```text
//! early_request_filter  client and connection bookkeeping, request id      context.rs
//! request_filter        admission (framing, sizes, path) -> route decision  admit.rs, decide.rs
//!                       -> proxy, or the gateway's own answer               respond.rs
//! upstream_peer         the next endpoint of the route's upstream           peer.rs
//! fail_to_connect,      retry or not                                        retry.rs
//! error_while_proxy
//! request_body_filter   the route's body limit
//! upstream_request_filter   forwarding headers (crate::headers)
//! upstream_response_filter  passive health, hop-by-hop headers, HSTS
//! fail_to_proxy         error -> status, in one place                       status.rs
//! logging               metrics and the access log                          log.rs
//! ```
//!
//! The per-request [`RequestCtx`] is filled in as the phases run; the logging phase only
//! reads it.

mod admit;
mod context;
mod decide;
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
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};

pub use context::RequestCtx;

use crate::access_log::AccessLog;
use crate::config::{Action, LiveConfig};
use crate::headers;
use crate::limits::{Connections, Limits, ProtectionMetrics, Reason};
use crate::metrics::Metrics;
use crate::request_id::RequestIds;
use decide::Decision;
use retry::AfterError;

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
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.record_attempt(false, &self.metrics);
        let retry = ctx.upstream().is_some_and(|upstream| {
            retry::after_connect_failure(ctx.attempts, upstream.endpoints().len(), || {
                upstream.allow_retry()
            })
        });
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
        ctx.record_attempt(false, &self.metrics);
        let mut e = e.more_context(format!("Peer: {peer}"));
        let replayable = session.req_header().method.is_idempotent()
            && !session.as_ref().retry_buffer_truncated();
        let upstream = ctx.upstream();
        let decision = retry::after_error(
            replayable,
            upstream.is_some(),
            ctx.attempts,
            ctx.retries,
            || upstream.is_some_and(|u| u.allow_retry()),
        );
        match decision {
            AfterError::Retry => e.set_retry(true),
            AfterError::Fail => e.set_retry(false),
            AfterError::AsPingora => e.retry.decide_reuse(client_reused),
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
        route.filters.upstream_request(upstream_request)
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream_duration = ctx.peer_chosen.map(|t| t.elapsed());
        ctx.record_attempt(upstream_response.status.as_u16() < 500, &self.metrics);
        headers::strip_response_hop_by_hop(upstream_response);
        let Some(route) = &ctx.route else {
            return Ok(());
        };
        if let (true, Some(hsts)) = (ctx.tls, &route.settings.hsts) {
            upstream_response.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts)?;
        }
        route.filters.response(upstream_response)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = status::for_error(e);
        if let Some(code) = code {
            if let Err(write_error) = respond::status(session, code).await {
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
