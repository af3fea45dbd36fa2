//! The Pingora `ProxyHttp` implementation: each phase is one small decision that calls into
//! the module owning it (routing, upstream selection, header policy, status mapping, metrics).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};

use crate::generation::{Generation, LiveConfig};
use crate::headers;
use crate::metrics::Metrics;
use crate::status;
use crate::tls::Sni;
use crate::upstream::Upstream;
use pingress_routing::normalize_host;

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
    /// The port HTTPS redirects point at (omitted from the URL when 443).
    pub https_port: u16,
    /// `Strict-Transport-Security` value added to HTTPS responses, if any.
    pub hsts: Option<HeaderValue>,
}

/// What the phases learn about one request, filled in as they run.
#[derive(Default)]
pub struct RequestCtx {
    /// The request arrived over TLS.
    tls: bool,
    /// The upstream the matched route points at.
    upstream: Option<Arc<Upstream>>,
    /// The endpoint chosen for the (last) attempt.
    endpoint: Option<SocketAddr>,
}

/// What `request_filter` decided.
enum Decision {
    Proxy(Arc<Upstream>),
    /// Answer this status without proxying.
    Respond(u16),
    /// `308` to this `https://` URL.
    Redirect(String),
}

impl IngressProxy {
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
    /// when plain HTTP reaches a TLS host, the route's upstream, or `404`.
    fn decide(&self, generation: &Generation, session: &Session, tls: bool) -> Decision {
        let req = session.req_header();
        let host = normalize_host(headers::request_host(req));
        if let Some(sni) = sni_of(session) {
            let certs = &generation.tls;
            if *sni != *host && !Arc::ptr_eq(certs.select(Some(sni)), certs.select(Some(&host))) {
                return Decision::Respond(421);
            }
        }
        let found = generation.routes.find(&host, req.uri.path());
        let redirect = !tls
            && generation.tls.is_tls_host(&host)
            && found.is_none_or(|route| route.ssl_redirect);
        if redirect {
            return Decision::Redirect(self.https_url(&host, req));
        }
        match found {
            Some(route) => Decision::Proxy(route.target.clone()),
            None => Decision::Respond(404),
        }
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

/// The SNI name of the request's TLS connection, if it had one.
fn sni_of(session: &Session) -> Option<&str> {
    let digest = session.digest()?.ssl_digest.as_ref()?;
    digest.extension.get::<Sni>().map(|s| s.0.as_str())
}

#[async_trait]
impl ProxyHttp for IngressProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    /// Routes the request by host and path; answers `404`, `421` or a redirect itself.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        let decision = self.decide(&self.live.load(), session, ctx.tls);
        match decision {
            Decision::Proxy(upstream) => {
                ctx.upstream = Some(upstream);
                return Ok(false);
            }
            Decision::Respond(code) => Self::respond(session, code).await?,
            Decision::Redirect(location) => Self::redirect(session, &location).await?,
        }
        Ok(true)
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
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string());
        let host = headers::request_host(session.req_header()).to_string();
        let proto = if ctx.tls { "https" } else { "http" };
        headers::set_forwarded(upstream_request, client_ip, &host, proto)
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
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
