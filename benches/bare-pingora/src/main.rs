//! `bare-pingora`: the reference the load harness (`benches/run`) compares Pingress with.
//!
//! One `ProxyHttp` that sends every request to one peer, built the way `gateway/src/server.rs`
//! builds its Server (`Server::new_with_opt_and_conf(None, ServerConf { threads, .. })`) and
//! with the same upstream peer options as Pingress's defaults. No routing, no header rewriting,
//! no metrics: the difference between this and Pingress is the cost of what Pingress adds.
//!
//! ```text
//! bare-pingora --listen 127.0.0.1:8080 --upstream 127.0.0.1:9000 [--threads N]
//!              [--tls-listen 127.0.0.1:8443 --cert cert.pem --key key.pem]
//! ```
//!
//! With `--tls-listen`, a second listener terminates TLS with Pingora's default TLS settings
//! (`add_tls`: the certificate and key files), for the harness's TLS scenarios.

use std::net::SocketAddr;
use std::process::exit;
use std::time::Duration;

use async_trait::async_trait;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::Result;

/// Sends everything to `upstream`.
struct BareProxy {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for BareProxy {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.upstream, false, String::new());
        // Pingress's defaults (`pingress run --help`): the same pooling behaviour on both sides.
        peer.options.connection_timeout = Some(Duration::from_secs(5));
        peer.options.read_timeout = Some(Duration::from_secs(60));
        peer.options.write_timeout = Some(Duration::from_secs(60));
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        Ok(Box::new(peer))
    }
}

struct Args {
    listen: SocketAddr,
    upstream: SocketAddr,
    threads: usize,
    /// `(address, certificate file, key file)`.
    tls: Option<(SocketAddr, String, String)>,
}

const USAGE: &str = "usage: bare-pingora --listen ADDR --upstream ADDR [--threads N] \
                     [--tls-listen ADDR --cert FILE --key FILE]";

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut upstream = None;
    let mut threads = 1;
    let (mut tls_listen, mut cert, mut key) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = Some(value()?.parse().map_err(|e| format!("--listen: {e}"))?),
            "--upstream" => {
                upstream = Some(value()?.parse().map_err(|e| format!("--upstream: {e}"))?)
            }
            "--threads" => {
                threads = value()?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--threads: expected a positive number")?
            }
            "--tls-listen" => {
                tls_listen = Some(value()?.parse().map_err(|e| format!("--tls-listen: {e}"))?)
            }
            "--cert" => cert = Some(value()?),
            "--key" => key = Some(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0)
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let tls = match (tls_listen, cert, key) {
        (Some(addr), Some(cert), Some(key)) => Some((addr, cert, key)),
        (None, None, None) => None,
        _ => return Err("--tls-listen, --cert and --key go together".into()),
    };
    Ok(Args {
        listen: listen.ok_or("--listen is required")?,
        upstream: upstream.ok_or("--upstream is required")?,
        threads,
        tls,
    })
}

/// The allocator Pingress's binary uses (src/main.rs), so the comparison measures routing,
/// headers and metrics, not the allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("bare-pingora: {e}\n{USAGE}");
        exit(2)
    });
    let conf = ServerConf {
        threads: args.threads,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        BareProxy {
            upstream: args.upstream,
        },
        "bare pingora proxy",
    );
    proxy.add_tcp(&args.listen.to_string());
    if let Some((addr, cert, key)) = &args.tls {
        proxy
            .add_tls(&addr.to_string(), cert, key)
            .unwrap_or_else(|e| {
                eprintln!("bare-pingora: TLS listener: {e}");
                exit(2)
            });
    }
    proxy.threads = Some(args.threads);
    server.add_service(proxy);
    eprintln!(
        "bare-pingora listening on {} -> {} ({} threads)",
        args.listen, args.upstream, args.threads
    );
    server.run_forever()
}
