//! The fault suite: the real binary under load while something goes wrong, with figures.
//!
//! Each test breaks one thing while clients keep sending requests, counts every outcome, prints
//! the counts (one `faults: NAME: key=value ...` line, visible with `--nocapture`) and asserts
//! them:
//!
//! | test | fault | must hold |
//! |---|---|---|
//! | `config_swaps_under_load` | the manifests rewritten 100 times | 0 failed requests |
//! | `endpoint_drain_under_load` | endpoints leave one by one (not ready / removed) | 0 failed requests, none to a drained endpoint |
//! | `backend_killed_under_load` | one of two backends dies | 0 failed GETs |
//! | `sigterm_under_load` | SIGTERM with requests in flight | all in flight complete; new connections refused |
//! | `invalid_ingresses_interleaved_with_valid_changes` | 50 invalid Ingresses among 50 valid changes | valid routes untouched, 50 diagnostics |
//!
//! The counts are the defaults; `benches/soak` runs the same tests with larger ones through
//! `PINGRESS_SOAK_*` environment variables (see [`soak`]). Every loop is bounded in count and
//! time, and only 127.0.0.0/8 is used. The tests run one at a time (they share two cores with
//! everything else), each on its own gateway.
//!
//! Related faults tested elsewhere: a refusing endpoint and a closing one (retries, POST versus
//! GET) in `tests/resilience.rs`, with ejection, health checks, an in-flight request on a
//! removed endpoint and a graceful upgrade under load.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use pingress_testkit::gateway::{yaml, GatewayProcess};
use pingress_testkit::load::{Load, LoadReport};
use pingress_testkit::{wait_until, Backend, Behaviour, Connection};

const BIN: &str = env!("CARGO_BIN_EXE_pingress");

/// How long one step (a configuration change applied, some traffic through) may take.
const STEP: Duration = Duration::from_secs(10);

/// `PINGRESS_SOAK_<name>` if set (a positive integer), else `default`: `benches/soak` runs the
/// same tests with larger counts.
fn soak(name: &str, default: usize) -> usize {
    let var = format!("PINGRESS_SOAK_{name}");
    match std::env::var(&var) {
        Ok(v) => match v.parse() {
            Ok(n) if n > 0 => n,
            _ => panic!("{var}={v:?}: expected a positive integer"),
        },
        Err(_) => default,
    }
}

/// One test at a time: each drives a gateway with load, on a machine shared with the build.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prints the test's figures as one `faults: NAME: key=value ...` line (`benches/soak` reads it).
fn figures(test: &str, pairs: &[(&str, String)]) {
    let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("faults: {test}: {}", pairs.join(" "));
}

/// The load's ok / non-2xx / errors as figures, and answers per backend.
fn load_figures(report: &LoadReport) -> Vec<(&'static str, String)> {
    let by_backend: Vec<String> = report
        .by_backend
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    vec![
        ("requests", (report.ok + report.failed()).to_string()),
        ("ok", report.ok.to_string()),
        ("non_2xx", report.non_2xx.to_string()),
        ("errors", report.errors.to_string()),
        ("by_backend", by_backend.join(",")),
        ("seconds", format!("{:.1}", report.elapsed.as_secs_f64())),
    ]
}

fn backend(name: &str, addr: &str, behaviour: Behaviour) -> Backend {
    Backend::start(name, addr, behaviour).expect("start backend")
}

fn generation(gw: &GatewayProcess) -> u64 {
    gw.metric("pingress_config_generation").unwrap_or(0.0) as u64
}

/// Waits until the live generation is at least `target`; returns how long that took.
fn wait_generation(gw: &GatewayProcess, target: u64, what: &str) -> Duration {
    wait_generation_within(gw, target, what, STEP)
}

fn wait_generation_within(
    gw: &GatewayProcess,
    target: u64,
    what: &str,
    timeout: Duration,
) -> Duration {
    let started = Instant::now();
    assert!(
        wait_until(timeout, || generation(gw) >= target),
        "{what}: generation {target} not applied within {timeout:?}; log:\n{}",
        gw.log_text()
    );
    started.elapsed()
}

