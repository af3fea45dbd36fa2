//! A route's policy: upstream timeouts and the request body limit (its retries are the
//! fallbacks' business, `super::fallback`).

use std::ops::RangeInclusive;
use std::time::Duration;

use pingress_model::RoutePolicy;

use super::{Name, Reader};
use crate::configmap::IngressDefaults;
use crate::units::{HOUR, MS};

const PROXY_CONNECT_TIMEOUT: Name = Name::twin("proxy-connect-timeout", "proxy-connect-timeout");
const PROXY_READ_TIMEOUT: Name = Name::twin("proxy-read-timeout", "proxy-read-timeout");
const PROXY_SEND_TIMEOUT: Name = Name::twin("proxy-send-timeout", "proxy-send-timeout");
const PROXY_BODY_SIZE: Name = Name::twin("proxy-body-size", "proxy-body-size");

pub(super) const NAMES: [Name; 4] = [
    PROXY_CONNECT_TIMEOUT,
    PROXY_READ_TIMEOUT,
    PROXY_SEND_TIMEOUT,
    PROXY_BODY_SIZE,
];

/// Proxy timeouts of a route.
const PROXY_TIMEOUT_RANGE: RangeInclusive<Duration> = MS..=HOUR;

/// The route policy of every path the Ingress declares (retries and fallbacks left to
/// `super::fallback`); what it leaves unset comes from the
/// ConfigMap (`defaults`), else from the gateway's flags.
pub(super) fn parse(a: &mut Reader, defaults: &IngressDefaults) -> RoutePolicy {
    let d = &defaults.route;
    let fallback = |configmap: Option<Duration>, key: &str, flag: &str| match configmap {
        Some(_) => format!("the ConfigMap's {key}"),
        None => format!("the gateway's {flag}"),
    };
    let connect = fallback(
        d.connect_timeout,
        "proxy-connect-timeout",
        "--proxy-connect-timeout",
    );
    let read = fallback(d.read_timeout, "proxy-read-timeout", "--proxy-read-timeout");
    let send = fallback(d.send_timeout, "proxy-send-timeout", "--proxy-send-timeout");
    let body = match d.max_body_size {
        Some(_) => "the ConfigMap's proxy-body-size".to_string(),
        None => "the gateway's --max-body-size".to_string(),
    };
    RoutePolicy {
        connect_timeout: a
            .duration(PROXY_CONNECT_TIMEOUT, PROXY_TIMEOUT_RANGE, &connect)
            .or(d.connect_timeout),
        read_timeout: a
            .duration(PROXY_READ_TIMEOUT, PROXY_TIMEOUT_RANGE, &read)
            .or(d.read_timeout),
        send_timeout: a
            .duration(PROXY_SEND_TIMEOUT, PROXY_TIMEOUT_RANGE, &send)
            .or(d.send_timeout),
        max_body_size: a.size(PROXY_BODY_SIZE, &body).or(d.max_body_size),
        ..RoutePolicy::default()
    }
}
