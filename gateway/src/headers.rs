//! Header policy between client and upstream.
//!
//! Upstream requests get `X-Forwarded-For`, `X-Real-IP`, `X-Forwarded-Proto` and
//! `X-Forwarded-Host` set by us, replacing whatever the client sent: a client must not be able
//! to claim another address. (Trusting a front proxy's headers is the hardening issue's
//! `--trusted-proxies`.) Request hop-by-hop headers, including those named in `Connection`,
//! are stripped by Pingora's standard upstream request policy; responses are stripped here.

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::Result;

/// The request id passed upstream (and accepted from clients), as ingress-nginx does.
pub const REQUEST_ID: &str = "x-request-id";

/// The request host as the client gave it: the `Host` header, else the URI authority
/// (HTTP/2 `:authority`, absolute-form targets), else empty.
pub fn request_host(req: &RequestHeader) -> &str {
    req.headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
}

/// Sets the `X-Forwarded-*` family and `X-Real-IP` on an upstream request.
pub fn set_forwarded(
    req: &mut RequestHeader,
    client_ip: Option<String>,
    host: &str,
    proto: &'static str,
) -> Result<()> {
    match client_ip {
        Some(ip) => {
            req.insert_header("x-forwarded-for", &ip)?;
            req.insert_header("x-real-ip", ip)?;
        }
        None => {
            req.remove_header("x-forwarded-for");
            req.remove_header("x-real-ip");
        }
    }
    req.insert_header("x-forwarded-proto", proto)?;
    if host.is_empty() {
        req.remove_header("x-forwarded-host");
    } else {
        req.insert_header("x-forwarded-host", host)?;
    }
    Ok(())
}

/// RFC 9110 §7.6.1 hop-by-hop fields that must not travel from the upstream to the client.
/// `Connection`, `Upgrade` and framing (`Transfer-Encoding`) are left to Pingora, which owns the
/// downstream connection and protocol upgrades.
const RESPONSE_HOP_BY_HOP: [&str; 3] = ["keep-alive", "proxy-connection", "trailer"];

/// Removes hop-by-hop fields from an upstream response, including the ones its `Connection`
/// header names (except `Upgrade`, needed for a `101 Switching Protocols`).
pub fn strip_response_hop_by_hop(resp: &mut ResponseHeader) {
    let nominated: Vec<String> = resp
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| {
            !name.is_empty() && name != "close" && name != "keep-alive" && name != "upgrade"
        })
        .collect();
    for name in nominated
        .iter()
        .map(String::as_str)
        .chain(RESPONSE_HOP_BY_HOP)
    {
        resp.remove_header(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_headers_replace_client_values() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("x-forwarded-for", "6.6.6.6").unwrap();
        req.insert_header("x-real-ip", "6.6.6.6").unwrap();
        req.insert_header("x-forwarded-proto", "https").unwrap();
        set_forwarded(
            &mut req,
            Some("127.0.0.9".into()),
            "shop.example.com",
            "http",
        )
        .unwrap();
        let get = |n: &str| req.headers.get(n).unwrap().to_str().unwrap().to_string();
        assert_eq!(get("x-forwarded-for"), "127.0.0.9");
        assert_eq!(get("x-real-ip"), "127.0.0.9");
        assert_eq!(get("x-forwarded-proto"), "http");
        assert_eq!(get("x-forwarded-host"), "shop.example.com");
        assert_eq!(req.headers.get_all("x-forwarded-for").iter().count(), 1);
    }

    #[test]
    fn response_hop_by_hop_fields_are_removed() {
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header("connection", "x-private, upgrade")
            .unwrap();
        resp.insert_header("x-private", "secret").unwrap();
        resp.insert_header("keep-alive", "timeout=5").unwrap();
        resp.insert_header("upgrade", "websocket").unwrap();
        resp.insert_header("content-type", "text/plain").unwrap();
        strip_response_hop_by_hop(&mut resp);
        assert!(resp.headers.get("x-private").is_none());
        assert!(resp.headers.get("keep-alive").is_none());
        assert!(
            resp.headers.get("upgrade").is_some(),
            "kept for 101 responses"
        );
        assert!(resp.headers.get("content-type").is_some());
    }

    #[test]
    fn host_comes_from_the_host_header_then_the_authority() {
        let mut req = RequestHeader::build("GET", b"/x", None).unwrap();
        assert_eq!(request_host(&req), "");
        req.set_uri("http://a.example.com/x".parse().unwrap());
        assert_eq!(request_host(&req), "a.example.com");
        req.insert_header("host", "b.example.com:8080").unwrap();
        assert_eq!(request_host(&req), "b.example.com:8080");
    }
}
