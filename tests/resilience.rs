//! End-to-end upstream resilience: real backends on 127.0.0.x that refuse, hang, close, fail
//! or die, behind the real binary. Every loop is bounded in count and time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pingress_testkit::gateway::{yaml, GatewayProcess};
use pingress_testkit::{free_port, get, wait_until, Backend, Behaviour, Connection};

const BIN: &str = env!("CARGO_BIN_EXE_pingress");

fn backend(name: &str, ip: &str, behaviour: Behaviour) -> Backend {
    Backend::start(name, ip, behaviour).expect("start backend")
}

/// An address where nothing listens: connections are refused.
fn refused() -> SocketAddr {
    format!("127.0.0.1:{}", free_port()).parse().unwrap()
}

/// Service `web` over `endpoints` and an Ingress routing `web.test` to it, with annotations.
fn manifests(endpoints: &[SocketAddr], annotations: &[(&str, &str)]) -> String {
    [
        yaml::service("web", endpoints),
        yaml::annotated(
            &yaml::ingress("web", &[("web.test", &[("/", "Prefix", "web")])]),
            annotations,
        ),
    ]
    .concat()
}

fn post(gw: &GatewayProcess, path: &str) -> u16 {
    let mut conn = Connection::open(gw.http).unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: web.test\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbody"
    );
    conn.raw(request.as_bytes()).map_or(0, |r| r.status)
}

#[test]
fn refused_connections_are_retried_on_another_endpoint_for_any_method() {
    let ok = backend("ok", "127.0.0.2", Behaviour::Echo);
    let gw = GatewayProcess::start(
        BIN,
        &[("web.yaml", &manifests(&[refused(), ok.addr()], &[]))],
        &[],
    );
    for i in 0..20 {
        let r = gw.get("web.test", &format!("/get/{i}"));
        assert_eq!(r.status, 200, "GET {i}: {}", r.body);
        assert_eq!(
            post(&gw, "/form"),
            200,
            "POST {i}: nothing was sent, so it is retried too"
        );
    }
    assert_eq!(ok.requests(), 40);
    // The refusing endpoint was retried away from, then ejected (5 failures by default).
    let retries = gw
        .metric_sum("pingress_upstream_retries_total", &[])
        .unwrap();
    assert_eq!(retries, 5.0, "{}", gw.metrics());
    assert_eq!(
        gw.metric_sum("pingress_upstream_ejections_total", &[]),
        Some(1.0)
    );
}

#[test]
fn a_post_is_not_retried_after_it_was_sent_but_an_idempotent_get_is_when_allowed() {
    let closing = backend("closing", "127.0.0.2", Behaviour::Close);
    let ok = backend("ok", "127.0.0.3", Behaviour::Echo);
    let endpoints = [closing.addr(), ok.addr()];
    let gw = GatewayProcess::start(
        BIN,
        &[(
            "web.yaml",
            &manifests(&endpoints, &[("pingress.io/retries", "2")]),
        )],
        &["--eject-after", "0"],
    );
    let (mut post_failed, mut gets_ok) = (0, 0);
    for i in 0..10 {
        if post(&gw, &format!("/p{i}")) == 502 {
            post_failed += 1;
        }
        if gw.get("web.test", &format!("/g{i}")).status == 200 {
            gets_ok += 1;
        }
    }
    assert_eq!(
        gets_ok, 10,
        "GETs that hit the closing endpoint were retried on the other"
    );
    assert!(
        post_failed >= 3,
        "POSTs that reached the closing endpoint failed: {post_failed}"
    );
    // No POST was sent twice: the closing backend saw each failed POST once and the good
    // backend never saw it.
    assert_eq!(ok.requests(), 10 + (10 - post_failed));
}

#[test]
fn failing_endpoints_are_ejected_and_health_checks_take_unhealthy_ones_out() {
    let failing = backend("failing", "127.0.0.2", Behaviour::Status(500));
    let ok = backend("ok", "127.0.0.3", Behaviour::Echo);
    let sick = backend("sick", "127.0.0.4", Behaviour::Echo);
    let gw = GatewayProcess::start(
        BIN,
        &[(
            "web.yaml",
            &manifests(
                &[failing.addr(), ok.addr(), sick.addr()],
                &[("pingress.io/health-check-path", "/healthz")],
            ),
        )],
        &[
            "--eject-after",
            "3",
            "--eject-for",
            "60s",
            "--health-check-interval",
            "200ms",
            "--health-check-unhealthy-threshold",
            "1",
        ],
    );
    // Passive: three 500s in a row eject the failing endpoint.
    for _ in 0..30 {
        gw.get("web.test", "/");
    }
    assert_eq!(
        failing.requests(),
        3,
        "ejected after exactly 3 consecutive failures"
    );
    assert!(gw.metric_sum("pingress_upstream_ejections_total", &[]) >= Some(1.0));

    // Active: the health probe of `sick` fails; it stops getting requests within a few
    // intervals, without any request failing first.
    assert!(
        wait_until(Duration::from_secs(5), || sick.probes() > 0),
        "probes run"
    );
    sick.set_healthy(false);
    let marked = Instant::now();
    let mut last = sick.requests();
    assert!(
        wait_until(Duration::from_secs(5), || {
            for _ in 0..10 {
                assert_eq!(gw.get("web.test", "/").status, 200);
            }
            let now = sick.requests();
            let idle = now == last;
            last = now;
            idle
        }),
        "the unhealthy endpoint kept getting requests"
    );
    println!(
        "unhealthy endpoint out of rotation after {:?}",
        marked.elapsed()
    );
    let before = sick.requests();
    for _ in 0..20 {
        assert_eq!(gw.get("web.test", "/").backend(), Some("ok"));
    }
    assert_eq!(sick.requests(), before);
    let state = |state: &str| {
        gw.metric_sum(
            "pingress_upstream_endpoints",
            &[("service", "web"), ("state", state)],
        )
    };
    assert_eq!(
        (state("healthy"), state("unhealthy"), state("ejected")),
        (Some(1.0), Some(1.0), Some(1.0)),
        "{}",
        gw.metrics()
    );

    // And back in when healthy again.
    sick.set_healthy(true);
    assert!(wait_until(Duration::from_secs(5), || {
        gw.get("web.test", "/");
        sick.requests() > before
    }));
}

