//! Fuzzes the Ingress annotation parsers (`crates/translate/src/annotations.rs`) through the
//! public entry that runs them, `pingress_translate::translate`: one Ingress of our class with
//! one rule (`fuzz.example.com`, `Prefix /`) and the fuzzed annotations, so that the parsed
//! settings come out on its route (`ssl_redirect`, timeouts, retries, fallbacks) and on its cluster
//! (balance, health check).
//!
//! Checks:
//! - it never panics;
//! - every rejected value yields a diagnostic: a supported annotation whose value did not take
//!   effect (its setting is left at the default although the value does not spell the default)
//!   has a diagnostic on `metadata.annotations["NAME"]`, and an error there means the default
//!   applies (a rejected value never half takes effect);
//! - an accepted value is what it says (a health-check path is kept verbatim, an integer is
//!   that integer, a duration is within the documented range);
//! - a value longer than the 256 bytes allowed is reported and has no effect;
//! - an unknown `pingress.io/` or `nginx.ingress.kubernetes.io/` annotation gets a warning,
//!   and every annotation diagnostic names an annotation that is set.
//!
//! The supported names are read from the table in `docs/annotations.md` (which a unit test of
//! the translate crate keeps complete), so a new annotation is fuzzed as soon as it is
//! documented; the value checks above cover the annotations listed below.
//!
//! Input: text starting with `#` is one `NAME=VALUE` per line (`#` lines are comments), which
//! is what the seed corpus uses; anything else is decoded with `arbitrary` into a map whose
//! names are mostly the supported ones and whose values are mostly real-looking.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::{Result, Unstructured};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use libfuzzer_sys::fuzz_target;
use pingress_model::{Balance, HashKey, Retry, RetryOn, MAX_RETRIES};
use pingress_translate::{translate, Diagnostic, Objects, Options, Severity};

// The supported annotations, as `ALL` in crates/translate/src/annotations.rs lists them:
// `pingress.io/` names and their ingress-nginx twins.
const SSL_REDIRECT: [&str; 2] = [
    "pingress.io/ssl-redirect",
    "nginx.ingress.kubernetes.io/ssl-redirect",
];
const CONNECT_TIMEOUT: [&str; 2] = [
    "pingress.io/proxy-connect-timeout",
    "nginx.ingress.kubernetes.io/proxy-connect-timeout",
];
const READ_TIMEOUT: [&str; 2] = [
    "pingress.io/proxy-read-timeout",
    "nginx.ingress.kubernetes.io/proxy-read-timeout",
];
const SEND_TIMEOUT: [&str; 2] = [
    "pingress.io/proxy-send-timeout",
    "nginx.ingress.kubernetes.io/proxy-send-timeout",
];
/// `pingress.io/retries` counts retries, its twin attempts.
const RETRIES: [&str; 2] = [
    "pingress.io/retries",
    "nginx.ingress.kubernetes.io/proxy-next-upstream-tries",
];
const NEXT_UPSTREAM: [&str; 2] = [
    "pingress.io/proxy-next-upstream",
    "nginx.ingress.kubernetes.io/proxy-next-upstream",
];
const BODY_SIZE: [&str; 2] = [
    "pingress.io/proxy-body-size",
    "nginx.ingress.kubernetes.io/proxy-body-size",
];
const LOAD_BALANCE: [&str; 2] = [
    "pingress.io/load-balance",
    "nginx.ingress.kubernetes.io/load-balance",
];
const HASH_BY: [&str; 2] = [
    "pingress.io/hash-by",
    "nginx.ingress.kubernetes.io/upstream-hash-by",
];
const HEALTH_CHECK_PATH: [&str; 1] = ["pingress.io/health-check-path"];
const HEALTH_CHECK_INTERVAL: [&str; 1] = ["pingress.io/health-check-interval"];
const HEALTH_CHECK_TIMEOUT: [&str; 1] = ["pingress.io/health-check-timeout"];
const HEALTHY_THRESHOLD: [&str; 1] = ["pingress.io/health-check-healthy-threshold"];
const UNHEALTHY_THRESHOLD: [&str; 1] = ["pingress.io/health-check-unhealthy-threshold"];

/// The longest value read (`MAX_VALUE_LEN` in annotations.rs); a longer one is refused.
const MAX_VALUE_LEN: usize = 256;

