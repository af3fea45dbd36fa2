//! Fallbacks: who answers for a route's backend when it cannot (ingress-nginx's
//! `default-backend` and `custom-http-errors`, `docs/upstreams.md`).
//!
//! A request is made in *legs*, each with its own upstream, attempts and retries:
//!
//! ```text
//! Primary        the route's backend
//!   | no ready endpoint at all, and the route has a default backend
//! NoEndpoints    the default backend, path unchanged, + X-Code: 503 and the route's identity
//!   | the endpoint answered a listed status (when intercepting), or the gateway would
//!   | answer one (502, 503, 504)
//! ErrorPage(N)   the error backend, `GET /`-style: path `/`, X-Code: N, X-Original-URI, ...;
//!                the client gets its answer (none: the gateway's 404)
//! ```
//!
//! An upstream response is turned down in `upstream_response_filter`, before anything of it
//! went to the client: the hook fails, and `error_while_proxy` asks Pingora for another
//! attempt, which `upstream_peer` sends to the error backend over Pingora's own connection
//! pool, the request body replayed from Pingora's retry buffer. Only the turned-down
//! connection is closed; responses that are not turned down are streamed as always.

use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::RequestCtx;

/// Which request of the exchange is being made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Leg {
    /// To the route's backend.
    #[default]
    Primary,
    /// The backend has no ready endpoint: to the route's default backend.
    NoEndpoints,
    /// Status `N` is replaced: to the error backend.
    ErrorPage(u16),
}

/// `X-Code`, the status a fallback stands in for.
const X_CODE: &str = "x-code";

/// The leg that answers when the current leg's upstream cannot offer an endpoint and the
/// gateway would answer `code` (`503`: none at all, `502`: every one failed).
pub(super) fn when_unavailable(ctx: &RequestCtx, code: u16) -> Option<Leg> {
    let fallback = ctx.route.as_ref()?.fallback.as_ref()?;
    if ctx.leg == Leg::Primary && code == 503 && fallback.no_endpoints.is_some() {
        return Some(Leg::NoEndpoints);
    }
    error_page(ctx, code, false)
}

/// The error page replacing `status`, when the route has one for it: for an upstream's
/// response (`upstream`) only when the route intercepts them; of the gateway's own answers,
/// only its upstream failures (`502`, `503`, `504`). Never for an error page's own answer
/// (nginx's `proxy_intercept_errors off` there, and no recursive error pages).
pub(super) fn error_page(ctx: &RequestCtx, status: u16, upstream: bool) -> Option<Leg> {
    if matches!(ctx.leg, Leg::ErrorPage(_)) {
        return None;
    }
    let errors = ctx.route.as_ref()?.fallback.as_ref()?.errors.as_ref()?;
    let replaced = match upstream {
        true => errors.intercept,
        false => (502..=504).contains(&status),
    };
    (replaced && errors.covers(status)).then_some(Leg::ErrorPage(status))
}

/// The error after which an error page's request goes nowhere: ingress-nginx's built-in default
/// backend answers `404` to everything.
pub(super) fn no_error_backend<T>() -> Result<T> {
    Error::e_explain(
        ErrorType::HTTPStatus(404),
        "no error backend for the error page",
    )
}

/// Makes the request of a fallback leg out of the route's (run after the forwarding headers).
/// `NoEndpoints`: `X-Code: 503` and the route's identity, the path kept. `ErrorPage(N)`: path
/// `/` (the query kept, as nginx's `rewrite (.*) / break`), `X-Code: N`, the route's identity,
/// `X-Original-URI` and `X-Forwarded-For` the client's address alone. `X-Request-ID` is the
/// request's in every leg.
pub(super) fn rewrite(
    session: &Session,
    upstream_request: &mut RequestHeader,
    ctx: &RequestCtx,
) -> Result<()> {
    let code = match ctx.leg {
        Leg::Primary => return Ok(()),
        Leg::NoEndpoints => 503,
        Leg::ErrorPage(code) => code,
    };
    let client = session.req_header();
    upstream_request.insert_header(X_CODE, code.to_string())?;
    // nginx's `proxy_set_header X-Format $http_accept`: without an Accept, no X-Format at all
    // (not the client's).
    match client.headers.get(http::header::ACCEPT) {
        Some(accept) => upstream_request.insert_header("x-format", accept.clone())?,
        None => {
            upstream_request.remove_header("x-format");
        }
    }
    if let Some(route) = &ctx.route {
        let origin = route.origin();
        upstream_request.insert_header("x-namespace", origin.namespace.as_str())?;
        upstream_request.insert_header("x-ingress-name", origin.name.as_str())?;
    }
    if let Some(upstream) = ctx.backend_upstream() {
        upstream_request.insert_header("x-service-name", upstream.id.service())?;
        upstream_request.insert_header("x-service-port", upstream.id.port())?;
    }
    if ctx.leg == Leg::NoEndpoints {
        return Ok(());
    }
    let target = client.uri.path_and_query().map_or("/", |p| p.as_str());
    upstream_request.insert_header("x-original-uri", target)?;
    // nginx's `$remote_addr`: the client, once trusted proxies are accounted for.
    if let Some(real) = upstream_request.headers.get("x-real-ip").cloned() {
        upstream_request.insert_header("x-forwarded-for", real)?;
    }
    let path = match client.uri.query() {
        Some(query) => format!("/?{query}"),
        None => "/".to_string(),
    };
    let uri = path
        .parse::<http::Uri>()
        .map_err(|e| Error::because(ErrorType::InternalError, "error page URI", e))?;
    upstream_request.set_uri(uri);
    Ok(())
}
