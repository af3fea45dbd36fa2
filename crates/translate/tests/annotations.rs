//! Table tests of the Ingress annotations (`docs/annotations.md`): these annotations in, this
//! route or cluster policy and these diagnostics out.
//!
//! Annotations are written as YAML flow-mapping entries, e.g. `pingress.io/retries: "2"`.
//! Diagnostics are rendered `severity field: message`, or `severity object field: message`
//! where several Ingresses take part.

mod common;

use std::time::Duration;

use common::objects;
use pingress_model::{Balance, ClusterId, ClusterPolicy, HashKey, HealthCheck, Retry, RoutePolicy};
use pingress_translate::{translate, Options, Translation};

/// Our IngressClass `pingress`, marked default; Service `default/web` (port 80) with one ready
/// endpoint, and Service `default/api` (port 80) without endpoints.
const BASE: &str = r#"
kind: IngressClass
metadata:
  name: pingress
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: pingress.io/ingress-controller}
---
kind: Service
metadata: {name: web}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.0.0.1]}]
---
kind: Service
metadata: {name: api}
spec:
  ports: [{name: http, port: 80}]
"#;

/// An Ingress `default/NAME` created at `created`, with `annotations`, routing the prefix `path`
/// of any host to `service:80`.
fn ingress(name: &str, created: &str, annotations: &str, path: &str, service: &str) -> String {
    format!(
        r#"kind: Ingress
metadata:
  name: {name}
  creationTimestamp: "{created}"
  annotations: {{{annotations}}}
spec:
  rules:
  - http:
      paths:
      - {{path: {path}, pathType: Prefix, backend: {{service: {{name: {service}, port: {{number: 80}}}}}}}}"#
    )
}

