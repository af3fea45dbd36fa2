//! End-to-end: ingress-nginx's fallbacks, custom errors and retries — `default-backend`,
//! `custom-http-errors`, `disable-proxy-intercept-errors`, `proxy-next-upstream*` and
//! `service-upstream`, as annotations and as ConfigMap keys. The real binary, real backends on
//! loopback that echo what reached them; each test names the ingress-nginx e2e test it follows
//! (`test/e2e/annotations/*.go`, `test/e2e/settings/*.go` of v1.15.1), and asserts both what
//! each backend received and what the client got.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pingress_testkit::gateway::{yaml, GatewayProcess};
use pingress_testkit::{free_port, wait_until, Backend, Behaviour, Connection, Response};

const BIN: &str = env!("CARGO_BIN_EXE_pingress");
const CONFIGMAP: &str = "ingress-nginx/ingress-nginx-controller";

fn backend(name: &str, ip: &str, behaviour: Behaviour) -> Backend {
    Backend::start(name, ip, behaviour).expect("start backend")
}

/// An address where nothing listens: connections are refused.
fn refused() -> SocketAddr {
    format!("127.0.0.1:{}", free_port()).parse().unwrap()
}

/// An Ingress `name` for `host` routing each `(path, service)` (Prefix, port 80), with
/// `annotations`.
fn ingress(name: &str, host: &str, paths: &[(&str, &str)], annotations: &[(&str, &str)]) -> String {
    let paths: Vec<yaml::Path> = paths.iter().map(|(p, s)| (*p, "Prefix", *s)).collect();
    let plain = yaml::ingress(name, &[(host, &paths)]);
    if annotations.is_empty() {
        plain
    } else {
        yaml::annotated(&plain, annotations)
    }
}

/// An Ingress without rules whose `spec.defaultBackend` is `service:80`: Pingress's default
/// backend, which plays ingress-nginx's `--default-backend-service`.
fn catch_all(service: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: catch-all\nspec:\n  ingressClassName: pingress\n  defaultBackend:\n    service:\n      name: {service}\n      port:\n        number: 80\n---\n"
    )
}

fn configmap(data: &[(&str, &str)]) -> String {
    let mut out = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ingress-nginx-controller\n  namespace: ingress-nginx\ndata:\n",
    );
    for (k, v) in data {
        out.push_str(&format!("  {k}: \"{v}\"\n"));
    }
    if data.is_empty() {
        out.push_str("  {}\n");
    }
    out
}

/// One request on a fresh connection.
fn send(
    gw: &GatewayProcess,
    method: &str,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut c = Connection::open(gw.http).unwrap();
    let r = if method == "POST" {
        c.request_with_body(method, host, target, headers, b"body")
    } else {
        c.request(method, host, target, headers)
    };
    r.unwrap_or_else(|e| panic!("{method} {host}{target}: {e}; log:\n{}", gw.log_text()))
}

fn get(gw: &GatewayProcess, host: &str, target: &str) -> Response {
    send(gw, "GET", host, target, &[])
}

/// Waits until `check` holds for a GET of `host` `target` (a configuration change applied).
fn wait_for(
    gw: &GatewayProcess,
    host: &str,
    target: &str,
    what: &str,
    check: impl Fn(&Response) -> bool,
) {
    assert!(
        wait_until(Duration::from_secs(10), || check(&get(gw, host, target))),
        "{what}: last answer {:?}; log:\n{}",
        get(gw, host, target),
        gw.log_text()
    );
}

/// `GET https://HOST/TARGET` over HTTP/2 with curl: (status, HTTP version, headers and body).
fn curl_h2(gw: &GatewayProcess, host: &str, target: &str) -> (u16, String, String) {
    let port = gw.https.port();
    let output = std::process::Command::new("curl")
        .args(["-sS", "-k", "-i", "--http2", "--max-time", "10"])
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_code} %{http_version}"])
        .arg(format!("https://{host}:{port}{target}"))
        .output()
        .expect("curl runs (scripts/install-deps --test installs it)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (body, last) = text.rsplit_once('\n').unwrap();
    let (code, version) = last.split_once(' ').unwrap();
    (code.parse().unwrap(), version.to_string(), body.to_string())
}

/// The echo body's header lines as `(name, value)`, for the rows below.
fn echoed<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.body_field(&format!("header:{name}"))
}

