//! The admin listener: `/healthz`, `/readyz`, `/metrics` and `/debug/config`, on its own port
//! (loopback by default) so it is never routed by Ingress rules.

use std::sync::Arc;

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use std::time::Duration;

use pingress_channel::ChannelStatus;

use crate::generation::LiveConfig;
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
                match self.live.load().number {
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
                self.metrics.refresh_endpoints(&self.live.load());
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
