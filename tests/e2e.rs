//! End-to-end tests: the real `pingress` binary on free loopback ports, real HTTP backends on
//! 127.0.0.x, real HTTP between them. Each test checks which backend answered.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use pingress_testkit::gateway::{yaml, GatewayProcess};
use pingress_testkit::{wait_until, Backend, Behaviour, Connection};

const BIN: &str = env!("CARGO_BIN_EXE_pingress");

fn echo(name: &str, ip: &str) -> Backend {
    Backend::start(name, ip, Behaviour::Echo).expect("start backend")
}

fn start(files: &[(&str, &str)]) -> GatewayProcess {
    GatewayProcess::start(BIN, files, &[])
}

#[test]
fn routes_by_host_and_path_with_kubernetes_semantics() {
    let blue = echo("blue", "127.0.0.2");
    let green = echo("green", "127.0.0.3");
    let red = echo("red", "127.0.0.4");
    let manifests = [
        yaml::service("blue", &[blue.addr()]),
        yaml::service("green", &[green.addr()]),
        yaml::service("red", &[red.addr()]),
        yaml::ingress(
            "shop",
            &[(
                "shop.example.com",
                &[
                    ("/", "Prefix", "blue"),
                    ("/api", "Prefix", "green"),
                    ("/api/health", "Exact", "red"),
                ],
            )],
        ),
        yaml::ingress(
            "wild",
            &[
                ("*.example.com", &[("/", "Prefix", "red")]),
                ("", &[("/fallback", "Prefix", "green")]),
            ],
        ),
    ]
    .concat();
    let gw = start(&[("all.yaml", &manifests)]);

    let rows: &[(&str, &str, Option<&str>)] = &[
        ("shop.example.com", "/", Some("blue")),
        ("shop.example.com", "/anything", Some("blue")),
        ("shop.example.com", "/api", Some("green")),
        ("shop.example.com", "/api/", Some("green")),
        ("shop.example.com", "/api/orders?id=1", Some("green")),
        ("shop.example.com", "/apiary", Some("blue")), // element-wise, not string prefix
        ("shop.example.com", "/api/health", Some("red")), // Exact beats shorter Prefix
        ("shop.example.com", "/api/health/", Some("green")), // Exact is the whole path
        ("shop.example.com", "/api/health?x=1", Some("red")), // query never matches
        ("SHOP.Example.COM:8080", "/api", Some("green")), // case and port ignored
        ("other.example.com", "/", Some("red")),       // wildcard, one label
        ("a.b.example.com", "/", None),                // wildcard is one label only
        ("example.com", "/", None),                    // ...and not the bare domain
        ("a.b.example.com", "/fallback/x", Some("green")), // host-less rules apply to all hosts
        ("unknown.test", "/", None),
    ];
    for (host, path, expected) in rows {
        let response = gw.get(host, path);
        match expected {
            Some(backend) => {
                assert_eq!(response.status, 200, "{host}{path}: {}", response.body);
                assert_eq!(response.backend(), Some(*backend), "{host}{path}");
                let forwarded = path.to_string();
                assert_eq!(response.body_field("path"), Some(forwarded.as_str()));
            }
            None => {
                assert_eq!(response.status, 404, "{host}{path}: {}", response.body);
                assert!(response.body.contains("no Ingress rule matches"));
                assert!(response.backend().is_none());
            }
        }
    }
}

/// Backend and Service `blue` behind a rule for every host and path.
fn catch_all() -> (Backend, GatewayProcess) {
    let blue = echo("blue", "127.0.0.2");
    let manifests = [
        yaml::service("blue", &[blue.addr()]),
        yaml::ingress("web", &[("", &[("/", "Prefix", "blue")])]),
    ]
    .concat();
    (blue, start(&[("web.yaml", &manifests)]))
}