#[test]
fn a_hanging_endpoint_answers_504_within_the_annotated_read_timeout() {
    let hanging = backend(
        "hanging",
        "127.0.0.2",
        Behaviour::Delay(Duration::from_secs(10)),
    );
    let gw = GatewayProcess::start(
        BIN,
        &[(
            "web.yaml",
            &manifests(
                &[hanging.addr()],
                &[("nginx.ingress.kubernetes.io/proxy-read-timeout", "1")],
            ),
        )],
        &[],
    );
    let started = Instant::now();
    let r = gw.get("web.test", "/");
    assert_eq!(r.status, 504, "{}", r.body);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "answered after {waited:?}, not the 60 s default"
    );
}

#[test]
fn consistent_hashing_keeps_each_key_on_one_endpoint() {
    let backends: Vec<Backend> = (2..5)
        .map(|i| backend(&format!("b{i}"), &format!("127.0.0.{i}"), Behaviour::Echo))
        .collect();
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr()).collect();
    let gw = GatewayProcess::start(
        BIN,
        &[(
            "web.yaml",
            &manifests(&addrs, &[("pingress.io/hash-by", "header:x-user")]),
        )],
        &[],
    );
    let mut conn = Connection::open(gw.http).unwrap();
    let mut owners = std::collections::BTreeSet::new();
    for user in 0..30 {
        let user = user.to_string();
        let first = conn
            .request("GET", "web.test", "/", &[("x-user", &user)])
            .unwrap()
            .backend()
            .unwrap()
            .to_string();
        for _ in 0..5 {
            let again = conn
                .request("GET", "web.test", "/", &[("x-user", &user)])
                .unwrap();
            assert_eq!(again.backend(), Some(first.as_str()), "user {user} moved");
        }
        owners.insert(first);
    }
    assert!(
        owners.len() >= 2,
        "30 users spread over the endpoints: {owners:?}"
    );
}

#[test]
fn removing_an_endpoint_lets_its_in_flight_requests_finish() {
    let slow = backend(
        "slow",
        "127.0.0.2",
        Behaviour::Delay(Duration::from_millis(1500)),
    );
    let fast = backend("fast", "127.0.0.3", Behaviour::Echo);
    let gw = GatewayProcess::start(BIN, &[("web.yaml", &manifests(&[slow.addr()], &[]))], &[]);
    let http = gw.http;
    let in_flight = thread::spawn(move || get(http, "web.test", "/slow"));
    assert!(wait_until(Duration::from_secs(5), || slow.requests() == 1));
    // The slow endpoint is replaced (as when its pod terminates and leaves the EndpointSlice).
    let generation = gw.metric("pingress_config_generation").unwrap();
    gw.write("web.yaml", &manifests(&[fast.addr()], &[]));
    assert!(wait_until(Duration::from_secs(5), || gw
        .metric("pingress_config_generation")
        > Some(generation)));
    for _ in 0..5 {
        assert_eq!(gw.get("web.test", "/").backend(), Some("fast"));
    }
    let finished = in_flight.join().unwrap().unwrap();
    assert_eq!((finished.status, finished.backend()), (200, Some("slow")));
    assert_eq!(
        slow.requests(),
        1,
        "no new request reached the removed endpoint"
    );
}

#[test]
fn a_graceful_upgrade_under_load_refuses_no_connection() {
    let web = backend(
        "web",
        "127.0.0.2",
        Behaviour::Delay(Duration::from_millis(20)),
    );
    let mut gw = GatewayProcess::start(
        BIN,
        &[("web.yaml", &manifests(&[web.addr()], &[]))],
        &["--shutdown-timeout", "2s"],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed, addr) = (stop.clone(), ok.clone(), failed.clone(), gw.http);
            thread::spawn(move || {
                // Bounded: at most 2,000 requests per client, and it ends on `stop`.
                for _ in 0..2_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    // A new connection each time: every request also tests the listener.
                    let result = Connection::open(addr).and_then(|mut c| {
                        c.request("GET", "web.test", "/", &[("connection", "close")])
                    });
                    match result {
                        Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::SeqCst),
                        _ => failed.fetch_add(1, Ordering::SeqCst),
                    };
                }
            })
        })
        .collect();
    assert!(wait_until(Duration::from_secs(5), || ok
        .load(Ordering::SeqCst)
        >= 20));
    let old_pid = gw.pid();
    gw.upgrade();
    assert_ne!(gw.pid(), old_pid);
    let at_upgrade = ok.load(Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(5), || ok
        .load(Ordering::SeqCst)
        >= at_upgrade + 20));
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    println!("graceful upgrade under load: {ok} ok, {failed} failed");
    assert_eq!(
        failed, 0,
        "no connection refused or request lost across the upgrade"
    );
    assert_eq!(web.requests(), ok);
}
