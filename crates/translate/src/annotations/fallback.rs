//! Fallbacks, errors and retries: ingress-nginx's `default-backend`, `custom-http-errors`,
//! `disable-proxy-intercept-errors`, `proxy-next-upstream` (with `-tries` and `-timeout`) and
//! `service-upstream`. The ConfigMap sets their defaults (`crate::configmap`); the Services
//! they name are resolved later, with the rest of the backends (`crate::lib`).
//!
//! `pingress.io/retries` is the twin of `proxy-next-upstream-tries`, counted in retries rather
//! than in attempts (`"2"` is 3 tries); like every `pingress.io/` spelling it wins when both are
//! set.

use std::time::Duration;

use pingress_model::{Retry, RetryOn, MAX_RETRIES};

use super::{Found, Name, Reader};
use crate::configmap::IngressDefaults;
use crate::names;
use crate::units::parse_duration;
use crate::values::{parse_codes, parse_next_upstream};

const DEFAULT_BACKEND: Name = Name::twin("default-backend", "default-backend");
const CUSTOM_HTTP_ERRORS: Name = Name::twin("custom-http-errors", "custom-http-errors");
const DISABLE_PROXY_INTERCEPT_ERRORS: Name = Name::twin(
    "disable-proxy-intercept-errors",
    "disable-proxy-intercept-errors",
);
const PROXY_NEXT_UPSTREAM: Name = Name::twin("proxy-next-upstream", "proxy-next-upstream");
/// `pingress.io/retries` counts retries; the twin counts attempts.
const PROXY_NEXT_UPSTREAM_TRIES: Name = Name::twin("retries", "proxy-next-upstream-tries");
const PROXY_NEXT_UPSTREAM_TIMEOUT: Name =
    Name::twin("proxy-next-upstream-timeout", "proxy-next-upstream-timeout");
const SERVICE_UPSTREAM: Name = Name::twin("service-upstream", "service-upstream");

pub(super) const NAMES: [Name; 7] = [
    DEFAULT_BACKEND,
    CUSTOM_HTTP_ERRORS,
    DISABLE_PROXY_INTERCEPT_ERRORS,
    PROXY_NEXT_UPSTREAM,
    PROXY_NEXT_UPSTREAM_TRIES,
    PROXY_NEXT_UPSTREAM_TIMEOUT,
    SERVICE_UPSTREAM,
];

/// What an Ingress's annotations say about its fallbacks, before the Services are resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FallbackAnnotations {
    /// `default-backend`: a Service of the Ingress's namespace, and the annotation key that
    /// named it (for diagnostics).
    pub default_backend: Option<(String, String)>,
    /// The statuses replaced by an error backend's answer: the annotation's list, else the
    /// ConfigMap's; sorted, distinct.
    pub error_codes: Vec<u16>,
    /// The list is the annotation's (its errors go to `default_backend` when that can serve;
    /// the ConfigMap's always go to the global default backend).
    pub codes_from_annotation: bool,
    /// Upstream responses with those statuses are replaced, not only the gateway's own.
    pub intercept: bool,
}

/// The retry policy of every route of the Ingress.
pub(super) fn retry(a: &mut Reader, defaults: &IngressDefaults) -> Retry {
    let d = defaults.route.retry;
    let on = next_upstream(a, d.on);
    // ingress-nginx appends `non_idempotent` to every location's list when the ConfigMap says
    // `retry-non-idempotent: "true"`; `off` stays off.
    let on = if defaults.retry_non_idempotent && on != RetryOn::off() {
        on.with(RetryOn::NON_IDEMPOTENT)
    } else {
        on
    };
    Retry {
        on,
        tries: tries(a, d.tries),
        timeout: timeout(a, d.timeout),
    }
}

/// The fallbacks of every route of the Ingress.
pub(super) fn parse(a: &mut Reader, defaults: &IngressDefaults) -> FallbackAnnotations {
    let default_backend = default_backend(a);
    let annotation_codes = error_codes(a, !defaults.errors.codes.is_empty());
    let disabled = a.boolean(DISABLE_PROXY_INTERCEPT_ERRORS, false);
    // nginx's inheritance: a location with its own list intercepts unless the annotation
    // disables it; when it does not say `proxy_intercept_errors on` itself, it inherits the
    // http level's, which the ConfigMap's list switches on unless the ConfigMap disables it.
    let global_intercept = !defaults.errors.codes.is_empty() && !defaults.errors.disable_intercept;
    let (error_codes, codes_from_annotation, intercept) = match annotation_codes {
        Some(codes) => (codes, true, !disabled || global_intercept),
        None => (defaults.errors.codes.clone(), false, global_intercept),
    };
    FallbackAnnotations {
        default_backend,
        error_codes,
        codes_from_annotation,
        intercept,
    }
}