#[test]
fn default_backend_serves_a_route_whose_service_has_no_ready_endpoint() {
    let echo = backend("echo", "127.0.0.2", Behaviour::Echo);
    let web = backend("web", "127.0.0.3", Behaviour::Echo);
    let objects = [
        yaml::service("echo", &[echo.addr()]),
        yaml::service("empty", &[]),
        yaml::service("idle", &[]),
        // e2e annotations/default_backend.go: the route's Service does not even exist.
        ingress(
            "default-backend",
            "default-backend",
            &[("/", "invalid")],
            &[("nginx.ingress.kubernetes.io/default-backend", "echo")],
        ),
        ingress(
            "empty",
            "empty.test",
            &[("/", "empty")],
            &[("nginx.ingress.kubernetes.io/default-backend", "echo")],
        ),
        ingress("plain", "plain.test", &[("/", "empty")], &[]),
        ingress(
            "idle",
            "idle.test",
            &[("/", "empty")],
            &[("nginx.ingress.kubernetes.io/default-backend", "idle")],
        ),
    ]
    .concat();
    let gw = GatewayProcess::start(BIN, &[("objects.yaml", &objects)], &[]);

    // "should use a custom default backend as upstream".
    let r = send(
        &gw,
        "GET",
        "default-backend",
        "/alma/armud",
        &[
            ("x-request-id", "something-unique"),
            ("accept", "text/html"),
        ],
    );
    assert_eq!((r.status, r.backend()), (200, Some("echo")), "{r:?}");
    // (header, value) — the e2e test's four, then the rest of nginx.tmpl's custom-default-backend
    // block; the path is the request's (no rewrite to `/`).
    let rows = [
        ("x-code", Some("503")),
        ("x-ingress-name", Some("default-backend")),
        ("x-service-name", Some("invalid")),
        ("x-request-id", Some("something-unique")),
        ("x-namespace", Some("default")),
        ("x-service-port", Some("80")),
        ("x-format", Some("text/html")),
        ("x-forwarded-for", Some("127.0.0.1")),
        ("host", Some("default-backend")),
        ("x-original-uri", None),
    ];
    for (name, value) in rows {
        assert_eq!(echoed(&r, name), value, "{name}: {}", r.body);
    }
    assert_eq!(r.body_field("path"), Some("/alma/armud"));
    let post = send(
        &gw,
        "POST",
        "empty.test",
        "/form",
        &[("x-format", "spoofed")],
    );
    assert_eq!(
        post.backend(),
        Some("echo"),
        "a Service without endpoints: {post:?}"
    );
    assert_eq!(
        (
            post.body_field("method"),
            post.body_field("path"),
            post.body_field("body-bytes")
        ),
        (Some("POST"), Some("/form"), Some("4"))
    );
    assert_eq!(echoed(&post, "x-service-name"), Some("empty"));
    assert_eq!(echoed(&post, "x-format"), None, "no Accept: no X-Format");

    // Without the annotation, or with a default backend that has no endpoint itself: 503
    // (ingress-nginx creates no custom default backend upstream without endpoints).
    assert_eq!(get(&gw, "plain.test", "/").status, 503);
    assert_eq!(get(&gw, "idle.test", "/").status, 503);
    assert!(
        gw.log_text()
            .contains("the default backend default/idle:80 has no ready endpoint"),
        "reported: {}",
        gw.log_text()
    );

    // Once the route's Service has an endpoint, it serves again.
    gw.write(
        "objects.yaml",
        &objects.replace(
            &yaml::service("empty", &[]),
            &yaml::service("empty", &[web.addr()]),
        ),
    );
    wait_for(&gw, "empty.test", "/", "the Service got an endpoint", |r| {
        r.backend() == Some("web")
    });
    let echoed_before = echo.requests();
    let r = get(&gw, "empty.test", "/x");
    assert_eq!(
        (r.status, r.backend(), echoed(&r, "x-code")),
        (200, Some("web"), None)
    );
    assert_eq!(echo.requests(), echoed_before);
}

