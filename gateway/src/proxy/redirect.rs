//! The `Location` of the redirects the gateway answers itself, made from the request as
//! ingress-nginx makes them: the redirect to HTTPS (`ssl-redirect`, `force-ssl-redirect`) and
//! a route's redirect whose location depends on the request (`app-root`,
//! `from-to-www-redirect`).

use http::HeaderValue;
use pingress_model::HttpsRedirect;

use crate::config::Location;

/// What a redirect's location is made of, taken from the request.
pub(super) struct Request<'a> {
    /// `https` or `http`: the connection's, or what a trusted proxy says it was.
    pub scheme: &'static str,
    /// The host as the client wrote it, port included (nginx's `$http_host`).
    pub host_header: &'a str,
    /// The host, normalised, without its port.
    pub host: &'a str,
    /// The port the request arrived on (or a trusted proxy's `X-Forwarded-Port`).
    pub port: Option<u16>,
    /// The request target as received: path and query (nginx's `$request_uri`).
    pub target: &'a str,
}

/// A host for a URL: an IPv6 literal in brackets.
fn url_host(host: &str) -> std::borrow::Cow<'_, str> {
    if host.contains(':') {
        format!("[{host}]").into()
    } else {
        host.into()
    }
}

/// `target` less one trailing `/` (`/` becomes empty), as ingress-nginx writes redirects.
fn without_trailing_slash(target: &str) -> &str {
    target.strip_suffix('/').unwrap_or(target)
}

/// `https://host[:port]target` of the redirect to HTTPS. The port is named when `policy`
/// says always, else when the HTTPS listener is not on 443; one trailing `/` is removed
/// unless `policy` preserves it.
pub(super) fn to_https(request: &Request, policy: HttpsRedirect, https_port: u16) -> String {
    let port = if policy.use_port || https_port != 443 {
        format!(":{https_port}")
    } else {
        String::new()
    };
    let target = if policy.preserve_trailing_slash {
        request.target
    } else {
        without_trailing_slash(request.target)
    };
    format!("https://{}{port}{target}", url_host(request.host))
}

/// The `Location` of a route's redirect.
pub(super) fn location(location: &Location, request: &Request) -> Option<HeaderValue> {
    let text = match location {
        Location::Url(url) => return Some(url.clone()),
        Location::Path { path, host_port } => {
            let host = if *host_port {
                request.host_header.into()
            } else {
                url_host(request.host)
            };
            format!("{}://{host}{path}", request.scheme)
        }
        Location::Host(host) => {
            let port = request.port.map(|p| format!(":{p}")).unwrap_or_default();
            let target = without_trailing_slash(request.target);
            format!("{}://{host}{port}{target}", request.scheme)
        }
    };
    HeaderValue::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &'static str) -> Request<'static> {
        Request {
            scheme: "http",
            host_header: "Shop.Example.com:8080",
            host: "shop.example.com",
            port: Some(8080),
            target,
        }
    }

    #[test]
    fn https_locations_follow_ingress_nginx() {
        let keep = HttpsRedirect {
            preserve_trailing_slash: true,
            ..HttpsRedirect::default()
        };
        let port = HttpsRedirect {
            use_port: true,
            ..HttpsRedirect::default()
        };
        // (target, policy, HTTPS port, Location, source)
        #[rustfmt::skip]
        let rows = [
            ("/", HttpsRedirect::default(), 443, "https://shop.example.com", "e2e settings/tls.go: no port, one trailing slash removed"),
            ("/a/?x=1", HttpsRedirect::default(), 443, "https://shop.example.com/a/?x=1", "lua_ingress.lua: only a last byte '/' is removed"),
            ("/a/", HttpsRedirect::default(), 443, "https://shop.example.com/a", "lua_ingress.lua redirect_to_https"),
            ("/a/", keep, 443, "https://shop.example.com/a/", "e2e annotations/preservetrailingslash.go"),
            ("/a", port, 443, "https://shop.example.com:443/a", "use-port-in-redirects names 443 too"),
            ("/a", HttpsRedirect::default(), 8443, "https://shop.example.com:8443/a", "Pingress: a listener not on 443 is named"),
        ];
        for (target, policy, https_port, expected, source) in rows {
            assert_eq!(
                to_https(&request(target), policy, https_port),
                expected,
                "{source}"
            );
        }
        let v6 = Request {
            host: "::1",
            ..request("/")
        };
        assert_eq!(
            to_https(&v6, HttpsRedirect::default(), 443),
            "https://[::1]"
        );
    }

    #[test]
    fn route_locations_are_made_from_the_request() {
        let path = |host_port| Location::Path {
            path: "/app".into(),
            host_port,
        };
        // (location, target, Location, source)
        #[rustfmt::skip]
        let rows = [
            (path(true), "/", "http://Shop.Example.com:8080/app", "app-root: $scheme://$http_host<root> (e2e approot.go)"),
            (path(false), "/", "http://shop.example.com/app", "a relative permanent-redirect made absolute"),
            (Location::Host("example.com".into()), "/foo/", "http://example.com:8080/foo", "from-to-www: port always, one '/' removed (e2e fromtowwwredirect.go)"),
            (Location::Url(HeaderValue::from_static("https://elsewhere.test/x")), "/y", "https://elsewhere.test/x", "an absolute URL as is"),
        ];
        for (location, target, expected, source) in rows {
            let got = super::location(&location, &request(target)).unwrap();
            assert_eq!(got, expected, "{source}");
        }
    }
}