/// Ingress `web.test` → `service`.
/// A gateway with `services` and `web.test` routed to `blue`, each in its own file.
fn web_to_blue(services: &str) -> GatewayProcess {
    GatewayProcess::start(
        BIN,
        &[("services.yaml", services), ("web.yaml", &route_to("blue"))],
        &[],
    )
}

fn route_to(service: &str) -> String {
    yaml::ingress("web", &[("web.test", &[("/", "Prefix", service)])])
}

/// p50 and max of some durations, in milliseconds.
fn p50_max(mut times: Vec<Duration>) -> (String, String) {
    times.sort();
    let ms = |d: Option<&Duration>| format!("{:.0}", d.map_or(0.0, |d| d.as_secs_f64() * 1e3));
    (ms(times.get(times.len() / 2)), ms(times.last()))
}

/// (a) Keep-alive clients hammer `web.test` while its Ingress is rewritten (blue, green, blue,
/// ...) `PINGRESS_SOAK_SWAPS` times (100), each generation applied before the next write.
/// Every request must be answered 200 by a backend.
#[test]
fn config_swaps_under_load() {
    let _serial = serial();
    let swaps = soak("SWAPS", 100);
    let blue = backend("blue", "127.0.0.2", Behaviour::Echo);
    let green = backend("green", "127.0.0.3", Behaviour::Echo);
    let services = [
        yaml::service("blue", &[blue.addr()]),
        yaml::service("green", &[green.addr()]),
    ]
    .concat();
    let gw = web_to_blue(&services);
    let bound = STEP * (2 * swaps as u32) + Duration::from_secs(30);
    let load = Load::start(gw.http, "web.test", "/", 4, 2_000 * swaps + 10_000, bound);
    assert!(load.wait_for_more(20, STEP), "no traffic before the swaps");

    let start = generation(&gw);
    let mut apply = Vec::with_capacity(swaps);
    for i in 0..swaps {
        let service = if i % 2 == 0 { "green" } else { "blue" };
        gw.write("web.yaml", &route_to(service));
        apply.push(wait_generation(
            &gw,
            start + i as u64 + 1,
            &format!("swap {i}"),
        ));
        // Under load: some requests between any two swaps.
        assert!(
            load.wait_for_more(4, STEP),
            "traffic stopped after swap {i}"
        );
    }
    let report = load.finish();
    let final_backend = if swaps % 2 == 1 { "green" } else { "blue" };
    let (p50, max) = p50_max(apply);
    let mut line = vec![
        ("swaps", swaps.to_string()),
        ("generations", (generation(&gw) - start).to_string()),
        ("apply_ms_p50", p50),
        ("apply_ms_max", max),
    ];
    line.extend(load_figures(&report));
    figures("config_swaps_under_load", &line);
    assert_eq!(
        report.failed(),
        0,
        "{swaps} swaps: {report:?}; log:\n{}",
        gw.log_text()
    );
    assert!(blue.requests() > 0 && green.requests() > 0, "{report:?}");
    assert_eq!(gw.get("web.test", "/").backend(), Some(final_backend));
}