#[test]
fn forwarded_headers_replace_client_values() {
    let (_blue, gw) = catch_all();
    let mut conn = Connection::open(gw.http).unwrap();
    let response = conn
        .request(
            "GET",
            "web.example.com:8080",
            "/x",
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-real-ip", "6.6.6.6"),
                ("x-forwarded-proto", "https"),
                ("x-custom", "kept"),
            ],
        )
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.body_field("header:x-forwarded-for"),
        Some("127.0.0.1")
    );
    assert_eq!(response.body_field("header:x-real-ip"), Some("127.0.0.1"));
    assert_eq!(
        response.body_field("header:x-forwarded-proto"),
        Some("http")
    );
    assert_eq!(
        response.body_field("header:x-forwarded-host"),
        Some("web.example.com:8080")
    );
    assert_eq!(
        response.body_field("header:host"),
        Some("web.example.com:8080")
    );
    assert_eq!(response.body_field("header:x-custom"), Some("kept"));
}

#[test]
fn round_robin_over_ready_endpoints_with_pooled_upstream_connections() {
    let one = echo("one", "127.0.0.2");
    let two = echo("two", "127.0.0.3");
    let manifests = [
        yaml::service("web", &[one.addr(), two.addr()]),
        yaml::ingress("web", &[("", &[("/", "Prefix", "web")])]),
    ]
    .concat();
    let gw = start(&[("web.yaml", &manifests)]);
    let mut conn = Connection::open(gw.http).unwrap();
    for _ in 0..40 {
        let r = conn.request("GET", "web", "/", &[]).unwrap();
        assert_eq!(r.status, 200);
    }
    assert_eq!(one.requests() + two.requests(), 40);
    assert!(
        one.requests() >= 10 && two.requests() >= 10,
        "both endpoints used"
    );
    // Sequential requests reuse pooled keep-alive connections instead of opening new ones.
    assert!(
        one.connections() <= 3 && two.connections() <= 3,
        "upstream connections: {} and {} for 40 requests",
        one.connections(),
        two.connections()
    );
}

#[test]
fn unready_endpoints_get_no_traffic_and_other_classes_are_ignored() {
    let ready = echo("ready", "127.0.0.2");
    let unready = echo("unready", "127.0.0.3");
    let manifests = format!(
        "{}{}{}",
        yaml::service("web", &[ready.addr()]),
        format_args!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-unready\n  labels:\n    kubernetes.io/service-name: web\naddressType: IPv4\nports:\n- name: http\n  port: {}\nendpoints:\n- addresses: [\"{}\"]\n  conditions:\n    ready: false\n---\n",
            unready.addr().port(),
            unready.addr().ip()
        ),
        yaml::ingress("web", &[("web.test", &[("/", "Prefix", "web")])])
    );
    let other_class = yaml::ingress("theirs", &[("theirs.test", &[("/", "Prefix", "web")])])
        .replace("ingressClassName: pingress", "ingressClassName: nginx");
    let gw = start(&[("web.yaml", &manifests), ("theirs.yaml", &other_class)]);
    for _ in 0..10 {
        assert_eq!(gw.get("web.test", "/").backend(), Some("ready"));
    }
    assert_eq!(unready.requests(), 0);
    assert_eq!(gw.get("theirs.test", "/").status, 404);
}

#[test]
fn default_backend_serves_unmatched_requests() {
    let blue = echo("blue", "127.0.0.2");
    let fallback = echo("fallback", "127.0.0.3");
    let manifests = [
        yaml::service("blue", &[blue.addr()]),
        yaml::service("fallback", &[fallback.addr()]),
        yaml::ingress("shop", &[("shop.test", &[("/api", "Prefix", "blue")])]).replace(
            "  rules:\n",
            "  defaultBackend:\n    service:\n      name: fallback\n      port:\n        name: http\n  rules:\n",
        ),
    ]
    .concat();
    let gw = start(&[("shop.yaml", &manifests)]);
    assert_eq!(gw.get("shop.test", "/api/x").backend(), Some("blue"));
    assert_eq!(gw.get("shop.test", "/other").backend(), Some("fallback"));
    assert_eq!(gw.get("nowhere.test", "/").backend(), Some("fallback"));
}

