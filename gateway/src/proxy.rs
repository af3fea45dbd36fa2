//! The Pingora `ProxyHttp` implementation: each phase is one small decision that calls into
//! the module owning it (routing, upstream selection, header policy, status mapping, metrics).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};

use crate::generation::LiveConfig;
use crate::headers;
use crate::metrics::Metrics;
use crate::status;
use crate::upstream::Upstream;

/// Upstream connection and I/O timeouts.
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
    pub timeouts: Timeouts,
}

/// What the phases learn about one request, filled in as they run.
#[derive(Default)]
pub struct RequestCtx {
    /// The upstream the matched route points at.
    upstream: Option<Arc<Upstream>>,
    /// The endpoint chosen for the (last) attempt.
    endpoint: Option<SocketAddr>,
}

impl IngressProxy {
    async fn respond(session: &mut Session, code: u16) -> Result<()> {
        session
            .respond_error_with_body(code, Bytes::from_static(status::body_for(code).as_bytes()))
            .await
    }
}

#[async_trait]
impl ProxyHttp for IngressProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    /// Routes the request by host and path; answers `404` itself when nothing matches.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let generation = self.live.load();
        let req = session.req_header();
        let found = generation
            .routes
            .find(headers::request_host(req), req.uri.path());
        match found {
            Some(route) => {
                ctx.upstream = Some(route.target.clone());
                Ok(false)
            }
            None => {
                Self::respond(session, 404).await?;
                Ok(true)
            }
        }
    }

    /// Picks the next ready endpoint of the routed upstream.
    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let Some(upstream) = ctx.upstream.as_ref() else {
            return Error::e_explain(ErrorType::InternalError, "upstream_peer before routing");
        };
        let Some(addr) = upstream.select() else {
            return Error::e_explain(
                ErrorType::HTTPStatus(503),
                format!("no ready endpoint in {}", upstream.id),
            );
        };
        ctx.endpoint = Some(addr);
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(self.timeouts.connect);
        peer.options.read_timeout = Some(self.timeouts.read);
        peer.options.write_timeout = Some(self.timeouts.send);
        peer.options.idle_timeout = Some(self.timeouts.idle);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<()> {
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string());
        let host = headers::request_host(session.req_header()).to_string();
        headers::set_forwarded(upstream_request, client_ip, &host, "http")
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<()> {
        headers::strip_response_hop_by_hop(upstream_response);
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
        if let (Some(upstream), Some(endpoint)) = (&ctx.upstream, ctx.endpoint) {
            tracing::warn!(cluster = %upstream.id, %endpoint, status = code, "proxying failed: {e}");
        }
        FailToProxy {
            error_code: code.unwrap_or(0),
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, _ctx: &mut RequestCtx) {
        self.metrics
            .observe_request(session.response_written().map(|r| r.status.as_u16()));
    }
}
