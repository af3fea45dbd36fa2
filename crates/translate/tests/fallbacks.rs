//! Table tests of the fallbacks, custom errors and retries (`docs/annotations.md`, "Fallbacks,
//! errors and retries"): annotations and ConfigMap keys in, each route's `policy.retry` and
//! `policy.fallback`, the clusters' endpoints and the diagnostics out. Rows name the
//! ingress-nginx source (v1.15.1) they follow.

mod common;

use std::time::Duration;

use common::objects;
use pingress_model::{ClusterId, ErrorPages, Fallback, ObjectRef, Retry, RetryOn, Route};
use pingress_translate::{translate, Options, Translation};

/// Service `web` (one endpoint), `echo` (one endpoint, port 8080 first), `idle` (no endpoint),
/// `errors` (one endpoint), and `vip` with cluster IP 10.96.0.10 and a pod endpoint.
const BASE: &str = r#"
kind: Service
metadata: {name: web}
spec:
  ports: [{name: http, port: 80}]
---
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.0.0.1]}]
---
kind: Service
metadata: {name: echo}
spec:
  ports: [{name: http, port: 8080}, {name: admin, port: 9090}]
---
kind: EndpointSlice
metadata: {name: echo-1, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
ports: [{name: http, port: 8080}, {name: admin, port: 9090}]
endpoints: [{addresses: [10.0.0.2]}]
---
kind: Service
metadata: {name: idle}
spec:
  ports: [{name: http, port: 80}]
---
kind: Service
metadata: {name: errors}
spec:
  ports: [{port: 80}]
---
kind: EndpointSlice
metadata: {name: errors-1, labels: {kubernetes.io/service-name: errors}}
addressType: IPv4
ports: [{port: 80}]
endpoints: [{addresses: [10.0.0.3]}]
---
kind: Service
metadata: {name: vip}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80}]
---
kind: EndpointSlice
metadata: {name: vip-1, labels: {kubernetes.io/service-name: vip}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.0.0.4]}]
---
kind: Service
metadata: {name: headless}
spec:
  clusterIP: None
  ports: [{name: http, port: 80}]
---
kind: EndpointSlice
metadata: {name: headless-1, labels: {kubernetes.io/service-name: headless}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.0.0.5]}]
"#;

/// An Ingress without rules whose default backend is `service:80`: the global default backend.
fn catch_all(service: &str) -> String {
    format!(
        r#"kind: Ingress
metadata: {{name: catch-all, creationTimestamp: "2023-01-01T00:00:00Z"}}
spec:
  ingressClassName: pingress
  defaultBackend: {{service: {{name: {service}, port: {{number: 80}}}}}}"#
    )
}

/// An Ingress `default/NAME` created at `created` routing `/` of any host to `service:80`.
fn ingress(name: &str, created: &str, annotations: &str, service: &str) -> String {
    format!(
        r#"kind: Ingress
metadata:
  name: {name}
  creationTimestamp: "{created}"
  annotations: {{{annotations}}}
spec:
  ingressClassName: pingress
  rules:
  - host: {name}.test
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: {service}, port: {{number: 80}}}}}}}}"#
    )
}

fn configmap(data: &str) -> String {
    format!(
        "kind: ConfigMap\nmetadata: {{name: ingress-nginx-controller, namespace: ingress-nginx}}\ndata: {{{data}}}"
    )
}

/// Translates [`BASE`] with `extra` documents, reading the ConfigMap when one is given.
fn run(extra: &[String]) -> Translation {
    let yaml = std::iter::once(BASE.to_string())
        .chain(extra.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n---\n");
    let options = Options {
        configmap: Some(ObjectRef::new("ingress-nginx", "ingress-nginx-controller")),
        ..Options::default()
    };
    translate(&objects(&yaml), &options)
}

/// The route of `host`.
fn route<'a>(t: &'a Translation, host: &str) -> &'a Route {
    let vhost = t
        .snapshot
        .virtual_hosts
        .iter()
        .find(|v| v.host.to_string() == host)
        .unwrap_or_else(|| panic!("no {host}: {:#?}", t.snapshot));
    &vhost.routes[0]
}