/// `service-upstream`: send the Ingress's traffic to its Services' cluster IPs.
pub(super) fn service_upstream(a: &mut Reader, defaults: &IngressDefaults) -> bool {
    a.boolean(SERVICE_UPSTREAM, defaults.service_upstream)
}

/// `default-backend`: a Service name (no namespace: the Ingress's own).
fn default_backend(a: &mut Reader) -> Option<(String, String)> {
    let Found { key, value, .. } = a.get(DEFAULT_BACKEND)?;
    let value = value.trim();
    if let Err(e) = names::check_label(value) {
        a.error(
            key,
            format!("{e} (a Service of the Ingress's namespace); no default backend"),
        );
        return None;
    }
    Some((key.to_string(), value.to_string()))
}

/// `custom-http-errors`: `None` when unset or invalid (then the ConfigMap's list applies,
/// `global` says whether it has one).
fn error_codes(a: &mut Reader, global: bool) -> Option<Vec<u16>> {
    let Found { key, value, .. } = a.get(CUSTOM_HTTP_ERRORS)?;
    let parsed = match value.trim() {
        "" => Err(String::new()),
        _ => parse_codes(value, 400..=599),
    };
    match parsed {
        Ok(codes) if codes.is_empty() => None,
        Ok(codes) => Some(codes),
        Err(item) => {
            let fallback = if global {
                "the ConfigMap's custom-http-errors"
            } else {
                "no custom errors"
            };
            let message = format!(
                "invalid value {value:?}: {item:?} is not a status from 400 to 599; expected a comma-separated list such as \"404,503\"; using {fallback}"
            );
            a.error(key, message);
            None
        }
    }
}

/// `proxy-next-upstream`: the annotation's tokens replace `default` (the ConfigMap's, else
/// `error timeout`).
fn next_upstream(a: &mut Reader, default: RetryOn) -> RetryOn {
    let Some(Found { key, value, .. }) = a.get(PROXY_NEXT_UPSTREAM) else {
        return default;
    };
    match parse_next_upstream(value) {
        Ok(on) => on,
        Err(token) => {
            let message = format!(
                "invalid value {value:?}: {token:?} is not one of error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, non_idempotent, off; using {default}"
            );
            a.error(key, message);
            default
        }
    }
}

/// `proxy-next-upstream-tries` (attempts, `0`: no limit) or `pingress.io/retries` (retries,
/// 0 to [`MAX_RETRIES`]).
fn tries(a: &mut Reader, default: u32) -> u32 {
    let Some(Found { key, value, own }) = a.get(PROXY_NEXT_UPSTREAM_TRIES) else {
        return default;
    };
    let number = Some(value)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u32>().ok());
    let fallback = format!("{} tries", default);
    if own {
        match number.filter(|n| *n <= u32::from(MAX_RETRIES)) {
            Some(retries) => retries + 1,
            None => {
                let expected = format!("an integer from 0 to {MAX_RETRIES}");
                a.invalid(key, value, &expected, &fallback);
                default
            }
        }
    } else {
        match number {
            Some(tries) => tries,
            None => {
                let expected = "a number of attempts, the first included (0: no limit)";
                a.invalid(key, value, expected, &fallback);
                default
            }
        }
    }
}

/// `proxy-next-upstream-timeout`: seconds (or a duration with a unit); `0`: no limit.
fn timeout(a: &mut Reader, default: Option<Duration>) -> Option<Duration> {
    let Some(Found { key, value, .. }) = a.get(PROXY_NEXT_UPSTREAM_TIMEOUT) else {
        return default;
    };
    match parse_duration(value) {
        Some(Duration::ZERO) => None,
        Some(limit) => Some(limit),
        None => {
            let fallback = match default {
                Some(d) => crate::units::show_duration(d),
                None => "no limit".to_string(),
            };
            let expected = "a number of seconds (0: no limit) or a duration such as \"500ms\"";
            a.invalid(key, value, expected, &fallback);
            default
        }
    }
}