/// (b) Four endpoints of one Service; while keep-alive clients send requests (each takes 5 ms
/// at the backend, so some are always in flight), all but the last leave one by one: even ones
/// marked `ready: false`, odd ones removed from the EndpointSlices, as Kubernetes does for a
/// terminating pod. A drained endpoint must get no request once its removal is applied, and no
/// request may fail. With `PINGRESS_SOAK_DRAIN_ROUNDS` > 1 the endpoints come back and leave
/// again; `PINGRESS_SOAK_DRAIN_ENDPOINTS` sets how many there are.
#[test]
fn endpoint_drain_under_load() {
    let _serial = serial();
    let rounds = soak("DRAIN_ROUNDS", 1);
    let count = soak("DRAIN_ENDPOINTS", 4).clamp(2, 200);
    let backends: Vec<Backend> = (0..count)
        .map(|i| {
            backend(
                &format!("e{i}"),
                &format!("127.0.1.{}", i + 10),
                Behaviour::Delay(Duration::from_millis(5)),
            )
        })
        .collect();
    // Per endpoint: None = removed from the EndpointSlices, Some(ready).
    let slices = |state: &[Option<bool>]| {
        let endpoints: Vec<(SocketAddr, bool)> = backends
            .iter()
            .zip(state)
            .filter_map(|(b, s)| s.map(|ready| (b.addr(), ready)))
            .collect();
        yaml::service_with_readiness("web", &endpoints)
    };
    let mut state = vec![Some(true); count];
    let gw = GatewayProcess::start(
        BIN,
        &[
            ("endpoints.yaml", &slices(&state)),
            ("web.yaml", &route_to("web")),
        ],
        &[],
    );
    let steps = rounds * count;
    let bound = STEP * (3 * steps as u32) + Duration::from_secs(30);
    let load = Load::start(gw.http, "web.test", "/", 4, 2_000 * steps + 10_000, bound);
    let (mut drained, mut late, mut apply) = (0, 0, Vec::new());
    for round in 0..rounds {
        if round > 0 {
            // Everyone back before the next round of drains.
            state = vec![Some(true); count];
            gw.write("endpoints.yaml", &slices(&state));
            let target = generation(&gw) + 1;
            apply.push(wait_generation(&gw, target, "restore"));
        }
        // Every endpoint serving before they leave.
        let before: Vec<usize> = backends.iter().map(Backend::requests).collect();
        assert!(
            wait_until(STEP, || backends
                .iter()
                .zip(&before)
                .all(|(b, n)| b.requests() >= n + 10)),
            "round {round}: not every endpoint got traffic"
        );
        for i in 0..count - 1 {
            state[i] = if i % 2 == 0 { Some(false) } else { None };
            gw.write("endpoints.yaml", &slices(&state));
            let target = generation(&gw) + 1;
            apply.push(wait_generation(&gw, target, &format!("drain e{i}")));
            drained += 1;
            // Requests it had already been sent finish; then it must stay idle.
            assert!(
                load.wait_for_more(50, STEP),
                "traffic stopped after drain {i}"
            );
            let settled = backends[i].requests();
            assert!(
                load.wait_for_more(100, STEP),
                "traffic stopped after drain {i}"
            );
            late += backends[i].requests() - settled;
        }
        // The last endpoint serves everything.
        let last = &backends[count - 1];
        let before = last.requests();
        assert!(
            wait_until(STEP, || last.requests() >= before + 20),
            "the last endpoint serves"
        );
    }
    let report = load.finish();
    let (p50, max) = p50_max(apply);
    let mut line = vec![
        ("endpoints", count.to_string()),
        ("rounds", rounds.to_string()),
        ("drained", drained.to_string()),
        ("late_to_drained", late.to_string()),
        ("apply_ms_p50", p50),
        ("apply_ms_max", max),
    ];
    line.extend(load_figures(&report));
    figures("endpoint_drain_under_load", &line);
    assert_eq!(
        report.failed(),
        0,
        "{drained} drains: {report:?}; log:\n{}",
        gw.log_text()
    );
    assert_eq!(late, 0, "requests reached drained endpoints");
}

