//! Every ingress-nginx annotation (controller v1.15, `docs/user-guide/nginx-configuration/
//! annotations.md` and the parsers under `internal/ingress/annotations/`), and what Pingress
//! does with it. This table is the one source of truth: the parsers report an annotation by
//! its entry, `docs/annotations.md`'s compatibility table is rendered from it (a test keeps
//! them equal), and the migration report reads it.

/// What Pingress does with an ingress-nginx annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Honoured as ingress-nginx honours it.
    Exact,
    /// Honoured, with this difference.
    Differs(&'static str),
    /// Not honoured: ignored (and reported) with this reason and what to do instead.
    Unsupported(&'static str),
    /// Not honoured, and the Ingress's routes answer `503` rather than serve without it:
    /// ignoring it would expose what it protects.
    Blocked(&'static str),
    /// Refused on purpose (raw configuration never runs); the rest of the Ingress is served.
    Refused(&'static str),
    /// ingress-nginx itself removed it in this version: it does nothing there either.
    Removed(&'static str),
}

/// One ingress-nginx annotation (the name after the prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub name: &'static str,
    /// The family it belongs to, for the docs.
    pub family: &'static str,
    pub support: Support,
}

const fn entry(family: &'static str, name: &'static str, support: Support) -> Entry {
    Entry {
        name,
        family,
        support,
    }
}

use Support::*;

const ROUTING: &str = "Routing and load balancing";
const REDIRECTS: &str = "Rewrites and redirects";
const HEADERS: &str = "Hosts and headers";
const CANARY: &str = "Canary";
const AFFINITY: &str = "Session affinity";
const FALLBACK: &str = "Fallbacks, errors and retries";
const PROTOCOL: &str = "Upstream protocols and TLS to backends";
const TIMEOUTS: &str = "Timeouts, buffers and bodies";
const ACCESS: &str = "Access control and rate limits";
const CORS: &str = "CORS";
const AUTH: &str = "Authentication";
const LOGGING: &str = "Logging and tracing";
const SNIPPETS: &str = "Raw configuration";
const OTHER: &str = "Other";
const REMOVED: &str = "Removed from ingress-nginx";

/// Not yet honoured: the reason every entry of the work in progress gives.
const PLANNED: &str = "not honoured yet";
const SNIPPET: &str = "raw nginx configuration never runs in Pingress (no annotation can inject configuration); use the annotation or Pingress feature that does what the snippet did";
const NO_ACCESS_CONTROL: &str = "access control annotations are not honoured yet";
const NO_MTLS: &str = "client certificate authentication is not honoured yet";

/// Every ingress-nginx annotation, by family.
pub const ANNOTATIONS: &[Entry] = &[
    entry(ROUTING, "use-regex", Unsupported(PLANNED)),
    entry(ROUTING, "server-alias", Unsupported(PLANNED)),
    entry(ROUTING, "load-balance", Differs("`round_robin` and `least_conn` (as least requests); `ewma` falls back to round robin, with a warning")),
    entry(ROUTING, "upstream-hash-by", Differs("one variable only: `$remote_addr`, `$binary_remote_addr`, `$http_NAME` or `$cookie_NAME` (consistent hashing over Ketama, as `chash`)")),
    entry(ROUTING, "upstream-hash-by-subset", Unsupported("hashing to a subset of endpoints is not supported; the key hashes over all endpoints")),
    entry(ROUTING, "upstream-hash-by-subset-size", Unsupported("hashing to a subset of endpoints is not supported")),
    entry(ROUTING, "service-upstream", Exact),
    entry(ROUTING, "ssl-passthrough", Unsupported("TLS passthrough is not supported: Pingress terminates TLS")),
    entry(REDIRECTS, "rewrite-target", Unsupported(PLANNED)),
    entry(REDIRECTS, "x-forwarded-prefix", Unsupported(PLANNED)),
    entry(REDIRECTS, "app-root", Unsupported(PLANNED)),
    entry(REDIRECTS, "ssl-redirect", Exact),
    entry(REDIRECTS, "force-ssl-redirect", Exact),
    entry(REDIRECTS, "preserve-trailing-slash", Exact),
    entry(REDIRECTS, "use-port-in-redirects", Differs("without it the port is named when the HTTPS listener is not on 443 (ingress-nginx never names it); with it, always")),
    entry(REDIRECTS, "from-to-www-redirect", Unsupported(PLANNED)),
    entry(REDIRECTS, "permanent-redirect", Unsupported(PLANNED)),
    entry(REDIRECTS, "permanent-redirect-code", Unsupported(PLANNED)),
    entry(REDIRECTS, "temporal-redirect", Unsupported(PLANNED)),
    entry(REDIRECTS, "temporal-redirect-code", Unsupported(PLANNED)),
    entry(REDIRECTS, "relative-redirects", Unsupported(PLANNED)),
    entry(HEADERS, "upstream-vhost", Unsupported(PLANNED)),
    entry(HEADERS, "connection-proxy-header", Unsupported(PLANNED)),
    entry(HEADERS, "custom-headers", Unsupported(PLANNED)),
    entry(HEADERS, "proxy-cookie-domain", Unsupported("rewriting Set-Cookie domains is not supported")),
    entry(HEADERS, "proxy-cookie-path", Unsupported("rewriting Set-Cookie paths is not supported")),
    entry(HEADERS, "proxy-redirect-from", Unsupported("rewriting upstream Location headers is not supported")),
    entry(HEADERS, "proxy-redirect-to", Unsupported("rewriting upstream Location headers is not supported")),
    entry(CANARY, "canary", Unsupported(PLANNED)),
    entry(CANARY, "canary-by-header", Unsupported(PLANNED)),
    entry(CANARY, "canary-by-header-value", Unsupported(PLANNED)),
    entry(CANARY, "canary-by-header-pattern", Unsupported(PLANNED)),
    entry(CANARY, "canary-by-cookie", Unsupported(PLANNED)),
    entry(CANARY, "canary-weight", Unsupported(PLANNED)),
    entry(CANARY, "canary-weight-total", Unsupported(PLANNED)),
    entry(AFFINITY, "affinity", Unsupported(PLANNED)),
    entry(AFFINITY, "affinity-mode", Unsupported(PLANNED)),
    entry(AFFINITY, "affinity-canary-behavior", Unsupported(PLANNED)),
    entry(AFFINITY, "session-cookie-name", Unsupported(PLANNED)),
    entry(AFFINITY, "session-cookie-path", Unsupported(PLANNED)),
    entry(AFFINITY, "session-cookie-domain", Unsupported(PLANNED)),
    entry(AFFINITY, "session-cookie-samesite", Unsupported(PLANNED)),
    entry(AFFINITY, "session-cookie-conditional-samesite-none", Unsupported(PLANNED)),
    entry(AFFINITY, "session-cookie-secure", Unsupported(PLANNED)),
    entry(AFFINITY, "session-cookie-max-age", Unsupported(PLANNED)),
    entry(AFFINITY, "session-cookie-expires", Unsupported(PLANNED)),
    entry(AFFINITY, "session-cookie-change-on-failure", Unsupported(PLANNED)),
    entry(FALLBACK, "default-backend", Exact),
    entry(FALLBACK, "custom-http-errors", Differs("an invalid list is reported and ignored (ingress-nginx rejects the Ingress); of the gateway's own errors only `502`, `503` and `504` are replaced; the response to a request whose body was over 64 KiB is passed on; without `default-backend` the statuses go to the oldest Ingress's `spec.defaultBackend` (there is no `--default-backend-service`), else are answered `404`")),
    entry(FALLBACK, "disable-proxy-intercept-errors", Exact),
    entry(FALLBACK, "proxy-next-upstream", Differs("a retry never goes to an endpoint the request already tried (ingress-nginx's balancer may pick the same one), a cluster's retry budget bounds retries, and a request whose body was over 64 KiB is not retried once sent")),
    entry(FALLBACK, "proxy-next-upstream-timeout", Exact),
    entry(FALLBACK, "proxy-next-upstream-tries", Differs("at most 6 attempts, and no more than the cluster has endpoints (`0` means that many)")),
    entry(PROTOCOL, "backend-protocol", Unsupported("upstreams are spoken to in plain HTTP/1.1")),
    entry(PROTOCOL, "proxy-ssl-secret", Unsupported("TLS to upstreams is not supported")),
    entry(PROTOCOL, "proxy-ssl-verify", Unsupported("TLS to upstreams is not supported")),
    entry(PROTOCOL, "proxy-ssl-verify-depth", Unsupported("TLS to upstreams is not supported")),
    entry(PROTOCOL, "proxy-ssl-ciphers", Unsupported("TLS to upstreams is not supported")),
    entry(PROTOCOL, "proxy-ssl-protocols", Unsupported("TLS to upstreams is not supported")),
    entry(PROTOCOL, "proxy-ssl-name", Unsupported("TLS to upstreams is not supported")),
    entry(PROTOCOL, "proxy-ssl-server-name", Unsupported("TLS to upstreams is not supported")),
    entry(PROTOCOL, "fastcgi-index", Unsupported("FastCGI upstreams are not supported")),
    entry(PROTOCOL, "fastcgi-params-configmap", Unsupported("FastCGI upstreams are not supported")),
    entry(TIMEOUTS, "proxy-connect-timeout", Exact),
    entry(TIMEOUTS, "proxy-send-timeout", Exact),
    entry(TIMEOUTS, "proxy-read-timeout", Exact),
    entry(TIMEOUTS, "proxy-body-size", Exact),
    entry(TIMEOUTS, "client-body-buffer-size", Unsupported("request bodies are streamed to the upstream; there is no body buffer to size")),
    entry(TIMEOUTS, "proxy-buffering", Unsupported("responses are streamed (ingress-nginx's default `off`); buffering is not configurable")),
    entry(TIMEOUTS, "proxy-buffers-number", Unsupported("responses are streamed; there are no response buffers to size")),
    entry(TIMEOUTS, "proxy-buffer-size", Unsupported("responses are streamed; there are no response buffers to size")),
    entry(TIMEOUTS, "proxy-busy-buffers-size", Unsupported("responses are streamed; there are no response buffers to size")),
    entry(TIMEOUTS, "proxy-max-temp-file-size", Unsupported("nothing is buffered to disk")),
    entry(TIMEOUTS, "proxy-request-buffering", Unsupported("request bodies are streamed to the upstream; buffering is not configurable")),
    entry(TIMEOUTS, "proxy-http-version", Unsupported("upstream requests are always HTTP/1.1")),
    entry(ACCESS, "allowlist-source-range", Blocked(NO_ACCESS_CONTROL)),
    entry(ACCESS, "whitelist-source-range", Blocked(NO_ACCESS_CONTROL)),
    entry(ACCESS, "denylist-source-range", Blocked(NO_ACCESS_CONTROL)),
    entry(ACCESS, "satisfy", Unsupported("combining authentication methods is not supported")),
    entry(ACCESS, "limit-connections", Unsupported("rate limits are not honoured yet; requests are not limited")),
    entry(ACCESS, "limit-rps", Unsupported("rate limits are not honoured yet; requests are not limited")),
    entry(ACCESS, "limit-rpm", Unsupported("rate limits are not honoured yet; requests are not limited")),
    entry(ACCESS, "limit-burst-multiplier", Unsupported("rate limits are not honoured yet; requests are not limited")),
    entry(ACCESS, "limit-allowlist", Unsupported("rate limits are not honoured yet; requests are not limited")),
    entry(ACCESS, "limit-whitelist", Unsupported("rate limits are not honoured yet; requests are not limited")),
    entry(ACCESS, "limit-rate", Unsupported("limiting response bandwidth is not supported")),
    entry(ACCESS, "limit-rate-after", Unsupported("limiting response bandwidth is not supported")),
    entry(CORS, "enable-cors", Unsupported("CORS is not honoured yet; responses carry no CORS headers")),
    entry(CORS, "cors-allow-origin", Unsupported("CORS is not honoured yet")),
    entry(CORS, "cors-allow-methods", Unsupported("CORS is not honoured yet")),
    entry(CORS, "cors-allow-headers", Unsupported("CORS is not honoured yet")),
    entry(CORS, "cors-expose-headers", Unsupported("CORS is not honoured yet")),
    entry(CORS, "cors-allow-credentials", Unsupported("CORS is not honoured yet")),
    entry(CORS, "cors-max-age", Unsupported("CORS is not honoured yet")),
    entry(AUTH, "auth-type", Blocked("basic authentication is not honoured yet")),
    entry(AUTH, "auth-secret", Blocked("basic authentication is not honoured yet")),
    entry(AUTH, "auth-secret-type", Blocked("basic authentication is not honoured yet")),
    entry(AUTH, "auth-realm", Blocked("basic authentication is not honoured yet")),
    entry(AUTH, "auth-url", Blocked("external authentication is not honoured yet")),
    entry(AUTH, "auth-method", Blocked("external authentication is not honoured yet")),
    entry(AUTH, "auth-signin", Blocked("external authentication is not honoured yet")),
    entry(AUTH, "auth-signin-redirect-param", Blocked("external authentication is not honoured yet")),
    entry(AUTH, "auth-request-redirect", Blocked("external authentication is not honoured yet")),
    entry(AUTH, "auth-response-headers", Blocked("external authentication is not honoured yet")),
    entry(AUTH, "auth-proxy-set-headers", Blocked("external authentication is not honoured yet")),
    entry(AUTH, "auth-cache-key", Blocked("external authentication is not honoured yet")),
    entry(AUTH, "auth-cache-duration", Blocked("external authentication is not honoured yet")),
    entry(AUTH, "auth-keepalive", Unsupported("connections to the auth service are not configurable")),
    entry(AUTH, "auth-keepalive-share-vars", Unsupported("connections to the auth service are not configurable")),
    entry(AUTH, "auth-keepalive-requests", Unsupported("connections to the auth service are not configurable")),
    entry(AUTH, "auth-keepalive-timeout", Unsupported("connections to the auth service are not configurable")),
    entry(AUTH, "auth-always-set-cookie", Blocked("external authentication is not honoured yet")),
    entry(AUTH, "enable-global-auth", Unsupported("global external authentication is not honoured yet")),
    entry(AUTH, "auth-tls-secret", Blocked(NO_MTLS)),
    entry(AUTH, "auth-tls-verify-client", Blocked(NO_MTLS)),
    entry(AUTH, "auth-tls-verify-depth", Blocked(NO_MTLS)),
    entry(AUTH, "auth-tls-error-page", Blocked(NO_MTLS)),
    entry(AUTH, "auth-tls-pass-certificate-to-upstream", Blocked(NO_MTLS)),
    entry(AUTH, "auth-tls-match-cn", Blocked(NO_MTLS)),
    entry(LOGGING, "enable-access-log", Unsupported("the access log is gateway-wide (`--access-log`)")),
    entry(LOGGING, "enable-rewrite-log", Unsupported("there is no rewrite log")),
    entry(LOGGING, "enable-opentelemetry", Unsupported("tracing is not supported")),
    entry(LOGGING, "opentelemetry-trust-incoming-span", Unsupported("tracing is not supported")),
    entry(LOGGING, "opentelemetry-operation-name", Unsupported("tracing is not supported")),
    entry(SNIPPETS, "configuration-snippet", Refused(SNIPPET)),
    entry(SNIPPETS, "server-snippet", Refused(SNIPPET)),
    entry(SNIPPETS, "stream-snippet", Refused(SNIPPET)),
    entry(SNIPPETS, "auth-snippet", Refused(SNIPPET)),
    entry(SNIPPETS, "modsecurity-snippet", Refused(SNIPPET)),
    entry(OTHER, "mirror-target", Unsupported("request mirroring is not supported")),
    entry(OTHER, "mirror-host", Unsupported("request mirroring is not supported")),
    entry(OTHER, "mirror-request-body", Unsupported("request mirroring is not supported")),
    entry(OTHER, "enable-modsecurity", Unsupported("there is no web application firewall")),
    entry(OTHER, "enable-owasp-core-rules", Unsupported("there is no web application firewall")),
    entry(OTHER, "modsecurity-transaction-id", Unsupported("there is no web application firewall")),
    entry(OTHER, "ssl-ciphers", Unsupported("the TLS policy is gateway-wide (TLS 1.2 with AEAD ciphers, TLS 1.3)")),
    entry(OTHER, "ssl-prefer-server-ciphers", Unsupported("the TLS policy is gateway-wide")),
    entry(OTHER, "http2-push-preload", Unsupported("HTTP/2 server push is obsolete (browsers and nginx dropped it)")),
    entry(REMOVED, "secure-backends", Removed("0.21.0 (use backend-protocol)")),
    entry(REMOVED, "grpc-backend", Removed("0.21.0 (use backend-protocol)")),
    entry(REMOVED, "add-base-url", Removed("0.22.0")),
    entry(REMOVED, "base-url-scheme", Removed("0.22.0")),
    entry(REMOVED, "session-cookie-hash", Removed("0.24.0")),
    entry(REMOVED, "secure-verify-ca-secret", Removed("0.27.0")),
    entry(REMOVED, "lua-resty-waf", Removed("0.27.0")),
    entry(REMOVED, "mirror-uri", Removed("0.28.1 (use mirror-target)")),
    entry(REMOVED, "enable-influxdb", Removed("1.7.1")),
    entry(REMOVED, "influxdb-measurement", Removed("1.7.1")),
    entry(REMOVED, "influxdb-port", Removed("1.7.1")),
    entry(REMOVED, "influxdb-host", Removed("1.7.1")),
    entry(REMOVED, "influxdb-server-name", Removed("1.7.1")),
    entry(REMOVED, "enable-opentracing", Removed("1.10.0")),
    entry(REMOVED, "opentracing-trust-incoming-span", Removed("1.10.0")),
    entry(REMOVED, "global-rate-limit", Removed("1.12.0")),
    entry(REMOVED, "global-rate-limit-window", Removed("1.12.0")),
    entry(REMOVED, "global-rate-limit-key", Removed("1.12.0")),
    entry(REMOVED, "global-rate-limit-ignored-cidrs", Removed("1.12.0")),
];

/// Keys of ingress-nginx's ConfigMap that people set as annotations by mistake: as an
/// annotation they do nothing on ingress-nginx either.
const CONFIGMAP_KEYS: &[&str] = &[
    "use-forwarded-headers",
    "forwarded-for-header",
    "forwarded-host-header",
    "compute-full-forwarded-for",
    "enable-real-ip",
    "proxy-real-ip-cidr",
    "use-proxy-protocol",
    "proxy-add-original-uri-header",
    "generate-request-id",
    "proxy-set-headers",
    "add-headers",
    "hide-headers",
    "allow-backend-server-header",
    "server-tokens",
    "enable-underscores-in-headers",
    "ignore-invalid-headers",
    "global-allowed-response-headers",
    "hsts",
    "hsts-max-age",
    "hsts-include-subdomains",
    "hsts-preload",
    "ssl-protocols",
    "ssl-early-data",
    "ssl-ecdh-curve",
    "ssl-dh-param",
    "ssl-buffer-size",
    "ssl-session-cache",
    "ssl-session-cache-size",
    "ssl-session-tickets",
    "ssl-session-ticket-key",
    "ssl-session-timeout",
    "ssl-reject-handshake",
    "enable-ocsp",
    "http-redirect-code",
    "no-tls-redirect-locations",
    "use-gzip",
    "gzip-level",
    "gzip-min-length",
    "gzip-types",
    "enable-brotli",
    "keep-alive",
    "keep-alive-requests",
    "upstream-keepalive-connections",
    "upstream-keepalive-time",
    "upstream-keepalive-timeout",
    "upstream-keepalive-requests",
    "client-header-buffer-size",
    "client-header-timeout",
    "client-body-timeout",
    "large-client-header-buffers",
    "http2-max-concurrent-streams",
    "use-http2",
    "limit-req-status-code",
    "limit-conn-status-code",
    "retry-non-idempotent",
    "block-cidrs",
    "block-user-agents",
    "block-referers",
    "global-auth-url",
    "global-auth-method",
    "global-auth-signin",
    "global-auth-response-headers",
    "global-auth-cache-key",
    "http-snippet",
    "main-snippet",
    "location-snippet",
    "allow-snippet-annotations",
    "annotations-risk-level",
    "annotation-value-word-blocklist",
    "allow-cross-namespace-resources",
    "strict-validate-path-type",
    "log-format-upstream",
    "log-format-escape-json",
    "access-log-path",
    "disable-access-log",
    "error-log-level",
    "skip-access-log-urls",
    "enable-owasp-modsecurity-crs",
    "worker-processes",
    "worker-shutdown-timeout",
    "max-worker-connections",
    "reuse-port",
    "bind-address",
];

/// The entry of an ingress-nginx annotation (the name after the prefix).
pub fn lookup(name: &str) -> Option<&'static Entry> {
    ANNOTATIONS.iter().find(|e| e.name == name)
}

/// Whether `name` is an ingress-nginx ConfigMap key that is no annotation.
pub fn is_configmap_key(name: &str) -> bool {
    CONFIGMAP_KEYS.contains(&name)
}

impl Support {
    /// Whether Pingress reads the annotation.
    pub fn is_honoured(self) -> bool {
        matches!(self, Support::Exact | Support::Differs(_))
    }

    /// The docs' word for it.
    pub fn label(self) -> &'static str {
        match self {
            Exact => "exact",
            Differs(_) => "differs",
            Unsupported(_) => "not supported",
            Blocked(_) => "not supported, routes answer 503",
            Refused(_) => "refused",
            Removed(_) => "removed",
        }
    }

    /// The difference or the reason, if any.
    pub fn note(self) -> &'static str {
        match self {
            Exact => "",
            Differs(note) | Unsupported(note) | Blocked(note) | Refused(note) => note,
            Removed(version) => version,
        }
    }
}