#[test]
fn upstream_failures_answer_502_503_504() {
    let slow = Backend::start(
        "slow",
        "127.0.0.2",
        Behaviour::Delay(Duration::from_secs(3)),
    )
    .unwrap();
    let garbage = Backend::start("garbage", "127.0.0.3", Behaviour::Garbage).unwrap();
    // A port that was just free: nothing listens there, connections are refused.
    let refused: SocketAddr = format!("127.0.0.1:{}", pingress_testkit::free_port())
        .parse()
        .unwrap();
    let manifests = [
        yaml::service("slow", &[slow.addr()]),
        yaml::service("garbage", &[garbage.addr()]),
        yaml::service("refused", &[refused]),
        yaml::service("empty", &[]),
        yaml::ingress(
            "faults",
            &[(
                "faults.test",
                &[
                    ("/slow", "Prefix", "slow"),
                    ("/garbage", "Prefix", "garbage"),
                    ("/refused", "Prefix", "refused"),
                    ("/empty", "Prefix", "empty"),
                    ("/missing", "Prefix", "no-such-service"),
                ],
            )],
        ),
    ]
    .concat();
    let gw = GatewayProcess::start(
        BIN,
        &[("faults.yaml", &manifests)],
        &["--proxy-read-timeout", "500ms"],
    );
    let rows = [
        ("/slow", 504),
        ("/garbage", 502),
        ("/refused", 502),
        ("/empty", 503),
        ("/missing", 503),
    ];
    for (path, status) in rows {
        let response = gw.get("faults.test", path);
        assert_eq!(response.status, status, "{path}: {}", response.body);
        assert!(response.backend().is_none(), "{path}");
    }
    assert!(
        wait_until(Duration::from_secs(5), || gw
            .metric_sum("pingress_requests_total", &[("status", "5xx")])
            == Some(5.0)),
        "{}",
        gw.metrics()
    );
    assert!(
        gw.log_text().contains("default/faults"),
        "the missing Service is reported naming the Ingress:\n{}",
        gw.log_text()
    );
}

/// Ingress `web.test` routed to `service`.
fn route_to(service: &str) -> String {
    yaml::ingress("web", &[("web.test", &[("/", "Prefix", service)])])
}

/// Backends and Services `blue` and `green`, with `web.test` routed to blue.
fn blue_green() -> (Backend, Backend, GatewayProcess) {
    let blue = echo("blue", "127.0.0.2");
    let green = echo("green", "127.0.0.3");
    let services = [
        yaml::service("blue", &[blue.addr()]),
        yaml::service("green", &[green.addr()]),
    ]
    .concat();
    let gw = start(&[
        ("services.yaml", &services),
        ("web.yaml", &route_to("blue")),
    ]);
    (blue, green, gw)
}

