//! The one place where a proxying error becomes the HTTP status the client sees, and the texts
//! of the statuses the gateway answers itself.
//!
//! Pingora answers `502` for every upstream error; operators need to tell a dead or broken
//! upstream (`502`) from a slow one (`504`) and from a backend without endpoints (`503`).

use pingora::{Error, ErrorSource, ErrorType};

/// The status for `error`, or `None` when the client is gone and nothing can be sent.
pub fn for_error(error: &Error) -> Option<u16> {
    use ErrorType::*;
    let code = match (error.esource(), error.etype()) {
        // Decided earlier on purpose, e.g. 503 "no ready endpoint".
        (_, HTTPStatus(code)) => *code,
        // The upstream did not connect, answer or accept the request in time.
        (ErrorSource::Upstream, ConnectTimedout | ReadTimedout | WriteTimedout) => 504,
        // Refused, reset, no route, garbage instead of HTTP, closed early: a bad gateway.
        (ErrorSource::Upstream, _) => 502,
        // The client went away: nobody to answer.
        (ErrorSource::Downstream, ReadError | WriteError | ConnectionClosed) => return None,
        // The client was too slow sending its request.
        (ErrorSource::Downstream, ReadTimedout) => 408,
        // Anything else the client sent that we could not handle.
        (ErrorSource::Downstream, _) => 400,
        (ErrorSource::Internal | ErrorSource::Unset, _) => 500,
    };
    Some(code)
}

/// A short plain-text body for statuses the gateway answers itself.
pub fn body_for(code: u16) -> &'static str {
    match code {
        404 => "404 Not Found: no Ingress rule matches this host and path\n",
        408 => "408 Request Timeout\n",
        421 => "421 Misdirected Request: the TLS server name and the Host header name hosts with different certificates\n",
        502 => "502 Bad Gateway: the upstream endpoint failed\n",
        503 => "503 Service Unavailable: the backend has no ready endpoint\n",
        504 => "504 Gateway Timeout: the upstream endpoint did not answer in time\n",
        400 => "400 Bad Request\n",
        413 => "413 Content Too Large: the request body is over the limit\n",
        414 => "414 URI Too Long\n",
        431 => "431 Request Header Fields Too Large\n",
        _ => "error\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(etype: ErrorType) -> Box<Error> {
        Error::new_up(etype)
    }

    #[test]
    fn errors_map_to_statuses() {
        let rows: [(Box<Error>, Option<u16>); 8] = [
            (Error::new(ErrorType::HTTPStatus(503)), Some(503)),
            (upstream(ErrorType::ConnectTimedout), Some(504)),
            (upstream(ErrorType::ReadTimedout), Some(504)),
            (upstream(ErrorType::ConnectRefused), Some(502)),
            (upstream(ErrorType::InvalidHTTPHeader), Some(502)),
            (upstream(ErrorType::ConnectionClosed), Some(502)),
            (Error::new_down(ErrorType::ConnectionClosed), None),
            (Error::new_down(ErrorType::ReadTimedout), Some(408)),
        ];
        for (error, expected) in rows {
            assert_eq!(for_error(&error), expected, "{error}");
        }
    }
}