/// `severity object field: message`.
fn diagnostics(t: &Translation) -> Vec<String> {
    t.diagnostics
        .iter()
        .filter(|d| !d.message.contains("ConfigMap does not exist"))
        .map(|d| format!("{} {} {}: {}", d.severity, d.object, d.field, d.message))
        .collect()
}

fn cluster(text: &str) -> ClusterId {
    text.parse().unwrap()
}

/// The tokens' set; `off` is the empty one.
fn on(tokens: &str) -> RetryOn {
    tokens
        .split_whitespace()
        .filter(|t| *t != "off")
        .map(|t| RetryOn::token(t).unwrap())
        .fold(RetryOn::off(), RetryOn::with)
}

const OLD: &str = "2024-01-01T00:00:00Z";
const NEW: &str = "2024-06-01T00:00:00Z";

#[test]
fn proxy_next_upstream_annotations_and_configmap_keys() {
    let nu = "nginx.ingress.kubernetes.io/proxy-next-upstream";
    let tries = "nginx.ingress.kubernetes.io/proxy-next-upstream-tries";
    let timeout = "nginx.ingress.kubernetes.io/proxy-next-upstream-timeout";
    let retry = |tokens: &str, tries: u32, timeout: Option<u64>| Retry {
        on: on(tokens),
        tries,
        timeout: timeout.map(Duration::from_secs),
    };
    // (source, ConfigMap data, annotations, retry policy, diagnostics)
    #[rustfmt::skip]
    let rows: Vec<(&str, &str, String, Retry, Vec<String>)> = vec![
        ("config.go NewDefault: error timeout, 3 tries, no timeout", "", String::new(),
            retry("error timeout", 3, None), vec![]),
        ("e2e annotations/proxy.go \"should build proxy next upstream\"", "",
            format!(r#"{nu}: "error timeout http_502", {tries}: "888888", {timeout}: "999999""#),
            retry("error timeout http_502", 888_888, Some(999_999)), vec![]),
        ("e2e settings/proxy_next_upstream.go: the ConfigMap's values",
            r#"proxy-next-upstream: "timeout http_502", proxy-next-upstream-tries: "5", proxy-next-upstream-timeout: "50""#,
            String::new(), retry("timeout http_502", 5, Some(50)), vec![]),
        ("the annotation replaces the ConfigMap's tokens (GetStringAnnotation)",
            r#"proxy-next-upstream: "timeout http_502""#, format!(r#"{nu}: "error""#),
            retry("error", 3, None), vec![]),
        ("template.go buildNextUpstream: retry-non-idempotent appends non_idempotent",
            r#"retry-non-idempotent: "true""#, format!(r#"{nu}: "error http_503""#),
            retry("error http_503 non_idempotent", 3, None), vec![]),
        ("nginx: `off` anywhere turns everything off, retry-non-idempotent included",
            r#"retry-non-idempotent: "true""#, format!(r#"{nu}: "error off""#),
            retry("off", 3, None), vec![]),
        ("timeout 0 is no limit", r#"proxy-next-upstream-timeout: "20""#, format!(r#"{timeout}: "0""#),
            retry("error timeout", 3, None), vec![]),
        ("an invalid annotation: the ConfigMap's", r#"proxy-next-upstream: "timeout""#,
            format!(r#"{nu}: "error http_418""#), retry("timeout", 3, None),
            vec![format!(r#"error default/a metadata.annotations["{nu}"]: invalid value "error http_418": "http_418" is not one of error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, non_idempotent, off; using timeout"#)]),
        ("an invalid timeout", "", format!(r#"{timeout}: "soon""#), retry("error timeout", 3, None),
            vec![format!(r#"error default/a metadata.annotations["{timeout}"]: invalid value "soon": expected a number of seconds (0: no limit) or a duration such as "500ms"; using no limit"#)]),
        ("invalid ConfigMap values are reported and ingress-nginx's defaults kept",
            r#"proxy-next-upstream: "sometimes", proxy-next-upstream-tries: "-2", proxy-next-upstream-timeout: "x""#,
            String::new(), retry("error timeout", 3, None), vec![
                r#"error ingress-nginx/ingress-nginx-controller data["proxy-next-upstream"]: invalid value "sometimes": expected space-separated tokens of error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, non_idempotent, off; ignored"#.to_string(),
                r#"error ingress-nginx/ingress-nginx-controller data["proxy-next-upstream-timeout"]: invalid value "x": expected a number of seconds (0: no limit); ignored"#.to_string(),
                r#"error ingress-nginx/ingress-nginx-controller data["proxy-next-upstream-tries"]: invalid value "-2": expected a number of attempts, the first included (0: no limit); ignored"#.to_string(),
            ]),
    ];
    for (source, data, annotations, expected, said) in rows {
        let t = run(&[configmap(data), ingress("a", OLD, &annotations, "web")]);
        assert_eq!(route(&t, "a.test").policy.retry, expected, "{source}");
        assert_eq!(diagnostics(&t), said, "{source}");
    }
}

/// `(source, the catch-all Ingress's Service, ConfigMap data, annotations, fallback,
/// diagnostics)`.
type Row<'a> = (&'a str, &'a str, &'a str, String, Fallback, Vec<String>);

#[test]
fn custom_errors_and_default_backends_become_each_routes_fallback() {
    let errors = "nginx.ingress.kubernetes.io/custom-http-errors";
    let backend = "nginx.ingress.kubernetes.io/default-backend";
    let disable = "nginx.ingress.kubernetes.io/disable-proxy-intercept-errors";
    let pages = |codes: &[u16], backend: Option<&str>, intercept: bool| {
        Some(ErrorPages {
            codes: codes.to_vec(),
            backend: backend.map(cluster),
            intercept,
        })
    };
    let echo = Some(cluster("default/echo:8080"));
    let global = Some("default/errors:80");
    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        ("nothing set", "errors", "", String::new(), Fallback::default(), vec![]),
        ("e2e customhttperrors.go: the annotation's codes go to the global default backend", "errors", "",
            format!(r#"{errors}: "404,500""#),
            Fallback { no_endpoints: None, errors: pages(&[404, 500], global, true) }, vec![]),
        ("customhttperrors/main.go trims items: \"404, 503\"", "errors", "", format!(r#"{errors}: "503, 404, 503""#),
            Fallback { no_endpoints: None, errors: pages(&[404, 503], global, true) }, vec![]),
        ("no global default backend: the gateway answers 404 (the built-in one)", "", "",
            format!(r#"{errors}: "404""#),
            Fallback { no_endpoints: None, errors: pages(&[404], None, true) }, vec![]),
        ("a global default backend without endpoints: the built-in one (nginx.go DefaultEndpoint)", "idle", "",
            format!(r#"{errors}: "404""#),
            Fallback { no_endpoints: None, errors: pages(&[404], None, true) }, vec![]),
        ("e2e default_backend.go: default-backend, its first port", "errors", "", format!(r#"{backend}: "echo""#),
            Fallback { no_endpoints: echo.clone(), errors: None }, vec![]),
        ("e2e customhttperrors.go: with default-backend, the annotation's codes go there", "errors", "",
            format!(r#"{errors}: "503", {backend}: "echo""#),
            Fallback { no_endpoints: echo.clone(), errors: pages(&[503], Some("default/echo:8080"), true) }, vec![]),
        ("a default-backend without endpoints is not used (no custom-default-backend upstream)", "errors", "",
            format!(r#"{errors}: "503", {backend}: "idle""#),
            Fallback { no_endpoints: None, errors: pages(&[503], global, true) },
            vec![format!(r#"warning default/a metadata.annotations["{backend}"]: the default backend default/idle:80 has no ready endpoint; it is not used until it has one"#)]),
        ("a default-backend that does not exist is ignored", "errors", "", format!(r#"{backend}: "nope""#),
            Fallback::default(),
            vec![format!(r#"error default/a metadata.annotations["{backend}"]: Service default/nope not found, or it has no port; no default backend"#)]),
        ("default-backend takes a Service name, not NAMESPACE/NAME (ValidateServiceName)", "errors", "",
            format!(r#"{backend}: "other/echo""#), Fallback::default(),
            vec![format!(r#"error default/a metadata.annotations["{backend}"]: invalid name "other/echo": expected at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit (a Service of the Ingress's namespace); no default backend"#)]),
        ("the ConfigMap's list applies to Ingresses without the annotation", "errors", r#"custom-http-errors: "404,503""#,
            String::new(), Fallback { no_endpoints: None, errors: pages(&[404, 503], global, true) }, vec![]),
        ("the annotation replaces the ConfigMap's list (PR #3344: 418 cancels it)", "errors", r#"custom-http-errors: "404""#,
            format!(r#"{errors}: "418""#), Fallback { no_endpoints: None, errors: pages(&[418], global, true) }, vec![]),
        ("the ConfigMap's list goes to the global backend even with default-backend", "errors", r#"custom-http-errors: "404""#,
            format!(r#"{backend}: "echo""#), Fallback { no_endpoints: echo.clone(), errors: pages(&[404], global, true) }, vec![]),
        ("an invalid list: reported, the ConfigMap's applies (ingress-nginx rejects the Ingress)", "errors",
            r#"custom-http-errors: "500""#, format!(r#"{errors}: "404,600""#),
            Fallback { no_endpoints: None, errors: pages(&[500], global, true) },
            vec![format!(r#"error default/a metadata.annotations["{errors}"]: invalid value "404,600": "600" is not a status from 400 to 599; expected a comma-separated list such as "404,503"; using the ConfigMap's custom-http-errors"#)]),
        ("the annotation's validator allows 4xx and 5xx only", "errors", "", format!(r#"{errors}: "302""#),
            Fallback::default(),
            vec![format!(r#"error default/a metadata.annotations["{errors}"]: invalid value "302": "302" is not a status from 400 to 599; expected a comma-separated list such as "404,503"; using no custom errors"#)]),
        // nginx.tmpl: `proxy_intercept_errors on` at the location unless disabled; inherited
        // from the http level (the ConfigMap's list, unless its key disables it) otherwise.
        ("e2e disableproxyintercepterrors.go: disabled", "errors", "",
            format!(r#"{errors}: "404", {disable}: "true", {backend}: "echo""#),
            Fallback { no_endpoints: echo.clone(), errors: pages(&[404], Some("default/echo:8080"), false) }, vec![]),
        ("disabled, but the ConfigMap's list switches it on at the http level", "errors", r#"custom-http-errors: "500""#,
            format!(r#"{errors}: "404", {disable}: "true""#),
            Fallback { no_endpoints: None, errors: pages(&[404], global, true) }, vec![]),
        ("disabled in the annotation and in the ConfigMap", "errors",
            r#"custom-http-errors: "500", disable-proxy-intercept-errors: "true""#,
            format!(r#"{errors}: "404", {disable}: "true""#),
            Fallback { no_endpoints: None, errors: pages(&[404], global, false) }, vec![]),
        ("the ConfigMap disables its own list", "errors",
            r#"custom-http-errors: "500", disable-proxy-intercept-errors: "true""#, String::new(),
            Fallback { no_endpoints: None, errors: pages(&[500], global, false) }, vec![]),
        ("the ConfigMap's disable does not reach an annotation's list", "errors",
            r#"disable-proxy-intercept-errors: "true""#, format!(r#"{errors}: "404""#),
            Fallback { no_endpoints: None, errors: pages(&[404], global, true) }, vec![]),
    ];
    for (source, default_service, data, annotations, expected, said) in rows {
        let mut extra = vec![configmap(data), ingress("a", OLD, &annotations, "web")];
        if !default_service.is_empty() {
            extra.push(catch_all(default_service));
        }
        let t = run(&extra);
        let got = &route(&t, "a.test").policy.fallback;
        assert_eq!(got, &expected, "{source}");
        assert_eq!(diagnostics(&t), said, "{source}");
        for id in [
            &got.no_endpoints,
            &got.errors.as_ref().and_then(|e| e.backend.clone()),
        ]
        .into_iter()
        .flatten()
        {
            assert!(
                t.snapshot.clusters.contains_key(id),
                "{source}: {id} defined"
            );
        }
    }
}

#[test]
fn configmap_custom_http_errors_keep_statuses_from_300_to_599() {
    // template/configmap.go: non-integers are logged and dropped, filterErrors keeps 300..=599.
    let t = run(&[
        configmap(r#"custom-http-errors: "404, 302,abc,600,503,404""#),
        ingress("a", OLD, "", "web"),
        catch_all("errors"),
    ]);
    let errors = route(&t, "a.test").policy.fallback.errors.clone().unwrap();
    assert_eq!(errors.codes, [302, 404, 503]);
    let field = r#"error ingress-nginx/ingress-nginx-controller data["custom-http-errors"]"#;
    assert_eq!(
        diagnostics(&t),
        [
            format!(
                r#"{field}: invalid status "600": expected a status from 300 to 599; left out"#
            ),
            format!(
                r#"{field}: invalid status "abc": expected a status from 300 to 599; left out"#
            ),
        ]
    );
}

#[test]
fn service_upstream_makes_the_cluster_ip_the_one_endpoint() {
    let su = "nginx.ingress.kubernetes.io/service-upstream";
    let endpoints = |t: &Translation, id: &str| -> Vec<String> {
        t.snapshot.clusters[&cluster(id)]
            .endpoints
            .iter()
            .map(|e| e.addr.to_string())
            .collect()
    };
    // (source, ConfigMap data, annotations, Service, endpoints, warned)
    #[rustfmt::skip]
    let rows: [(&str, &str, String, &str, &str, bool); 6] = [
        ("e2e serviceupstream.go: the annotation", "", format!(r#"{su}: "true""#), "vip", "10.96.0.10:80", false),
        ("unset: the pods", "", String::new(), "vip", "10.0.0.4:8080", false),
        ("e2e serviceupstream.go: the ConfigMap", r#"service-upstream: "true""#, String::new(), "vip", "10.96.0.10:80", false),
        ("e2e serviceupstream.go: the ConfigMap, disabled by the annotation", r#"service-upstream: "true""#,
            format!(r#"{su}: "false""#), "vip", "10.0.0.4:8080", false),
        ("a headless Service: its endpoints (getServiceClusterEndpoint fails)", "", format!(r#"{su}: "true""#),
            "headless", "10.0.0.5:8080", true),
        ("a Service without a cluster IP: its endpoints", "", format!(r#"{su}: "true""#), "web", "10.0.0.1:8080", true),
    ];
    for (source, data, annotations, service, expected, warned) in rows {
        let t = run(&[configmap(data), ingress("a", OLD, &annotations, service)]);
        let id = format!("default/{service}:80");
        assert_eq!(endpoints(&t, &id), [expected], "{source}");
        let warning = format!("warning default/{service} spec.clusterIP: service-upstream asked for, but the Service has no cluster IP (headless); its endpoints are used");
        let expected: &[String] = if warned { &[warning] } else { &[] };
        assert_eq!(diagnostics(&t), expected, "{source}");
    }
    // controller.go createUpstreams: the first Ingress to use the Service port decides.
    let t = run(&[
        configmap(""),
        ingress("new", NEW, &format!(r#"{su}: "true""#), "vip"),
        ingress("old", OLD, "", "vip"),
    ]);
    assert_eq!(endpoints(&t, "default/vip:80"), ["10.0.0.4:8080"]);
    assert_eq!(
        diagnostics(&t),
        ["warning default/new metadata.annotations: service-upstream true for Service default/vip:80 ignored: Ingress default/old decides it (oldest Ingress wins)"]
    );
}
