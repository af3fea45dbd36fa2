//! End-to-end observability tests: send a known set of requests through the real binary, then
//! check `/metrics` (parsed with a real Prometheus text-format parser) moved by exactly those
//! requests, and that the access log has one JSON line per request with the right fields.

use std::time::Duration;

use pingress_testkit::certs::{secret_yaml, tls_connect, KeyType, TestCa};
use pingress_testkit::gateway::{yaml, GatewayProcess};
use pingress_testkit::{get, wait_until, Backend, Behaviour, Connection};
use prometheus_parse::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pingress");

struct Setup {
    gw: GatewayProcess,
    blue: Backend,
    green: Backend,
}

fn start(extra_args: &[&str]) -> Setup {
    let blue = Backend::start("blue", "127.0.0.2", Behaviour::Echo).unwrap();
    let green = Backend::start("green", "127.0.0.3", Behaviour::Echo).unwrap();
    let ca = TestCa::new();
    let cert = ca.issue(&["shop.test"], KeyType::EcdsaP256);
    let manifests = [
        yaml::service("blue", &[blue.addr()]),
        yaml::service("green", &[green.addr()]),
        yaml::service("empty", &[]),
        yaml::ingress(
            "shop",
            &[(
                "shop.test",
                &[
                    ("/", "Prefix", "blue"),
                    ("/api", "Prefix", "green"),
                    ("/down", "Exact", "empty"),
                ],
            )],
        )
        .replacen(
            "metadata:\n  name: shop\n",
            "metadata:\n  name: shop\n  annotations:\n    pingress.io/ssl-redirect: \"false\"\n",
            1,
        )
        .replacen(
            "spec:\n",
            "spec:\n  tls:\n  - hosts: [shop.test]\n    secretName: shop-tls\n",
            1,
        ),
        secret_yaml("shop-tls", &cert.chain_pem, &cert.key_pem),
    ]
    .concat();
    let gw = GatewayProcess::start(BIN, &[("shop.yaml", &manifests)], extra_args);
    Setup { gw, blue, green }
}

/// The JSON access-log lines the gateway wrote so far.
fn access_log(gw: &GatewayProcess) -> Vec<serde_json::Value> {
    gw.log_text()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn route_labels<'a>(path: &'a str, service: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("namespace", "default"),
        ("ingress", "shop"),
        ("host", "shop.test"),
        ("path", path),
        ("service", service),
        ("service_port", "80"),
    ]
}

#[test]
fn metrics_count_exactly_the_requests_sent_by_route_method_and_status() {
    let s = start(&[]);
    let gw = &s.gw;
    let mut conn = Connection::open(gw.http).unwrap();
    for _ in 0..7 {
        assert_eq!(
            conn.request("GET", "shop.test", "/api/orders", &[])
                .unwrap()
                .status,
            200
        );
    }
    for _ in 0..3 {
        let post = b"POST /form HTTP/1.1\r\nhost: shop.test\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(conn.raw(post).unwrap().status, 200);
    }
    drop(conn);
    for _ in 0..2 {
        assert_eq!(get(gw.http, "nowhere.test", "/").unwrap().status, 404);
    }
    assert_eq!(get(gw.http, "shop.test", "/down").unwrap().status, 503);

    let total = 7 + 3 + 2 + 1;
    assert!(
        wait_until(Duration::from_secs(5), || gw
            .metric_sum("pingress_requests_total", &[])
            == Some(f64::from(total))),
        "{}",
        gw.metrics()
    );
    let count = |labels: &[(&str, &str)]| gw.metric_sum("pingress_requests_total", labels);
    let mut api = route_labels("/api", "green");
    api.extend([("method", "GET"), ("status", "2xx")]);
    assert_eq!(count(&api), Some(7.0));
    let mut root = route_labels("/", "blue");
    root.push(("method", "POST"));
    assert_eq!(count(&root), Some(3.0));
    let mut root_bytes = route_labels("/", "blue");
    root_bytes.truncate(6);
    assert_eq!(
        gw.metric_sum("pingress_request_bytes_total", &root_bytes),
        Some(15.0)
    );
    assert_eq!(count(&[("ingress", ""), ("status", "4xx")]), Some(2.0));
    let mut down = route_labels("/down", "empty");
    down.push(("status", "5xx"));
    assert_eq!(count(&down), Some(1.0));
    assert_eq!(s.green.requests(), 7);

    // Histograms: one observation per request, cumulative buckets ending at the count.
    let scrape = gw.scrape();
    let histogram = scrape
        .samples
        .iter()
        .find(|x| {
            x.metric == "pingress_request_duration_seconds" && x.labels.get("path") == Some("/api")
        })
        .expect("a duration histogram for /api");
    let Value::Histogram(buckets) = &histogram.value else {
        panic!("not a histogram: {histogram:?}")
    };
    assert!(buckets.len() >= 10, "{buckets:?}");
    assert!(buckets
        .windows(2)
        .all(|w| w[0].less_than < w[1].less_than && w[0].count <= w[1].count));
    let last = buckets.last().unwrap();
    assert!(
        last.less_than.is_infinite() && last.count == 7.0,
        "{buckets:?}"
    );
    assert!(buckets[0].less_than <= 0.001, "sub-millisecond resolution");
    let sum_labels = route_labels("/api", "green");
    assert_eq!(
        gw.metric_sum(
            "pingress_upstream_response_duration_seconds_count",
            &sum_labels
        ),
        Some(7.0)
    );
    // Each echo body names the backend and path: the bytes counter adds them up exactly.
    let body = get(s.green.addr(), "shop.test", "/api/orders")
        .unwrap()
        .body
        .len();
    let expected_bytes = gw
        .metric_sum("pingress_response_bytes_total", &sum_labels)
        .unwrap();
    assert!(
        expected_bytes >= 7.0 * (body as f64 - 64.0) && expected_bytes > 0.0,
        "{expected_bytes} bytes for 7 responses of about {body}"
    );
    assert_eq!(gw.metric("pingress_requests_in_flight"), Some(0.0));
}

