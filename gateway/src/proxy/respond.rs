//! The answers the gateway writes itself: error statuses with a short text body, redirects,
//! and refusals that close the connection.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::status;
use crate::limits::{ProtectionMetrics, Reason};

/// Answers `code` with the gateway's short text for it.
pub(super) async fn status(session: &mut Session, code: u16) -> Result<()> {
    session
        .respond_error_with_body(code, Bytes::from_static(status::body_for(code).as_bytes()))
        .await
}

/// Answers an error page that has no error backend to ask: `404`, as ingress-nginx's built-in
/// default backend does.
pub(super) async fn error_page_404(session: &mut Session) -> Result<()> {
    session
        .respond_error_with_body(404, Bytes::from_static(b"404 Not Found\n"))
        .await
}

/// Answers `code` with `body`, or the gateway's short text for it.
pub(super) async fn status_with(
    session: &mut Session,
    code: u16,
    body: Option<&Bytes>,
) -> Result<()> {
    match body {
        Some(body) => session.respond_error_with_body(code, body.clone()).await,
        None => status(session, code).await,
    }
}

/// Answers `code` (a redirect status) to `location`, without a body.
pub(super) async fn redirect(
    session: &mut Session,
    code: u16,
    location: impl TryInto<http::HeaderValue>,
) -> Result<()> {
    let mut response = ResponseHeader::build(code, Some(2))?;
    response.insert_header(http::header::LOCATION, location)?;
    response.insert_header(http::header::CONTENT_LENGTH, "0")?;
    session
        .write_response_header(Box::new(response), true)
        .await
}

/// Answers a refused request and closes the connection: the rest of what the client sent
/// (a body, a pipelined request) is never read.
pub(super) async fn reject(
    session: &mut Session,
    reason: Reason,
    protection: &ProtectionMetrics,
) -> Result<()> {
    protection.rejected(reason);
    tracing::debug!(
        client = ?session.client_addr().map(|a| a.to_string()),
        status = reason.status(),
        reason = reason.label(),
        "request refused"
    );
    session.set_keepalive(None);
    status(session, reason.status()).await
}
