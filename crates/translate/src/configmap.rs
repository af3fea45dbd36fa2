//! The ingress-nginx ConfigMap (`--configmap NAMESPACE/NAME`): global settings under
//! ingress-nginx's key names. Gateway-wide ones go into the Snapshot's [`Settings`]; those
//! that are defaults of annotations become [`IngressDefaults`], applied to every Ingress that
//! leaves the annotation unset. Every key Pingress does not honour is reported, by name, on the
//! ConfigMap; a bad value is reported and the key ignored.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::Resource;
use pingress_model::{Cidr, Hsts, HttpsRedirect, ObjectRef, Retry, RoutePolicy, Settings};

use crate::diagnostic::Diagnostics;
use crate::units::{parse_duration, parse_size, HOUR, MS};
use crate::values::{parse_codes, parse_next_upstream};

/// What the ConfigMap says every Ingress gets unless its annotations say otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IngressDefaults {
    /// `ssl-redirect` (ingress-nginx's default `true`).
    pub ssl_redirect: bool,
    /// `force-ssl-redirect`, `preserve-trailing-slash`, `use-port-in-redirects`.
    pub https: HttpsRedirect,
    /// `proxy-connect-timeout`, `proxy-read-timeout`, `proxy-send-timeout`,
    /// `proxy-body-size`; `None`: the gateway's flags. `proxy-next-upstream`,
    /// `proxy-next-upstream-tries`, `proxy-next-upstream-timeout` (`retry`).
    pub route: RoutePolicy,
    /// `retry-non-idempotent`: `non_idempotent` added to every Ingress's retry policy.
    pub retry_non_idempotent: bool,
    /// `custom-http-errors` and `disable-proxy-intercept-errors`.
    pub errors: ErrorDefaults,
    /// `service-upstream`.
    pub service_upstream: bool,
}

/// The ConfigMap's custom errors: they go to the global default backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ErrorDefaults {
    /// Sorted, distinct, 300..=599.
    pub codes: Vec<u16>,
    /// `disable-proxy-intercept-errors`: upstream responses are not replaced (the gateway's
    /// own errors still are).
    pub disable_intercept: bool,
}

impl Default for IngressDefaults {
    fn default() -> Self {
        IngressDefaults {
            ssl_redirect: true,
            https: HttpsRedirect::default(),
            route: RoutePolicy::default(),
            retry_non_idempotent: false,
            errors: ErrorDefaults::default(),
            service_upstream: false,
        }
    }
}

/// What the ConfigMap says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Global {
    pub settings: Settings,
    pub defaults: IngressDefaults,
}

