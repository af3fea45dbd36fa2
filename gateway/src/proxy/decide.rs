//! The route decision: which route serves a request and which of its backends, or which
//! answer the gateway gives itself — `421` when the TLS server name and the Host need
//! different certificates, a redirect to HTTPS when plain HTTP reaches a TLS host, `404` when
//! nothing matches.

use std::sync::Arc;

use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingress_routing::{Host, RequestParts};

use crate::config::{Action, Generation, RouteTarget};
use crate::headers;
use crate::metrics::Metrics;
use crate::tls::Sni;

/// What the gateway does with a request.
pub(super) enum Decision {
    /// Proxy it to this backend of the route.
    Proxy(Arc<RouteTarget>, usize),
    /// The route answers it itself: a redirect, a direct response, or `500` for a forwarding
    /// route without a backend to offer (every weight 0).
    Answer(Arc<RouteTarget>),
    /// Answer this status without a route.
    Respond(u16),
    /// `308` to this `https://` URL.
    HttpsRedirect(String),
}

/// Routes a request that arrived over TLS (`tls`) or not; `https_port` is where HTTPS
/// redirects point. The route's metrics are resolved here, on its first request.
pub(super) fn decide(
    generation: &Generation,
    session: &Session,
    tls: bool,
    https_port: u16,
    metrics: &Metrics,
) -> Decision {
    let req = session.req_header();
    let host = Host::new(headers::request_host(req));
    if let Some(sni) = sni_of(session) {
        let certs = &generation.tls;
        if sni != host.as_str() && !Arc::ptr_eq(certs.select(Some(sni)), certs.select(Some(&host)))
        {
            return Decision::Respond(421);
        }
    }
    let request = RequestParts {
        method: &req.method,
        headers: &req.headers,
        query: req.uri.query(),
    };
    let found = generation.routes.find(&host, req.uri.path(), &request);
    let redirect =
        !tls && generation.tls.is_tls_host(&host) && found.is_none_or(|route| route.ssl_redirect);
    if redirect {
        return Decision::HttpsRedirect(https_url(&host, https_port, req));
    }
    let Some(found) = found else {
        return Decision::Respond(404);
    };
    let target = found.target;
    let backend = match &target.action {
        Action::Forward(forward) => forward.choose(&request),
        Action::Redirect { .. } | Action::Respond { .. } => None,
    };
    target.resolve(backend, found.host, found.path, metrics);
    match backend {
        Some(backend) => Decision::Proxy(target.clone(), backend),
        None => Decision::Answer(target.clone()),
    }
}

/// The SNI name of the request's TLS connection, if it had one.
fn sni_of(session: &Session) -> Option<&str> {
    let digest = session.digest()?.ssl_digest.as_ref()?;
    digest.extension.get::<Sni>().map(|s| s.0.as_str())
}

/// `https://host[:port]/path?query` of a request, for the HTTPS redirect.
fn https_url(host: &str, https_port: u16, req: &RequestHeader) -> String {
    let host = if host.contains(':') {
        format!("[{host}]") // an IPv6 literal
    } else {
        host.to_string()
    };
    let port = match https_port {
        443 => String::new(),
        port => format!(":{port}"),
    };
    let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
    format!("https://{host}{port}{target}")
}
