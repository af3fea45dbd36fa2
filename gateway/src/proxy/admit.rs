//! Admission: what a request must pass before it is routed — the framing and size checks of
//! `limits`, the path normalised in place (what is matched is what is forwarded), the client
//! timeouts for the rest of the exchange, and the route's body limit.

use std::borrow::Cow;

use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingress_routing::{normalize_path, PathError};

use crate::limits::{self, Limits, Reason};

/// The checks of [`limits::check_request`], then the path normalised in place.
pub(super) fn screen(session: &mut Session, limits: &Limits) -> Result<(), Reason> {
    let raw = session
        .as_downstream()
        .as_http1()
        .map(|h1| h1.get_headers_raw_bytes());
    limits::check_request(session.req_header(), raw.as_deref(), limits)?;
    let uri = &session.req_header().uri;
    let path = match normalize_path(uri.path(), limits.encoded_slashes) {
        Ok(Cow::Borrowed(_)) => return Ok(()),
        Ok(Cow::Owned(path)) => path,
        Err(e) => {
            tracing::debug!(path = uri.path(), "refused path: {e}");
            return Err(match e {
                PathError::EncodedSlash => Reason::EncodedSlash,
                _ => Reason::BadPath,
            });
        }
    };
    let target = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(target.parse().map_err(|_| Reason::BadPath)?);
    let uri = http::Uri::from_parts(parts).map_err(|_| Reason::BadPath)?;
    session.req_header_mut().set_uri(uri);
    Ok(())
}

/// The keep-alive idle time before the next request, and the body read timeout.
pub(super) fn apply_client_timeouts(session: &mut Session, limits: &Limits) {
    if session.get_keepalive().is_some() {
        let idle = limits.keepalive_timeout.as_secs().max(1);
        session.set_keepalive(Some(idle));
    }
    session.set_read_timeout(Some(limits.client_body_timeout));
}

/// Whether the request declares a body over `limit` (`0`: no limit): answered `413` before
/// the body is read.
pub(super) fn declares_body_over(req: &RequestHeader, limit: u64) -> bool {
    limits::body_over_limit(declared_length(req), limit)
}

/// The request's `Content-Length`, if it has a valid one (Pingora refused invalid ones).
fn declared_length(req: &RequestHeader) -> Option<u64> {
    req.headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