/// The compatibility table of `docs/annotations.md`: a section per family, a row per
/// annotation.
pub fn markdown() -> String {
    let mut out = String::new();
    let mut family = "";
    for e in ANNOTATIONS {
        if e.family != family {
            family = e.family;
            out.push_str(&format!(
                "\n#### {family}\n\n| annotation | Pingress | difference or reason |\n|---|---|---|\n"
            ));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            e.name,
            e.support.label(),
            e.support.note()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str =
        "<!-- compatibility table: rendered from crates/translate/src/annotations/catalog.rs -->";
    const END: &str = "<!-- end of the compatibility table -->";

    /// The docs' table is the catalog. Run with `PINGRESS_WRITE_DOCS=1` to rewrite it.
    #[test]
    fn the_compatibility_table_is_the_catalog() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/annotations.md");
        let docs = std::fs::read_to_string(path).unwrap();
        let (start, end) = (
            docs.find(BEGIN).expect("begin marker"),
            docs.find(END).expect("end marker"),
        );
        let table = &docs[start + BEGIN.len()..end];
        let rendered = markdown();
        if std::env::var_os("PINGRESS_WRITE_DOCS").is_some() {
            let new = format!("{}{BEGIN}{rendered}\n{}", &docs[..start], &docs[end..]);
            std::fs::write(path, new).unwrap();
            return;
        }
        assert_eq!(
            table.trim(),
            rendered.trim(),
            "docs/annotations.md's compatibility table differs from the catalog: run PINGRESS_WRITE_DOCS=1 cargo test -p pingress-translate the_compatibility_table_is_the_catalog"
        );
    }

    #[test]
    fn the_catalog_calls_honoured_exactly_what_the_parsers_read() {
        let read: Vec<&str> = super::super::read_names().filter_map(|n| n.nginx).collect();
        for e in ANNOTATIONS {
            assert_eq!(
                e.support.is_honoured(),
                read.contains(&e.name),
                "{}: the catalog says {:?}",
                e.name,
                e.support
            );
        }
        for name in read {
            assert!(
                lookup(name).is_some(),
                "{name} is read but not in the catalog"
            );
        }
    }

    #[test]
    fn names_are_unique_and_no_configmap_key_is_an_annotation() {
        let mut names: Vec<&str> = ANNOTATIONS.iter().map(|e| e.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "duplicate names in the catalog");
        for key in CONFIGMAP_KEYS {
            assert!(lookup(key).is_none(), "{key} is both");
        }
    }
}
