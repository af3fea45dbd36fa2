//! Header policy between client and upstream.
//!
//! Upstream requests get `X-Forwarded-For`, `X-Real-IP`, `X-Forwarded-Proto` and
//! `X-Forwarded-Host` set by us. From a client that is not in `--trusted-proxies`, whatever it
//! sent of the forwarding family (those, `X-Forwarded-Port`, `X-Forwarded-Prefix`, `Forwarded`)
//! is replaced or removed: a client must not be able to claim another address. From a trusted
//! proxy they are kept and extended (see [`set_forwarded`]). Header names with `_` are dropped
//! unless `--allow-underscores-in-headers` (`X_Forwarded_For` and `X-Forwarded-For` look alike
//! to some applications). Request hop-by-hop headers, including those named in `Connection`,
//! are stripped by Pingora's standard upstream request policy; responses are stripped here.

use std::net::IpAddr;

use http::HeaderValue;
use ipnet::IpNet;
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

/// [`request_host`] as a header value (shared, not copied).
pub fn request_host_value(req: &RequestHeader) -> Option<HeaderValue> {
    match req.headers.get(http::header::HOST) {
        Some(host) => Some(host.clone()),
        None => HeaderValue::from_str(req.uri.authority()?.as_str()).ok(),
    }
}

/// Forwarding headers a client outside `--trusted-proxies` may not set.
const UNTRUSTED_FORWARDING: [&str; 3] = ["forwarded", "x-forwarded-port", "x-forwarded-prefix"];

/// The connecting client's address, formatted once per connection.
#[derive(Debug, Clone)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// `ip` as a header value, for `X-Forwarded-For` and `X-Real-IP`.
    pub header: HeaderValue,
}

impl ClientAddr {
    pub fn new(ip: IpAddr) -> Self {
        let header =
            HeaderValue::from_str(&ip.to_string()).expect("an IP address is a header value");
        ClientAddr { ip, header }
    }
}

/// Sets the `X-Forwarded-*` family and `X-Real-IP` on an upstream request; `host` is the
/// request's host as the client sent it.
///
/// From a `client` in `trusted`, `X-Forwarded-For` is kept with the client appended,
/// `X-Real-IP` is the right-most address of that chain that is not trusted (as nginx's
/// `real_ip_recursive`), and the proxy's `X-Forwarded-Proto`/`-Host` are kept when it sent
/// them. From anyone else every forwarding header is ours alone.
pub fn set_forwarded(
    req: &mut RequestHeader,
    client: Option<&ClientAddr>,
    trusted: &[IpNet],
    host: Option<HeaderValue>,
    proto: &'static str,
) -> Result<()> {
    let from_trusted = client.is_some_and(|c| trusted.iter().any(|net| net.contains(&c.ip)));
    if !from_trusted {
        for name in UNTRUSTED_FORWARDING {
            req.remove_header(name);
        }
    }
    match client {
        Some(client) if from_trusted => {
            let chain: Vec<String> = req
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .chain(std::iter::once(client.ip.to_string()))
                .collect();
            let real = chain
                .iter()
                .rev()
                .find(|a| {
                    a.parse::<IpAddr>()
                        .map_or(true, |ip| !trusted.iter().any(|net| net.contains(&ip)))
                })
                .unwrap_or(&chain[0])
                .clone();
            req.insert_header("x-forwarded-for", chain.join(", "))?;
            req.insert_header("x-real-ip", real)?;
        }
        Some(client) => {
            req.insert_header("x-forwarded-for", client.header.clone())?;
            req.insert_header("x-real-ip", client.header.clone())?;
        }
        None => {
            req.remove_header("x-forwarded-for");
            req.remove_header("x-real-ip");
        }
    }
    if !from_trusted || !req.headers.contains_key("x-forwarded-proto") {
        req.insert_header("x-forwarded-proto", HeaderValue::from_static(proto))?;
    }
    if from_trusted && req.headers.contains_key("x-forwarded-host") {
        return Ok(());
    }
    match host {
        Some(host) if !host.is_empty() => req.insert_header("x-forwarded-host", host)?,
        _ => {
            req.remove_header("x-forwarded-host");
        }
    }
    Ok(())
}