/// (c) Two endpoints behind `pingress.io/retries: "2"`; keep-alive clients send GETs (2 ms at
/// the backend, so some are in flight on the victim); one backend dies as a killed process
/// does (listener closed, every connection shut). No GET may fail: the ones it was serving are
/// retried on the other endpoint, new connections to it are refused and retried before
/// anything was sent, and it is ejected. With `PINGRESS_SOAK_KILLS` > 1 the dead one is
/// restarted on the same address, comes back after its ejection, and the other one dies next.
///
/// `tests/resilience.rs` covers an endpoint that refuses from the start and one that closes
/// every connection (a POST that was sent is not retried, a GET is).
#[test]
fn backend_killed_under_load() {
    let _serial = serial();
    let kills = soak("KILLS", 1);
    let delay = Behaviour::Delay(Duration::from_millis(2));
    let mut backends = [
        backend("a", "127.0.0.20", delay),
        backend("b", "127.0.0.21", delay),
    ];
    let addrs = [backends[0].addr(), backends[1].addr()];
    let manifests = [
        yaml::service("web", &addrs),
        yaml::annotated(&route_to("web"), &[("pingress.io/retries", "2")]),
    ]
    .concat();
    let gw = GatewayProcess::start(BIN, &[("web.yaml", &manifests)], &["--eject-for", "1s"]);
    let bound = STEP * (3 * kills as u32) + Duration::from_secs(30);
    let load = Load::start(gw.http, "web.test", "/", 4, 2_000 * kills + 10_000, bound);
    let mut open_at_kill = 0;
    for k in 0..kills {
        let (victim, survivor) = (k % 2, 1 - k % 2);
        // Both serving (a restarted one is back from its ejection) before one dies.
        let before = [backends[0].requests(), backends[1].requests()];
        assert!(
            wait_until(STEP, || (0..2)
                .all(|b| backends[b].requests() > before[b] + 20)),
            "kill {k}: not both backends serve: {:?} -> {} and {}",
            before,
            backends[0].requests(),
            backends[1].requests()
        );
        open_at_kill += backends[victim].kill();
        let survivor_count = backends[survivor].requests();
        assert!(
            load.wait_for_more(200, STEP),
            "traffic stopped after kill {k}"
        );
        assert!(backends[survivor].requests() >= survivor_count + 200);
        if k + 1 < kills {
            // Restarted on the same address (the listener closes asynchronously).
            let (name, addr) = (backends[victim].name().to_string(), addrs[victim]);
            let mut restarted = None;
            assert!(wait_until(STEP, || {
                restarted = Backend::start_on(&name, &addr.to_string(), delay).ok();
                restarted.is_some()
            }));
            backends[victim] = restarted.unwrap();
        }
    }
    let report = load.finish();
    let retries = gw.metric_sum("pingress_upstream_retries_total", &[]);
    let ejections = gw.metric_sum("pingress_upstream_ejections_total", &[]);
    let mut line = vec![
        ("kills", kills.to_string()),
        ("connections_open_at_kill", open_at_kill.to_string()),
        ("retries", retries.unwrap_or(0.0).to_string()),
        ("ejections", ejections.unwrap_or(0.0).to_string()),
    ];
    line.extend(load_figures(&report));
    figures("backend_killed_under_load", &line);
    assert_eq!(
        report.failed(),
        0,
        "{kills} kills: {report:?}; log:\n{}",
        gw.log_text()
    );
    assert!(
        retries >= Some(1.0),
        "the dead endpoint's requests were retried"
    );
}

/// How one request on a new connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// A complete `200`.
    Ok,
    /// A complete answer with another status.
    Status(u16),
    /// The connection was refused: the listener is closed, nothing was sent.
    Refused,
    /// Connected and sent, then reset or closed without a (complete) answer.
    Lost,
}

/// One `GET` on a new connection with `connection: close`.
fn one_request(addr: SocketAddr, host: &str) -> Outcome {
    let stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Outcome::Refused,
        Err(_) => return Outcome::Lost,
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut conn = Connection::over(stream);
    match conn.request("GET", host, "/", &[("connection", "close")]) {
        Ok(r) if r.status == 200 => Outcome::Ok,
        Ok(r) => Outcome::Status(r.status),
        Err(_) => Outcome::Lost,
    }
}

