//! Ingress annotations, parsed into typed values. Each setting has a `pingress.io/` name and,
//! where ingress-nginx has one, its `nginx.ingress.kubernetes.io/` twin; the `pingress.io/` one
//! wins when both are set. An invalid value is reported (an error on the field
//! `metadata.annotations["NAME"]`) and the default applies. The operator's view of every
//! annotation is `docs/annotations.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::Resource;
use pingress_model::{
    Balance, ClusterPolicy, HashKey, HealthCheck, ObjectRef, RoutePolicy, MAX_RETRIES,
};

use crate::diagnostic::Diagnostics;
use crate::units::{parse_duration, parse_size, show_duration, HOUR, MINUTE, MS, SECOND};

/// An annotation: its `pingress.io/` name and, where ingress-nginx has one, its twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Name {
    pingress: &'static str,
    nginx: Option<&'static str>,
}

impl Name {
    const fn own(pingress: &'static str) -> Self {
        Name {
            pingress,
            nginx: None,
        }
    }

    const fn twin(pingress: &'static str, nginx: &'static str) -> Self {
        Name {
            pingress,
            nginx: Some(nginx),
        }
    }

    /// The spellings in precedence order.
    fn spellings(self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.pingress).chain(self.nginx)
    }
}

/// Redirect plain HTTP to HTTPS for this Ingress's routes on TLS hosts (default `true`).
const SSL_REDIRECT: Name = Name::twin(
    "pingress.io/ssl-redirect",
    "nginx.ingress.kubernetes.io/ssl-redirect",
);
const PROXY_CONNECT_TIMEOUT: Name = Name::twin(
    "pingress.io/proxy-connect-timeout",
    "nginx.ingress.kubernetes.io/proxy-connect-timeout",
);
const PROXY_READ_TIMEOUT: Name = Name::twin(
    "pingress.io/proxy-read-timeout",
    "nginx.ingress.kubernetes.io/proxy-read-timeout",
);
const PROXY_SEND_TIMEOUT: Name = Name::twin(
    "pingress.io/proxy-send-timeout",
    "nginx.ingress.kubernetes.io/proxy-send-timeout",
);
const RETRIES: Name = Name::own("pingress.io/retries");
const PROXY_BODY_SIZE: Name = Name::twin(
    "pingress.io/proxy-body-size",
    "nginx.ingress.kubernetes.io/proxy-body-size",
);
const LOAD_BALANCE: Name = Name::twin(
    "pingress.io/load-balance",
    "nginx.ingress.kubernetes.io/load-balance",
);
/// `header:NAME`, `cookie:NAME`, `client-ip`; the twin takes an nginx variable instead.
const HASH_BY: Name = Name::twin(
    "pingress.io/hash-by",
    "nginx.ingress.kubernetes.io/upstream-hash-by",
);
const HEALTH_CHECK_PATH: Name = Name::own("pingress.io/health-check-path");
const HEALTH_CHECK_INTERVAL: Name = Name::own("pingress.io/health-check-interval");
const HEALTH_CHECK_TIMEOUT: Name = Name::own("pingress.io/health-check-timeout");
const HEALTH_CHECK_HEALTHY_THRESHOLD: Name =
    Name::own("pingress.io/health-check-healthy-threshold");
const HEALTH_CHECK_UNHEALTHY_THRESHOLD: Name =
    Name::own("pingress.io/health-check-unhealthy-threshold");

/// Every annotation read here: a `pingress.io/` annotation not in this list is reported as
/// unknown (a typo would otherwise be ignored silently), and the docs must list them all.
const ALL: [Name; 13] = [
    SSL_REDIRECT,
    PROXY_CONNECT_TIMEOUT,
    PROXY_READ_TIMEOUT,
    PROXY_SEND_TIMEOUT,
    RETRIES,
    PROXY_BODY_SIZE,
    LOAD_BALANCE,
    HASH_BY,
    HEALTH_CHECK_PATH,
    HEALTH_CHECK_INTERVAL,
    HEALTH_CHECK_TIMEOUT,
    HEALTH_CHECK_HEALTHY_THRESHOLD,
    HEALTH_CHECK_UNHEALTHY_THRESHOLD,
];

/// Proxy timeouts of a route.
const PROXY_TIMEOUT_RANGE: RangeInclusive<Duration> = MS..=HOUR;
const HEALTH_CHECK_INTERVAL_RANGE: RangeInclusive<Duration> = SECOND..=HOUR;
const HEALTH_CHECK_TIMEOUT_RANGE: RangeInclusive<Duration> = Duration::from_millis(100)..=MINUTE;
const THRESHOLD_RANGE: RangeInclusive<u32> = 1..=10;