/// What Pingress does with a ConfigMap key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySupport {
    /// Honoured as ingress-nginx honours it.
    Exact,
    /// Honoured, with this difference.
    Differs(&'static str),
    /// Not honoured, with this reason (and what to do instead).
    Unsupported(&'static str),
}

use KeySupport::*;

/// The ConfigMap keys Pingress knows of, and what it does with each. Any other key is
/// reported as nginx tuning without a Pingress equivalent.
pub const KEYS: &[(&str, KeySupport)] = &[
    ("ssl-redirect", Exact),
    ("force-ssl-redirect", Exact),
    ("preserve-trailing-slash", Exact),
    ("use-port-in-redirects", Differs("without it the port is named when the HTTPS listener is not on 443")),
    ("http-redirect-code", Exact),
    ("hsts", Differs("HSTS is sent only when the ConfigMap asks for it (`hsts: \"true\"`, or any `hsts-*` key) or with `--hsts`; ingress-nginx sends it by default")),
    ("hsts-max-age", Exact),
    ("hsts-include-subdomains", Exact),
    ("hsts-preload", Exact),
    ("proxy-body-size", Exact),
    ("proxy-connect-timeout", Exact),
    ("proxy-read-timeout", Exact),
    ("proxy-send-timeout", Exact),
    ("use-forwarded-headers", Differs("the forwarding headers of trusted peers are kept and extended: X-Forwarded-For gets the peer appended (as with compute-full-forwarded-for), X-Real-IP is the right-most untrusted address")),
    ("proxy-real-ip-cidr", Exact),
    ("compute-full-forwarded-for", Differs("always on for trusted peers (see use-forwarded-headers)")),
    ("enable-underscores-in-headers", Exact),
    ("allow-snippet-annotations", Differs("snippet annotations never run, whatever this says; they are refused and reported")),
    ("annotations-risk-level", Differs("no annotation can inject configuration, so there is no risk level to set; snippets are always refused")),
    ("upstream-keepalive-connections", Unsupported("the upstream connection pool is sized by the gateway's --upstream-keepalive-pool-size")),
    ("upstream-keepalive-timeout", Unsupported("set the gateway's --upstream-keepalive-timeout")),
    ("upstream-keepalive-requests", Unsupported("pooled upstream connections are not retired after a number of requests")),
    ("upstream-keepalive-time", Unsupported("pooled upstream connections are not retired after a time")),
    ("keep-alive", Unsupported("set the gateway's --keepalive-timeout")),
    ("keep-alive-requests", Unsupported("set the gateway's --keepalive-requests")),
    ("client-header-timeout", Unsupported("set the gateway's --client-header-timeout")),
    ("client-body-timeout", Unsupported("set the gateway's --client-body-timeout")),
    ("http2-max-concurrent-streams", Unsupported("set the gateway's --http2-max-concurrent-streams")),
    ("ssl-protocols", Unsupported("the TLS policy is fixed: TLS 1.2 with AEAD ciphers, and TLS 1.3")),
    ("ssl-ciphers", Unsupported("the TLS policy is fixed: TLS 1.2 with AEAD ciphers, and TLS 1.3")),
    ("use-http2", Unsupported("HTTP/2 is always offered over TLS")),
    ("use-gzip", Unsupported("responses are not compressed by the gateway")),
    ("enable-brotli", Unsupported("responses are not compressed by the gateway")),
    ("log-format-upstream", Unsupported("the access log's format is fixed (JSON or text, --access-log)")),
    ("disable-access-log", Unsupported("set the gateway's --access-log off")),
    ("worker-processes", Unsupported("set the gateway's --threads")),
    // Rewrites and redirects.
    // Hosts and headers.
    // Canary and session affinity.
    // Fallbacks, errors and retries.
    ("custom-http-errors", Differs("the statuses go to the default backend of the oldest Ingress with `spec.defaultBackend`, in the place of `--default-backend-service` (without one, or without a ready endpoint in it, they are answered `404`, as ingress-nginx's built-in default backend does); of the gateway's own errors only `502`, `503` and `504` are replaced; the catch-all default backend's own answers are passed on")),
    ("disable-proxy-intercept-errors", Exact),
    ("proxy-next-upstream", Differs("a retry never goes to an endpoint the request already tried (ingress-nginx's balancer may pick the same one), a cluster's retry budget bounds retries, and a request whose body was over 64 KiB is not retried once sent")),
    ("proxy-next-upstream-tries", Differs("at most 6 attempts, and no more than the cluster has endpoints (`0` means that many)")),
    ("proxy-next-upstream-timeout", Exact),
    ("retry-non-idempotent", Exact),
    ("service-upstream", Exact),
];

/// The entry of a ConfigMap key.
pub fn key_support(key: &str) -> Option<KeySupport> {
    KEYS.iter().find(|(k, _)| *k == key).map(|(_, s)| *s)
}

/// Reads the ConfigMap `name` among `config_maps`; none named: the defaults. A named ConfigMap
/// that does not exist is reported, and the defaults apply.
pub(crate) fn read(
    config_maps: &[ConfigMap],
    name: Option<&ObjectRef>,
    diagnostics: &mut Diagnostics,
) -> Global {
    let Some(name) = name else {
        return Global::default();
    };
    let found = config_maps
        .iter()
        .find(|cm| crate::object::object_ref(&cm.metadata) == *name);
    let Some(config_map) = found else {
        diagnostics.warning(
            ConfigMap::KIND,
            name,
            "metadata.name",
            "the --configmap ConfigMap does not exist; the defaults apply".to_string(),
        );
        return Global::default();
    };
    let empty = BTreeMap::new();
    let data = config_map.data.as_ref().unwrap_or(&empty);
    let mut reader = Keys {
        data,
        id: name,
        diagnostics,
    };
    reader.report_unknown();
    reader.global()
}

/// Reads the keys of one ConfigMap.
struct Keys<'a> {
    data: &'a BTreeMap<String, String>,
    id: &'a ObjectRef,
    diagnostics: &'a mut Diagnostics,
}

