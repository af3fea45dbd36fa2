//! The route decision: which route serves a request and which of its backends, or which
//! answer the gateway gives itself — `421` when the TLS server name and the Host need
//! different certificates, a redirect to HTTPS when plain HTTP reaches a TLS host, `404` when
//! nothing matches.

use std::sync::Arc;

use http::HeaderValue;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingress_model::HttpsRedirect;
use pingress_routing::{Host, RequestParts};

use super::redirect;
use crate::config::{Action, Generation, RouteTarget};
use crate::headers::{self, ClientAddr};
use crate::metrics::Metrics;
use crate::tls::Sni;

/// What the gateway does with a request.
pub(super) enum Decision {
    /// Proxy it to this backend of the route.
    Proxy(Arc<RouteTarget>, usize),
    /// The route answers it itself: a direct response, or `500` for a forwarding route
    /// without a backend to offer (every weight 0).
    Answer(Arc<RouteTarget>),
    /// The route answers it with this redirect.
    RouteRedirect(Arc<RouteTarget>, u16, HeaderValue),
    /// Answer this status without a route.
    Respond(u16),
    /// A redirect to HTTPS: the status and the `https://` URL.
    HttpsRedirect(u16, String),
}

/// Routes a request that arrived over TLS (`tls`) or not, from `client`; `https_port` is
/// where HTTPS redirects point. The route's metrics are resolved here, on its first request.
pub(super) fn decide(
    generation: &Generation,
    session: &Session,
    tls: bool,
    client: Option<&ClientAddr>,
    https_port: u16,
    metrics: &Metrics,
) -> Decision {
    let req = session.req_header();
    let raw_host = headers::request_host(req);
    let host = Host::new(raw_host);
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
    let settings = &generation.settings;
    let trusted =
        client.is_some_and(|c| settings.trusted_proxies.iter().any(|n| n.contains(&c.ip)));
    // Behind a trusted proxy, its X-Forwarded-Proto says how the client came (ingress-nginx's
    // use-forwarded-headers: only exactly "http" is redirected).
    let forwarded_proto = trusted
        .then(|| req.headers.get("x-forwarded-proto"))
        .flatten()
        .map(|v| v.as_bytes());
    let plain = match forwarded_proto {
        Some(proto) => proto == b"http",
        None => !tls,
    };
    let policy = found.map_or(HttpsRedirect::default(), |r| r.target.https_redirect);
    let redirect = plain
        && (policy.force
            || generation.tls.is_tls_host(&host) && found.is_none_or(|route| route.ssl_redirect));
    let url = |scheme| redirect::Request {
        scheme,
        host_header: raw_host,
        host: &host,
        port: request_port(session, req, trusted),
        target: req.uri.path_and_query().map_or("/", |p| p.as_str()),
    };
    if redirect {
        let location = redirect::to_https(&url("http"), policy, https_port);
        return Decision::HttpsRedirect(settings.redirect_code, location);
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
    if let Action::Redirect { code, location } = &target.action {
        let scheme = if plain { "http" } else { "https" };
        return match redirect::location(location, &url(scheme)) {
            Some(location) => Decision::RouteRedirect(target.clone(), *code, location),
            None => Decision::Answer(target.clone()),
        };
    }
    match backend {
        Some(backend) => Decision::Proxy(target.clone(), backend),
        None => Decision::Answer(target.clone()),
    }
}

/// The port the request came to: a trusted proxy's `X-Forwarded-Port`, else the listener's.
fn request_port(session: &Session, req: &RequestHeader, trusted: bool) -> Option<u16> {
    let forwarded = trusted
        .then(|| {
            req.headers
                .get("x-forwarded-port")?
                .to_str()
                .ok()?
                .parse()
                .ok()
        })
        .flatten();
    forwarded.or_else(|| {
        let socket = session.digest()?.socket_digest.as_ref()?;
        Some(socket.local_addr()?.as_inet()?.port())
    })
}

/// The SNI name of the request's TLS connection, if it had one.
fn sni_of(session: &Session) -> Option<&str> {
    let digest = session.digest()?.ssl_digest.as_ref()?;
    digest.extension.get::<Sni>().map(|s| s.0.as_str())
}
