//! Hostile and malformed HTTP/1 input against the real gateway: exact bytes in, the expected
//! status and connection state out, and recording backends that count how many requests
//! actually reached them. Each row of docs/security.md has a case here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use pingress_testkit::gateway::{yaml, GatewayProcess};
use pingress_testkit::{Backend, Behaviour, Connection};

const BIN: &str = env!("CARGO_BIN_EXE_pingress");
const HOST: &str = "h.test";

/// What the gateway must do with one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// The connection stays usable: a follow-up request on it is answered 200.
    Open,
    /// The gateway closes the connection after its answer.
    Closed,
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    status: u16,
    after: After,
    /// Requests the `public` and `admin` backends must receive.
    reached: (usize, usize),
    /// The path the backend must see, when one is reached.
    forwarded_path: Option<&'static str>,
}

fn case(name: &'static str, bytes: impl Into<Vec<u8>>, status: u16, after: After) -> Case {
    Case {
        name,
        bytes: bytes.into(),
        status,
        after,
        reached: (0, 0),
        forwarded_path: None,
    }
}

impl Case {
    fn reaches(mut self, public: usize, admin: usize, path: &'static str) -> Case {
        self.reached = (public, admin);
        self.forwarded_path = Some(path);
        self
    }
}

/// `GET target` with `Host: h.test` and `extra` header lines.
fn get(target: &str, extra: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: {HOST}\r\n{extra}\r\n").into_bytes()
}

/// `POST /public` with `headers` (each line ending in CRLF) and `body`.
fn post(headers: &str, body: &str) -> Vec<u8> {
    format!("POST /public HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n{body}").into_bytes()
}

struct Fixture {
    gateway: GatewayProcess,
    public: Backend,
    admin: Backend,
}

fn fixture(extra_args: &[&str]) -> Fixture {
    let public = Backend::start("public", "127.0.0.2", Behaviour::Echo).expect("backend");
    let admin = Backend::start("admin", "127.0.0.3", Behaviour::Echo).expect("backend");
    let manifests = [
        yaml::service("public", &[public.addr()]),
        yaml::service("admin", &[admin.addr()]),
        yaml::ingress(
            "site",
            &[(
                HOST,
                &[
                    ("/public", "Prefix", "public"),
                    ("/admin", "Prefix", "admin"),
                ],
            )],
        ),
    ]
    .concat();
    let gateway = GatewayProcess::start(BIN, &[("site.yaml", &manifests)], extra_args);
    Fixture {
        gateway,
        public,
        admin,
    }
}