#[test]
fn custom_http_errors_are_answered_by_the_error_backend() {
    let notfound = backend("notfound", "127.0.0.2", Behaviour::Status(404));
    let fails = backend("fails", "127.0.0.3", Behaviour::Status(500));
    let unavailable = backend("unavailable", "127.0.0.4", Behaviour::Status(503));
    let errors = backend("errors", "127.0.0.5", Behaviour::Echo);
    let from_annotation = backend("from-annotation", "127.0.0.6", Behaviour::Echo);
    let host = "customerrors.foo.com";
    let services = [
        yaml::service("notfound", &[notfound.addr()]),
        yaml::service("fails", &[fails.addr()]),
        yaml::service("unavailable", &[unavailable.addr()]),
        yaml::service("errors", &[errors.addr()]),
        yaml::service("from-annotation", &[from_annotation.addr()]),
        yaml::service("refused", &[refused()]),
        yaml::service("empty", &[]),
        catch_all("errors"),
    ]
    .concat();
    let paths = [
        ("/missing", "notfound"),
        ("/broken", "fails"),
        ("/unavailable", "unavailable"),
        ("/refused", "refused"),
        ("/empty", "empty"),
    ];
    let errors_ingress =
        |annotations: &[(&str, &str)]| ingress("customerrors", host, &paths, annotations);
    let gw = GatewayProcess::start(
        BIN,
        &[
            ("services.yaml", &services),
            (
                "ingress.yaml",
                &errors_ingress(&[("nginx.ingress.kubernetes.io/custom-http-errors", "404,500")]),
            ),
        ],
        &[],
    );

    // e2e customhttperrors.go "configures Nginx correctly": 404 and 500 go to the global
    // default backend (upstream-default-backend), which answers `/` with X-Code.
    let r = send(
        &gw,
        "GET",
        host,
        "/missing/page?lang=en",
        &[("x-request-id", "abc"), ("accept", "application/json")],
    );
    assert_eq!((r.status, r.backend()), (200, Some("errors")), "{r:?}");
    assert_eq!(
        r.body_field("path"),
        Some("/?lang=en"),
        "rewrite (.*) / break"
    );
    // (header, value) — nginx.tmpl's CUSTOM_ERRORS block.
    let rows = [
        ("x-code", "404"),
        ("x-format", "application/json"),
        ("x-original-uri", "/missing/page?lang=en"),
        ("x-namespace", "default"),
        ("x-ingress-name", "customerrors"),
        ("x-service-name", "notfound"),
        ("x-service-port", "80"),
        ("x-request-id", "abc"),
        ("x-forwarded-for", "127.0.0.1"),
        ("host", host),
    ];
    for (name, value) in rows {
        assert_eq!(echoed(&r, name), Some(value), "{name}: {}", r.body);
    }
    assert_eq!(notfound.requests(), 1, "the upstream was asked once");
    // Error pages travel over pooled keep-alive connections, as any request does.
    for _ in 0..5 {
        assert_eq!(get(&gw, host, "/missing").backend(), Some("errors"));
    }
    assert!(
        errors.connections() < errors.requests(),
        "{} connections for {} requests",
        errors.connections(),
        errors.requests()
    );
    // Over HTTP/2 the same (curl over TLS, the gateway's self-signed certificate).
    let (status, version, text) = curl_h2(&gw, host, "/missing/h2?x=1");
    assert_eq!((status, version.as_str()), (200, "2"), "{text}");
    for line in [
        "backend=errors",
        "path=/?x=1",
        "header:x-code=404",
        "header:x-original-uri=/missing/h2?x=1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    let r = get(&gw, host, "/broken");
    assert_eq!(
        (r.backend(), echoed(&r, "x-code")),
        (Some("errors"), Some("500"))
    );
    let r = get(&gw, host, "/unavailable");
    assert_eq!(
        (r.status, r.backend()),
        (503, Some("unavailable")),
        "503 is not listed: passed on"
    );
    assert_eq!(get(&gw, host, "/refused").status, 502, "502 is not listed");
    // The method and body go to the error backend too (nginx keeps both in error_page).
    let post = send(&gw, "POST", host, "/missing", &[]);
    assert_eq!(
        (
            post.backend(),
            post.body_field("method"),
            post.body_field("path"),
            post.body_field("body-bytes")
        ),
        (Some("errors"), Some("POST"), Some("/"), Some("4"))
    );

    // "updating configuration when only custom-http-error value changes": now 503 only —
    // and the gateway's own 502 and 503.
    gw.write(
        "ingress.yaml",
        &errors_ingress(&[("nginx.ingress.kubernetes.io/custom-http-errors", "503,502")]),
    );
    wait_for(&gw, host, "/missing", "the list changed", |r| {
        r.status == 404
    });
    assert_eq!(get(&gw, host, "/missing").backend(), Some("notfound"));
    assert_eq!(get(&gw, host, "/broken").status, 500);
    let r = get(&gw, host, "/unavailable");
    assert_eq!(
        (r.backend(), echoed(&r, "x-code")),
        (Some("errors"), Some("503"))
    );
    let r = get(&gw, host, "/refused/x");
    assert_eq!(
        (
            r.status,
            r.backend(),
            echoed(&r, "x-code"),
            echoed(&r, "x-service-name")
        ),
        (200, Some("errors"), Some("502"), Some("refused")),
        "the gateway's own 502, as nginx's error_page catches it: {r:?}"
    );
    let r = get(&gw, host, "/empty/x?a=1");
    assert_eq!(
        (r.backend(), echoed(&r, "x-code"), r.body_field("path")),
        (Some("errors"), Some("503"), Some("/?a=1")),
        "no endpoint and no default-backend: the error page for 503"
    );

    // "using the custom default-backend from annotation for upstream".
    gw.write(
        "ingress.yaml",
        &errors_ingress(&[
            ("nginx.ingress.kubernetes.io/custom-http-errors", "503,502"),
            (
                "nginx.ingress.kubernetes.io/default-backend",
                "from-annotation",
            ),
        ]),
    );
    wait_for(&gw, host, "/unavailable", "default-backend added", |r| {
        r.backend() == Some("from-annotation")
    });
    let errors_before = errors.requests();
    let r = get(&gw, host, "/unavailable");
    assert_eq!(
        (r.status, echoed(&r, "x-code"), r.body_field("path")),
        (200, Some("503"), Some("/"))
    );
    // A Service without endpoints is now served by the default backend itself, path kept.
    let r = get(&gw, host, "/empty/x");
    assert_eq!(
        (r.backend(), echoed(&r, "x-code"), r.body_field("path")),
        (Some("from-annotation"), Some("503"), Some("/empty/x"))
    );
    assert_eq!(
        errors.requests(),
        errors_before,
        "the global backend is not asked"
    );

    // Without a global default backend, ingress-nginx's built-in one answers 404.
    gw.write(
        "ingress.yaml",
        &errors_ingress(&[("nginx.ingress.kubernetes.io/custom-http-errors", "503")]),
    );
    gw.write("services.yaml", &services.replace(&catch_all("errors"), ""));
    wait_for(&gw, host, "/unavailable", "the catch-all is gone", |r| {
        r.status == 404
    });
    let errors_before = errors.requests();
    let r = get(&gw, host, "/unavailable");
    assert_eq!((r.backend(), r.body.as_str()), (None, "404 Not Found\n"));
    assert_eq!(errors.requests(), errors_before);
}

#[test]
fn the_configmap_list_applies_to_every_ingress_and_an_annotation_replaces_it() {
    let notfound = backend("notfound", "127.0.0.2", Behaviour::Status(404));
    let errors = backend("errors", "127.0.0.3", Behaviour::Echo);
    let own = backend("own", "127.0.0.4", Behaviour::Echo);
    let objects = [
        yaml::service("notfound", &[notfound.addr()]),
        yaml::service("errors", &[errors.addr()]),
        yaml::service("own", &[own.addr()]),
        catch_all("errors"),
        ingress("plain", "plain.test", &[("/", "notfound")], &[]),
        // PR #3344's trick: an unused code cancels the global list for this Ingress.
        ingress(
            "cancelled",
            "cancelled.test",
            &[("/", "notfound")],
            &[("nginx.ingress.kubernetes.io/custom-http-errors", "418")],
        ),
        // The ConfigMap's list goes to the global default backend, even with default-backend.
        ingress(
            "own",
            "own.test",
            &[("/", "notfound")],
            &[("nginx.ingress.kubernetes.io/default-backend", "own")],
        ),
    ]
    .concat();
    let gw = GatewayProcess::start(
        BIN,
        &[
            ("objects.yaml", &objects),
            (
                "configmap.yaml",
                &configmap(&[("custom-http-errors", "404,x,700")]),
            ),
        ],
        &["--configmap", CONFIGMAP],
    );
    let r = get(&gw, "plain.test", "/a");
    assert_eq!(
        (r.status, r.backend(), echoed(&r, "x-code")),
        (200, Some("errors"), Some("404")),
        "{}",
        gw.log_text()
    );
    let r = get(&gw, "cancelled.test", "/a");
    assert_eq!((r.status, r.backend()), (404, Some("notfound")));
    let r = get(&gw, "own.test", "/a");
    assert_eq!(
        (r.backend(), echoed(&r, "x-code")),
        (Some("errors"), Some("404"))
    );
    assert_eq!(own.requests(), 0);
    let log = gw.log_text();
    for item in ["\"x\"", "\"700\""] {
        assert!(
            log.contains(&format!(
                "invalid status {item}: expected a status from 300 to 599"
            )),
            "template/configmap.go filterErrors drops {item}: {log}"
        );
    }

    // The ConfigMap's disable-proxy-intercept-errors switches the global interception off.
    gw.write(
        "configmap.yaml",
        &configmap(&[
            ("custom-http-errors", "404"),
            ("disable-proxy-intercept-errors", "true"),
        ]),
    );
    wait_for(&gw, "plain.test", "/a", "interception off", |r| {
        r.status == 404
    });
    assert_eq!(get(&gw, "plain.test", "/a").backend(), Some("notfound"));
}

#[test]
fn disable_proxy_intercept_errors_passes_upstream_statuses_on() {
    let httpbun = backend("httpbun", "127.0.0.2", Behaviour::Status(404));
    let echo = backend("echo", "127.0.0.3", Behaviour::Echo);
    let host = "pie.foo.com";
    let services = [
        yaml::service("httpbun", &[httpbun.addr()]),
        yaml::service("echo", &[echo.addr()]),
        yaml::service("refused", &[refused()]),
    ]
    .concat();
    let pie = |disable: &str| {
        ingress(
            host,
            host,
            &[("/", "httpbun"), ("/down", "refused")],
            &[
                ("nginx.ingress.kubernetes.io/custom-http-errors", "404,502"),
                (
                    "nginx.ingress.kubernetes.io/disable-proxy-intercept-errors",
                    disable,
                ),
                ("nginx.ingress.kubernetes.io/default-backend", "echo"),
            ],
        )
    };
    let gw = GatewayProcess::start(
        BIN,
        &[("services.yaml", &services), ("pie.yaml", &pie("true"))],
        &[],
    );
    let request_id = [("x-request-id", "proxy_intercept_errors")];
    // e2e disableproxyintercepterrors.go "client test to check response - with intercept
    // disabled": the upstream's 404 reaches the client.
    let r = send(&gw, "GET", host, "/status/404", &request_id);
    assert_eq!((r.status, r.backend()), (404, Some("httpbun")), "{r:?}");
    assert_eq!(echo.requests(), 0);
    // The gateway's own errors are still replaced (error_page stays without intercepting).
    let r = get(&gw, host, "/down");
    assert_eq!(
        (r.backend(), echoed(&r, "x-code")),
        (Some("echo"), Some("502"))
    );

    // "... with intercept enabled".
    gw.write("pie.yaml", &pie("false"));
    wait_for(&gw, host, "/status/404", "interception on", |r| {
        r.status == 200
    });
    let r = send(&gw, "GET", host, "/status/404", &request_id);
    assert_eq!((r.status, r.backend()), (200, Some("echo")));
    let rows = [
        ("x-code", "404"),
        ("x-ingress-name", host),
        ("x-service-name", "httpbun"),
        ("x-request-id", "proxy_intercept_errors"),
    ];
    for (name, value) in rows {
        assert_eq!(echoed(&r, name), Some(value), "{name}: {}", r.body);
    }
}

/// How the requests of one host ended: statuses by the backend that answered.
fn tally(gw: &GatewayProcess, method: &str, host: &str, n: usize) -> Vec<(u16, Option<String>)> {
    (0..n)
        .map(|i| {
            let r = send(gw, method, host, &format!("/r{i}"), &[]);
            (r.status, r.backend().map(str::to_string))
        })
        .collect()
}

fn count(results: &[(u16, Option<String>)], status: u16) -> usize {
    results.iter().filter(|(s, _)| *s == status).count()
}

#[test]
fn proxy_next_upstream_retries_what_it_names_and_posts_only_when_told() {
    let closing = backend("closing", "127.0.0.2", Behaviour::Close);
    let ok = backend("ok", "127.0.0.3", Behaviour::Echo);
    let bad = backend("bad", "127.0.0.4", Behaviour::Status(502));
    let ok2 = backend("ok2", "127.0.0.5", Behaviour::Echo);
    let bad3 = backend("bad3", "127.0.0.6", Behaviour::Status(502));
    let ok3 = backend("ok3", "127.0.0.7", Behaviour::Echo);
    let closing4 = backend("closing4", "127.0.0.8", Behaviour::Close);
    let ok4 = backend("ok4", "127.0.0.9", Behaviour::Echo);
    let ok5 = backend("ok5", "127.0.0.10", Behaviour::Echo);
    let objects = [
        yaml::service("default", &[closing.addr(), ok.addr()]),
        yaml::service("status", &[bad.addr(), ok2.addr()]),
        yaml::service("nonidem", &[bad3.addr(), ok3.addr()]),
        yaml::service("once", &[closing4.addr(), ok4.addr()]),
        yaml::service("off", &[refused(), ok5.addr()]),
        ingress("default", "default.test", &[("/", "default")], &[]),
        ingress(
            "status",
            "status.test",
            &[("/", "status")],
            &[(
                "nginx.ingress.kubernetes.io/proxy-next-upstream",
                "error timeout http_502",
            )],
        ),
        ingress(
            "nonidem",
            "nonidem.test",
            &[("/", "nonidem")],
            &[
                (
                    "nginx.ingress.kubernetes.io/proxy-next-upstream",
                    "error timeout http_502 non_idempotent",
                ),
                ("nginx.ingress.kubernetes.io/proxy-body-size", "100k"),
            ],
        ),
        ingress(
            "once",
            "once.test",
            &[("/", "once")],
            &[
                ("nginx.ingress.kubernetes.io/proxy-next-upstream-tries", "3"),
                // pingress.io/retries is the twin, counted in retries, and wins.
                ("pingress.io/retries", "0"),
            ],
        ),
        ingress(
            "off",
            "off.test",
            &[("/", "off")],
            &[("nginx.ingress.kubernetes.io/proxy-next-upstream", "off")],
        ),
    ]
    .concat();
    let gw = GatewayProcess::start(BIN, &[("objects.yaml", &objects)], &["--eject-after", "0"]);

    // ingress-nginx's default `error timeout` with 3 tries: a GET whose connection closed
    // after it was sent goes to the other endpoint; a POST does not (it may have run).
    let gets = tally(&gw, "GET", "default.test", 10);
    assert_eq!(count(&gets, 200), 10, "{gets:?}");
    let posts_before = (closing.requests(), ok.requests());
    let posts = tally(&gw, "POST", "default.test", 10);
    let failed = count(&posts, 502);
    assert!(
        failed >= 3,
        "POSTs that reached the closing endpoint failed: {posts:?}"
    );
    assert_eq!(
        (
            closing.requests() - posts_before.0,
            ok.requests() - posts_before.1
        ),
        (failed, 10 - failed),
        "no POST was sent twice"
    );

    // e2e annotations/proxy.go "should build proxy next upstream": `error timeout http_502`.
    // The 502 is dropped unseen and the GET answered by the other endpoint.
    let gets = tally(&gw, "GET", "status.test", 10);
    assert_eq!(count(&gets, 200), 10, "{gets:?}");
    assert!(gets.iter().all(|(_, b)| b.as_deref() == Some("ok2")));
    assert!(
        bad.requests() >= 3,
        "the 502 endpoint was asked: {}",
        bad.requests()
    );
    let bad_before = bad.requests();
    let posts = tally(&gw, "POST", "status.test", 10);
    assert_eq!(
        count(&posts, 502),
        bad.requests() - bad_before,
        "a POST answered 502 is passed on, not retried: {posts:?}"
    );
    assert!(count(&posts, 502) >= 3, "{posts:?}");

    // With non_idempotent the POSTs are retried as well.
    let posts = tally(&gw, "POST", "nonidem.test", 10);
    assert_eq!(count(&posts, 200), 10, "{posts:?}");
    assert!(bad3.requests() >= 3);
    // The replayed body counts once against the body limit (60 KiB of 100k, sent twice).
    let body = vec![b'x'; 60 << 10];
    for _ in 0..2 {
        let mut c = Connection::open(gw.http).unwrap();
        let r = c
            .request_with_body("POST", "nonidem.test", "/big", &[], &body)
            .unwrap();
        assert_eq!(
            (r.status, r.body_field("body-bytes")),
            (200, Some("61440")),
            "{r:?}"
        );
    }

    // pingress.io/retries: "0" over proxy-next-upstream-tries: "3": one attempt only.
    let gets = tally(&gw, "GET", "once.test", 10);
    assert!(count(&gets, 502) >= 3, "{gets:?}");
    assert_eq!(count(&gets, 502), closing4.requests(), "{gets:?}");

    // `off`: not even a refused connection is retried.
    let gets = tally(&gw, "GET", "off.test", 10);
    assert!(count(&gets, 502) >= 3, "{gets:?}");
    assert_eq!(count(&gets, 200), ok5.requests());
}

#[test]
fn proxy_next_upstream_timeout_bounds_the_time_spent_retrying() {
    let slow = backend(
        "slow",
        "127.0.0.2",
        Behaviour::Delay(Duration::from_millis(1500)),
    );
    let ok = backend("ok", "127.0.0.3", Behaviour::Echo);
    let slow2 = backend(
        "slow2",
        "127.0.0.4",
        Behaviour::Delay(Duration::from_millis(1500)),
    );
    let ok2 = backend("ok2", "127.0.0.5", Behaviour::Echo);
    let read_timeout = ("nginx.ingress.kubernetes.io/proxy-read-timeout", "1");
    let objects = [
        yaml::service("bounded", &[slow.addr(), ok.addr()]),
        yaml::service("unbounded", &[slow2.addr(), ok2.addr()]),
        ingress(
            "bounded",
            "bounded.test",
            &[("/", "bounded")],
            &[
                read_timeout,
                (
                    "nginx.ingress.kubernetes.io/proxy-next-upstream-timeout",
                    "1",
                ),
            ],
        ),
        ingress(
            "unbounded",
            "unbounded.test",
            &[("/", "unbounded")],
            &[read_timeout],
        ),
    ]
    .concat();
    let gw = GatewayProcess::start(BIN, &[("objects.yaml", &objects)], &["--eject-after", "0"]);
    // The slow endpoint's read timeout (1 s) uses up the retry time (1 s): 504.
    let results = tally(&gw, "GET", "bounded.test", 4);
    assert_eq!(count(&results, 504), slow.requests(), "{results:?}");
    assert!(count(&results, 504) >= 1, "{results:?}");
    // Without a limit the timed-out GET goes to the other endpoint (`timeout`).
    let started = Instant::now();
    let results = tally(&gw, "GET", "unbounded.test", 4);
    assert_eq!(count(&results, 200), 4, "{results:?}");
    assert!(slow2.requests() >= 1);
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn the_configmap_sets_the_retry_policy_of_ingresses_without_annotations() {
    let bad = backend("bad", "127.0.0.2", Behaviour::Status(502));
    let ok = backend("ok", "127.0.0.3", Behaviour::Echo);
    let ok2 = backend("ok2", "127.0.0.4", Behaviour::Echo);
    let bad3 = backend("bad3", "127.0.0.5", Behaviour::Status(502));
    let ok3 = backend("ok3", "127.0.0.6", Behaviour::Echo);
    let objects = [
        yaml::service("status", &[bad.addr(), ok.addr()]),
        yaml::service("refusing", &[refused(), ok2.addr()]),
        yaml::service("posts", &[bad3.addr(), ok3.addr()]),
        ingress("status", "status.test", &[("/", "status")], &[]),
        ingress("refusing", "refusing.test", &[("/", "refusing")], &[]),
        ingress("posts", "posts.test", &[("/", "posts")], &[]),
    ]
    .concat();
    // e2e settings/proxy_next_upstream.go "should build proxy next upstream using configmap
    // values": `timeout http_502`, tries 3.
    let gw = GatewayProcess::start(
        BIN,
        &[
            ("objects.yaml", &objects),
            (
                "configmap.yaml",
                &configmap(&[
                    ("proxy-next-upstream", "timeout http_502"),
                    ("proxy-next-upstream-tries", "3"),
                    ("proxy-next-upstream-timeout", "0"),
                ]),
            ),
        ],
        &["--configmap", CONFIGMAP, "--eject-after", "0"],
    );
    let gets = tally(&gw, "GET", "status.test", 10);
    assert_eq!(count(&gets, 200), 10, "{gets:?}; log:\n{}", gw.log_text());
    assert!(bad.requests() >= 3);
    // Without `error`, a refused connection is not retried.
    let gets = tally(&gw, "GET", "refusing.test", 10);
    assert!(count(&gets, 502) >= 3, "{gets:?}");
    assert_eq!(count(&gets, 200), ok2.requests());
    // Nor is a POST answered 502.
    let posts = tally(&gw, "POST", "posts.test", 4);
    assert_eq!(count(&posts, 502), bad3.requests(), "{posts:?}");

    // retry-non-idempotent adds non_idempotent to every Ingress's list.
    gw.write(
        "configmap.yaml",
        &configmap(&[
            ("proxy-next-upstream", "error http_502"),
            ("retry-non-idempotent", "true"),
        ]),
    );
    wait_for(&gw, "refusing.test", "/", "error is retried again", |_| {
        count(&tally(&gw, "GET", "refusing.test", 4), 200) == 4
    });
    let bad3_before = bad3.requests();
    let posts = tally(&gw, "POST", "posts.test", 6);
    assert_eq!(count(&posts, 200), 6, "{posts:?}");
    assert!(bad3.requests() > bad3_before, "the 502 endpoint was asked");
}

/// Service `name` whose cluster IP and port are `vip`'s, and whose EndpointSlice lists `pod`.
fn service_with_cluster_ip(name: &str, vip: SocketAddr, pod: SocketAddr, headless: bool) -> String {
    let cluster_ip = if headless {
        "None".to_string()
    } else {
        vip.ip().to_string()
    };
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  clusterIP: \"{cluster_ip}\"\n  ports:\n  - name: http\n    port: {}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-1\n  labels:\n    kubernetes.io/service-name: {name}\naddressType: IPv4\nports:\n- name: http\n  port: {}\nendpoints:\n- addresses: [\"{}\"]\n---\n",
        vip.port(),
        pod.port(),
        pod.ip()
    )
}

#[test]
fn service_upstream_sends_to_the_services_cluster_ip() {
    let vip = backend("vip", "127.0.0.2", Behaviour::Echo);
    let pod = backend("pod", "127.0.0.3", Behaviour::Echo);
    let service = service_with_cluster_ip("svc", vip.addr(), pod.addr(), false);
    let routed = |annotations: &[(&str, &str)]| {
        ingress("svc", "svc.test", &[("/", "svc")], annotations)
            .replace("number: 80", &format!("number: {}", vip.addr().port()))
    };
    let gw = GatewayProcess::start(
        BIN,
        &[
            ("service.yaml", &service),
            (
                "ingress.yaml",
                &routed(&[("nginx.ingress.kubernetes.io/service-upstream", "true")]),
            ),
            ("configmap.yaml", &configmap(&[])),
        ],
        &["--configmap", CONFIGMAP],
    );
    // e2e annotations/serviceupstream.go, "should use the Service Cluster IP and Port".
    let r = get(&gw, "svc.test", "/");
    assert_eq!(
        (r.status, r.backend()),
        (200, Some("vip")),
        "{r:?}; log:\n{}",
        gw.log_text()
    );
    assert_eq!(pod.requests(), 0);

    // Neither the annotation nor the ConfigMap: the EndpointSlice's pod.
    gw.write("ingress.yaml", &routed(&[]));
    wait_for(&gw, "svc.test", "/", "no service-upstream", |r| {
        r.backend() == Some("pod")
    });
    // "... when configured through the configmap".
    gw.write(
        "configmap.yaml",
        &configmap(&[("service-upstream", "true")]),
    );
    wait_for(
        &gw,
        "svc.test",
        "/",
        "the ConfigMap's service-upstream",
        |r| r.backend() == Some("vip"),
    );
    // "should not use the Service Cluster IP and Port when disabled through the annotation".
    gw.write(
        "ingress.yaml",
        &routed(&[("nginx.ingress.kubernetes.io/service-upstream", "false")]),
    );
    wait_for(
        &gw,
        "svc.test",
        "/",
        "the annotation overrides the ConfigMap",
        |r| r.backend() == Some("pod"),
    );
    gw.write("ingress.yaml", &routed(&[]));
    wait_for(&gw, "svc.test", "/", "the ConfigMap's again", |r| {
        r.backend() == Some("vip")
    });
    // A headless Service has no cluster IP: its endpoints, with a warning.
    gw.write(
        "service.yaml",
        &service_with_cluster_ip("svc", vip.addr(), pod.addr(), true),
    );
    wait_for(&gw, "svc.test", "/", "headless", |r| {
        r.backend() == Some("pod")
    });
    assert!(
        gw.log_text()
            .contains("service-upstream asked for, but the Service has no cluster IP"),
        "{}",
        gw.log_text()
    );
}
