//! A cluster's policy: load balancing (`load-balance`, consistent hashing) and active health
//! checks. A cluster is one Service port that several Ingresses may share: the oldest Ingress
//! using it decides (see `crate::table`).

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use pingress_model::{Balance, ClusterPolicy, HashKey, HealthCheck};

use super::{Found, Name, Reader};
use crate::units::{HOUR, MINUTE, SECOND};

const LOAD_BALANCE: Name = Name::twin("load-balance", "load-balance");
/// `header:NAME`, `cookie:NAME`, `client-ip`; the twin takes an nginx variable instead.
const HASH_BY: Name = Name::twin("hash-by", "upstream-hash-by");
const HEALTH_CHECK_PATH: Name = Name::own("health-check-path");
const HEALTH_CHECK_INTERVAL: Name = Name::own("health-check-interval");
const HEALTH_CHECK_TIMEOUT: Name = Name::own("health-check-timeout");
const HEALTH_CHECK_HEALTHY_THRESHOLD: Name = Name::own("health-check-healthy-threshold");
const HEALTH_CHECK_UNHEALTHY_THRESHOLD: Name = Name::own("health-check-unhealthy-threshold");

pub(super) const NAMES: [Name; 7] = [
    LOAD_BALANCE,
    HASH_BY,
    HEALTH_CHECK_PATH,
    HEALTH_CHECK_INTERVAL,
    HEALTH_CHECK_TIMEOUT,
    HEALTH_CHECK_HEALTHY_THRESHOLD,
    HEALTH_CHECK_UNHEALTHY_THRESHOLD,
];

const HEALTH_CHECK_INTERVAL_RANGE: RangeInclusive<Duration> = SECOND..=HOUR;
const HEALTH_CHECK_TIMEOUT_RANGE: RangeInclusive<Duration> = Duration::from_millis(100)..=MINUTE;
const THRESHOLD_RANGE: RangeInclusive<u32> = 1..=10;

/// The policy of every cluster the Ingress uses.
pub(super) fn parse(a: &mut Reader) -> ClusterPolicy {
    let flag = |flag: &str| format!("the gateway's {flag}");
    ClusterPolicy {
        balance: balance(a),
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
    }
}

/// The load-balancing policy: `load-balance`, and the hash key of `hash-by` (a key alone
/// implies hashing, as `upstream-hash-by` does in ingress-nginx).
fn balance(a: &mut Reader) -> Balance {
    let choice = load_balance(a);
    let fallback = match choice {
        Some((_, Choice::LeastRequests)) => "least_request",
        _ => "round_robin",
    };
    match (choice, hash_key(a, fallback)) {
        (choice, HashBy::Set(key_name, key)) => {
            if let Some((name, choice @ (Choice::RoundRobin | Choice::LeastRequests))) = choice {
                let message = format!("{choice} ignored: {key_name} is set, which means hash");
                a.warning(name, message);
            }
            Balance::Hash(key)
        }
        (Some((name, Choice::Hash)), HashBy::Unset) => {
            let message = format!(
                "\"hash\" needs a hash key in {}; using round_robin",
                a.spelled(HASH_BY)
            );
            a.error(name, message);
            Balance::RoundRobin
        }
        (Some((_, Choice::LeastRequests)), _) => Balance::LeastRequests,
        // Also `hash` with an invalid key, which `hash_key` reported.
        _ => Balance::RoundRobin,
    }
}

/// `load-balance` with the key that set it; `None` when unset or not usable.
fn load_balance<'a>(a: &mut Reader<'a>) -> Option<(&'a str, Choice)> {
    let Found { key, value, .. } = a.get(LOAD_BALANCE)?;
    let choice = match value {
        "round_robin" => Choice::RoundRobin,
        "least_request" | "least_conn" => Choice::LeastRequests,
        "hash" => Choice::Hash,
        "ewma" => {
            a.warning(
                key,
                "\"ewma\" is not supported; using round_robin".to_string(),
            );
            return None;
        }
        other => {
            let expected = "\"round_robin\", \"least_request\" or \"hash\"";
            a.invalid(key, other, expected, "round_robin");
            return None;
        }
    };
    Some((key, choice))
}

/// The hash key of `hash-by` or its twin; `fallback` names the policy that applies when it
/// is invalid.
fn hash_key<'a>(a: &mut Reader<'a>, fallback: &str) -> HashBy<'a> {
    let Some(Found { key, value, own }) = a.get(HASH_BY) else {
        return HashBy::Unset;
    };
    let parsed = if own {
        parse_hash_by(value)
    } else {
        parse_nginx_hash_by(value)
    };
    if let Some(parsed) = parsed {
        return HashBy::Set(key, parsed);
    }
    if own {
        let expected = "\"header:NAME\", \"cookie:NAME\" or \"client-ip\"";
        a.invalid(key, value, expected, fallback);
    } else {
        let message = format!(
            "unsupported value {value:?}: expected one of $remote_addr, \
             $binary_remote_addr, $http_NAME or $cookie_NAME; using {fallback}"
        );
        a.error(key, message);
    }
    HashBy::Invalid
}

/// The hash key annotation.
#[derive(Debug)]
enum HashBy<'a> {
    Unset,
    /// Reported.
    Invalid,
    /// The key, and the annotation that set it.
    Set(&'a str, HashKey),
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
