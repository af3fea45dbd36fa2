//! The logging phase: one finished request counted in its route's metrics and written to the
//! access log, from what the context collected.

use std::time::SystemTime;

use pingora::proxy::Session;

use super::RequestCtx;
use crate::access_log::{AccessLog, Entry};
use crate::headers;
use crate::metrics::{Metrics, RequestOutcome};

/// Counts the request in its route's metrics (or the unmatched ones) and logs it.
pub(super) fn finish(session: &Session, ctx: &RequestCtx, metrics: &Metrics, log: &AccessLog) {
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
        retries: ctx.retried,
    };
    let info = ctx.route_info();
    info.map_or(metrics.unmatched(), |i| &i.counters)
        .observe(&outcome);

    if !log.enabled() {
        return;
    }
    let service = ctx.upstream().map(|u| u.id.as_str());
    log.log(&Entry {
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

fn tls_version(session: &Session) -> Option<&str> {
    Some(session.digest()?.ssl_digest.as_ref()?.version.as_ref())
}
