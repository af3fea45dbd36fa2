//! End-to-end: taking over an ingress-nginx cluster's identity and global settings — its
//! IngressClass, class-less Ingresses, its annotations prefix, its ConfigMap (hot-applied) —
//! and how annotations Pingress does not honour are handled. The real binary, real backends on
//! loopback; each row names the ingress-nginx behaviour it follows.

use std::time::Duration;

use pingress_testkit::certs::{secret_yaml, KeyType, TestCa};
use pingress_testkit::gateway::{yaml, GatewayProcess};
use pingress_testkit::{wait_until, Backend, Behaviour, Connection, Response};

const BIN: &str = env!("CARGO_BIN_EXE_pingress");
const CONFIGMAP: &str = "ingress-nginx/ingress-nginx-controller";

/// ingress-nginx's IngressClass, as its standard install creates it.
const NGINX_CLASS: &str = "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: nginx\nspec:\n  controller: k8s.io/ingress-nginx\n---\n";

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

/// An Ingress of `class` (`None`: no class at all) for `host` `/` to Service `web`.
fn ingress(name: &str, host: &str, class: Option<&str>, annotations: &[(&str, &str)]) -> String {
    let plain = yaml::ingress(name, &[(host, &[("/", "Prefix", "web")])]);
    let classed = match class {
        Some(class) => plain.replace(
            "ingressClassName: pingress",
            &format!("ingressClassName: {class}"),
        ),
        None => plain.replace("  ingressClassName: pingress\n", ""),
    };
    if annotations.is_empty() {
        classed
    } else {
        yaml::annotated(&classed, annotations)
    }
}

fn request(gw: &GatewayProcess, host: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    let mut c = Connection::open(gw.http).unwrap();
    c.request("GET", host, target, headers).unwrap()
}

/// The ingress-nginx identity: its class by name, by controller, and class-less Ingresses.
#[test]
fn ingress_nginx_classes_are_ours_and_others_are_not() {
    let backend = Backend::start("web", "127.0.0.1", Behaviour::Echo).unwrap();
    let manifests = [
        NGINX_CLASS.to_string(),
        yaml::service("web", &[backend.addr()]),
        ingress("by-field", "field.test", Some("nginx"), &[]),
        ingress(
            "by-annotation",
            "annotation.test",
            None,
            &[("kubernetes.io/ingress.class", "nginx")],
        ),
        ingress("classless", "none.test", None, &[]),
        ingress("theirs", "other.test", Some("other"), &[]),
    ]
    .concat();
    let gw = GatewayProcess::start(
        BIN,
        &[("all.yaml", &manifests)],
        &[
            "--ingress-class",
            "nginx",
            "--controller-class",
            "k8s.io/ingress-nginx",
            "--watch-ingress-without-class",
        ],
    );
    // (host, status, source)
    let rows = [
        (
            "field.test",
            200,
            "spec.ingressClassName names an IngressClass with our controller",
        ),
        (
            "annotation.test",
            200,
            "e2e settings/ingress_class.go: the annotation equals --ingress-class",
        ),
        (
            "none.test",
            200,
            "e2e settings/ingress_class.go: --watch-ingress-without-class",
        ),
        (
            "other.test",
            404,
            "e2e settings/ingress_class.go: another class is ignored",
        ),
    ];
    for (host, status, source) in rows {
        assert_eq!(
            request(&gw, host, "/", &[]).status,
            status,
            "{host}: {source}\n{}",
            gw.log_text()
        );
    }
}

