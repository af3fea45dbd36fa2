//! Choosing the peer of an attempt: the next endpoint of the chosen backend's upstream by its
//! policy (`upstream::Upstream::select`), skipping those this request already tried, as a
//! Pingora `HttpPeer` with the route's timeouts.

use std::time::Instant;

use pingora::prelude::HttpPeer;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::RequestCtx;
use crate::upstream::RequestKey;

/// The peer for the request's next attempt: `503` when the upstream has no endpoint at all,
/// `502` when every endpoint already failed this request.
pub(super) fn next(session: &Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
    let Some(upstream) = ctx.upstream() else {
        return Error::e_explain(ErrorType::InternalError, "upstream_peer before routing");
    };
    if ctx.attempts == 0 {
        upstream.earn_retry();
    }
    let client_ip = ctx.client.as_ref().map(|c| c.ip);
    let key = RequestKey::new(&session.req_header().headers, client_ip);
    let Some((addr, in_flight)) = upstream.select(&key, &ctx.tried) else {
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
    let t = &ctx.timeouts;
    peer.options.connection_timeout = Some(t.connect);
    peer.options.read_timeout = Some(t.read);
    peer.options.write_timeout = Some(t.send);
    peer.options.idle_timeout = Some(t.idle);
    Ok(Box::new(peer))
}