/// Longest annotation value read: every value here is short, and a longer one is refused
/// before any parsing.
pub const MAX_VALUE_LEN: usize = 256;

/// Everything an Ingress's annotations say, parsed once per Ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IngressAnnotations {
    /// Redirect plain HTTP to HTTPS on TLS hosts (default `true`).
    pub ssl_redirect: bool,
    /// Timeouts and retries of every route the Ingress declares.
    pub route: RoutePolicy,
    /// Load balancing and health checks of every cluster the Ingress uses (if it is the
    /// oldest Ingress using it).
    pub cluster: ClusterPolicy,
}

impl IngressAnnotations {
    /// Parses the Ingress's annotations; each invalid value is reported to `diagnostics` and
    /// its default applies.
    pub fn parse(ingress: &Ingress, id: &ObjectRef, diagnostics: &mut Diagnostics) -> Self {
        let mut a = Reader {
            annotations: ingress.metadata.annotations.as_ref(),
            id,
            diagnostics,
        };
        // A typo, or an ingress-nginx feature Pingress does not have, must not pass silently.
        for name in a.annotations.into_iter().flat_map(|m| m.keys()) {
            let known = |n: &Name| n.pingress == name || n.nginx == Some(name.as_str());
            let message = if ALL.iter().any(known) {
                continue;
            } else if name.starts_with("pingress.io/") {
                "unknown pingress.io annotation, ignored (docs/annotations.md lists them all)"
            } else if name.starts_with("nginx.ingress.kubernetes.io/") {
                "this ingress-nginx annotation is not supported by Pingress and is ignored (docs/annotations.md lists the supported ones)"
            } else {
                continue;
            };
            a.diagnostics.warning(
                Ingress::KIND,
                id,
                format!("metadata.annotations[{name:?}]"),
                message,
            );
        }
        let flag = |flag: &str| format!("the gateway's {flag}");
        IngressAnnotations {
            ssl_redirect: a.boolean(SSL_REDIRECT, true),
            route: RoutePolicy {
                connect_timeout: a.duration(
                    PROXY_CONNECT_TIMEOUT,
                    PROXY_TIMEOUT_RANGE,
                    &flag("--proxy-connect-timeout"),
                ),
                read_timeout: a.duration(
                    PROXY_READ_TIMEOUT,
                    PROXY_TIMEOUT_RANGE,
                    &flag("--proxy-read-timeout"),
                ),
                send_timeout: a.duration(
                    PROXY_SEND_TIMEOUT,
                    PROXY_TIMEOUT_RANGE,
                    &flag("--proxy-send-timeout"),
                ),
                retries: a
                    .integer(RETRIES, 0..=MAX_RETRIES, "the default 0")
                    .unwrap_or(0),
                max_body_size: a.size(PROXY_BODY_SIZE, &flag("--max-body-size")),
            },
            cluster: ClusterPolicy {
                balance: a.balance(),
                health_check: HealthCheck {
                    path: a.path(HEALTH_CHECK_PATH, "a TCP connect check"),
                    interval: a.duration(
                        HEALTH_CHECK_INTERVAL,
                        HEALTH_CHECK_INTERVAL_RANGE,
                        &flag("--health-check-interval"),
                    ),
                    timeout: a.duration(
                        HEALTH_CHECK_TIMEOUT,
                        HEALTH_CHECK_TIMEOUT_RANGE,
                        &flag("--health-check-timeout"),
                    ),
                    healthy_threshold: a.integer(
                        HEALTH_CHECK_HEALTHY_THRESHOLD,
                        THRESHOLD_RANGE,
                        &flag("--health-check-healthy-threshold"),
                    ),
                    unhealthy_threshold: a.integer(
                        HEALTH_CHECK_UNHEALTHY_THRESHOLD,
                        THRESHOLD_RANGE,
                        &flag("--health-check-unhealthy-threshold"),
                    ),
                },
            },
        }
    }
}

/// Reads one Ingress's annotations and reports their problems.
struct Reader<'a> {
    annotations: Option<&'a BTreeMap<String, String>>,
    id: &'a ObjectRef,
    diagnostics: &'a mut Diagnostics,
}

impl<'a> Reader<'a> {
    /// The first set spelling of `name`, and its value; a value over [`MAX_VALUE_LEN`] bytes
    /// is reported and treated as unset.
    fn get(&mut self, name: Name) -> Option<(&'static str, &'a str)> {
        let annotations = self.annotations?;
        let (name, value) = name
            .spellings()
            .find_map(|n| Some((n, annotations.get(n)?.as_str())))?;
        if value.len() > MAX_VALUE_LEN {
            let message = format!(
                "value of {} bytes is longer than the {MAX_VALUE_LEN} allowed; ignored",
                value.len()
            );
            self.error(name, message);
            return None;
        }
        Some((name, value))
    }