impl Keys<'_> {
    fn field(key: &str) -> String {
        format!("data[{key:?}]")
    }

    fn report_unknown(&mut self) {
        for key in self.data.keys() {
            let message = match key_support(key) {
                Some(Exact | Differs(_)) => continue,
                Some(Unsupported(why)) => format!("not supported by Pingress, ignored: {why}"),
                None => "ignored: an ingress-nginx (or nginx) setting without a Pingress equivalent (docs/configuration.md lists the keys Pingress reads)".to_string(),
            };
            self.diagnostics
                .warning(ConfigMap::KIND, self.id, Self::field(key), message);
        }
        if self
            .data
            .get("allow-snippet-annotations")
            .map(String::as_str)
            == Some("true")
        {
            self.diagnostics.warning(
                ConfigMap::KIND,
                self.id,
                Self::field("allow-snippet-annotations"),
                "snippet annotations never run in Pingress; they stay refused".to_string(),
            );
        }
    }

    fn invalid(&mut self, key: &str, value: &str, expected: &str) {
        self.diagnostics.error(
            ConfigMap::KIND,
            self.id,
            Self::field(key),
            format!("invalid value {value:?}: expected {expected}; ignored"),
        );
    }

    /// A boolean as Go's `strconv.ParseBool` reads it.
    fn boolean(&mut self, key: &str) -> Option<bool> {
        let value = self.data.get(key)?;
        match value.as_str() {
            "true" | "True" | "TRUE" | "t" | "T" | "1" => Some(true),
            "false" | "False" | "FALSE" | "f" | "F" | "0" => Some(false),
            other => {
                self.invalid(key, other, "\"true\" or \"false\"");
                None
            }
        }
    }

    fn duration(&mut self, key: &str) -> Option<Duration> {
        let value = self.data.get(key)?;
        let parsed = parse_duration(value).filter(|d| (MS..=HOUR).contains(d));
        if parsed.is_none() {
            self.invalid(
                key,
                value,
                "a duration from 1ms to 1h, e.g. \"60\" (seconds) or \"5s\"",
            );
        }
        parsed
    }

    fn global(&mut self) -> Global {
        let code = self.data.get("http-redirect-code").cloned();
        let http_redirect_code = code.and_then(|value| match value.as_str() {
            "301" | "302" | "307" | "308" => value.parse().ok(),
            other => {
                self.invalid("http-redirect-code", other, "301, 302, 307 or 308");
                None
            }
        });
        let body = self.data.get("proxy-body-size").cloned();
        let max_body_size = body.and_then(|value| {
            let parsed = parse_size(&value);
            if parsed.is_none() {
                self.invalid(
                    "proxy-body-size",
                    &value,
                    "a size such as \"8m\" or \"1048576\"",
                );
            }
            parsed
        });
        let defaults = IngressDefaults {
            ssl_redirect: self.boolean("ssl-redirect").unwrap_or(true),
            https: HttpsRedirect {
                force: self.boolean("force-ssl-redirect").unwrap_or(false),
                preserve_trailing_slash: self.boolean("preserve-trailing-slash").unwrap_or(false),
                use_port: self.boolean("use-port-in-redirects").unwrap_or(false),
            },
            route: RoutePolicy {
                connect_timeout: self.duration("proxy-connect-timeout"),
                read_timeout: self.duration("proxy-read-timeout"),
                send_timeout: self.duration("proxy-send-timeout"),
                retry: self.retry(),
                max_body_size,
                fallback: Default::default(),
            },
            retry_non_idempotent: self.boolean("retry-non-idempotent").unwrap_or(false),
            errors: ErrorDefaults {
                codes: self.error_codes(),
                disable_intercept: self
                    .boolean("disable-proxy-intercept-errors")
                    .unwrap_or(false),
            },
            service_upstream: self.boolean("service-upstream").unwrap_or(false),
        };
        let settings = Settings {
            http_redirect_code,
            hsts: self.hsts(),
            trusted_proxies: self.trusted_proxies(),
            underscores_in_headers: self.boolean("enable-underscores-in-headers"),
        };
        Global { settings, defaults }
    }

    /// `proxy-next-upstream`, `-tries` and `-timeout` (seconds, `0`: no limit); each bad value
    /// is reported and ingress-nginx's default (`error timeout`, 3, 0) kept.
    fn retry(&mut self) -> Retry {
        let mut retry = Retry::default();
        if let Some(value) = self.data.get("proxy-next-upstream").cloned() {
            match parse_next_upstream(&value) {
                Ok(on) => retry.on = on,
                Err(_) => self.invalid(
                    "proxy-next-upstream",
                    &value,
                    "space-separated tokens of error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, non_idempotent, off",
                ),
            }
        }
        if let Some(value) = self.data.get("proxy-next-upstream-tries").cloned() {
            let tries = Some(value.as_str())
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse().ok());
            match tries {
                Some(tries) => retry.tries = tries,
                None => self.invalid(
                    "proxy-next-upstream-tries",
                    &value,
                    "a number of attempts, the first included (0: no limit)",
                ),
            }
        }
        if let Some(value) = self.data.get("proxy-next-upstream-timeout").cloned() {
            match parse_duration(&value) {
                Some(limit) => retry.timeout = Some(limit).filter(|d| !d.is_zero()),
                None => self.invalid(
                    "proxy-next-upstream-timeout",
                    &value,
                    "a number of seconds (0: no limit)",
                ),
            }
        }
        retry
    }

    /// `custom-http-errors`: as ingress-nginx, each item that is not a status from 300 to 599
    /// is reported and dropped; the others are kept.
    fn error_codes(&mut self) -> Vec<u16> {
        let Some(value) = self.data.get("custom-http-errors").cloned() else {
            return Vec::new();
        };
        let mut codes = Vec::new();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match parse_codes(item, 300..=599) {
                Ok(code) => codes.extend(code),
                Err(_) => self.diagnostics.error(
                    ConfigMap::KIND,
                    self.id,
                    Self::field("custom-http-errors"),
                    format!("invalid status {item:?}: expected a status from 300 to 599; left out"),
                ),
            }
        }
        codes.sort_unstable();
        codes.dedup();
        codes
    }

    /// `hsts` and `hsts-*`: a header only when asked for (Pingress does not send HSTS unless
    /// told to: a browser that saw it cannot go back to plain HTTP for `max-age`).
    fn hsts(&mut self) -> Option<Hsts> {
        let asked = self.data.keys().any(|k| k.starts_with("hsts"));
        if !asked {
            return None;
        }
        if self.boolean("hsts") == Some(false) {
            return Some(Hsts::Off);
        }
        let max_age = self.data.get("hsts-max-age").cloned();
        let max_age = match max_age {
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v,
            Some(v) => {
                self.invalid("hsts-max-age", &v, "a number of seconds");
                "31536000".to_string()
            }
            None => "31536000".to_string(),
        };
        let mut header = format!("max-age={max_age}");
        if self.boolean("hsts-include-subdomains").unwrap_or(true) {
            header.push_str("; includeSubDomains");
        }
        if self.boolean("hsts-preload").unwrap_or(false) {
            header.push_str("; preload");
        }
        Some(Hsts::Header(header))
    }

    /// `use-forwarded-headers` with `proxy-real-ip-cidr` (ingress-nginx's default
    /// `0.0.0.0/0`): whose forwarding headers are believed.
    fn trusted_proxies(&mut self) -> Option<Vec<Cidr>> {
        let use_forwarded = self.boolean("use-forwarded-headers")?;
        if !use_forwarded {
            return Some(Vec::new());
        }
        let cidrs = self.data.get("proxy-real-ip-cidr").cloned();
        let cidrs = cidrs.as_deref().unwrap_or("0.0.0.0/0");
        let mut out = Vec::new();
        for item in cidrs.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match parse_cidr(item) {
                Some(cidr) => out.push(cidr),
                None => self.invalid("proxy-real-ip-cidr", item, "a CIDR such as 10.0.0.0/8"),
            }
        }
        Some(out)
    }
}