/// Removes every header whose name contains `_`; returns how many names were removed.
pub fn drop_underscored(req: &mut RequestHeader) -> usize {
    let names: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|name| name.as_str().contains('_'))
        .cloned()
        .collect();
    for name in &names {
        req.remove_header(name);
    }
    names.len()
}

/// RFC 9110 §7.6.1 hop-by-hop fields that must not travel from the upstream to the client.
/// `Connection`, `Upgrade` and framing (`Transfer-Encoding`) are left to Pingora, which owns the
/// downstream connection and protocol upgrades.
const RESPONSE_HOP_BY_HOP: [&str; 3] = ["keep-alive", "proxy-connection", "trailer"];

/// Removes hop-by-hop fields from an upstream response, including the ones its `Connection`
/// header names (except `Upgrade`, needed for a `101 Switching Protocols`).
pub fn strip_response_hop_by_hop(resp: &mut ResponseHeader) {
    for name in RESPONSE_HOP_BY_HOP {
        resp.remove_header(name);
    }
    if !resp.headers.contains_key(http::header::CONNECTION) {
        return;
    }
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
    for name in &nominated {
        resp.remove_header(name.as_str());
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
        req.insert_header("forwarded", "for=6.6.6.6").unwrap();
        let client = ClientAddr::new("127.0.0.9".parse().unwrap());
        let host = Some(HeaderValue::from_static("shop.example.com"));
        set_forwarded(&mut req, Some(&client), &[], host, "http").unwrap();
        let get = |n: &str| req.headers.get(n).unwrap().to_str().unwrap().to_string();
        assert_eq!(get("x-forwarded-for"), "127.0.0.9");
        assert_eq!(get("x-real-ip"), "127.0.0.9");
        assert_eq!(get("x-forwarded-proto"), "http");
        assert_eq!(get("x-forwarded-host"), "shop.example.com");
        assert_eq!(req.headers.get_all("x-forwarded-for").iter().count(), 1);
        assert!(req.headers.get("forwarded").is_none());
    }

    #[test]
    fn a_trusted_proxy_extends_the_chain() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header("x-forwarded-for", "6.6.6.6, 203.0.113.7")
            .unwrap();
        req.append_header("x-forwarded-for", "10.1.2.3").unwrap();
        req.insert_header("x-forwarded-proto", "https").unwrap();
        req.insert_header("forwarded", "for=203.0.113.7").unwrap();
        let peer = ClientAddr::new("10.9.9.9".parse().unwrap());
        let host = || Some(HeaderValue::from_static("shop.example.com"));
        set_forwarded(&mut req, Some(&peer), &trusted, host(), "http").unwrap();
        let get = |req: &RequestHeader, n: &str| {
            req.headers.get(n).unwrap().to_str().unwrap().to_string()
        };
        assert_eq!(
            get(&req, "x-forwarded-for"),
            "6.6.6.6, 203.0.113.7, 10.1.2.3, 10.9.9.9"
        );
        assert_eq!(
            get(&req, "x-real-ip"),
            "203.0.113.7",
            "right-most untrusted"
        );
        assert_eq!(get(&req, "x-forwarded-proto"), "https", "the proxy's, kept");
        assert_eq!(get(&req, "x-forwarded-host"), "shop.example.com");
        assert_eq!(get(&req, "forwarded"), "for=203.0.113.7");

        // The same headers from an untrusted peer are all replaced.
        let outsider = ClientAddr::new("192.0.2.1".parse().unwrap());
        set_forwarded(&mut req, Some(&outsider), &trusted, host(), "http").unwrap();
        assert_eq!(get(&req, "x-forwarded-for"), "192.0.2.1");
        assert_eq!(get(&req, "x-real-ip"), "192.0.2.1");
        assert_eq!(get(&req, "x-forwarded-proto"), "http");
        assert!(req.headers.get("forwarded").is_none());
    }

    #[test]
    fn underscored_names_are_dropped() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("x_forwarded_for", "6.6.6.6").unwrap();
        req.insert_header("user_id", "admin").unwrap();
        req.insert_header("x-ok", "1").unwrap();
        assert_eq!(drop_underscored(&mut req), 2);
        assert_eq!(req.headers.len(), 1);
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