    fn field(name: &str) -> String {
        format!("metadata.annotations[{name:?}]")
    }

    fn error(&mut self, name: &str, message: String) {
        let field = Self::field(name);
        self.diagnostics
            .error(Ingress::KIND, self.id, field, message);
    }

    fn warning(&mut self, name: &str, message: String) {
        let field = Self::field(name);
        self.diagnostics
            .warning(Ingress::KIND, self.id, field, message);
    }

    /// Reports `value` of `name` as invalid: "invalid value V: expected E; using F".
    fn invalid(&mut self, name: &str, value: &str, expected: &str, fallback: &str) {
        self.error(
            name,
            format!("invalid value {value:?}: expected {expected}; using {fallback}"),
        );
    }

    /// A boolean, in the spellings Go's `strconv.ParseBool` accepts (as ingress-nginx reads
    /// them); `default` when unset or invalid.
    fn boolean(&mut self, name: Name, default: bool) -> bool {
        let Some((name, value)) = self.get(name) else {
            return default;
        };
        match value {
            "true" | "True" | "TRUE" | "t" | "T" | "1" => true,
            "false" | "False" | "FALSE" | "f" | "F" | "0" => false,
            other => {
                let fallback = format!("the default {default}");
                self.invalid(name, other, "\"true\" or \"false\"", &fallback);
                default
            }
        }
    }

    /// A duration within `range` (see [`parse_duration`]); `None` when unset or invalid, and
    /// `fallback` names what applies then.
    fn duration(
        &mut self,
        name: Name,
        range: RangeInclusive<Duration>,
        fallback: &str,
    ) -> Option<Duration> {
        let (name, value) = self.get(name)?;
        match parse_duration(value).filter(|d| range.contains(d)) {
            Some(duration) => Some(duration),
            None => {
                let expected = format!(
                    "a duration from {} to {}, e.g. \"60\" (seconds), \"500ms\", \"5s\" or \"2m\"",
                    show_duration(*range.start()),
                    show_duration(*range.end()),
                );
                self.invalid(name, value, &expected, fallback);
                None
            }
        }
    }

    /// A decimal integer within `range`; `None` when unset or invalid (never clamped).
    fn integer<T>(&mut self, name: Name, range: RangeInclusive<T>, fallback: &str) -> Option<T>
    where
        T: FromStr + PartialOrd + fmt::Display,
    {
        let (name, value) = self.get(name)?;
        let parsed = Some(value)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<T>().ok())
            .filter(|n| range.contains(n));
        if parsed.is_none() {
            let expected = format!("an integer from {} to {}", range.start(), range.end());
            self.invalid(name, value, &expected, fallback);
        }
        parsed
    }

    /// A size in bytes, as nginx writes it: digits with an optional `k`, `m` or `g` suffix
    /// (either case, powers of 1024); `0` means no limit.
    fn size(&mut self, name: Name, fallback: &str) -> Option<u64> {
        let (name, value) = self.get(name)?;
        let parsed = parse_size(value);
        if parsed.is_none() {
            let expected = "a size such as \"8m\", \"512k\" or \"1048576\" (0: no limit)";
            self.invalid(name, value, expected, fallback);
        }
        parsed
    }

    /// A URL path for an HTTP check: `/`, then printable ASCII without spaces.
    fn path(&mut self, name: Name, fallback: &str) -> Option<String> {
        let (name, value) = self.get(name)?;
        let valid = value.starts_with('/') && value.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            let expected = "a path starting with \"/\", printable ASCII without spaces";
            self.invalid(name, value, expected, fallback);
            return None;
        }
        Some(value.to_string())
    }

    /// The load-balancing policy: `load-balance`, and the hash key of `hash-by` (a key alone
    /// implies hashing, as `upstream-hash-by` does in ingress-nginx).
    fn balance(&mut self) -> Balance {
        let choice = self.load_balance();
        let fallback = match choice {
            Some((_, Choice::LeastRequests)) => "least_request",
            _ => "round_robin",
        };
        match (choice, self.hash_key(fallback)) {
            (choice, HashBy::Set(key_name, key)) => {
                if let Some((name, choice @ (Choice::RoundRobin | Choice::LeastRequests))) = choice
                {
                    let message = format!("{choice} ignored: {key_name} is set, which means hash");
                    self.warning(name, message);
                }
                Balance::Hash(key)
            }
            (Some((name, Choice::Hash)), HashBy::Unset) => {
                let message = format!(
                    "\"hash\" needs a hash key in {} or {}; using round_robin",
                    HASH_BY.pingress,
                    HASH_BY.nginx.unwrap_or_default()
                );
                self.error(name, message);
                Balance::RoundRobin
            }
            (Some((_, Choice::LeastRequests)), _) => Balance::LeastRequests,
            // Also `hash` with an invalid key, which `hash_key` reported.
            _ => Balance::RoundRobin,
        }
    }

    /// `load-balance` with the spelling that set it; `None` when unset or not usable.
    fn load_balance(&mut self) -> Option<(&'static str, Choice)> {
        let (name, value) = self.get(LOAD_BALANCE)?;
        let choice = match value {
            "round_robin" => Choice::RoundRobin,
            "least_request" | "least_conn" => Choice::LeastRequests,
            "hash" => Choice::Hash,
            "ewma" => {
                self.warning(
                    name,
                    "\"ewma\" is not supported; using round_robin".to_string(),
                );
                return None;
            }
            other => {
                let expected = "\"round_robin\", \"least_request\" or \"hash\"";
                self.invalid(name, other, expected, "round_robin");
                return None;
            }
        };
        Some((name, choice))
    }

    /// The hash key of `hash-by` or its twin; `fallback` names the policy that applies when
    /// it is invalid.
    fn hash_key(&mut self, fallback: &str) -> HashBy {
        let Some((name, value)) = self.get(HASH_BY) else {
            return HashBy::Unset;
        };
        let key = if name == HASH_BY.pingress {
            parse_hash_by(value)
        } else {
            parse_nginx_hash_by(value)
        };
        if let Some(key) = key {
            return HashBy::Set(name, key);
        }
        if name == HASH_BY.pingress {
            let expected = "\"header:NAME\", \"cookie:NAME\" or \"client-ip\"";
            self.invalid(name, value, expected, fallback);
        } else {
            let message = format!(
                "unsupported value {value:?}: expected one of $remote_addr, \
                 $binary_remote_addr, $http_NAME or $cookie_NAME; using {fallback}"
            );
            self.error(name, message);
        }
        HashBy::Invalid
    }
}