/// (d) SIGTERM under load. `PINGRESS_SOAK_SIGTERM_INFLIGHT` requests (8) are in flight at a
/// slow backend (1.5 s) and four clients send a request per new connection to a quicker one
/// (50 ms) when the gateway gets SIGTERM (`--shutdown-timeout 4s`). Then:
/// - every request in flight completes with 200, and every request the quick backend received
///   was answered (none lost once started);
/// - once the listener is closed, new connections are refused: none is accepted and then reset;
/// - idle keep-alive connections are closed by the gateway at once, before a client sends on
///   them (so a client learns to reconnect before it sends, instead of losing a request);
/// - the process exits after the shutdown timeout.
///
/// A connection that completed its handshake in the kernel's accept queue just before the
/// listener closed is reset without its request reaching the gateway; that race is counted
/// (`reset_unstarted`), not asserted. With `PINGRESS_SOAK_SIGTERMS` > 1 it runs on a new
/// gateway each time.
#[test]
fn sigterm_under_load() {
    let _serial = serial();
    let rounds = soak("SIGTERMS", 1);
    let in_flight = soak("SIGTERM_INFLIGHT", 8);
    let slow = backend(
        "slow",
        "127.0.0.30",
        Behaviour::Delay(Duration::from_millis(1500)),
    );
    let quick = backend(
        "quick",
        "127.0.0.31",
        Behaviour::Delay(Duration::from_millis(50)),
    );
    let manifests = [
        yaml::service("slow", &[slow.addr()]),
        yaml::service("quick", &[quick.addr()]),
        yaml::ingress(
            "web",
            &[
                ("slow.test", &[("/", "Prefix", "slow")]),
                ("quick.test", &[("/", "Prefix", "quick")]),
            ],
        ),
    ]
    .concat();
    let (mut in_flight_ok, mut load_ok, mut reset_unstarted) = (0, 0, 0);
    let (mut refused_after_close, mut accepted_after_close, mut load_statuses) = (0, 0, 0);
    const IDLE: usize = 4;
    let mut idle_closed = 0;
    let mut close_ms = Vec::new();
    let mut exit_ms = Vec::new();
    for round in 0..rounds {
        let (slow_before, quick_before) = (slow.requests(), quick.requests());
        let mut gw = GatewayProcess::start(
            BIN,
            &[("web.yaml", &manifests)],
            &["--shutdown-timeout", "4s"],
        );
        let http = gw.http;

        // Background load: a request per new connection, until refused (bounded).
        let stop = Arc::new(AtomicBool::new(false));
        let completed = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let (stop, completed) = (stop.clone(), completed.clone());
                thread::spawn(move || {
                    let mut outcomes = Vec::new();
                    for _ in 0..1_000 {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let outcome = one_request(http, "quick.test");
                        if outcome == Outcome::Ok {
                            completed.fetch_add(1, Ordering::SeqCst);
                        }
                        outcomes.push(outcome);
                        if outcome == Outcome::Refused {
                            break;
                        }
                    }
                    outcomes
                })
            })
            .collect();
        assert!(wait_until(STEP, || completed.load(Ordering::SeqCst) >= 20));

        // Idle keep-alive connections, each used once.
        let idle: Vec<Connection> = (0..IDLE)
            .map(|_| {
                let mut c = Connection::open(http).unwrap();
                let r = c.request("GET", "quick.test", "/", &[]).unwrap();
                assert_eq!(r.status, 200);
                c
            })
            .collect();

        // The requests in flight: all at the slow backend before the signal.
        let waiting: Vec<_> = (0..in_flight)
            .map(|_| thread::spawn(move || one_request(http, "slow.test")))
            .collect();
        assert!(
            wait_until(STEP, || slow.requests() == slow_before + in_flight),
            "round {round}: {} of {in_flight} requests reached the slow backend",
            slow.requests() - slow_before
        );
        let signalled = Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &gw.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());

        // The listener closes at once: wait for a refusal, then every new connection must be
        // refused too.
        assert!(
            wait_until(Duration::from_secs(3), || {
                TcpStream::connect_timeout(&http, Duration::from_secs(1))
                    .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused)
            }),
            "round {round}: the listener still accepts 3 s after SIGTERM"
        );
        close_ms.push(signalled.elapsed());
        for _ in 0..20 {
            match TcpStream::connect_timeout(&http, Duration::from_secs(1)) {
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => refused_after_close += 1,
                Err(_) => accepted_after_close += 1,
                Ok(mut s) => {
                    accepted_after_close += 1;
                    let _ = s.write_all(b"GET / HTTP/1.1\r\nhost: quick.test\r\n\r\n");
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = s.read(&mut [0; 64]);
                }
            }
        }

        // The idle keep-alive connections are closed by the gateway (end of stream), so their
        // clients see it before sending anything.
        for c in &idle {
            let _ = c.stream().set_read_timeout(Some(Duration::from_secs(2)));
            if c.stream().peek(&mut [0; 1]).is_ok_and(|n| n == 0) {
                idle_closed += 1;
            }
        }

        for w in waiting {
            if w.join().unwrap() == Outcome::Ok {
                in_flight_ok += 1;
            }
        }
        stop.store(true, Ordering::SeqCst);
        let mut outcomes = Vec::new();
        for c in clients {
            outcomes.extend(c.join().unwrap());
        }
        let tally = |o: Outcome| outcomes.iter().filter(|x| **x == o).count();
        let round_ok = tally(Outcome::Ok);
        load_ok += round_ok;
        reset_unstarted += tally(Outcome::Lost);
        load_statuses += outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Status(_)))
            .count();
        // One endpoint and no retries: each request the quick backend got came from a client
        // (or was the first on an idle connection), so every one of them must have been
        // answered.
        assert_eq!(
            quick.requests() - quick_before,
            round_ok + IDLE,
            "round {round}: requests started at the backend but not completed: {outcomes:?}"
        );

        assert!(
            wait_until(Duration::from_secs(10), || !gw.is_running()),
            "round {round}: still running 10 s after SIGTERM (--shutdown-timeout 4s)"
        );
        exit_ms.push(signalled.elapsed());
    }
    let (close_p50, close_max) = p50_max(close_ms);
    let (exit_p50, exit_max) = p50_max(exit_ms);
    let in_flight_lost = rounds * in_flight - in_flight_ok;
    figures(
        "sigterm_under_load",
        &[
            ("rounds", rounds.to_string()),
            ("in_flight", (rounds * in_flight).to_string()),
            ("in_flight_ok", in_flight_ok.to_string()),
            // Requests that reached the gateway: in flight and the load's.
            (
                "requests",
                (rounds * in_flight + load_ok + load_statuses).to_string(),
            ),
            ("ok", (in_flight_ok + load_ok).to_string()),
            ("non_2xx", load_statuses.to_string()),
            ("errors", in_flight_lost.to_string()),
            ("reset_unstarted", reset_unstarted.to_string()),
            ("refused_after_close", refused_after_close.to_string()),
            ("accepted_after_close", accepted_after_close.to_string()),
            ("idle_keepalive", (rounds * IDLE).to_string()),
            ("idle_keepalive_closed", idle_closed.to_string()),
            ("listener_closed_ms_max", close_max),
            ("listener_closed_ms_p50", close_p50),
            ("exit_ms_p50", exit_p50),
            ("exit_ms_max", exit_max),
        ],
    );
    assert_eq!(in_flight_ok, rounds * in_flight, "requests in flight lost");
    assert_eq!(load_statuses, 0, "non-200 answers under load");
    assert_eq!(accepted_after_close, 0, "connections accepted after close");
    assert_eq!(refused_after_close, rounds * 20);
    assert_eq!(
        idle_closed,
        rounds * IDLE,
        "idle keep-alive connections left open"
    );
}