/// `addr/prefix` or a bare address, the address's host bits cleared.
pub(crate) fn parse_cidr(s: &str) -> Option<Cidr> {
    let (addr, prefix) = match s.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
        Some(_) => return None,
        None => max,
    };
    if prefix > max {
        return None;
    }
    let addr = match addr {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((v4.to_bits() & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((v6.to_bits() & mask).into())
        }
    };
    Some(Cidr { addr, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ConfigMap data, `(key, value)`.
    type Data<'a> = &'a [(&'a str, &'a str)];

    fn global(pairs: Data) -> (Global, Vec<String>) {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
            "data": pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        }))
        .unwrap();
        let mut diagnostics = Diagnostics::default();
        let name = ObjectRef::new("ingress-nginx", "ingress-nginx-controller");
        let g = read(&[cm], Some(&name), &mut diagnostics);
        let lines = diagnostics
            .into_sorted()
            .iter()
            .map(|d| format!("{}: {}: {}", d.severity, d.field, d.message))
            .collect();
        (g, lines)
    }

    #[test]
    fn keys_become_settings_and_defaults() {
        let (g, said) = global(&[
            ("ssl-redirect", "false"),
            ("force-ssl-redirect", "true"),
            ("http-redirect-code", "301"),
            ("proxy-read-timeout", "120"),
            ("proxy-body-size", "8m"),
            ("enable-underscores-in-headers", "true"),
            ("use-forwarded-headers", "true"),
            ("proxy-real-ip-cidr", "10.0.0.0/8, 192.168.1.7"),
        ]);
        assert_eq!(said, Vec::<String>::new());
        assert!(!g.defaults.ssl_redirect);
        assert!(g.defaults.https.force);
        assert_eq!(g.settings.http_redirect_code, Some(301));
        assert_eq!(
            g.defaults.route.read_timeout,
            Some(Duration::from_secs(120))
        );
        assert_eq!(g.defaults.route.max_body_size, Some(8 << 20));
        assert_eq!(g.settings.underscores_in_headers, Some(true));
        let cidrs: Vec<String> = g
            .settings
            .trusted_proxies
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(cidrs, ["10.0.0.0/8", "192.168.1.7/32"]);
    }

    #[test]
    fn hsts_only_when_asked_for() {
        // (keys, header) — source: ingress-nginx e2e settings/tls.go for the max-age,
        // includeSubDomains and preload cases.
        let rows: [(Data, Option<Hsts>); 5] = [
            (&[], None),
            (
                &[("hsts", "true")],
                Some(Hsts::Header("max-age=31536000; includeSubDomains".into())),
            ),
            (
                &[("hsts-max-age", "86400")],
                Some(Hsts::Header("max-age=86400; includeSubDomains".into())),
            ),
            (
                &[
                    ("hsts-max-age", "86400"),
                    ("hsts-include-subdomains", "false"),
                ],
                Some(Hsts::Header("max-age=86400".into())),
            ),
            (
                &[("hsts", "false"), ("hsts-preload", "true")],
                Some(Hsts::Off),
            ),
        ];
        for (keys, expected) in rows {
            assert_eq!(global(keys).0.settings.hsts, expected, "{keys:?}");
        }
        let preload = global(&[
            ("hsts-max-age", "86400"),
            ("hsts-include-subdomains", "false"),
            ("hsts-preload", "true"),
        ]);
        assert_eq!(
            preload.0.settings.hsts,
            Some(Hsts::Header("max-age=86400; preload".into()))
        );
    }

    #[test]
    fn unknown_unsupported_and_invalid_keys_are_reported() {
        let (g, said) = global(&[
            ("http-redirect-code", "303"),
            ("use-gzip", "true"),
            ("worker-rlimit-nofile", "1000"),
            ("proxy-connect-timeout", "soon"),
        ]);
        assert_eq!(g.settings.http_redirect_code, None);
        assert_eq!(g.defaults.route.connect_timeout, None);
        assert_eq!(
            said,
            [
                "error: data[\"http-redirect-code\"]: invalid value \"303\": expected 301, 302, 307 or 308; ignored",
                "error: data[\"proxy-connect-timeout\"]: invalid value \"soon\": expected a duration from 1ms to 1h, e.g. \"60\" (seconds) or \"5s\"; ignored",
                "warning: data[\"use-gzip\"]: not supported by Pingress, ignored: responses are not compressed by the gateway",
                "warning: data[\"worker-rlimit-nofile\"]: ignored: an ingress-nginx (or nginx) setting without a Pingress equivalent (docs/configuration.md lists the keys Pingress reads)",
            ]
        );
    }

    /// The table of `docs/configuration.md`: a row per key.
    fn markdown() -> String {
        let mut out = String::from("\n| key | Pingress | difference or reason |\n|---|---|---|\n");
        for (key, support) in KEYS {
            let (label, note) = match support {
                Exact => ("exact", ""),
                Differs(note) => ("differs", *note),
                Unsupported(note) => ("not supported", *note),
            };
            out.push_str(&format!("| `{key}` | {label} | {note} |\n"));
        }
        out
    }

    /// The docs' table is [`KEYS`]. Run with `PINGRESS_WRITE_DOCS=1` to rewrite it.
    #[test]
    fn the_configmap_table_is_the_key_list() {
        const BEGIN: &str =
            "<!-- configmap keys: rendered from crates/translate/src/configmap.rs -->";
        const END: &str = "<!-- end of the configmap keys -->";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let docs = std::fs::read_to_string(path).unwrap();
        let (start, end) = (
            docs.find(BEGIN).expect("begin marker"),
            docs.find(END).expect("end marker"),
        );
        let rendered = markdown();
        if std::env::var_os("PINGRESS_WRITE_DOCS").is_some() {
            let new = format!("{}{BEGIN}{rendered}\n{}", &docs[..start], &docs[end..]);
            std::fs::write(path, new).unwrap();
            return;
        }
        assert_eq!(
            docs[start + BEGIN.len()..end].trim(),
            rendered.trim(),
            "docs/configuration.md's ConfigMap table differs from configmap.rs: run PINGRESS_WRITE_DOCS=1 cargo test -p pingress-translate the_configmap_table"
        );
    }

    #[test]
    fn cidrs_are_parsed_and_masked() {
        let rows = [
            ("10.1.2.3/8", Some("10.0.0.0/8")),
            ("0.0.0.0/0", Some("0.0.0.0/0")),
            ("::1", Some("::1/128")),
            ("2001:db8::1/32", Some("2001:db8::/32")),
            ("10.0.0.0/33", None),
            ("10.0.0.0/", None),
            ("example.com", None),
        ];
        for (text, expected) in rows {
            assert_eq!(
                parse_cidr(text).map(|c| c.to_string()).as_deref(),
                expected,
                "{text}"
            );
        }
    }
}