#[test]
fn upstream_connection_reuse_and_open_connections_are_visible() {
    let s = start(&[]);
    let gw = &s.gw;
    let mut conn = Connection::open(gw.http).unwrap();
    for _ in 0..30 {
        assert_eq!(
            conn.request("GET", "shop.test", "/", &[]).unwrap().status,
            200
        );
    }
    assert_eq!(
        gw.metric("pingress_downstream_http1_connections"),
        Some(1.0)
    );
    let reused = gw
        .metric_sum("pingress_upstream_connections_total", &[("reused", "true")])
        .unwrap();
    let new = gw
        .metric_sum(
            "pingress_upstream_connections_total",
            &[("reused", "false")],
        )
        .unwrap();
    assert_eq!(reused + new, 30.0);
    assert!(
        reused >= 27.0,
        "keep-alive pool reuse: {reused} reused, {new} new"
    );
    // The backend also accepted the health checks' TCP connections.
    assert!(f64::from(s.blue.connections() as u32) >= new);
    drop(conn);
    assert!(wait_until(Duration::from_secs(5), || gw
        .metric("pingress_downstream_http1_connections")
        == Some(0.0)));

    // TLS handshakes are counted by protocol.
    drop(tls_connect(gw.https, Some("shop.test")).unwrap());
    assert!(wait_until(Duration::from_secs(5), || gw.metric_sum(
        "pingress_tls_handshakes_total",
        &[("protocol", "TLSv1.3")]
    ) == Some(1.0)));
    assert_eq!(gw.metric("pingress_config_certificates"), Some(1.0));
    assert_eq!(gw.metric("pingress_config_endpoints"), Some(2.0));
    assert_eq!(
        gw.metric_sum("pingress_config_diagnostics", &[("severity", "error")]),
        Some(0.0)
    );
}

