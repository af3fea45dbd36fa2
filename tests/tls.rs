//! End-to-end TLS tests: the real `pingress` binary with certificates generated in the test,
//! checked with a real TLS client (OpenSSL, through the `openssl` crate), `curl` and
//! `openssl s_client`.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use pingress_testkit::certs::{peer_serial, secret_yaml, tls_connect, KeyType, TestCa};
use pingress_testkit::gateway::{yaml, GatewayProcess};
use pingress_testkit::{wait_until, Backend, Behaviour, Connection};

const BIN: &str = env!("CARGO_BIN_EXE_pingress");

/// `ingress_yaml` with a `spec.tls` section: `(hosts, secretName)` entries.
fn with_tls(ingress_yaml: &str, entries: &[(&[&str], &str)]) -> String {
    let mut tls = String::from("  tls:\n");
    for (hosts, secret) in entries {
        tls.push_str(&format!(
            "  - hosts: [{}]\n    secretName: {secret}\n",
            hosts
                .iter()
                .map(|h| format!("\"{h}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    ingress_yaml.replacen("spec:\n", &format!("spec:\n{tls}"), 1)
}

/// The serial of the certificate served for `sni`.
fn served(gw: &GatewayProcess, sni: Option<&str>) -> String {
    let stream = tls_connect(gw.https, sni)
        .unwrap_or_else(|e| panic!("handshake for {sni:?} failed: {e}\n{}", gw.log_text()));
    peer_serial(&stream).expect("a certificate")
}

/// Runs curl against the gateway; returns (status, HTTP version, headers+body text).
fn curl(gw: &GatewayProcess, args: &[&str]) -> (u16, String, String) {
    let https = gw.https.port().to_string();
    let http = gw.http.port().to_string();
    let mut command = Command::new("curl");
    // A transport error is retried twice: these tests check statuses and headers (handshake
    // reliability is checked without retries by the rotation test), and a starved machine
    // occasionally drops a handshake.
    command.args([
        "-sS",
        "-k",
        "-i",
        "--max-time",
        "10",
        "--retry",
        "2",
        "--retry-all-errors",
    ]);
    for host in [
        "a.test",
        "b.test",
        "c.test",
        "x.wild.test",
        "plain.test",
        "off.test",
    ] {
        command.args(["--resolve", &format!("{host}:{https}:127.0.0.1")]);
        command.args(["--resolve", &format!("{host}:{http}:127.0.0.1")]);
    }
    let output = command
        .args(["-w", "\n%{http_code} %{http_version}"])
        .args(args)
        .output()
        .expect("curl runs (scripts/install-deps --test installs it)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (body, last) = text.rsplit_once('\n').unwrap();
    let (code, version) = last.split_once(' ').unwrap();
    (code.parse().unwrap(), version.to_string(), body.to_string())
}

struct Fixture {
    gw: GatewayProcess,
    _backend: Backend,
    a: String,
    b: String,
    c: String,
    wild: String,
    fallback: String,
}

/// Hosts a.test (RSA, PKCS#1 key), b.test (ECDSA, SEC1 key), c.test (Ed25519, PKCS#8 key),
/// *.wild.test, plain.test without TLS, off.test with TLS but ssl-redirect off, broken.test
/// whose Secret's key does not match, expired.test whose certificate has expired; the default
/// certificate from --default-certificate.
fn start() -> Fixture {
    let ca = TestCa::new();
    let a = ca.issue(&["a.test"], KeyType::Rsa2048);
    let b = ca.issue(&["b.test"], KeyType::EcdsaP256);
    let c = ca.issue(&["c.test", "off.test"], KeyType::Ed25519);
    let wild = ca.issue(&["*.wild.test"], KeyType::EcdsaP256);
    let fallback = ca.issue(&["fallback.test"], KeyType::EcdsaP256);
    let other = ca.issue(&["broken.test"], KeyType::EcdsaP256);
    let expired = ca.issue_valid(&["expired.test"], KeyType::EcdsaP256, -30, -1);
    let backend = Backend::start("web", "127.0.0.2", Behaviour::Echo).unwrap();
    let route = |host: &'static str| -> (&'static str, &'static [yaml::Path<'static>]) {
        (host, &[("/", "Prefix", "web")])
    };
    let tls_ingress = with_tls(
        &yaml::ingress(
            "tls",
            &[
                route("a.test"),
                route("b.test"),
                route("c.test"),
                route("*.wild.test"),
                route("plain.test"),
                route("broken.test"),
                route("expired.test"),
            ],
        ),
        &[
            (&["a.test"], "a-tls"),
            (&["b.test"], "b-tls"),
            (&["c.test"], "c-tls"),
            (&["*.wild.test"], "wild-tls"),
            (&["broken.test"], "broken-tls"),
            (&["expired.test"], "expired-tls"),
        ],
    );
    let off_ingress = with_tls(
        &yaml::ingress("off", &[route("off.test")]),
        &[(&["off.test"], "c-tls")],
    )
    .replacen(
        "metadata:\n  name: off\n",
        "metadata:\n  name: off\n  annotations:\n    nginx.ingress.kubernetes.io/ssl-redirect: \"false\"\n",
        1,
    );
    let manifests = [
        yaml::service("web", &[backend.addr()]),
        tls_ingress,
        off_ingress,
        secret_yaml("a-tls", &a.chain_pem, &a.key_pem_traditional),
        secret_yaml("b-tls", &b.chain_pem, &b.key_pem_traditional),
        secret_yaml("c-tls", &c.chain_pem, &c.key_pem),
        secret_yaml("wild-tls", &wild.chain_pem, &wild.key_pem),
        secret_yaml("fallback", &fallback.chain_pem, &fallback.key_pem),
        secret_yaml("broken-tls", &other.chain_pem, &a.key_pem),
        secret_yaml("expired-tls", &expired.chain_pem, &expired.key_pem),
    ]
    .concat();
    let gw = GatewayProcess::start(
        BIN,
        &[("tls.yaml", &manifests)],
        &[
            "--default-certificate",
            "default/fallback",
            "--hsts",
            "max-age=600",
        ],
    );
    Fixture {
        gw,
        _backend: backend,
        a: a.serial,
        b: b.serial,
        c: c.serial,
        wild: wild.serial,
        fallback: fallback.serial,
    }
}

#[test]
fn certificates_are_chosen_by_sni_and_unusable_secrets_fall_back_to_the_default() {
    let f = start();
    let rows = [
        (Some("a.test"), &f.a),
        (Some("A.TEST"), &f.a),
        (Some("b.test"), &f.b),
        (Some("c.test"), &f.c),
        (Some("x.wild.test"), &f.wild),
        (Some("y.x.wild.test"), &f.fallback), // a wildcard covers one label
        (Some("wild.test"), &f.fallback),
        (Some("unknown.test"), &f.fallback),
        (Some("broken.test"), &f.fallback), // key does not match: default
        (Some("expired.test"), &f.fallback), // expired: default
        (None, &f.fallback),                // no SNI
    ];
    for (sni, expected) in rows {
        assert_eq!(&served(&f.gw, sni), expected, "SNI {sni:?}");
    }
    let log = f.gw.log_text();
    for expected in [
        "Ingress default/tls",
        "Secret default/broken-tls: tls.key does not match the certificate",
        "Secret default/expired-tls: the certificate expired",
    ] {
        assert!(log.contains(expected), "log lacks {expected:?}:\n{log}");
    }
}

#[test]
fn https_serves_http2_and_http1_with_forwarded_proto_and_hsts() {
    let f = start();
    let port = f.gw.https.port();
    let (status, version, text) =
        curl(&f.gw, &["--http2", &format!("https://a.test:{port}/x?y=1")]);
    assert_eq!((status, version.as_str()), (200, "2"), "{text}");
    assert!(text.contains("backend=web"), "{text}");
    assert!(text.contains("path=/x?y=1"), "{text}");
    assert!(text.contains("header:x-forwarded-proto=https"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("strict-transport-security: max-age=600"),
        "{text}"
    );

    let (status, version, text) = curl(&f.gw, &["--http1.1", &format!("https://b.test:{port}/")]);
    assert_eq!((status, version.as_str()), (200, "1.1"), "{text}");
    assert!(text.contains("header:x-forwarded-proto=https"), "{text}");

    // Plain HTTP never carries HSTS.
    let (status, _, text) = curl(
        &f.gw,
        &[&format!("http://plain.test:{}/", f.gw.http.port())],
    );
    assert_eq!(status, 200, "{text}");
    assert!(
        !text
            .to_ascii_lowercase()
            .contains("strict-transport-security"),
        "{text}"
    );
}

#[test]
fn plain_http_on_tls_hosts_redirects_with_308_unless_switched_off() {
    let f = start();
    let (http, https) = (f.gw.http.port(), f.gw.https.port());
    let (status, _, text) = curl(
        &f.gw,
        &[&format!("http://a.test:{http}/shop/cart?item=1&n=2")],
    );
    assert_eq!(status, 308, "{text}");
    let location = format!("https://a.test:{https}/shop/cart?item=1&n=2");
    assert!(
        text.to_ascii_lowercase()
            .contains(&format!("location: {location}")),
        "{text}"
    );
    let (status, _, _) = curl(&f.gw, &[&format!("http://x.wild.test:{http}/")]);
    assert_eq!(status, 308, "wildcard TLS hosts redirect too");
    let (status, _, text) = curl(&f.gw, &[&format!("http://off.test:{http}/")]);
    assert_eq!(status, 200, "ssl-redirect \"false\": {text}");
    let (status, _, text) = curl(&f.gw, &[&format!("http://plain.test:{http}/")]);
    assert_eq!(status, 200, "not a TLS host: {text}");
    // Following the redirect lands on HTTPS.
    let (status, _, text) = curl(&f.gw, &["-L", &format!("http://a.test:{http}/p")]);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("header:x-forwarded-proto=https"), "{text}");
}

#[test]
fn sni_and_host_naming_hosts_with_different_certificates_get_421() {
    let f = start();
    let port = f.gw.https.port();
    let url = format!("https://a.test:{port}/");
    let (status, _, text) = curl(&f.gw, &["-H", "Host: b.test", &url]);
    assert_eq!(status, 421, "{text}");
    // Same certificate (c.test and off.test share one): no reason to refuse.
    let url = format!("https://c.test:{port}/");
    let (status, _, text) = curl(&f.gw, &["-H", "Host: off.test", &url]);
    assert_eq!(status, 200, "{text}");
}

#[test]
fn rotated_secrets_are_served_on_new_handshakes_without_failures() {
    let ca = TestCa::new();
    let old = ca.issue(&["a.test"], KeyType::EcdsaP256);
    let new = ca.issue(&["a.test"], KeyType::Rsa2048);
    let backend = Backend::start("web", "127.0.0.2", Behaviour::Echo).unwrap();
    let ingress = with_tls(
        &yaml::ingress("a", &[("a.test", &[("/", "Prefix", "web")])]),
        &[(&["a.test"], "a-tls")],
    );
    let base = [yaml::service("web", &[backend.addr()]), ingress].concat();
    let gw = GatewayProcess::start(
        BIN,
        &[
            ("a.yaml", &base),
            (
                "secret.yaml",
                &secret_yaml("a-tls", &old.chain_pem, &old.key_pem),
            ),
        ],
        &[],
    );
    assert_eq!(served(&gw, Some("a.test")), old.serial);

    // A connection established before the rotation.
    let mut kept = Connection::over(tls_connect(gw.https, Some("a.test")).unwrap());
    assert_eq!(kept.request("GET", "a.test", "/", &[]).unwrap().status, 200);

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = {
        let (stop, failures, seen, addr) = (stop.clone(), failures.clone(), seen.clone(), gw.https);
        thread::spawn(move || {
            // Bounded: at most 3,000 handshakes, and it ends on `stop`.
            for _ in 0..3_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                match tls_connect(addr, Some("a.test")) {
                    Ok(stream) => seen.lock().unwrap().push(peer_serial(&stream).unwrap()),
                    Err(_) => {
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        })
    };
    thread::sleep(Duration::from_millis(200));
    gw.write(
        "secret.yaml",
        &secret_yaml("a-tls", &new.chain_pem, &new.key_pem),
    );
    assert!(
        wait_until(Duration::from_secs(10), || seen
            .lock()
            .unwrap()
            .last()
            .is_some_and(|s| *s == new.serial)),
        "the new certificate was not served; log:\n{}",
        gw.log_text()
    );
    thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();
    let seen = seen.lock().unwrap();
    println!(
        "handshakes: {}, failures: {}",
        seen.len(),
        failures.load(Ordering::SeqCst)
    );
    assert_eq!(failures.load(Ordering::SeqCst), 0, "no handshake may fail");
    assert!(seen.contains(&old.serial) && seen.contains(&new.serial));
    // Once the new certificate is served, the old one never comes back.
    let first_new = seen.iter().position(|s| *s == new.serial).unwrap();
    assert!(seen[first_new..].iter().all(|s| *s == new.serial));

    // The connection from before the rotation still works, with its old certificate.
    assert_eq!(kept.request("GET", "a.test", "/", &[]).unwrap().status, 200);
    assert_eq!(peer_serial(kept.stream()).unwrap(), old.serial);
}

#[test]
fn only_tls_1_2_and_1_3_with_modern_ciphers_are_accepted() {
    let f = start();
    let connect = format!("127.0.0.1:{}", f.gw.https.port());
    let s_client = |extra: &[&str]| {
        Command::new("openssl")
            .args(["s_client", "-connect", &connect, "-servername", "a.test"])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl runs (scripts/install-deps --test installs it)")
    };
    // SECLEVEL=0 lets the client offer old protocols and ciphers: the server must refuse them.
    let rows: [(&[&str], bool); 6] = [
        (&["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"], false),
        (&["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], false),
        (&["-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0"], false), // no forward secrecy, CBC
        (
            &["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA:@SECLEVEL=0"],
            false,
        ), // CBC
        (&["-tls1_2"], true),
        (&["-tls1_3"], true),
    ];
    for (args, accepted) in rows {
        let output = s_client(args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let negotiated = output.status.success() && stdout.contains("BEGIN CERTIFICATE");
        assert_eq!(negotiated, accepted, "openssl s_client {args:?}:\n{stdout}");
    }
}