/// (d') SIGTERM with `--shutdown-delay`: `/readyz` fails at once while the gateway goes on
/// accepting and serving new connections for the delay; then the listener closes and the
/// process exits. A load balancer that follows `/readyz` has stopped sending by then, so the
/// accept-queue race of (d) does not happen.
#[test]
fn sigterm_with_a_drain_delay_keeps_serving_until_the_delay_is_over() {
    let _serial = serial();
    let web = backend("web", "127.0.0.2", Behaviour::Echo);
    let manifests = [yaml::service("web", &[web.addr()]), route_to("web")].concat();
    let gw = GatewayProcess::start(
        BIN,
        &[("web.yaml", &manifests)],
        &["--shutdown-delay", "2s", "--shutdown-timeout", "1s"],
    );
    let http = gw.http;
    let readyz = || pingress_testkit::get(gw.admin, "admin", "/readyz").map(|r| r.status);
    assert_eq!(readyz().ok(), Some(200));
    let signalled = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &gw.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    assert!(
        wait_until(Duration::from_secs(1), || readyz().ok() == Some(503)),
        "/readyz still ready after SIGTERM"
    );
    let not_ready_after = signalled.elapsed();
    // During the delay every new connection is served.
    let mut served = 0;
    while signalled.elapsed() < Duration::from_millis(1500) {
        assert_eq!(
            one_request(http, "web.test"),
            Outcome::Ok,
            "a new connection {:?} after SIGTERM",
            signalled.elapsed()
        );
        served += 1;
        thread::sleep(Duration::from_millis(50));
    }
    // Then the listener closes.
    assert!(
        wait_until(Duration::from_secs(3), || {
            TcpStream::connect_timeout(&http, Duration::from_secs(1))
                .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused)
        }),
        "the listener still accepts 3 s after the 2 s delay"
    );
    let closed_after = signalled.elapsed();
    figures(
        "sigterm_with_a_drain_delay",
        &[
            (
                "not_ready_after_ms",
                not_ready_after.as_millis().to_string(),
            ),
            ("served_during_delay", served.to_string()),
            (
                "listener_closed_after_ms",
                closed_after.as_millis().to_string(),
            ),
        ],
    );
    assert!(
        closed_after >= Duration::from_secs(2),
        "closed after {closed_after:?}, before the delay"
    );
    assert!(served >= 10, "only {served} requests during the delay");
}