#[test]
fn the_access_log_has_one_json_line_per_request_with_ids_passed_upstream() {
    let s = start(&[]);
    let gw = &s.gw;
    let mut conn = Connection::open(gw.http).unwrap();
    let echoed = conn
        .request(
            "GET",
            "shop.test",
            "/api/a?secret=1",
            &[("x-request-id", "req-42"), ("user-agent", "probe/1")],
        )
        .unwrap();
    assert_eq!(echoed.body_field("header:x-request-id"), Some("req-42"));
    let generated = conn.request("GET", "shop.test", "/b", &[]).unwrap();
    let generated_id = generated
        .body_field("header:x-request-id")
        .unwrap()
        .to_string();
    assert_eq!(generated_id.len(), 32);
    assert_eq!(get(gw.http, "nowhere.test", "/x").unwrap().status, 404);
    let mut tls = Connection::over(tls_connect(gw.https, Some("shop.test")).unwrap());
    assert_eq!(
        tls.request("GET", "shop.test", "/api/tls", &[])
            .unwrap()
            .status,
        200
    );

    assert!(wait_until(Duration::from_secs(5), || access_log(gw).len() == 4));
    // Lines are written as each request's logging phase ends, which on different worker
    // threads need not be the order the client saw its responses in: find them by path.
    let lines = access_log(gw);
    let line = |path: &str| {
        lines
            .iter()
            .find(|l| l["path"] == path)
            .unwrap_or_else(|| panic!("no access-log line for {path}: {lines:?}"))
    };
    let first = line("/api/a");
    assert_eq!(first["request_id"], "req-42");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["host"], "shop.test");
    assert_eq!(first["path"], "/api/a", "the query string is not logged");
    assert_eq!(first["status"], 200);
    assert_eq!(first["protocol"], "HTTP/1.1");
    assert_eq!(first["ingress"], "default/shop");
    assert_eq!(first["route"], "shop.test Prefix /api");
    assert_eq!(first["service"], "default/green:80");
    assert_eq!(first["endpoint"], s.green.addr().to_string());
    assert_eq!(first["retries"], 0);
    assert_eq!(first["user_agent"], "probe/1");
    assert!(first["tls"].is_null());
    assert!(first["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(first["response_bytes"].as_u64().unwrap() > 0);
    let (total, upstream) = (
        first["duration"].as_f64().unwrap(),
        first["upstream_duration"].as_f64().unwrap(),
    );
    assert!(upstream > 0.0 && upstream <= total, "{total} {upstream}");
    assert!(first["time"].as_str().unwrap().ends_with('Z'));

    assert_eq!(line("/b")["request_id"], generated_id.as_str());
    assert_eq!(line("/b")["service"], "default/blue:80");
    assert_eq!(line("/x")["status"], 404);
    assert!(line("/x")["ingress"].is_null() && line("/x")["endpoint"].is_null());
    assert_eq!(line("/api/tls")["tls"], "TLSv1.3");
}

#[test]
fn access_log_formats_and_the_debug_config_dump() {
    let s = start(&["--access-log", "text"]);
    let gw = &s.gw;
    assert_eq!(get(gw.http, "shop.test", "/api/x").unwrap().status, 200);
    assert!(wait_until(Duration::from_secs(5), || gw
        .log_text()
        .contains("\"GET shop.test/api/x HTTP/1.1\" 200")));
    assert!(access_log(gw).is_empty(), "text format: no JSON lines");

    let dump = get(gw.admin, "admin", "/debug/config").unwrap();
    assert_eq!(dump.status, 200);
    let config: serde_json::Value = serde_json::from_str(&dump.body).unwrap();
    assert_eq!(config["generation"], 1);
    assert_eq!(config["virtual_hosts"][0]["host"]["Exact"], "shop.test");
    let cert = &config["tls"]["certificates"]["default/shop-tls"];
    assert_eq!(cert["key_pem"], "<redacted>", "{}", dump.body);
    assert!(cert["chain_pem"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    assert!(!dump.body.contains("PRIVATE KEY"));

    let quiet = start(&["--access-log", "off"]);
    let response = get(quiet.gw.http, "shop.test", "/")
        .unwrap_or_else(|e| panic!("{e}: {}", quiet.gw.log_text()));
    assert_eq!(response.status, 200);
    assert!(wait_until(Duration::from_secs(5), || quiet
        .gw
        .metric_sum("pingress_requests_total", &[])
        == Some(1.0)));
    let log = quiet.gw.log_text();
    assert!(
        !log.contains("\"GET shop.test/") && !log.contains("{\"time\""),
        "{log}"
    );
}

/// Every `pingress_*` name in `text`, with histogram suffixes stripped.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("pingress_") {
        let name: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[i + name.len()..];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name);
        if !base.ends_with('_') {
            names.insert(base.to_string()); // not the bare prefix `pingress_`
        }
    }
    names
}

#[test]
fn the_dashboard_and_the_docs_name_exactly_the_exposed_metrics() {
    let s = start(&[]);
    // One request over TLS brings every labelled family into existence.
    let mut tls = Connection::over(tls_connect(s.gw.https, Some("shop.test")).unwrap());
    assert_eq!(
        tls.request("GET", "shop.test", "/", &[]).unwrap().status,
        200
    );
    assert!(wait_until(Duration::from_secs(5), || s
        .gw
        .metric_sum("pingress_requests_total", &[])
        == Some(1.0)));
    let exposed: std::collections::BTreeSet<String> = s.gw.scrape().docs.keys().cloned().collect();
    assert!(exposed.len() > 20, "{exposed:?}");
    let dashboard = include_str!("../deploy/monitoring/grafana-dashboard.json");
    serde_json::from_str::<serde_json::Value>(dashboard).expect("the dashboard is JSON");
    // Families that have samples only once their event happened (tested in resilience.rs).
    let event_only = ["pingress_upstream_ejections_total"];
    for name in metric_names(dashboard) {
        assert!(
            exposed.contains(&name) || event_only.contains(&name.as_str()),
            "the dashboard uses {name}, which is not exposed"
        );
    }
    let docs = include_str!("../docs/metrics.md");
    let documented = metric_names(docs);
    for name in &exposed {
        assert!(
            documented.contains(name),
            "docs/metrics.md does not describe {name}"
        );
    }
    for name in &documented {
        assert!(
            exposed.contains(name) || event_only.contains(&name.as_str()),
            "docs/metrics.md describes {name}, which is not exposed"
        );
    }
}

/// Reading the manifests is not a change: an untouched directory causes no reload (the file
/// watcher once reported our own reads as events and re-parsed every --reload-debounce), and
/// an edit causes one.
#[test]
fn an_untouched_manifest_directory_is_not_reloaded() {
    let s = start(&[]);
    let gw = &s.gw;
    let events = || {
        gw.metric_sum(
            "pingress_controller_source_events_total",
            &[("result", "event")],
        )
        .unwrap_or(0.0)
    };
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(events(), 0.0, "reloads without any edit");
    assert_eq!(gw.metric_sum("pingress_config_generation", &[]), Some(1.0));
    let yaml = std::fs::read_to_string(gw.manifests_dir().join("shop.yaml")).unwrap();
    gw.write("shop.yaml", &format!("{yaml}\n# touched\n"));
    assert!(wait_until(Duration::from_secs(5), || events() >= 1.0));
    std::thread::sleep(Duration::from_millis(600));
    let after_edit = events();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(events(), after_edit, "reloads went on after the edit");
}
