//! Choosing the peer of an attempt: the next endpoint of the current leg's upstream by its
//! policy (`upstream::Upstream::select`), skipping those this leg already tried, as a Pingora
//! `HttpPeer` with the route's timeouts. When the backend has no endpoint to offer, its
//! fallback takes over here (`super::fallback`).

use std::time::Instant;

use pingora::prelude::HttpPeer;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::fallback::{self, Leg};
use super::RequestCtx;
use crate::upstream::RequestKey;

/// The peer for the request's next attempt: `503` when the upstream has no endpoint at all,
/// `502` when every endpoint already failed this request — unless a fallback serves then —
/// and `404` for an error page without an error backend to ask.
pub(super) fn next(session: &Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
    ctx.turned_down = None;
    // Pingora replays the buffered body through request_body_filter: count it afresh.
    ctx.body_read = 0;
    // At most two fallbacks follow one another: no endpoints, then an error page.
    loop {
        let Some(upstream) = ctx.upstream() else {
            return match ctx.leg {
                Leg::ErrorPage(_) => fallback::no_error_backend(),
                _ => Error::e_explain(ErrorType::InternalError, "upstream_peer before routing"),
            };
        };
        if ctx.leg_attempts == 0 {
            upstream.earn_retry();
        }
        let client_ip = ctx.client.as_ref().map(|c| c.ip);
        let key = RequestKey::new(&session.req_header().headers, client_ip);
        let Some((addr, in_flight)) = upstream.select(&key, &ctx.tried) else {
            let code = if ctx.leg_attempts == 0 { 503 } else { 502 };
            if let Some(leg) = fallback::when_unavailable(ctx, code) {
                ctx.switch(leg);
                continue;
            }
            if matches!(ctx.leg, Leg::ErrorPage(_)) {
                // ingress-nginx's default backend without endpoints is its built-in 404.
                return fallback::no_error_backend();
            }
            return Error::e_explain(
                ErrorType::HTTPStatus(code),
                format!("no ready endpoint left in {}", upstream.id),
            );
        };
        let now = Instant::now();
        if ctx.leg_attempts > 0 {
            ctx.retried += 1;
        }
        ctx.attempts += 1;
        ctx.leg_attempts += 1;
        ctx.leg_started.get_or_insert(now);
        ctx.tried.push(addr);
        ctx.endpoint = Some(addr);
        ctx.endpoint_in_flight = Some(in_flight);
        ctx.peer_chosen = Some(now);
        let mut peer = HttpPeer::new(addr, false, String::new());
        let t = &ctx.timeouts;
        peer.options.connection_timeout = Some(t.connect);
        peer.options.read_timeout = Some(t.read);
        peer.options.write_timeout = Some(t.send);
        peer.options.idle_timeout = Some(t.idle);
        return Ok(Box::new(peer));
    }
}