/// The invalid Ingress number `i`, of one of five kinds in turn, each giving exactly one
/// diagnostic; all point at the Service `trap`, which must never get a request. Kinds 1–3 name
/// `web.test`, the host the load is on. Returns (YAML, whether it is a parse error).
fn invalid_ingress(i: usize) -> (String, bool) {
    let name = format!("bad-{i:03}");
    let on_web = |path: &str, path_type: &str| {
        yaml::ingress(&name, &[("web.test", &[(path, path_type, "trap")])])
    };
    match i % 5 {
        // A host with a port: `spec.rules[0].host`.
        0 => (
            yaml::ingress(
                &name,
                &[(
                    &format!("web.test:{}", 8000 + i),
                    &[("/", "Prefix", "trap")],
                )],
            ),
            false,
        ),
        // `//` in the path.
        1 => (on_web(&format!("/bad-{i}//x"), "Prefix"), false),
        // An unsupported pathType on `/`, which the valid Ingress `web` serves.
        2 => (on_web("/", "Regex"), false),
        // Port number 0.
        3 => (
            on_web("/", "Prefix").replace("number: 80", "number: 0"),
            false,
        ),
        // Not even parsed: a port number that is not a number.
        _ => (
            on_web("/", "Prefix").replace("number: 80", "number: eighty"),
            true,
        ),
    }
}