/// Every supported annotation, each with its twin if it has one: the first two columns of
/// the table in docs/annotations.md.
fn supported() -> &'static [Vec<&'static str>] {
    static SUPPORTED: OnceLock<Vec<Vec<&'static str>>> = OnceLock::new();
    SUPPORTED.get_or_init(|| {
        let docs = include_str!("../../docs/annotations.md");
        let names: Vec<Vec<&str>> = docs
            .lines()
            .filter(|line| line.starts_with("| `pingress.io/"))
            .map(|row| {
                row.split('|')
                    .skip(1)
                    .take(2)
                    .filter_map(|cell| cell.split('`').nth(1))
                    .filter(|n| n.contains(".io/"))
                    .collect()
            })
            .collect();
        assert!(
            names.len() >= 12,
            "no annotation table in docs/annotations.md"
        );
        names
    })
}

fn is_supported(name: &str) -> bool {
    supported().iter().any(|names| names.contains(&name))
}

/// Names the structured input picks from, besides the supported ones.
const OTHER_NAMES: &[&str] = &[
    "pingress.io/retires",
    "nginx.ingress.kubernetes.io/rewrite-target",
    "nginx.ingress.kubernetes.io/affinity",
    "kubernetes.io/tls-acme",
];

/// Values the structured input picks from: valid and invalid spellings of every kind.
const VALUES: &[&str] = &[
    "true",
    "false",
    "True",
    "FALSE",
    "t",
    "F",
    "1",
    "0",
    "yes",
    "",
    " ",
    "60",
    "500ms",
    "5s",
    "2m",
    "1h",
    "1m30s",
    "1s500ms",
    "0s",
    "3600",
    "3601",
    "1h1ms",
    "99ms",
    "100ms",
    "5 s",
    "1.5s",
    "-1",
    "+1",
    "5d",
    "5S",
    "99999999999999999999",
    "18446744073709551615s",
    "4294967296s",
    "00",
    "5",
    "6",
    "10",
    "11",
    "007",
    "round_robin",
    "least_request",
    "least_conn",
    "hash",
    "ewma",
    "header:X-User-Id",
    "header:",
    "header:a b",
    "cookie:session",
    "client-ip",
    "client_ip",
    "$remote_addr",
    "$binary_remote_addr",
    "$http_x_user_id",
    "${cookie_session}",
    "${http_}",
    "$request_uri",
    "$",
    "/healthz",
    "/healthz?full=1",
    "/ healthz",
    "healthz",
    "/",
    "/\u{e9}",
    "/\t",
    "8m",
    "512k",
    "1G",
    "1048576",
    "1m ",
    "k",
    "0k",
    "18014398509481984k",
    "error timeout",
    "error timeout http_502",
    "http_404 non_idempotent",
    "off",
    "error off",
    "http_418",
    "404,503",
    "404, 503",
    "302",
    "600",
    ",",
    "web",
    "other/web",
];

/// The annotation map the input stands for.
fn annotations(data: &[u8]) -> Result<BTreeMap<String, String>> {
    if data.first() == Some(&b'#') {
        let text = String::from_utf8_lossy(data);
        return Ok(text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect());
    }
    let mut u = Unstructured::new(data);
    let mut map = BTreeMap::new();
    while !u.is_empty() {
        let name = match u.int_in_range(0u8..=15)? {
            0..=9 => {
                let spellings = u.choose(supported())?;
                u.choose(&spellings[..])?.to_string()
            }
            10 => u.choose(OTHER_NAMES)?.to_string(),
            11 => format!("pingress.io/{}", u.arbitrary::<&str>()?),
            12 => format!("nginx.ingress.kubernetes.io/{}", u.arbitrary::<&str>()?),
            _ => u.arbitrary::<String>()?,
        };
        let value = match u.int_in_range(0u8..=7)? {
            0..=4 => u.choose(VALUES)?.to_string(),
            5 => format!("{}{}", u.choose(VALUES)?, u.choose(VALUES)?),
            // Around the length limit.
            6 => {
                let len = u.int_in_range(MAX_VALUE_LEN - 2..=MAX_VALUE_LEN + 2)?;
                format!("/{}", "1".repeat(len - 1))
            }
            _ => u.arbitrary::<String>()?,
        };
        map.insert(name, value);
    }
    Ok(map)
}

