//! The admin listener: `/healthz`, `/readyz`, `/metrics` and `/debug/config`, on its own port
//! (loopback by default) so it is never routed by Ingress rules.

use std::sync::Arc;

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pingress_channel::ChannelStatus;

use crate::config::LiveConfig;
use crate::metrics::Metrics;
use crate::shutdown::Draining;

pub struct AdminApp {
    pub live: Arc<LiveConfig>,
    pub metrics: Arc<Metrics>,
    /// The config channel, when a separate controller feeds this gateway.
    pub channel: Option<Arc<ChannelStatus>>,
    /// `/readyz` fails once the channel has been down this long.
    pub stale_after: Duration,
    /// `/readyz` fails once SIGTERM arrived.
    pub draining: Arc<Draining>,
    /// `/readyz` fails until the proxy's HTTP listener accepts connections.
    pub http_listener: ListenerProbe,
}

/// Whether a listener of this process accepts connections yet. Pingora binds each service's
/// listeners when that service starts, on its own thread, so the admin listener can answer
/// (and a configuration be applied) before the proxy's port is bound. Probed by connecting to
/// it, until one connection succeeds; after that the listener stays bound until exit.
pub struct ListenerProbe {
    addr: SocketAddr,
    up: AtomicBool,
}

impl ListenerProbe {
    /// Probes `listen`; a wildcard address is probed on the loopback address of its family.
    pub fn new(listen: SocketAddr) -> Self {
        let mut addr = listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        ListenerProbe {
            addr,
            up: AtomicBool::new(false),
        }
    }

    fn is_up(&self) -> bool {
        if self.up.load(Ordering::Relaxed) {
            return true;
        }
        // A local connect is accepted into the backlog or refused at once; the timeout only
        // bounds the unexpected.
        let up = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok();
        self.up.store(up, Ordering::Relaxed);
        up
    }
}

impl AdminApp {
    /// The live Snapshot as JSON, private keys replaced by `<redacted>`.
    fn live_config(&self) -> Vec<u8> {
        let mut snapshot = (*self.live.load().snapshot).clone();
        for certificate in snapshot.tls.certificates.values_mut() {
            certificate.key_pem = "<redacted>".into();
        }
        let mut json = serde_json::to_vec_pretty(&snapshot).expect("snapshots serialize");
        json.push(b'\n');
        json
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let (status, content_type, body) = match path.as_str() {
            "/healthz" => (StatusCode::OK, "text/plain", b"ok\n".to_vec()),
            "/readyz" => {
                let stale = self
                    .channel
                    .as_ref()
                    .map_or(Duration::ZERO, |c| c.stale_for());
                let number = self.live.load().number;
                let listening = number > 0 && self.http_listener.is_up();
                match number {
                    _ if self.draining.is_draining() => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        b"not ready: draining after SIGTERM\n".to_vec(),
                    ),
                    0 => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        b"not ready: no configuration applied yet\n".to_vec(),
                    ),
                    _ if !listening => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        format!(
                            "not ready: the HTTP listener {} does not accept connections yet\n",
                            self.http_listener.addr
                        )
                        .into_bytes(),
                    ),
                    n if stale > self.stale_after => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        format!("not ready: configuration generation {n} is stale, the config channel has been down for {}s\n", stale.as_secs()).into_bytes(),
                    ),
                    n => (
                        StatusCode::OK,
                        "text/plain",
                        format!("ready: configuration generation {n}\n").into_bytes(),
                    ),
                }
            }
            "/metrics" => {
                self.metrics.refresh_endpoints(self.live.load().upstreams());
                if let Some(channel) = &self.channel {
                    self.metrics.refresh_channel(channel);
                }
                (
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    self.metrics.render(),
                )
            }
            "/debug/config" => (StatusCode::OK, "application/json", self.live_config()),
            _ => (
                StatusCode::NOT_FOUND,
                "text/plain",
                b"not found; try /healthz, /readyz, /metrics or /debug/config\n".to_vec(),
            ),
        };
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(body)
            .expect("static response parts are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn the_listener_probe_is_up_once_the_port_accepts() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let probe = ListenerProbe::new(SocketAddr::from(([0, 0, 0, 0], port)));
        assert_eq!(probe.addr, SocketAddr::from(([127, 0, 0, 1], port)));
        assert!(!probe.is_up(), "nothing listens yet");
        let _listener = TcpListener::bind(probe.addr).unwrap();
        assert!(probe.is_up());
        assert!(probe.is_up(), "stays up");
    }
}