/// (e) `PINGRESS_SOAK_INVALID` (50) invalid Ingresses, each in a new file, interleaved with as
/// many valid changes (a new Ingress `v{i}.test` → blue or green), while keep-alive clients
/// use `web.test` → blue. The invalid ones change nothing: no new generation, no request to
/// their Service, `web.test` answered by blue throughout; each valid change is applied (one
/// generation each) and served. Each invalid Ingress gives one diagnostic: translation errors
/// in `pingress_config_diagnostics{kind="Ingress",severity="error"}`, parse errors in
/// `pingress_controller_source_events_total{result="error"}`, and one ERROR log line each.
#[test]
fn invalid_ingresses_interleaved_with_valid_changes() {
    let _serial = serial();
    let changes = soak("INVALID", 50);
    // 1 ms per request at the backend: load that leaves the CPU to the reloads, which read
    // every file again (up to twice `changes` of them).
    let blue = backend(
        "blue",
        "127.0.0.40",
        Behaviour::Delay(Duration::from_millis(1)),
    );
    let green = backend("green", "127.0.0.41", Behaviour::Echo);
    let trap = backend("trap", "127.0.0.42", Behaviour::Echo);
    let services = [
        yaml::service("blue", &[blue.addr()]),
        yaml::service("green", &[green.addr()]),
        yaml::service("trap", &[trap.addr()]),
    ]
    .concat();
    let gw = web_to_blue(&services);
    let diagnostics = || {
        gw.metric_sum(
            "pingress_config_diagnostics",
            &[("kind", "Ingress"), ("severity", "error")],
        )
        .unwrap_or(0.0) as usize
    };
    let parse_errors = || {
        gw.metric_sum(
            "pingress_controller_source_events_total",
            &[("result", "error")],
        )
        .unwrap_or(0.0) as usize
    };
    let bound = (STEP + Duration::from_millis(40 * changes as u64)) * (2 * changes as u32)
        + Duration::from_secs(30);
    let load = Load::start(gw.http, "web.test", "/", 2, 2_000 * changes + 10_000, bound);
    assert!(load.wait_for_more(20, STEP));

    let start = generation(&gw);
    let (mut expect_diagnostics, mut expect_parse_errors) = (0, 0);
    let mut extra_generations = 0;
    for i in 0..changes {
        // Each reload reads every file again: allow for the files written so far.
        let step = STEP + Duration::from_millis(20 * 2 * i as u64);
        let (invalid, unparsable) = invalid_ingress(i);
        gw.write(&format!("bad-{i:03}.yaml"), &invalid);
        let counted = if unparsable {
            expect_parse_errors += 1;
            wait_until(step, || parse_errors() >= expect_parse_errors)
        } else {
            expect_diagnostics += 1;
            wait_until(step, || diagnostics() >= expect_diagnostics)
        };
        assert!(
            counted,
            "invalid Ingress {i} not reported; diagnostics {}, parse errors {}; log:\n{}",
            diagnostics(),
            parse_errors(),
            gw.log_text()
        );
        if generation(&gw) != start + i as u64 {
            extra_generations += 1;
        }

        let (host, colour) = (format!("v{i}.test"), ["blue", "green"][i % 2]);
        let valid = yaml::ingress(
            &format!("valid-{i:03}"),
            &[(&host, &[("/", "Prefix", colour)])],
        );
        gw.write(&format!("valid-{i:03}.yaml"), &valid);
        let target = start + i as u64 + 1;
        wait_generation_within(&gw, target, &format!("valid change {i}"), step);
        assert_eq!(
            gw.get(&host, "/").backend(),
            Some(colour),
            "valid change {i}"
        );
        assert!(load.wait_for_more(2, STEP), "traffic stopped at change {i}");
    }
    let report = load.finish();
    let still_routed = (0..changes)
        .filter(|i| gw.get(&format!("v{i}.test"), "/").backend() == Some(["blue", "green"][i % 2]))
        .count();
    let log = gw.log_text();
    let logged: BTreeSet<usize> = (0..changes)
        .filter(|i| {
            let name = format!("bad-{i:03}");
            log.lines()
                .any(|l| l.contains("ERROR") && l.contains(&name))
        })
        .collect();
    let (counted_diagnostics, counted_parse_errors) = (diagnostics(), parse_errors());
    let mut line = vec![
        ("invalid", changes.to_string()),
        ("valid", changes.to_string()),
        ("diagnostics", counted_diagnostics.to_string()),
        ("parse_errors", counted_parse_errors.to_string()),
        ("logged", logged.len().to_string()),
        ("generations", (generation(&gw) - start).to_string()),
        ("generations_from_invalid", extra_generations.to_string()),
        ("valid_routes_ok", still_routed.to_string()),
        ("trap_requests", trap.requests().to_string()),
    ];
    line.extend(load_figures(&report));
    figures("invalid_ingresses_interleaved_with_valid_changes", &line);

    assert_eq!(
        counted_diagnostics + counted_parse_errors,
        changes,
        "one diagnostic per invalid Ingress"
    );
    assert_eq!(
        (counted_diagnostics, counted_parse_errors),
        (expect_diagnostics, expect_parse_errors)
    );
    assert_eq!(
        logged.len(),
        changes,
        "each invalid Ingress logged; log:\n{log}"
    );
    assert_eq!(
        extra_generations, 0,
        "an invalid Ingress made a new generation"
    );
    assert_eq!(
        generation(&gw) - start,
        changes as u64,
        "one generation per valid change"
    );
    assert_eq!(still_routed, changes, "valid routes lost");
    assert_eq!(trap.requests(), 0, "an invalid Ingress routed traffic");
    assert_eq!(report.failed(), 0, "{report:?}");
    assert_eq!(
        report.by_backend.keys().collect::<Vec<_>>(),
        ["blue"],
        "{report:?}"
    );
}