#[test]
fn manifest_edits_apply_and_broken_manifests_keep_the_last_good_routes() {
    let (_blue, _green, gw) = blue_green();
    assert_eq!(gw.get("web.test", "/").backend(), Some("blue"));
    let generation = gw.metric("pingress_config_generation").unwrap();

    // An edit is picked up.
    gw.write("web.yaml", &route_to("green"));
    assert!(
        wait_until(Duration::from_secs(5), || gw.get("web.test", "/").backend()
            == Some("green")),
        "edit not applied; log:\n{}",
        gw.log_text()
    );
    let edited = gw.metric("pingress_config_generation").unwrap();
    assert!(edited > generation);

    // A broken file is reported with the file, object and field, and changes nothing.
    gw.write(
        "web.yaml",
        &route_to("blue").replace("number: 80", "number: eighty"),
    );
    assert!(
        wait_until(Duration::from_secs(5), || gw.log_text().contains(
            "spec.rules[0].http.paths[0].backend.service.port.number"
        )),
        "parse error not logged; log:\n{}",
        gw.log_text()
    );
    let log = gw.log_text();
    assert!(
        log.contains("web.yaml") && log.contains("Ingress web"),
        "{log}"
    );
    assert_eq!(
        gw.get("web.test", "/").backend(),
        Some("green"),
        "last good kept"
    );
    assert_eq!(gw.metric("pingress_config_generation"), Some(edited));

    // A new file adds routes; removing it takes them away again.
    gw.write(
        "extra.yaml",
        &yaml::ingress("extra", &[("extra.test", &[("/", "Prefix", "blue")])]),
    );
    assert!(wait_until(Duration::from_secs(5), || gw
        .get("extra.test", "/")
        .backend()
        == Some("blue")));
    gw.remove("extra.yaml");
    assert!(wait_until(Duration::from_secs(5), || gw
        .get("extra.test", "/")
        .status
        == 404));
    assert_eq!(gw.get("web.test", "/").backend(), Some("green"));
}

#[test]
fn admin_endpoints_report_health_readiness_and_metrics() {
    let (_blue, gw) = catch_all();
    gw.get("x", "/");
    gw.get("x", "/");
    let health = pingress_testkit::get(gw.admin, "admin", "/healthz").unwrap();
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let ready = pingress_testkit::get(gw.admin, "admin", "/readyz").unwrap();
    assert_eq!(ready.status, 200);
    assert!(ready.body.contains("generation 1"), "{}", ready.body);
    // The logging phase counts a request just after its response is written: allow a moment.
    assert!(
        wait_until(Duration::from_secs(5), || gw
            .metric_sum("pingress_requests_total", &[("status", "2xx")])
            == Some(2.0)),
        "{}",
        gw.metrics()
    );
    assert_eq!(gw.metric("pingress_config_generation"), Some(1.0));
    assert_eq!(gw.metric("pingress_config_routes"), Some(1.0));
}

#[test]
fn command_line_errors_exit_with_status_2_and_help_documents_every_flag() {
    let dir = std::env::temp_dir();
    let dir = dir.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["run"],                                                   // --manifests is required
        &["run", "--manifests", "/no/such/path"],                   // must exist
        &["run", "--manifests", dir, "--no-such-flag"],             // unknown flag
        &["run", "--manifests", dir, "--threads", "0"],             // out of range
        &["run", "--manifests", dir, "--listen-http", "nowhere"],   // not an address
        &["run", "--manifests", dir, "--proxy-read-timeout", "x"],  // not a duration
        &["run", "--manifests", dir, "--default-certificate", "x"], // not NAMESPACE/NAME
        &["fly"],                                                   // unknown subcommand
    ];
    for args in cases {
        let output = Command::new(BIN).args(*args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
    }

    let help = Command::new(BIN).args(["run", "--help"]).output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--manifests",
        "--listen-http",
        "--listen-https",
        "--default-certificate",
        "--hsts",
        "--listen-admin",
        "--ingress-class",
        "--controller-name",
        "--threads",
        "--proxy-connect-timeout",
        "--proxy-read-timeout",
        "--proxy-send-timeout",
        "--upstream-keepalive-timeout",
        "--upstream-keepalive-pool-size",
        "--reload-debounce",
        "--log-format",
        "--access-log",
        "--health-check-interval",
        "--health-check-timeout",
        "--health-check-healthy-threshold",
        "--health-check-unhealthy-threshold",
        "--eject-after",
        "--eject-for",
        "--shutdown-timeout",
        "--upgrade",
        "--upgrade-socket",
        "--kubernetes",
        "--kubeconfig",
        "--watch-namespace",
        "--publish-address",
        "--leader-election-namespace",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    assert!(help.contains("[default: 0.0.0.0:80]"), "{help}");
}