/// Whether the server closed `stream` (end of stream or reset) within `wait`.
fn closed(mut stream: &TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn run(fx: &Fixture, case: &Case) -> Result<(), String> {
    let before = (fx.public.requests(), fx.admin.requests());
    let stream = TcpStream::connect(fx.gateway.http).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut conn = Connection::over(stream);
    let response = conn
        .raw(&case.bytes)
        .map_err(|e| format!("no response: {e}"))?;
    let mut problems = Vec::new();
    if response.status != case.status {
        problems.push(format!(
            "status {} (want {}): {:?}",
            response.status, case.status, response.body
        ));
    }
    let reached = (
        fx.public.requests() - before.0,
        fx.admin.requests() - before.1,
    );
    if reached != case.reached {
        problems.push(format!(
            "backends reached (public, admin) = {reached:?}, want {:?}",
            case.reached
        ));
    }
    if let Some(path) = case.forwarded_path {
        if response.body_field("path") != Some(path) {
            problems.push(format!(
                "forwarded path {:?}, want {path:?}",
                response.body_field("path")
            ));
        }
    }
    match case.after {
        After::Open => {
            let again = conn.request("GET", HOST, "/public/again", &[]);
            if again.as_ref().map(|r| r.status).ok() != Some(200) {
                problems.push(format!(
                    "connection not reusable: {:?}",
                    again.map(|r| r.status)
                ));
            }
        }
        After::Closed => {
            let stream = conn.stream().try_clone().unwrap();
            if !closed(&stream, Duration::from_secs(1)) {
                problems.push("connection left open".to_string());
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn run_all(fx: &Fixture, cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let outcome = run(fx, case);
        println!(
            "{:<58} {} {:?} reached={:?} {}",
            case.name,
            case.status,
            case.after,
            case.reached,
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if let Err(e) = outcome {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn malformed_framing_and_headers_never_reach_a_backend() {
    use After::*;
    let fx = fixture(&[
        "--max-request-line",
        "1k",
        "--max-header-size",
        "4k",
        "--max-body-size",
        "1k",
    ]);
    let smuggle = "POST /public HTTP/1.1\r\nHost: h.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: h.test\r\n\r\n";
    let cases = vec![
        case("valid request", get("/public", ""), 200, Open).reaches(1, 0, "/public"),
        case(
            "valid chunked body",
            post("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"),
            200,
            Open,
        )
        .reaches(1, 0, "/public"),
        case(
            "Content-Length with Transfer-Encoding (smuggling)",
            smuggle,
            400,
            Closed,
        ),
        case(
            "Transfer-Encoding: gzip, chunked",
            post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
            400,
            Closed,
        ),
        case(
            "Transfer-Encoding: chunked, chunked",
            post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
            400,
            Closed,
        ),
        case(
            "Transfer-Encoding twice",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            400,
            Closed,
        ),
        case(
            "Transfer-Encoding: identity",
            post("Transfer-Encoding: identity\r\n", ""),
            400,
            Closed,
        ),
        case(
            "Transfer-Encoding on HTTP/1.0",
            "POST /public HTTP/1.0\r\nHost: h.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            Closed,
        ),
        case(
            "differing Content-Length",
            post("Content-Length: 3\r\nContent-Length: 4\r\n", "abcd"),
            400,
            Closed,
        ),
        case(
            "duplicate equal Content-Length",
            post("Content-Length: 3\r\nContent-Length: 3\r\n", "abc"),
            400,
            Closed,
        ),
        case(
            "Content-Length list",
            post("Content-Length: 3, 3\r\n", "abc"),
            400,
            Closed,
        ),
        case(
            "Content-Length not a number",
            post("Content-Length: abc\r\n", ""),
            400,
            Closed,
        ),
        case(
            "Content-Length with a sign",
            post("Content-Length: +3\r\n", "abc"),
            400,
            Closed,
        ),
        case(
            "obs-fold",
            get("/public", "X-A: 1\r\n folded\r\n"),
            400,
            Closed,
        ),
        case(
            "whitespace before the colon",
            "GET /public HTTP/1.1\r\nHost : h.test\r\n\r\n",
            400,
            Closed,
        ),
        case(
            "empty header name",
            get("/public", ": value\r\n"),
            400,
            Closed,
        ),
        case(
            "NUL in a header value",
            get("/public", "X-A: a\0b\r\n"),
            400,
            Closed,
        ),
        case(
            "control byte in a header value",
            get("/public", "X-A: a\x01b\r\n"),
            400,
            Closed,
        ),
        case(
            "bare CR in a header line",
            get("/public", "X-A: a\rb\r\n"),
            400,
            Closed,
        ),
        case(
            "header section over --max-header-size",
            get("/public", &format!("X-Big: {}\r\n", "b".repeat(5000))),
            431,
            Closed,
        ),
        case(
            "request line over --max-request-line",
            get(&format!("/public/{}", "l".repeat(1100)), ""),
            414,
            Closed,
        ),
        case(
            "HTTP/1.1 without Host",
            "GET /public HTTP/1.1\r\n\r\n",
            400,
            Closed,
        ),
        case(
            "two Host headers",
            get("/public", "Host: other.test\r\n"),
            400,
            Closed,
        ),
        case(
            "absolute-form authority differs from Host",
            format!("GET http://other.test/admin HTTP/1.1\r\nHost: {HOST}\r\n\r\n"),
            400,
            Closed,
        ),
        case(
            "userinfo in Host",
            "GET /public HTTP/1.1\r\nHost: evil@h.test\r\n\r\n",
            400,
            Closed,
        ),
        case(
            "bad method token",
            "G(T /public HTTP/1.1\r\nHost: h.test\r\n\r\n",
            400,
            Closed,
        ),
        case(
            "Content-Length over --max-body-size",
            post("Content-Length: 2048\r\n", ""),
            413,
            Closed,
        ),
        case(
            "OPTIONS *",
            format!("OPTIONS * HTTP/1.1\r\nHost: {HOST}\r\n\r\n"),
            400,
            Closed,
        ),
    ];
    run_all(&fx, &cases);
}

#[test]
fn paths_are_matched_as_they_are_forwarded() {
    use After::*;
    let fx = fixture(&[]);
    let cases = vec![
        case(
            "dot-dot out of /public",
            get("/public/../admin/x", ""),
            200,
            Open,
        )
        .reaches(0, 1, "/admin/x"),
        case(
            "encoded dot-dot",
            get("/public/%2e%2E/admin", ""),
            200,
            Open,
        )
        .reaches(0, 1, "/admin"),
        case(
            "half-encoded dot-dot",
            get("/public/.%2e/admin", ""),
            200,
            Open,
        )
        .reaches(0, 1, "/admin"),
        case("dot segment", get("/public/./x", ""), 200, Open).reaches(1, 0, "/public/x"),
        case("double slashes merge", get("//public//x", ""), 200, Open).reaches(1, 0, "/public/x"),
        case(
            "encoded unreserved letters",
            get("/%70ublic/%7Euser", ""),
            200,
            Open,
        )
        .reaches(1, 0, "/public/~user"),
        case(
            "other escapes kept, hex upper-cased",
            get("/public/a%2fb%3f", ""),
            200,
            Open,
        )
        .reaches(1, 0, "/public/a%2Fb%3F"),
        case(
            "space inside the target (Pingora percent-encodes it)",
            get("/public/a b", ""),
            200,
            Open,
        )
        .reaches(1, 0, "/public/a%20b"),
        case(
            "query kept as sent",
            get("/public/../public/q?a=%2e%2e&b=/../", ""),
            200,
            Open,
        )
        .reaches(1, 0, "/public/q?a=%2e%2e&b=/../"),
        case(
            "encoded slash is not a separator",
            get("/public%2F..%2Fadmin", ""),
            404,
            Closed,
        ),
        case(
            "backslash is not a separator",
            get("/public\\..\\admin", ""),
            404,
            Closed,
        ),
        case("dot-dot above the root", get("/../admin", ""), 400, Closed),
        case(
            "encoded dot-dot above the root",
            get("/%2e%2e/admin", ""),
            400,
            Closed,
        ),
        case("encoded NUL", get("/public/%00", ""), 400, Closed),
        case("broken escape", get("/public/%zz", ""), 400, Closed),
        case("truncated escape", get("/public/%2", ""), 400, Closed),
    ];
    run_all(&fx, &cases);

    // With --encoded-slashes decode, an encoded slash separates segments before matching.
    let fx = fixture(&["--encoded-slashes", "decode"]);
    run_all(
        &fx,
        &[case(
            "decoded encoded slashes",
            get("/public%2F..%2Fadmin", ""),
            200,
            Open,
        )
        .reaches(0, 1, "/admin")],
    );
    let fx = fixture(&["--encoded-slashes", "reject"]);
    run_all(
        &fx,
        &[case(
            "rejected encoded slash",
            get("/public%2Fx", ""),
            400,
            Closed,
        )],
    );
}

#[test]
fn forwarding_and_hop_by_hop_headers_are_ours() {
    let fx = fixture(&[]);
    let mut conn = Connection::open(fx.gateway.http).unwrap();
    let response = conn
        .request(
            "GET",
            HOST,
            "/public",
            &[
                ("X-Forwarded-For", "6.6.6.6"),
                ("X-Real-IP", "6.6.6.6"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "evil.test"),
                ("Forwarded", "for=6.6.6.6"),
                ("X_Forwarded_For", "7.7.7.7"),
                ("User_Id", "admin"),
                ("Connection", "keep-alive, X-Secret"),
                ("X-Secret", "hop"),
                ("Keep-Alive", "timeout=5"),
                ("Proxy-Connection", "keep-alive"),
                ("TE", "trailers"),
                ("X-Kept", "yes"),
            ],
        )
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    let seen = |name: &str| response.body_field(&format!("header:{name}"));
    assert_eq!(seen("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(seen("x-forwarded-proto"), Some("http"));
    assert_eq!(seen("x-forwarded-host"), Some(HOST));
    assert_eq!(seen("x-kept"), Some("yes"));
    for dropped in [
        "forwarded",
        "x_forwarded_for",
        "user_id",
        "x-secret",
        "keep-alive",
        "proxy-connection",
        "te",
    ] {
        assert_eq!(
            seen(dropped),
            None,
            "{dropped} reached the backend:\n{}",
            response.body
        );
    }

    // A trusted proxy's chain is kept and extended.
    let fx = fixture(&[
        "--trusted-proxies",
        "127.0.0.0/8",
        "--allow-underscores-in-headers",
    ]);
    let response = Connection::open(fx.gateway.http)
        .unwrap()
        .request(
            "GET",
            HOST,
            "/public",
            &[
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Forwarded-Proto", "https"),
                ("User_Id", "7"),
            ],
        )
        .unwrap();
    let seen = |name: &str| response.body_field(&format!("header:{name}"));
    assert_eq!(seen("x-forwarded-for"), Some("203.0.113.9, 127.0.0.1"));
    assert_eq!(seen("x-real-ip"), Some("203.0.113.9"));
    assert_eq!(seen("x-forwarded-proto"), Some("https"));
    assert_eq!(seen("user_id"), Some("7"));
}

/// Sends a chunked body that grows past the limit: the gateway answers 413, the request never
/// completes upstream, and the upstream connection that saw part of it is not reused.
#[test]
fn a_chunked_body_over_the_limit_is_cut() {
    let fx = fixture(&["--max-body-size", "4k"]);
    let mut stream = TcpStream::connect(fx.gateway.http).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let chunk = format!("400\r\n{}\r\n", "c".repeat(1024));
    stream
        .write_all(
            format!("POST /public HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    // Up to 8 KiB; the gateway may stop reading (and answer) as soon as 4 KiB are passed.
    for _ in 0..8 {
        if stream.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut conn = Connection::over(stream);
    let response = conn.raw(b"").expect("an answer");
    assert_eq!(response.status, 413, "{}", response.body);
    assert_eq!(
        fx.public.requests(),
        0,
        "the cut request never completed upstream"
    );
    // Were the upstream connection that saw half a body pooled, this request's bytes would be
    // read as more of that body and it would fail.
    for i in 0..3 {
        let next = fx.gateway.get(HOST, "/public/next");
        assert_eq!(next.status, 200, "request {i} after the cut: {}", next.body);
    }
    assert_eq!(fx.public.requests(), 3);
}

/// Header-deadline, connection limits, and memory under a slowloris crowd.
#[test]
fn slow_clients_are_bounded() {
    let fx = fixture(&[
        "--client-header-timeout",
        "1s",
        "--max-connections",
        "60",
        "--max-connections-per-ip",
        "50",
    ]);
    let http: SocketAddr = fx.gateway.http;
    let rss = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", fx.gateway.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    let rss_before = rss();

    // 80 clients from 127.0.0.1 trickle a header a byte at a time: 50 are admitted (per IP),
    // the rest are closed at once.
    let mut crowd: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(http).ok())
        .collect();
    let started = Instant::now();
    let mut alive = crowd.len();
    while started.elapsed() < Duration::from_millis(600) {
        for s in &mut crowd {
            let _ = s.write_all(b"G");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let open = fx
        .gateway
        .metric_sum("pingress_downstream_connections", &[])
        .unwrap();
    // Another address still gets in (10 more fit under --max-connections).
    let other = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--interface",
            "127.0.0.5",
        ])
        .args([
            "-H",
            &format!("Host: {HOST}"),
            &format!("http://{http}/public"),
        ])
        .output()
        .expect("curl");
    let other_status = String::from_utf8_lossy(&other.stdout).parse::<u16>().ok();
    let rss_peak = rss();
    // All trickling clients are closed at the deadline.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && alive > 0 {
        alive = crowd
            .iter()
            .filter(|s| !closed(s, Duration::from_millis(10)))
            .count();
    }
    let refused = |reason| {
        fx.gateway
            .metric_sum(
                "pingress_downstream_connections_refused_total",
                &[("reason", reason)],
            )
            .unwrap_or(0.0)
    };
    println!(
        "slowloris: 80 clients, open at once {open}, refused per IP {}, closed at the header deadline {}, still open after 5 s {alive}, RSS {} -> {} KiB",
        refused("max_connections_per_ip"),
        refused("header_timeout"),
        rss_before,
        rss_peak
    );
    assert_eq!(open, 50.0, "admitted connections");
    assert_eq!(refused("max_connections_per_ip"), 30.0);
    assert_eq!(refused("header_timeout"), 50.0);
    assert_eq!(alive, 0, "every slow client closed");
    assert_eq!(other_status, Some(200), "a normal client still served");
    assert!(
        rss_peak < rss_before + 32 * 1024,
        "memory bounded: {rss_before} -> {rss_peak} KiB"
    );
    assert!(pingress_testkit::wait_until(Duration::from_secs(5), || {
        fx.gateway
            .metric_sum("pingress_downstream_connections", &[])
            == Some(0.0)
    }));
}

/// Idle keep-alive connections are closed after --keepalive-timeout, a connection after
/// --keepalive-requests requests, and a stalled body is answered 408.
#[test]
fn keepalive_and_body_timeouts() {
    let fx = fixture(&[
        "--keepalive-timeout",
        "1s",
        "--keepalive-requests",
        "3",
        "--client-body-timeout",
        "1s",
    ]);
    // Three requests, then the connection is closed.
    let mut conn = Connection::open(fx.gateway.http).unwrap();
    for i in 0..3 {
        let r = conn.request("GET", HOST, "/public", &[]).unwrap();
        assert_eq!(r.status, 200, "request {i}");
    }
    assert!(
        closed(conn.stream(), Duration::from_secs(2)),
        "closed after 3 requests"
    );

    // An idle connection is closed after about a second.
    let mut conn = Connection::open(fx.gateway.http).unwrap();
    assert_eq!(
        conn.request("GET", HOST, "/public", &[]).unwrap().status,
        200
    );
    let idle = Instant::now();
    assert!(
        closed(conn.stream(), Duration::from_secs(5)),
        "idle connection closed"
    );
    let idle = idle.elapsed();
    assert!(idle < Duration::from_secs(3), "closed after {idle:?}");

    // A body that stops arriving: 408, and the backend sees no complete request.
    let before = fx.public.requests();
    let mut stream = TcpStream::connect(fx.gateway.http).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(
            format!("POST /public HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 10\r\n\r\nabc")
                .as_bytes(),
        )
        .unwrap();
    let started = Instant::now();
    let response = Connection::over(stream).raw(b"").expect("an answer");
    println!(
        "stalled body answered {} after {:?}; idle connection closed after {idle:?}",
        response.status,
        started.elapsed()
    );
    assert_eq!(response.status, 408, "{}", response.body);
    assert_eq!(fx.public.requests(), before);
}

/// Runs `tests/support/h2_probe.py` against the gateway's HTTPS port; its `key=value` output.
fn h2_probe(fx: &Fixture, args: &[&str]) -> std::collections::BTreeMap<String, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/h2_probe.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(fx.gateway.https.port().to_string())
        .arg(HOST)
        .args(args)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "h2_probe {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!("h2 {args:?}: {}", stdout.trim());
    stdout
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// HTTP/2 limits are announced and hold: concurrent streams and header list size in SETTINGS,
/// a rapid-reset flood ends in GOAWAY, a CONTINUATION flood is cut, and neither reaches the
/// backend nor stops the gateway serving.
#[test]
fn http2_limits() {
    let fx = fixture(&[
        "--http2-max-concurrent-streams",
        "50",
        "--max-header-size",
        "16k",
    ]);
    let settings = h2_probe(&fx, &["settings"]);
    assert_eq!(settings["max_concurrent_streams"], "50");
    assert_eq!(settings["max_header_list_size"], "16384");
    assert_eq!(h2_probe(&fx, &["get"])["status"], "200");
    let before = fx.public.requests();

    let reset = h2_probe(&fx, &["rapid-reset", "1000"]);
    // ENHANCE_YOUR_CALM (11) once more than 20 streams were reset before being accepted.
    assert_eq!(reset["goaway"], "11", "{reset:?}");

    let flood = h2_probe(&fx, &["continuation", "4096"]);
    // Cut well before 4 MiB (what is in flight in socket buffers still gets written).
    assert!(
        flood["sent_kib"].parse::<usize>().unwrap() < 1024 && flood["closed"] == "true",
        "the flood was not cut: {flood:?}"
    );
    let reached = fx.public.requests() - before;
    println!("requests that reached the backend during the floods: {reached}");
    assert!(
        reached <= 20,
        "{reached} reset requests reached the backend"
    );
    assert_eq!(h2_probe(&fx, &["get"])["status"], "200", "still serving");
}