/// The hash key annotation.
#[derive(Debug)]
enum HashBy {
    Unset,
    /// Reported.
    Invalid,
    /// The key, and the spelling that set it.
    Set(&'static str, HashKey),
}

/// What `load-balance` asks for (the hash key comes separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    RoundRobin,
    LeastRequests,
    Hash,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Choice::RoundRobin => "\"round_robin\"",
            Choice::LeastRequests => "\"least_request\"",
            Choice::Hash => "\"hash\"",
        })
    }
}

/// `pingress.io/hash-by`: `header:NAME` (lower-cased), `cookie:NAME` or `client-ip`.
fn parse_hash_by(s: &str) -> Option<HashKey> {
    if s == "client-ip" {
        return Some(HashKey::ClientIp);
    }
    let (kind, name) = s.split_once(':')?;
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return None;
    }
    match kind {
        "header" => Some(HashKey::Header(name.to_ascii_lowercase())),
        "cookie" => Some(HashKey::Cookie(name.to_string())),
        _ => None,
    }
}

/// ingress-nginx's `upstream-hash-by`, one nginx variable: `$remote_addr` or
/// `$binary_remote_addr` (the client IP), `$http_NAME` (a header, `_` for `-`) or
/// `$cookie_NAME`; also in the `${...}` form.
fn parse_nginx_hash_by(s: &str) -> Option<HashKey> {
    let s = s.strip_prefix('$')?;
    let variable = match s.strip_prefix('{') {
        Some(braced) => braced.strip_suffix('}')?,
        None => s,
    };
    let is_name =
        |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !is_name(variable) {
        return None;
    }
    if variable == "remote_addr" || variable == "binary_remote_addr" {
        return Some(HashKey::ClientIp);
    }
    if let Some(header) = variable.strip_prefix("http_").filter(|h| is_name(h)) {
        return Some(HashKey::Header(
            header.to_ascii_lowercase().replace('_', "-"),
        ));
    }
    let cookie = variable.strip_prefix("cookie_").filter(|c| is_name(c))?;
    Some(HashKey::Cookie(cookie.to_string()))
}

/// An RFC 9110 token character (header names, cookie names).
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_annotation_is_documented() {
        let docs = include_str!("../../../docs/annotations.md");
        for name in ALL.iter().flat_map(|n| n.spellings()) {
            assert!(docs.contains(&format!("`{name}`")), "{name} not in docs");
        }
    }
}