/// The ConfigMap: annotation defaults and gateway-wide settings, applied on change.
#[test]
fn the_configmap_sets_defaults_and_a_change_applies_without_a_restart() {
    let backend = Backend::start("web", "127.0.0.1", Behaviour::Echo).unwrap();
    let ca = TestCa::new();
    let cert = ca.issue(&["tls.test"], KeyType::EcdsaP256);
    let tls_ingress = ingress("secure", "tls.test", None, &[]).replacen(
        "spec:\n",
        "spec:\n  tls:\n  - hosts: [tls.test]\n    secretName: tls-test\n",
        1,
    );
    let objects = [
        yaml::ingress_class(true),
        yaml::service("web", &[backend.addr()]),
        secret_yaml("tls-test", &cert.chain_pem, &cert.key_pem),
        tls_ingress,
        ingress(
            "forced",
            "plain.test",
            None,
            &[("nginx.ingress.kubernetes.io/force-ssl-redirect", "true")],
        ),
    ]
    .concat();
    let gw = GatewayProcess::start(
        BIN,
        &[
            ("objects.yaml", &objects),
            ("configmap.yaml", &configmap(&[("ssl-redirect", "false")])),
        ],
        &["--configmap", CONFIGMAP],
    );
    let https = gw.https.port();
    let plain = request(&gw, "tls.test", "/a/", &[]);
    assert_eq!(
        plain.status,
        200,
        "ConfigMap ssl-redirect: \"false\"\n{}",
        gw.log_text()
    );
    let forced = request(&gw, "plain.test", "/x/?q=1", &[]);
    assert_eq!(
        forced.status, 308,
        "e2e forcesslredirect.go: force-ssl-redirect without TLS"
    );
    assert_eq!(
        forced.headers["location"],
        format!("https://plain.test:{https}/x/?q=1")
    );

    gw.write(
        "configmap.yaml",
        &configmap(&[
            ("http-redirect-code", "301"),
            ("preserve-trailing-slash", "false"),
        ]),
    );
    assert!(
        wait_until(Duration::from_secs(10), || request(
            &gw,
            "tls.test",
            "/a/",
            &[]
        )
        .status
            == 301),
        "the ConfigMap change applied\n{}",
        gw.log_text()
    );
    let redirected = request(&gw, "tls.test", "/a/", &[]);
    assert_eq!(
        redirected.headers["location"],
        format!("https://tls.test:{https}/a"),
        "lua_ingress.lua: one trailing slash removed, status http-redirect-code"
    );
    gw.write(
        "configmap.yaml",
        &configmap(&[
            ("preserve-trailing-slash", "true"),
            ("hsts-max-age", "86400"),
        ]),
    );
    assert!(wait_until(Duration::from_secs(10), || request(
        &gw,
        "tls.test",
        "/a/",
        &[]
    )
    .headers
    .get("location")
    .is_some_and(|l| l.ends_with("/a/"))));
    assert_eq!(
        request(&gw, "tls.test", "/a/", &[]).status,
        308,
        "the default code again"
    );
    // HSTS on HTTPS responses, from the ConfigMap (e2e settings/tls.go "setting max-age").
    let stream = pingress_testkit::certs::tls_connect(gw.https, Some("tls.test")).unwrap();
    let mut tls = Connection::over(stream);
    let response = tls.request("GET", "tls.test", "/", &[]).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.headers["strict-transport-security"],
        "max-age=86400; includeSubDomains"
    );
    let said = gw.log_text();
    assert!(
        !said.contains("data[\"hsts-max-age\"]"),
        "a known key is not reported: {said}"
    );
}

