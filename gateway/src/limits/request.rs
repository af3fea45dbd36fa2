//! Request checks Pingora does not make itself: request line and header section sizes,
//! `Host`, and the request-smuggling framing rules (docs/security.md).

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use pingora::http::RequestHeader;

use super::Limits;

/// The checks of an HTTP/1 or HTTP/2 request header that Pingora does not make (it already
/// refuses unparseable headers, differing `Content-Length`s, a final coding other than
/// `chunked`, duplicate `Host`, and an absolute-form target whose authority differs from
/// `Host`). `raw` is the HTTP/1 header section as received; `None` for HTTP/2.
pub fn check_request(
    req: &RequestHeader,
    raw: Option<&[u8]>,
    limits: &Limits,
) -> Result<(), Reason> {
    if let Some(raw) = raw {
        let line = raw.iter().position(|&b| b == b'\n').unwrap_or(raw.len());
        if line > limits.max_request_line {
            return Err(Reason::RequestLineTooLong);
        }
        if raw.len() > limits.max_header_size {
            return Err(Reason::HeaderTooLarge);
        }
        if req.version == http::Version::HTTP_11 && !req.headers.contains_key(HOST) {
            return Err(Reason::MissingHost);
        }
        let mut codings = req.headers.get_all(TRANSFER_ENCODING).iter();
        if let Some(coding) = codings.next() {
            // Only `chunked`, once: `gzip, chunked` and repeated codings are refused, as nginx
            // does. Pingora dropped a `Content-Length` sent along; the raw header still has it.
            if codings.next().is_some() || !coding.as_bytes().eq_ignore_ascii_case(b"chunked") {
                return Err(Reason::BadTransferEncoding);
            }
            if raw_field_count(raw, b"content-length") > 0 {
                return Err(Reason::ContentLengthWithTransferEncoding);
            }
        } else if let Some(length) = req.headers.get(CONTENT_LENGTH) {
            // Pingora accepts identical duplicates and lists (`3, 3`); a request smuggler's
            // favourite, refused. The raw scan only runs for requests with a body length.
            if length.as_bytes().contains(&b',') || raw_field_count(raw, b"content-length") > 1 {
                return Err(Reason::DuplicateContentLength);
            }
        }
    }
    Ok(())
}

/// How many header lines of the raw HTTP/1 header section are named `name` (lower case).
fn raw_field_count(raw: &[u8], name: &[u8]) -> usize {
    raw.split(|&b| b == b'\n')
        .skip(1)
        .filter(|line| {
            line.len() > name.len()
                && line[name.len()] == b':'
                && line[..name.len()].eq_ignore_ascii_case(name)
        })
        .count()
}

/// Whether a declared body length is over `limit` (`0`: no limit).
pub fn body_over_limit(declared: Option<u64>, limit: u64) -> bool {
    limit != 0 && declared.is_some_and(|length| length > limit)
}

/// Why a request was refused: the `reason` label of `pingress_requests_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    RequestLineTooLong,
    HeaderTooLarge,
    MissingHost,
    BadTransferEncoding,
    ContentLengthWithTransferEncoding,
    DuplicateContentLength,
    BadPath,
    EncodedSlash,
    BodyTooLarge,
}

impl Reason {
    pub(super) const ALL: [Reason; 9] = [
        Reason::RequestLineTooLong,
        Reason::HeaderTooLarge,
        Reason::MissingHost,
        Reason::BadTransferEncoding,
        Reason::ContentLengthWithTransferEncoding,
        Reason::DuplicateContentLength,
        Reason::BadPath,
        Reason::EncodedSlash,
        Reason::BodyTooLarge,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Reason::RequestLineTooLong => "request_line_too_long",
            Reason::HeaderTooLarge => "header_too_large",
            Reason::MissingHost => "missing_host",
            Reason::BadTransferEncoding => "bad_transfer_encoding",
            Reason::ContentLengthWithTransferEncoding => "content_length_with_transfer_encoding",
            Reason::DuplicateContentLength => "duplicate_content_length",
            Reason::BadPath => "bad_path",
            Reason::EncodedSlash => "encoded_slash",
            Reason::BodyTooLarge => "body_too_large",
        }
    }

    /// The status the client gets.
    pub fn status(self) -> u16 {
        match self {
            Reason::RequestLineTooLong => 414,
            Reason::HeaderTooLarge => 431,
            Reason::BodyTooLarge => 413,
            _ => 400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::tests::limits;

    /// Parses `raw` as Pingora has, roughly: the request line, then the fields.
    fn check(raw: &str) -> Result<(), Reason> {
        let mut lines = raw.split("\r\n");
        let mut start = lines.next().unwrap().split(' ');
        let (method, target) = (start.next().unwrap(), start.next().unwrap());
        let mut req = RequestHeader::build(method, target.as_bytes(), None).unwrap();
        for line in lines.take_while(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').unwrap();
            req.append_header(name.to_string(), value.trim()).unwrap();
        }
        check_request(&req, Some(raw.as_bytes()), &limits())
    }

    fn reason(raw: &str) -> &'static str {
        check(raw).map_or_else(|r| r.label(), |()| "ok")
    }

    #[test]
    fn framing_rules() {
        let rows = [
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "ok"),
            ("GET / HTTP/1.1\r\n\r\n", "missing_host"),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                "ok",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                "bad_transfer_encoding",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                "bad_transfer_encoding",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\ncontent-LENGTH: 3\r\n\r\n",
                "content_length_with_transfer_encoding",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
                "duplicate_content_length",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n",
                "duplicate_content_length",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nX-Content-Length: 3\r\nContent-Length: 3\r\n\r\n",
                "ok",
            ),
        ];
        for (raw, want) in rows {
            assert_eq!(reason(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn size_limits() {
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "x".repeat(64));
        assert_eq!(check(&long_target).unwrap_err().status(), 414);
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "y".repeat(256)
        );
        assert_eq!(check(&big).unwrap_err().status(), 431);
        assert!(body_over_limit(Some(11), 10));
        assert!(!body_over_limit(Some(10), 10));
        assert!(!body_over_limit(Some(u64::MAX), 0));
        assert!(!body_over_limit(None, 10));
    }
}