fn ingress(annotations: BTreeMap<String, String>) -> Ingress {
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: "web".into(),
            port: Some(ServiceBackendPort {
                number: Some(80),
                name: None,
            }),
        }),
        resource: None,
    };
    Ingress {
        metadata: ObjectMeta {
            name: Some("fuzz".into()),
            namespace: Some("default".into()),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(IngressSpec {
            ingress_class_name: Some("pingress".into()),
            rules: Some(vec![IngressRule {
                host: Some("fuzz.example.com".into()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend,
                    }],
                }),
            }]),
            ..Default::default()
        }),
        status: None,
    }
}

/// The field a diagnostic on annotation `name` names.
fn field(name: &str) -> String {
    format!("metadata.annotations[{name:?}]")
}

/// What the translation said about the annotations.
struct Said<'a> {
    map: &'a BTreeMap<String, String>,
    diagnostics: Vec<&'a Diagnostic>,
}

impl Said<'_> {
    /// The spelling that is in force (the first set one) and its value.
    fn get(&self, names: &[&'static str]) -> Option<(&'static str, &str)> {
        names
            .iter()
            .find_map(|&n| Some((n, self.map.get(n)?.as_str())))
    }

    /// Whether `name` is set and no spelling before it is.
    fn in_force(&self, name: &str) -> bool {
        supported()
            .iter()
            .find(|names| names.contains(&name))
            .and_then(|names| self.get(names))
            .is_some_and(|(n, _)| n == name)
    }

    fn severity(&self, name: &str) -> Option<Severity> {
        let field = field(name);
        self.diagnostics
            .iter()
            .filter(|d| d.field == field)
            .map(|d| d.severity)
            .max()
    }

    /// Checks one setting whose default is `is_default`: a value that leaves it at the default
    /// without spelling the default is reported; an error leaves the default. Returns the
    /// spelling in force, its value and whether it was reported.
    fn check(
        &self,
        names: &[&'static str],
        is_default: bool,
        spells_default: impl Fn(&str) -> bool,
    ) -> Option<(&'static str, &str, Option<Severity>)> {
        let (name, value) = self.get(names)?;
        let severity = self.severity(name);
        if is_default && !spells_default(value) {
            assert!(
                severity.is_some(),
                "{name}: {value:?} was rejected without a diagnostic"
            );
        }
        if severity == Some(Severity::Error) {
            assert!(
                is_default,
                "{name}: {value:?} was reported as an error but took effect"
            );
        }
        Some((name, value, severity))
    }
}

fn never(_: &str) -> bool {
    false
}

fn is_integer(value: &str, n: u64) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) && value.parse() == Ok(n)
}