/// Translates [`BASE`] plus the `ingresses`.
fn run(ingresses: &[String]) -> Translation {
    let yaml = std::iter::once(BASE.to_string())
        .chain(ingresses.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n---\n");
    translate(&objects(&yaml), &Options::default())
}

/// Translates one Ingress `default/ing` with `annotations`, routing `/` to `web:80`.
fn one(annotations: &str) -> Translation {
    run(&[ingress(
        "ing",
        "2024-01-01T00:00:00Z",
        annotations,
        "/",
        "web",
    )])
}

/// The diagnostics of [`one`]: `severity field: message`.
fn diagnostics(t: &Translation) -> Vec<String> {
    t.diagnostics
        .iter()
        .map(|d| {
            assert_eq!(d.object.to_string(), "default/ing", "{d}");
            format!("{} {}: {}", d.severity, d.field, d.message)
        })
        .collect()
}

/// The diagnostics of several Ingresses: `severity object field: message`.
fn all_diagnostics(t: &Translation) -> Vec<String> {
    t.diagnostics
        .iter()
        .map(|d| format!("{} {} {}: {}", d.severity, d.object, d.field, d.message))
        .collect()
}

/// The policy of the only route.
fn route_policy(t: &Translation) -> RoutePolicy {
    let routes: Vec<_> = t
        .snapshot
        .virtual_hosts
        .iter()
        .flat_map(|v| &v.routes)
        .collect();
    assert_eq!(routes.len(), 1, "{routes:#?}");
    routes[0].policy.clone()
}

/// The policy of cluster `default/NAME:80`.
fn cluster_policy(t: &Translation, service: &str) -> ClusterPolicy {
    let id: ClusterId = format!("default/{service}:80").parse().unwrap();
    t.snapshot.clusters[&id].policy.clone()
}

fn ms(n: u64) -> Option<Duration> {
    Some(Duration::from_millis(n))
}

fn secs(n: u64) -> Option<Duration> {
    Some(Duration::from_secs(n))
}

/// The error for an invalid proxy timeout.
fn bad_timeout(name: &str, value: &str, flag: &str) -> String {
    format!(
        r#"error metadata.annotations["{name}"]: invalid value {value:?}: expected a duration from 1ms to 1h, e.g. "60" (seconds), "500ms", "5s" or "2m"; using the gateway's {flag}"#
    )
}

// --- Route: timeouts and retries ------------------------------------------------------------

/// Connect, read and send timeouts.
type Timeouts = [Option<Duration>; 3];

#[test]
fn proxy_timeouts() {
    let connect = "pingress.io/proxy-connect-timeout";
    let read = "pingress.io/proxy-read-timeout";
    let send = "pingress.io/proxy-send-timeout";
    let bad_connect = |value| bad_timeout(connect, value, "--proxy-connect-timeout");
    #[rustfmt::skip]
    let rows: Vec<(&str, Timeouts, Vec<String>)> = vec![
        ("", [None, None, None], vec![]),
        // Valid forms: bare seconds (ingress-nginx), units, combinations, the range's ends.
        (r#"pingress.io/proxy-connect-timeout: "60""#, [secs(60), None, None], vec![]),
        (r#"pingress.io/proxy-connect-timeout: "500ms""#, [ms(500), None, None], vec![]),
        (r#"pingress.io/proxy-connect-timeout: "5s""#, [secs(5), None, None], vec![]),
        (r#"pingress.io/proxy-connect-timeout: "2m""#, [secs(120), None, None], vec![]),
        (r#"pingress.io/proxy-connect-timeout: "1m30s""#, [secs(90), None, None], vec![]),
        (r#"pingress.io/proxy-connect-timeout: "1ms""#, [ms(1), None, None], vec![]),
        (r#"pingress.io/proxy-connect-timeout: "1h""#, [secs(3600), None, None], vec![]),
        (r#"pingress.io/proxy-connect-timeout: "3600""#, [secs(3600), None, None], vec![]),
        (r#"pingress.io/proxy-read-timeout: "120""#, [None, secs(120), None], vec![]),
        (r#"pingress.io/proxy-send-timeout: "30s""#, [None, None, secs(30)], vec![]),
        (r#"pingress.io/proxy-connect-timeout: "1s", pingress.io/proxy-read-timeout: "2s", pingress.io/proxy-send-timeout: "3s""#,
            [secs(1), secs(2), secs(3)], vec![]),
        // The ingress-nginx twins.
        (r#"nginx.ingress.kubernetes.io/proxy-connect-timeout: "10""#, [secs(10), None, None], vec![]),
        (r#"nginx.ingress.kubernetes.io/proxy-read-timeout: "300""#, [None, secs(300), None], vec![]),
        (r#"nginx.ingress.kubernetes.io/proxy-send-timeout: "15""#, [None, None, secs(15)], vec![]),
        // Both set: pingress.io wins, even when invalid.
        (r#"pingress.io/proxy-read-timeout: "5s", nginx.ingress.kubernetes.io/proxy-read-timeout: "50""#,
            [None, secs(5), None], vec![]),
        (r#"pingress.io/proxy-connect-timeout: "soon", nginx.ingress.kubernetes.io/proxy-connect-timeout: "50""#,
            [None, None, None], vec![bad_connect("soon")]),
        // Invalid: zero, negative, garbage, fractions, spaces, unknown units, out of range.
        (r#"pingress.io/proxy-connect-timeout: "0""#, [None, None, None], vec![bad_connect("0")]),
        (r#"pingress.io/proxy-connect-timeout: "0ms""#, [None, None, None], vec![bad_connect("0ms")]),
        (r#"pingress.io/proxy-connect-timeout: "-5""#, [None, None, None], vec![bad_connect("-5")]),
        (r#"pingress.io/proxy-connect-timeout: "abc""#, [None, None, None], vec![bad_connect("abc")]),
        (r#"pingress.io/proxy-connect-timeout: """#, [None, None, None], vec![bad_connect("")]),
        (r#"pingress.io/proxy-connect-timeout: "1.5s""#, [None, None, None], vec![bad_connect("1.5s")]),
        (r#"pingress.io/proxy-connect-timeout: "5 s""#, [None, None, None], vec![bad_connect("5 s")]),
        (r#"pingress.io/proxy-connect-timeout: "5d""#, [None, None, None], vec![bad_connect("5d")]),
        (r#"pingress.io/proxy-connect-timeout: "3601""#, [None, None, None], vec![bad_connect("3601")]),
        (r#"pingress.io/proxy-connect-timeout: "61m""#, [None, None, None], vec![bad_connect("61m")]),
        (r#"pingress.io/proxy-connect-timeout: "99999999999999999999""#, [None, None, None], vec![bad_connect("99999999999999999999")]),
        (r#"pingress.io/proxy-read-timeout: "2h""#, [None, None, None],
            vec![bad_timeout(read, "2h", "--proxy-read-timeout")]),
        (r#"pingress.io/proxy-send-timeout: "never""#, [None, None, None],
            vec![bad_timeout(send, "never", "--proxy-send-timeout")]),
        (r#"nginx.ingress.kubernetes.io/proxy-read-timeout: "0""#, [None, None, None],
            vec![bad_timeout("nginx.ingress.kubernetes.io/proxy-read-timeout", "0", "--proxy-read-timeout")]),
        // One invalid value does not affect the others.
        (r#"pingress.io/proxy-connect-timeout: "0", pingress.io/proxy-read-timeout: "10""#,
            [None, secs(10), None], vec![bad_connect("0")]),
    ];
    for (annotations, [connect, read, send], expected) in rows {
        let t = one(annotations);
        let policy = route_policy(&t);
        assert_eq!(
            [
                policy.connect_timeout,
                policy.read_timeout,
                policy.send_timeout
            ],
            [connect, read, send],
            "{annotations}"
        );
        assert_eq!(diagnostics(&t), expected, "{annotations}");
    }
}

/// `pingress.io/retries` is the twin of ingress-nginx's `proxy-next-upstream-tries`, counted in
/// retries (attempts less one); unset, ingress-nginx's default of 3 tries.
#[test]
fn retries() {
    let bad = |value: &str| {
        vec![format!(
            r#"error metadata.annotations["pingress.io/retries"]: invalid value {value:?}: expected an integer from 0 to 5; using 3 tries"#
        )]
    };
    #[rustfmt::skip]
    let rows: Vec<(&str, u32, Vec<String>)> = vec![
        ("", 3, vec![]),
        (r#"pingress.io/retries: "0""#, 1, vec![]),
        (r#"pingress.io/retries: "1""#, 2, vec![]),
        (r#"pingress.io/retries: "5""#, 6, vec![]),
        // Out of range is an error and the default, never clamped to 5.
        (r#"pingress.io/retries: "6""#, 3, bad("6")),
        (r#"pingress.io/retries: "255""#, 3, bad("255")),
        (r#"pingress.io/retries: "256""#, 3, bad("256")),
        (r#"pingress.io/retries: "-1""#, 3, bad("-1")),
        (r#"pingress.io/retries: "+1""#, 3, bad("+1")),
        (r#"pingress.io/retries: "2.0""#, 3, bad("2.0")),
        (r#"pingress.io/retries: "two""#, 3, bad("two")),
        (r#"pingress.io/retries: """#, 3, bad("")),
        // The twin counts attempts (e2e annotations/proxy.go sets 888888; 0 is no limit).
        (r#"nginx.ingress.kubernetes.io/proxy-next-upstream-tries: "3""#, 3, vec![]),
        (r#"nginx.ingress.kubernetes.io/proxy-next-upstream-tries: "888888""#, 888_888, vec![]),
        (r#"nginx.ingress.kubernetes.io/proxy-next-upstream-tries: "0""#, 0, vec![]),
        // The pingress.io/ spelling wins, even when invalid.
        (r#"nginx.ingress.kubernetes.io/proxy-next-upstream-tries: "5", pingress.io/retries: "0""#, 1, vec![]),
        (r#"nginx.ingress.kubernetes.io/proxy-next-upstream-tries: "5", pingress.io/retries: "x""#, 3, bad("x")),
        (r#"nginx.ingress.kubernetes.io/proxy-next-upstream-tries: "-1""#, 3, vec![
            r#"error metadata.annotations["nginx.ingress.kubernetes.io/proxy-next-upstream-tries"]: invalid value "-1": expected a number of attempts, the first included (0: no limit); using 3 tries"#.to_string(),
        ]),
    ];
    for (annotations, tries, expected) in rows {
        let t = one(annotations);
        assert_eq!(route_policy(&t).retry.tries, tries, "{annotations}");
        assert_eq!(diagnostics(&t), expected, "{annotations}");
    }
}

#[test]
fn proxy_body_size() {
    let bad = |name: &str, value: &str| {
        vec![format!(
            r#"error metadata.annotations["{name}"]: invalid value {value:?}: expected a size such as "8m", "512k" or "1048576" (0: no limit); using the gateway's --max-body-size"#
        )]
    };
    let own = "pingress.io/proxy-body-size";
    #[rustfmt::skip]
    let rows: Vec<(String, Option<u64>, Vec<String>)> = vec![
        (String::new(), None, vec![]),
        (format!(r#"{own}: "0""#), Some(0), vec![]),
        (format!(r#"{own}: "1048576""#), Some(1 << 20), vec![]),
        (format!(r#"{own}: "512k""#), Some(512 << 10), vec![]),
        (format!(r#"{own}: "8M""#), Some(8 << 20), vec![]),
        (format!(r#"{own}: "2g""#), Some(2 << 30), vec![]),
        (r#"nginx.ingress.kubernetes.io/proxy-body-size: "16m""#.into(), Some(16 << 20), vec![]),
        (format!(r#"{own}: "8mb""#), None, bad(own, "8mb")),
        (format!(r#"{own}: "-1""#), None, bad(own, "-1")),
        (format!(r#"{own}: "m""#), None, bad(own, "m")),
        (format!(r#"{own}: " 8m""#), None, bad(own, " 8m")),
        (format!(r#"{own}: "99999999999999999999""#), None, bad(own, "99999999999999999999")),
        (format!(r#"{own}: "20000000000g""#), None, bad(own, "20000000000g")),
    ];
    for (annotations, size, expected) in rows {
        let t = one(&annotations);
        assert_eq!(route_policy(&t).max_body_size, size, "{annotations}");
        assert_eq!(diagnostics(&t), expected, "{annotations}");
    }
}

#[test]
fn overlong_values_are_refused_before_parsing() {
    let long = "1".repeat(257);
    let t = one(&format!(r#"pingress.io/retries: "{long}""#));
    assert_eq!(route_policy(&t).retry.tries, 3, "the default");
    assert_eq!(
        diagnostics(&t),
        vec![r#"error metadata.annotations["pingress.io/retries"]: value of 257 bytes is longer than the 256 allowed; ignored"#.to_string()]
    );
    // At the cap it is read (and here rejected as out of range, naming the value).
    let t = one(&format!(r#"pingress.io/retries: "{}""#, "1".repeat(256)));
    assert_eq!(diagnostics(&t).len(), 1);
    assert!(diagnostics(&t)[0].contains("expected an integer from 0 to 5"));
}

// --- Cluster: load balancing ------------------------------------------------------------------

#[test]
fn load_balance() {
    use Balance::*;
    let bad = |name: &str, value: &str| {
        vec![format!(
            r#"error metadata.annotations["{name}"]: invalid value {value:?}: expected "round_robin", "least_request" or "hash"; using round_robin"#
        )]
    };
    let no_key = |name: &str| {
        vec![format!(
            r#"error metadata.annotations["{name}"]: "hash" needs a hash key in pingress.io/hash-by or nginx.ingress.kubernetes.io/upstream-hash-by; using round_robin"#
        )]
    };
    let ewma = |name: &str| {
        vec![format!(
            r#"warning metadata.annotations["{name}"]: "ewma" is not supported; using round_robin"#
        )]
    };
    let lb = "pingress.io/load-balance";
    let nginx_lb = "nginx.ingress.kubernetes.io/load-balance";
    #[rustfmt::skip]
    let rows: Vec<(&str, Balance, Vec<String>)> = vec![
        ("", RoundRobin, vec![]),
        (r#"pingress.io/load-balance: "round_robin""#, RoundRobin, vec![]),
        (r#"pingress.io/load-balance: "least_request""#, LeastRequests, vec![]),
        (r#"pingress.io/load-balance: "least_conn""#, LeastRequests, vec![]),
        (r#"nginx.ingress.kubernetes.io/load-balance: "round_robin""#, RoundRobin, vec![]),
        (r#"nginx.ingress.kubernetes.io/load-balance: "least_conn""#, LeastRequests, vec![]),
        // pingress.io wins over the twin; the twin is then not read at all.
        (r#"pingress.io/load-balance: "least_request", nginx.ingress.kubernetes.io/load-balance: "ewma""#, LeastRequests, vec![]),
        (r#"pingress.io/load-balance: "round_robin", nginx.ingress.kubernetes.io/load-balance: "least_conn""#, RoundRobin, vec![]),
        // ingress-nginx's ewma: a warning, round robin.
        (r#"nginx.ingress.kubernetes.io/load-balance: "ewma""#, RoundRobin, ewma(nginx_lb)),
        (r#"pingress.io/load-balance: "ewma""#, RoundRobin, ewma(lb)),
        // hash without a key.
        (r#"pingress.io/load-balance: "hash""#, RoundRobin, no_key(lb)),
        (r#"nginx.ingress.kubernetes.io/load-balance: "hash""#, RoundRobin, no_key(nginx_lb)),
        // Invalid values.
        (r#"pingress.io/load-balance: "random""#, RoundRobin, bad(lb, "random")),
        (r#"pingress.io/load-balance: "Round_Robin""#, RoundRobin, bad(lb, "Round_Robin")),
        (r#"pingress.io/load-balance: """#, RoundRobin, bad(lb, "")),
        (r#"nginx.ingress.kubernetes.io/load-balance: "chash""#, RoundRobin, bad(nginx_lb, "chash")),
    ];
    for (annotations, balance, expected) in rows {
        let t = one(annotations);
        assert_eq!(cluster_policy(&t, "web").balance, balance, "{annotations}");
        assert_eq!(diagnostics(&t), expected, "{annotations}");
    }
}

#[test]
fn hash_keys() {
    use Balance::*;
    let header = |name: &str| Hash(HashKey::Header(name.into()));
    let cookie = |name: &str| Hash(HashKey::Cookie(name.into()));
    let client_ip = Hash(HashKey::ClientIp);
    let bad = |value: &str, using: &str| {
        vec![format!(
            r#"error metadata.annotations["pingress.io/hash-by"]: invalid value {value:?}: expected "header:NAME", "cookie:NAME" or "client-ip"; using {using}"#
        )]
    };
    let unsupported = |value: &str| {
        vec![format!(
            r#"error metadata.annotations["nginx.ingress.kubernetes.io/upstream-hash-by"]: unsupported value {value:?}: expected one of $remote_addr, $binary_remote_addr, $http_NAME or $cookie_NAME; using round_robin"#
        )]
    };
    let overridden = |name: &str, choice: &str, key: &str| {
        vec![format!(
            r#"warning metadata.annotations["{name}"]: "{choice}" ignored: {key} is set, which means hash"#
        )]
    };
    #[rustfmt::skip]
    let rows: Vec<(&str, Balance, Vec<String>)> = vec![
        // A key alone implies hash.
        (r#"pingress.io/hash-by: "header:X-User-Id""#, header("x-user-id"), vec![]),
        (r#"pingress.io/hash-by: "cookie:session""#, cookie("session"), vec![]),
        (r#"pingress.io/hash-by: "cookie:Session_ID""#, cookie("Session_ID"), vec![]),
        (r#"pingress.io/hash-by: "client-ip""#, client_ip.clone(), vec![]),
        (r#"pingress.io/load-balance: "hash", pingress.io/hash-by: "client-ip""#, client_ip.clone(), vec![]),
        (r#"nginx.ingress.kubernetes.io/load-balance: "hash", pingress.io/hash-by: "header:x-tenant""#, header("x-tenant"), vec![]),
        // An explicit other policy loses to the key, with a warning.
        (r#"pingress.io/load-balance: "least_request", pingress.io/hash-by: "client-ip""#, client_ip.clone(),
            overridden("pingress.io/load-balance", "least_request", "pingress.io/hash-by")),
        (r#"nginx.ingress.kubernetes.io/load-balance: "round_robin", nginx.ingress.kubernetes.io/upstream-hash-by: "$remote_addr""#, client_ip.clone(),
            overridden("nginx.ingress.kubernetes.io/load-balance", "round_robin", "nginx.ingress.kubernetes.io/upstream-hash-by")),
        // Invalid keys: round robin, or the load-balance choice if one was made.
        (r#"pingress.io/hash-by: "header:""#, RoundRobin, bad("header:", "round_robin")),
        (r#"pingress.io/hash-by: "header:x user""#, RoundRobin, bad("header:x user", "round_robin")),
        (r#"pingress.io/hash-by: "cookie""#, RoundRobin, bad("cookie", "round_robin")),
        (r#"pingress.io/hash-by: "Header:x""#, RoundRobin, bad("Header:x", "round_robin")),
        (r#"pingress.io/hash-by: "client_ip""#, RoundRobin, bad("client_ip", "round_robin")),
        (r#"pingress.io/hash-by: "$remote_addr""#, RoundRobin, bad("$remote_addr", "round_robin")),
        (r#"pingress.io/hash-by: "uri""#, RoundRobin, bad("uri", "round_robin")),
        (r#"pingress.io/load-balance: "least_request", pingress.io/hash-by: "ip""#, LeastRequests, bad("ip", "least_request")),
        // hash with an invalid key: that key's error only.
        (r#"pingress.io/load-balance: "hash", pingress.io/hash-by: "ip""#, RoundRobin, bad("ip", "round_robin")),
        // ingress-nginx's upstream-hash-by: nginx variables.
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "$remote_addr""#, client_ip.clone(), vec![]),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "$binary_remote_addr""#, client_ip.clone(), vec![]),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "$http_x_user_id""#, header("x-user-id"), vec![]),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "$http_X_Api_Key""#, header("x-api-key"), vec![]),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "$cookie_session""#, cookie("session"), vec![]),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "${cookie_session_id}""#, cookie("session_id"), vec![]),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "$request_uri""#, RoundRobin, unsupported("$request_uri")),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "$host$uri""#, RoundRobin, unsupported("$host$uri")),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "$remote_addr$http_x""#, RoundRobin, unsupported("$remote_addr$http_x")),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "remote_addr""#, RoundRobin, unsupported("remote_addr")),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "$http_""#, RoundRobin, unsupported("$http_")),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "$cookie_""#, RoundRobin, unsupported("$cookie_")),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "$arg_user""#, RoundRobin, unsupported("$arg_user")),
        (r#"nginx.ingress.kubernetes.io/upstream-hash-by: "client-ip""#, RoundRobin, unsupported("client-ip")),
        // pingress.io/hash-by wins over the twin, even when invalid.
        (r#"pingress.io/hash-by: "cookie:a", nginx.ingress.kubernetes.io/upstream-hash-by: "$remote_addr""#, cookie("a"), vec![]),
        (r#"pingress.io/hash-by: "ip", nginx.ingress.kubernetes.io/upstream-hash-by: "$remote_addr""#, RoundRobin, bad("ip", "round_robin")),
    ];
    for (annotations, balance, expected) in rows {
        let t = one(annotations);
        assert_eq!(cluster_policy(&t, "web").balance, balance, "{annotations}");
        assert_eq!(diagnostics(&t), expected, "{annotations}");
    }
}

// --- Cluster: health checks -------------------------------------------------------------------

#[test]
fn health_checks() {
    let check = |path: Option<&str>,
                 interval: Option<Duration>,
                 timeout: Option<Duration>,
                 healthy: Option<u32>,
                 unhealthy: Option<u32>| HealthCheck {
        path: path.map(String::from),
        interval,
        timeout,
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
    };
    let none = HealthCheck::default();
    let bad_path = |value: &str| {
        vec![format!(
            r#"error metadata.annotations["pingress.io/health-check-path"]: invalid value {value:?}: expected a path starting with "/", printable ASCII without spaces; using a TCP connect check"#
        )]
    };
    let bad_interval = |value: &str| {
        vec![format!(
            r#"error metadata.annotations["pingress.io/health-check-interval"]: invalid value {value:?}: expected a duration from 1s to 1h, e.g. "60" (seconds), "500ms", "5s" or "2m"; using the gateway's --health-check-interval"#
        )]
    };
    let bad_timeout = |value: &str| {
        vec![format!(
            r#"error metadata.annotations["pingress.io/health-check-timeout"]: invalid value {value:?}: expected a duration from 100ms to 1m, e.g. "60" (seconds), "500ms", "5s" or "2m"; using the gateway's --health-check-timeout"#
        )]
    };
    let bad_threshold = |kind: &str, value: &str| {
        vec![format!(
            r#"error metadata.annotations["pingress.io/health-check-{kind}-threshold"]: invalid value {value:?}: expected an integer from 1 to 10; using the gateway's --health-check-{kind}-threshold"#
        )]
    };
    #[rustfmt::skip]
    let rows: Vec<(&str, HealthCheck, Vec<String>)> = vec![
        ("", none.clone(), vec![]),
        // Path: an HTTP check; absent: a TCP check.
        (r#"pingress.io/health-check-path: "/healthz""#, check(Some("/healthz"), None, None, None, None), vec![]),
        (r#"pingress.io/health-check-path: "/""#, check(Some("/"), None, None, None, None), vec![]),
        (r#"pingress.io/health-check-path: "/status?full=1""#, check(Some("/status?full=1"), None, None, None, None), vec![]),
        (r#"pingress.io/health-check-path: "healthz""#, none.clone(), bad_path("healthz")),
        (r#"pingress.io/health-check-path: "/health z""#, none.clone(), bad_path("/health z")),
        (r#"pingress.io/health-check-path: "/héalth""#, none.clone(), bad_path("/héalth")),
        (r#"pingress.io/health-check-path: "/a\tb""#, none.clone(), bad_path("/a\tb")),
        (r#"pingress.io/health-check-path: """#, none.clone(), bad_path("")),
        // Interval: 1s to 1h.
        (r#"pingress.io/health-check-interval: "10s""#, check(None, secs(10), None, None, None), vec![]),
        (r#"pingress.io/health-check-interval: "1s""#, check(None, secs(1), None, None, None), vec![]),
        (r#"pingress.io/health-check-interval: "60""#, check(None, secs(60), None, None, None), vec![]),
        (r#"pingress.io/health-check-interval: "1h""#, check(None, secs(3600), None, None, None), vec![]),
        (r#"pingress.io/health-check-interval: "500ms""#, none.clone(), bad_interval("500ms")),
        (r#"pingress.io/health-check-interval: "0""#, none.clone(), bad_interval("0")),
        (r#"pingress.io/health-check-interval: "61m""#, none.clone(), bad_interval("61m")),
        (r#"pingress.io/health-check-interval: "often""#, none.clone(), bad_interval("often")),
        // Timeout: 100ms to 1m.
        (r#"pingress.io/health-check-timeout: "100ms""#, check(None, None, ms(100), None, None), vec![]),
        (r#"pingress.io/health-check-timeout: "2""#, check(None, None, secs(2), None, None), vec![]),
        (r#"pingress.io/health-check-timeout: "1m""#, check(None, None, secs(60), None, None), vec![]),
        (r#"pingress.io/health-check-timeout: "99ms""#, none.clone(), bad_timeout("99ms")),
        (r#"pingress.io/health-check-timeout: "61s""#, none.clone(), bad_timeout("61s")),
        // Thresholds: 1 to 10.
        (r#"pingress.io/health-check-healthy-threshold: "1""#, check(None, None, None, Some(1), None), vec![]),
        (r#"pingress.io/health-check-healthy-threshold: "10""#, check(None, None, None, Some(10), None), vec![]),
        (r#"pingress.io/health-check-healthy-threshold: "0""#, none.clone(), bad_threshold("healthy", "0")),
        (r#"pingress.io/health-check-healthy-threshold: "11""#, none.clone(), bad_threshold("healthy", "11")),
        (r#"pingress.io/health-check-unhealthy-threshold: "3""#, check(None, None, None, None, Some(3)), vec![]),
        (r#"pingress.io/health-check-unhealthy-threshold: "x""#, none.clone(), bad_threshold("unhealthy", "x")),
        (r#"pingress.io/health-check-unhealthy-threshold: "-3""#, none.clone(), bad_threshold("unhealthy", "-3")),
        // All at once.
        (r#"pingress.io/health-check-path: "/ready", pingress.io/health-check-interval: "2s", pingress.io/health-check-timeout: "500ms", pingress.io/health-check-healthy-threshold: "2", pingress.io/health-check-unhealthy-threshold: "5""#,
            check(Some("/ready"), secs(2), ms(500), Some(2), Some(5)), vec![]),
        // No ingress-nginx twins: such an annotation is reported as unsupported.
        (r#"nginx.ingress.kubernetes.io/health-check-path: "/healthz""#, none.clone(), vec![
            r#"warning metadata.annotations["nginx.ingress.kubernetes.io/health-check-path"]: ignored: not an ingress-nginx annotation (docs/annotations.md lists them all)"#.to_string(),
        ]),
    ];
    for (annotations, health_check, expected) in rows {
        let t = one(annotations);
        assert_eq!(
            cluster_policy(&t, "web").health_check,
            health_check,
            "{annotations}"
        );
        assert_eq!(diagnostics(&t), expected, "{annotations}");
    }
}

#[test]
fn ssl_redirect_keeps_working() {
    // Parsed with the others (its own table is in tests/tls.rs).
    let t = one(r#"nginx.ingress.kubernetes.io/ssl-redirect: "false", pingress.io/retries: "1""#);
    let route = &t.snapshot.virtual_hosts[0].routes[0];
    assert!(!route.ssl_redirect);
    assert_eq!(route.policy.retry.tries, 2);
    assert_eq!(diagnostics(&t), Vec::<String>::new());
}

// --- Several Ingresses ------------------------------------------------------------------------

const OLD: &str = "2024-01-01T00:00:00Z";
const NEW: &str = "2024-06-01T00:00:00Z";

#[test]
fn cluster_policy_of_a_shared_cluster_comes_from_the_oldest_ingress() {
    let conflict = "warning default/new metadata.annotations: load-balancing and health-check annotations for Service default/web:80 ignored: set by Ingress default/old (oldest Ingress wins)";
    let hash = r#"pingress.io/hash-by: "client-ip""#;
    let least = r#"pingress.io/load-balance: "least_request""#;
    let client_ip = Balance::Hash(HashKey::ClientIp);
    #[rustfmt::skip]
    let rows: Vec<(&str, &str, Balance, Option<&str>, bool)> = vec![
        // (old's annotations, new's annotations, balance, health-check path, warning on new)
        ("", "", Balance::RoundRobin, None, false),
        (hash, hash, client_ip.clone(), None, false),
        // The same policy spelled differently is the same policy.
        (hash, r#"nginx.ingress.kubernetes.io/upstream-hash-by: "$remote_addr""#, client_ip.clone(), None, false),
        (hash, least, client_ip.clone(), None, true),
        ("", least, Balance::RoundRobin, None, true),
        (least, "", Balance::LeastRequests, None, true),
        (r#"pingress.io/health-check-path: "/a""#, r#"pingress.io/health-check-path: "/b""#,
            Balance::RoundRobin, Some("/a"), true),
        (r#"pingress.io/health-check-path: "/a""#, r#"pingress.io/health-check-path: "/a""#,
            Balance::RoundRobin, Some("/a"), false),
        // Route settings differ, cluster settings do not: no warning.
        (r#"pingress.io/retries: "1""#, r#"pingress.io/proxy-read-timeout: "5s""#, Balance::RoundRobin, None, false),
        // An invalid value on the newer one counts as its default.
        (least, r#"pingress.io/load-balance: "least_request", pingress.io/health-check-interval: "0""#,
            Balance::LeastRequests, None, false),
    ];
    for (old, new, balance, path, warned) in rows {
        let case = format!("old {{{old}}}, new {{{new}}}");
        // Listed newest first: the order of the input does not matter.
        let t = run(&[
            ingress("new", NEW, new, "/new", "web"),
            ingress("old", OLD, old, "/old", "web"),
        ]);
        let policy = cluster_policy(&t, "web");
        assert_eq!(policy.balance, balance, "{case}");
        assert_eq!(policy.health_check.path.as_deref(), path, "{case}");
        let diagnostics = all_diagnostics(&t);
        let conflicts: Vec<&String> = diagnostics
            .iter()
            .filter(|d| d.contains("oldest Ingress wins"))
            .collect();
        let expected: &[&str] = if warned { &[conflict] } else { &[] };
        assert_eq!(conflicts, expected, "{case}");
    }
}

#[test]
fn cluster_policy_precedence_and_what_counts_as_using_a_cluster() {
    // Same creation time: the name decides (a before b).
    let t = run(&[
        ingress(
            "b",
            OLD,
            r#"pingress.io/load-balance: "least_request""#,
            "/b",
            "web",
        ),
        ingress("a", OLD, "", "/a", "web"),
    ]);
    assert_eq!(cluster_policy(&t, "web").balance, Balance::RoundRobin);
    assert_eq!(
        all_diagnostics(&t),
        ["warning default/b metadata.annotations: load-balancing and health-check annotations for Service default/web:80 ignored: set by Ingress default/a (oldest Ingress wins)"]
    );

    // A path that lost its conflict does not use the cluster: `second` (older than `third`)
    // routes nothing to web, so `third` sets web's policy.
    let t = run(&[
        ingress("first", "2023-01-01T00:00:00Z", "", "/", "api"),
        ingress(
            "second",
            OLD,
            r#"pingress.io/load-balance: "least_request""#,
            "/",
            "web",
        ),
        ingress(
            "third",
            NEW,
            r#"pingress.io/hash-by: "client-ip""#,
            "/third",
            "web",
        ),
    ]);
    assert_eq!(
        cluster_policy(&t, "web").balance,
        Balance::Hash(HashKey::ClientIp)
    );
    assert_eq!(cluster_policy(&t, "api").balance, Balance::RoundRobin);
    assert_eq!(
        all_diagnostics(&t),
        ["warning default/second spec.rules[0].http.paths[0]: ignored: Prefix / for any host is already routed by Ingress default/first (oldest Ingress wins)"]
    );

    // A default backend uses its cluster too.
    let default_backend = format!(
        "kind: Ingress\nmetadata:\n  name: old\n  creationTimestamp: \"{OLD}\"\n  annotations: {{pingress.io/load-balance: least_request}}\nspec:\n  defaultBackend: {{service: {{name: web, port: {{number: 80}}}}}}"
    );
    let t = run(&[default_backend, ingress("new", NEW, "", "/new", "web")]);
    assert_eq!(cluster_policy(&t, "web").balance, Balance::LeastRequests);
    assert_eq!(
        all_diagnostics(&t),
        ["warning default/new metadata.annotations: load-balancing and health-check annotations for Service default/web:80 ignored: set by Ingress default/old (oldest Ingress wins)"]
    );
}

#[test]
fn route_policy_is_per_ingress() {
    let t = run(&[
        ingress(
            "old",
            OLD,
            r#"pingress.io/proxy-read-timeout: "10s", pingress.io/retries: "4""#,
            "/old",
            "web",
        ),
        ingress(
            "new",
            NEW,
            r#"nginx.ingress.kubernetes.io/proxy-read-timeout: "120""#,
            "/new",
            "web",
        ),
    ]);
    let policies: Vec<(String, RoutePolicy)> = t
        .snapshot
        .virtual_hosts
        .iter()
        .flat_map(|v| &v.routes)
        .map(|r| (r.origin.to_string(), r.policy.clone()))
        .collect();
    let expected = [
        (
            "default/new".to_string(),
            RoutePolicy {
                read_timeout: secs(120),
                ..RoutePolicy::default()
            },
        ),
        (
            "default/old".to_string(),
            RoutePolicy {
                read_timeout: secs(10),
                retry: Retry {
                    tries: 5,
                    ..Retry::default()
                },
                ..RoutePolicy::default()
            },
        ),
    ];
    assert_eq!(policies, expected);
    // Both use cluster web:80; route settings never conflict.
    assert_eq!(all_diagnostics(&t), Vec::<String>::new());
}

#[test]
fn unknown_and_unsupported_annotations_are_reported() {
    let t = one(
        r#"pingress.io/retires: "2", pingress.io/retries: "1", example.com/anything: "x", nginx.ingress.kubernetes.io/mirror-target: "/""#,
    );
    assert_eq!(
        diagnostics(&t),
        [
            r#"warning metadata.annotations["nginx.ingress.kubernetes.io/mirror-target"]: this ingress-nginx annotation is not supported by Pingress and is ignored: request mirroring is not supported (docs/annotations.md)"#,
            r#"warning metadata.annotations["pingress.io/retires"]: unknown pingress.io annotation, ignored (docs/annotations.md lists them all)"#,
        ]
    );
    assert_eq!(route_policy(&t).retry.tries, 2);
}

/// How each kind of ingress-nginx annotation Pingress does not honour is reported, and what it
/// does to the Ingress's routes. Statuses from `catalog.rs`; removal versions from
/// ingress-nginx's Changelog.md.
#[test]
fn annotations_pingress_does_not_honour_are_reported_by_their_catalog_entry() {
    // (annotation, diagnostic, the route answers 503)
    #[rustfmt::skip]
    let rows = [
        (r#"nginx.ingress.kubernetes.io/configuration-snippet: "more_set_headers 'A: b';""#,
            r#"error metadata.annotations["nginx.ingress.kubernetes.io/configuration-snippet"]: refused: raw nginx configuration never runs in Pingress (no annotation can inject configuration); use the annotation or Pingress feature that does what the snippet did"#, false),
        (r#"nginx.ingress.kubernetes.io/secure-backends: "true""#,
            r#"warning metadata.annotations["nginx.ingress.kubernetes.io/secure-backends"]: ignored: ingress-nginx removed this annotation in 0.21.0 (use backend-protocol); it does nothing there either"#, false),
        (r#"nginx.ingress.kubernetes.io/use-forwarded-headers: "true""#,
            r#"warning metadata.annotations["nginx.ingress.kubernetes.io/use-forwarded-headers"]: ignored: this is a ConfigMap key, not an annotation; it does nothing as an annotation on ingress-nginx either (set it in the --configmap ConfigMap)"#, false),
        (r#"nginx.ingress.kubernetes.io/whitelist-source-range: "10.0.0.0/8""#,
            r#"error metadata.annotations["nginx.ingress.kubernetes.io/whitelist-source-range"]: not supported by Pingress: access control annotations are not honoured yet; every route of this Ingress answers 503 rather than serve without it"#, true),
        (r#"nginx.ingress.kubernetes.io/proxy-buffering: "on""#,
            r#"warning metadata.annotations["nginx.ingress.kubernetes.io/proxy-buffering"]: this ingress-nginx annotation is not supported by Pingress and is ignored: responses are streamed (ingress-nginx's default `off`); buffering is not configurable (docs/annotations.md)"#, false),
    ];
    for (annotation, diagnostic, blocked) in rows {
        let t = one(annotation);
        assert_eq!(diagnostics(&t), [diagnostic], "{annotation}");
        let route = &t.snapshot.virtual_hosts[0].routes[0];
        let answers_503 =
            matches!(&route.action, pingress_model::Action::Respond(r) if r.status == 503);
        assert_eq!(answers_503, blocked, "{annotation}");
    }
}