/// A trusted proxy's forwarding headers (ConfigMap use-forwarded-headers with
/// proxy-real-ip-cidr): its X-Forwarded-Proto says the client came over HTTPS.
#[test]
fn forwarded_headers_are_believed_only_from_the_configmaps_proxies() {
    let backend = Backend::start("web", "127.0.0.1", Behaviour::Echo).unwrap();
    let objects = [
        yaml::ingress_class(true),
        yaml::service("web", &[backend.addr()]),
        ingress(
            "forced",
            "app.test",
            None,
            &[("nginx.ingress.kubernetes.io/force-ssl-redirect", "true")],
        ),
    ]
    .concat();
    let trusted = configmap(&[
        ("use-forwarded-headers", "true"),
        ("proxy-real-ip-cidr", "127.0.0.0/8"),
    ]);
    let gw = GatewayProcess::start(
        BIN,
        &[("objects.yaml", &objects), ("configmap.yaml", &trusted)],
        &["--configmap", CONFIGMAP],
    );
    let from_https = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-For", "203.0.113.9"),
    ];
    let proxied = request(&gw, "app.test", "/", &from_https);
    assert_eq!(
        proxied.status,
        200,
        "lua_ingress.lua: $pass_access_scheme is the trusted XFP\n{}",
        gw.log_text()
    );
    assert_eq!(
        proxied.body_field("header:x-forwarded-for"),
        Some("203.0.113.9, 127.0.0.1")
    );
    assert_eq!(
        request(&gw, "app.test", "/", &[("X-Forwarded-Proto", "http")]).status,
        308
    );

    gw.write(
        "configmap.yaml",
        &configmap(&[("use-forwarded-headers", "false")]),
    );
    assert!(
        wait_until(Duration::from_secs(10), || request(
            &gw,
            "app.test",
            "/",
            &from_https
        )
        .status
            == 308),
        "an untrusted X-Forwarded-Proto is not believed\n{}",
        gw.log_text()
    );
}

/// `--annotations-prefix`, refused snippets, and annotations whose protection Pingress
/// cannot give.
#[test]
fn the_prefix_decides_what_is_read_and_unhonoured_annotations_are_reported() {
    let backend = Backend::start("web", "127.0.0.1", Behaviour::Echo).unwrap();
    let objects = [
        yaml::ingress_class(true),
        yaml::service("web", &[backend.addr()]),
        ingress(
            "custom",
            "custom.test",
            None,
            &[("custom.io/force-ssl-redirect", "true")],
        ),
        ingress(
            "nginx",
            "nginx.test",
            None,
            &[("nginx.ingress.kubernetes.io/force-ssl-redirect", "true")],
        ),
        ingress(
            "snippet",
            "snippet.test",
            None,
            &[(
                "custom.io/configuration-snippet",
                "more_set_headers 'X-A: b';",
            )],
        ),
        ingress(
            "guarded",
            "guarded.test",
            None,
            &[("custom.io/whitelist-source-range", "10.0.0.0/8")],
        ),
    ]
    .concat();
    let gw = GatewayProcess::start(
        BIN,
        &[("objects.yaml", &objects)],
        &["--annotations-prefix", "custom.io"],
    );
    // (host, status, why)
    let rows = [
        ("custom.test", 308, "read under the configured prefix"),
        (
            "nginx.test",
            200,
            "the default prefix is not read once another is configured",
        ),
        (
            "snippet.test",
            200,
            "a snippet is refused; the rest of the Ingress is served",
        ),
        (
            "guarded.test",
            503,
            "an allow list Pingress cannot enforce closes the route",
        ),
    ];
    for (host, status, why) in rows {
        let response = request(&gw, host, "/", &[]);
        assert_eq!(response.status, status, "{host}: {why}\n{}", gw.log_text());
        assert!(!response.headers.contains_key("x-a"));
    }
    let log = gw.log_text();
    assert!(log.contains("metadata.annotations[\"custom.io/configuration-snippet\"]: refused: raw nginx configuration never runs"), "{log}");
    assert!(
        log.contains("custom.io/whitelist-source-range\"]: not supported by Pingress"),
        "{log}"
    );
    let ignored = |name| {
        gw.metric_sum(
            "pingress_config_ignored_annotations",
            &[("annotation", name)],
        )
    };
    assert_eq!(ignored("configuration-snippet"), Some(1.0));
    assert_eq!(ignored("whitelist-source-range"), Some(1.0));
    assert_eq!(
        backend.requests(),
        2,
        "only custom.test is redirected, guarded.test reaches nothing"
    );
}