fn within(d: Option<Duration>, min: Duration, max: Duration, said: &Said, names: &[&'static str]) {
    if let Some(d) = d {
        let (name, value) = said
            .get(names)
            .expect("a duration set without its annotation");
        assert!(
            (min..=max).contains(&d),
            "{name}: {value:?} gave {d:?}, outside {min:?}..={max:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut map) = annotations(data) else {
        return;
    };
    // The class annotation decides whether the Ingress is ours at all; not a parser's concern.
    map.remove("kubernetes.io/ingress.class");
    let objects = Objects {
        ingresses: vec![ingress(map.clone())],
        ..Default::default()
    };
    let translation = translate(&objects, &Options::default());
    let snapshot = &translation.snapshot;
    let route = &snapshot.virtual_hosts[0].routes[0];
    let forward = route
        .action
        .backends()
        .expect("a plain Ingress path forwards");
    let cluster = &snapshot.clusters[&forward.backends[0].cluster].policy;
    let said = Said {
        map: &map,
        diagnostics: translation
            .diagnostics
            .iter()
            .filter(|d| d.field.starts_with("metadata.annotations["))
            .collect(),
    };

    // Every annotation diagnostic names an annotation that is set.
    for d in &said.diagnostics {
        assert!(
            map.keys().any(|name| field(name) == d.field),
            "a diagnostic on an annotation that is not set: {d}"
        );
    }
    // Unknown names in our prefixes are reported; too long values of known ones are refused.
    for (name, value) in &map {
        let ours =
            name.starts_with("pingress.io/") || name.starts_with("nginx.ingress.kubernetes.io/");
        if is_supported(name) && value.len() > MAX_VALUE_LEN && said.in_force(name) {
            assert_eq!(
                said.severity(name),
                Some(Severity::Error),
                "{name}: a value of {} bytes was not refused",
                value.len()
            );
        }
        if ours && !is_supported(name) {
            assert_eq!(
                said.severity(name),
                Some(Severity::Warning),
                "unknown annotation {name} was not warned about"
            );
        }
    }

    // ssl-redirect: default true.
    if let Some((name, value, severity)) = said.check(&SSL_REDIRECT, route.ssl_redirect, |v| {
        ["true", "True", "TRUE", "t", "T", "1"].contains(&v)
    }) {
        if !route.ssl_redirect {
            assert!(
                ["false", "False", "FALSE", "f", "F", "0"].contains(&value),
                "{name}: {value:?} turned the redirect off"
            );
            assert_eq!(
                severity, None,
                "{name}: {value:?} took effect and was reported"
            );
        }
    }

    // Durations: default unset.
    let policy = &route.policy;
    let health = &cluster.health_check;
    for (names, d) in [
        (&CONNECT_TIMEOUT[..], policy.connect_timeout),
        (&READ_TIMEOUT[..], policy.read_timeout),
        (&SEND_TIMEOUT[..], policy.send_timeout),
        (&HEALTH_CHECK_INTERVAL[..], health.interval),
        (&HEALTH_CHECK_TIMEOUT[..], health.timeout),
    ] {
        said.check(names, d.is_none(), never);
    }
    let (ms, s) = (Duration::from_millis, Duration::from_secs);
    within(
        policy.connect_timeout,
        ms(1),
        s(3600),
        &said,
        &CONNECT_TIMEOUT,
    );
    within(policy.read_timeout, ms(1), s(3600), &said, &READ_TIMEOUT);
    within(policy.send_timeout, ms(1), s(3600), &said, &SEND_TIMEOUT);
    within(
        health.interval,
        s(1),
        s(3600),
        &said,
        &HEALTH_CHECK_INTERVAL,
    );
    within(health.timeout, ms(100), s(60), &said, &HEALTH_CHECK_TIMEOUT);

    // proxy-body-size: default unset; digits with an optional k, m or g.
    said.check(&BODY_SIZE, policy.max_body_size.is_none(), never);
    if let Some(size) = policy.max_body_size {
        let (name, value) = said
            .get(&BODY_SIZE)
            .expect("a body size without its annotation");
        let digits = value.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G']);
        assert!(
            value.len() - digits.len() <= 1
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (size == 0) == digits.bytes().all(|b| b == b'0'),
            "{name}: {value:?} gave {size} bytes"
        );
    }

    // retries (proxy-next-upstream-tries): default 3 tries; the pingress.io/ spelling counts
    // retries (0 to 5), the twin attempts (any number, 0: no limit).
    let tries = policy.retry.tries;
    let default_tries = Retry::default().tries;
    let spells_default = |v: &str| match said.get(&RETRIES) {
        Some((name, _)) if name.starts_with("pingress.io/") => is_integer(v, 2),
        _ => is_integer(v, 3),
    };
    said.check(&RETRIES, tries == default_tries, spells_default);
    if tries != default_tries {
        let (name, value) = said
            .get(&RETRIES)
            .expect("tries set without the annotation");
        let ok = if name.starts_with("pingress.io/") {
            (1..=u32::from(MAX_RETRIES) + 1).contains(&tries)
                && is_integer(value, u64::from(tries - 1))
        } else {
            is_integer(value, tries.into())
        };
        assert!(ok, "{name}: {value:?} gave {tries} tries");
    }
    // proxy-next-upstream: default `error timeout`; accepted values are the tokens.
    let on = policy.retry.on;
    let default_on = Retry::default().on;
    said.check(&NEXT_UPSTREAM, on == default_on, |v| {
        let mut tokens: Vec<&str> = v.split_whitespace().collect();
        tokens.sort();
        tokens == ["error", "timeout"]
    });
    if on != default_on {
        let (name, value) = said
            .get(&NEXT_UPSTREAM)
            .expect("a retry policy without its annotation");
        let tokens: Vec<&str> = value.split_whitespace().collect();
        let expected = if tokens.contains(&"off") {
            RetryOn::off()
        } else {
            tokens
                .iter()
                .filter_map(|t| RetryOn::token(t))
                .fold(RetryOn::off(), RetryOn::with)
        };
        let known = tokens
            .iter()
            .all(|t| *t == "off" || RetryOn::token(t).is_some());
        assert!(
            !tokens.is_empty() && known && on == expected,
            "{name}: {value:?} gave {on}"
        );
    }
    // custom-http-errors: every code kept is a status from 400 to 599 the value names.
    if let Some(errors) = &policy.fallback.errors {
        let (name, value) = said
            .get(&[
                "pingress.io/custom-http-errors",
                "nginx.ingress.kubernetes.io/custom-http-errors",
            ])
            .expect("custom errors without the annotation");
        for code in &errors.codes {
            assert!(
                (400..=599).contains(code) && value.contains(&code.to_string()),
                "{name}: {value:?} gave {code}"
            );
        }
    }

    // Thresholds: default unset.
    for (names, n) in [
        (&HEALTHY_THRESHOLD, health.healthy_threshold),
        (&UNHEALTHY_THRESHOLD, health.unhealthy_threshold),
    ] {
        said.check(names, n.is_none(), never);
        if let Some(n) = n {
            let (name, value) = said.get(names).expect("a threshold without its annotation");
            assert!(
                (1..=10).contains(&n) && is_integer(value, n.into()),
                "{name}: {value:?} gave {n}"
            );
        }
    }

    // health-check-path: default unset; kept verbatim.
    said.check(&HEALTH_CHECK_PATH, health.path.is_none(), never);
    if let Some(path) = &health.path {
        let (name, value) = said
            .get(&HEALTH_CHECK_PATH)
            .expect("a path without its annotation");
        assert_eq!(path, value, "{name}: not kept verbatim");
        assert!(
            path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic()),
            "{name}: {value:?} accepted"
        );
    }

    // Balance: load-balance and hash-by together; default round robin. A hash key alone
    // means hash; `hash` without a usable key is reported on one of the two.
    let lb = said.get(&LOAD_BALANCE);
    let hash_by = said.get(&HASH_BY);
    let reported = |n: Option<(&'static str, &str)>| n.and_then(|(name, _)| said.severity(name));
    match &cluster.balance {
        Balance::RoundRobin => {
            let quiet = reported(lb).is_none() && reported(hash_by).is_none();
            if quiet {
                assert!(
                    hash_by.is_none() && lb.is_none_or(|(_, v)| v == "round_robin"),
                    "load-balance {lb:?} / hash-by {hash_by:?} rejected without a diagnostic"
                );
            }
        }
        Balance::LeastRequests => {
            let (name, value) = lb.expect("least requests without load-balance");
            assert!(
                value == "least_request" || value == "least_conn",
                "{name}: {value:?} gave least requests"
            );
            assert!(hash_by.is_none_or(|_| reported(hash_by).is_some()));
        }
        Balance::Hash(key) => {
            let (name, value) = hash_by.expect("hash without a hash key");
            assert!(
                reported(hash_by).is_none(),
                "{name}: {value:?} reported but used"
            );
            match key {
                HashKey::ClientIp => assert!(
                    value == "client-ip"
                        || value.contains("remote_addr")
                        || value.contains("binary_remote_addr"),
                    "{name}: {value:?} gave the client IP"
                ),
                HashKey::Header(h) => assert!(
                    !h.is_empty()
                        && (value.to_ascii_lowercase().contains(h)
                            || value.to_ascii_lowercase().replace('_', "-").contains(h)),
                    "{name}: {value:?} gave header {h:?}"
                ),
                HashKey::Cookie(c) => assert!(
                    !c.is_empty() && value.contains(c.as_str()),
                    "{name}: {value:?} gave cookie {c:?}"
                ),
            }
            if let Some((lb_name, v)) = lb {
                if v != "hash" {
                    assert!(
                        said.severity(lb_name).is_some(),
                        "{lb_name}: {v:?} overridden by {name} without a word"
                    );
                }
            }
        }
    }
});
