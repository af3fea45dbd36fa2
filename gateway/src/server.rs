//! The Pingora server: the proxy service on the HTTP and HTTPS listeners, the admin service,
//! and the config applier, under one signal policy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use pingress_channel::ChannelStatus;
use pingress_model::Snapshot;
use tokio::sync::watch;

use crate::access_log::{AccessLog, AccessLogFormat};
use crate::admin::{self, AdminApp};
use crate::config::{ConfigApplier, Flags, LiveConfig};
use crate::limits::{self, Connections, LimitedApp, Limits, ProtectionMetrics};
use crate::metrics::Metrics;
use crate::proxy::{IngressProxy, Timeouts};
use crate::request_id::RequestIds;
use crate::shutdown::{Draining, SignalWatch};
use crate::tls;
use crate::upstream::UpstreamDefaults;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("generating the self-signed default certificate: {0}")]
    SelfSignedCertificate(#[from] openssl::error::ErrorStack),
    #[error("TLS listener settings: {0}")]
    TlsSettings(#[from] Box<pingora::Error>),
}

/// How the gateway listens and talks to upstreams.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub listen_http: SocketAddr,
    pub listen_https: SocketAddr,
    pub listen_admin: SocketAddr,
    /// Worker threads of the proxy service.
    pub threads: usize,
    pub timeouts: Timeouts,
    /// `Strict-Transport-Security` header value for HTTPS responses; `None`: no header.
    pub hsts: Option<HeaderValue>,
    pub access_log: AccessLogFormat,
    /// Health-check defaults and passive ejection.
    pub upstream: UpstreamDefaults,
    /// After SIGTERM (which closes the listeners at once): how long requests in flight get to
    /// finish.
    pub shutdown_timeout: Duration,
    /// After SIGTERM and before the listeners close: serving on, with `/readyz` failing.
    pub shutdown_delay: Duration,
    /// Take the listening sockets over from a running gateway (graceful upgrade) instead of
    /// binding them.
    pub upgrade: bool,
    /// The Unix socket through which a running gateway hands its listening sockets to its
    /// successor, on SIGQUIT.
    pub upgrade_socket: std::path::PathBuf,
    /// When fed by a separate controller: `/readyz` fails once the config channel has been
    /// down this long.
    pub stale_after: Duration,
    /// Idle keep-alive connections to upstreams kept (Pingora's pool size).
    pub upstream_pool_size: usize,
    /// What clients may send and how long they may take (docs/security.md).
    pub limits: Limits,
    /// Peers whose `X-Forwarded-*` headers are kept and extended rather than replaced.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Builds the Pingora server and serves until the process is told to stop. Returns only when
/// the server cannot be built.
///
/// The gateway's metrics are registered in `registry`, which `/metrics` serves whole (so the
/// controller's metrics appear there too when it runs in the same process).
/// `channel` is the config channel's status when a separate controller feeds the gateway.
pub fn run(
    options: GatewayOptions,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    registry: prometheus::Registry,
    channel: Option<Arc<ChannelStatus>>,
) -> Result<std::convert::Infallible, GatewayError> {
    let conf = ServerConf {
        threads: options.threads,
        // On SIGTERM Pingora closes the listeners, lets requests in flight run for the grace
        // period (Pingora's default, 5 minutes, would stall a rolling update), then stops its
        // runtimes, cancelling what is left. SIGINT stops at once.
        grace_period_seconds: Some(options.shutdown_timeout.as_secs_f64().ceil().max(1.0) as u64),
        graceful_shutdown_timeout_seconds: Some(1),
        // Idle upstream connections kept per proxy thread. Pingora's default (128) is below the
        // concurrency of an ordinary load: connections beyond it are closed after each request
        // and reopened (measured: ~150 new connections/s and ~1,000 TIME_WAIT sockets at 400
        // clients, benches/). nginx and HAProxy keep them all.
        upstream_keepalive_pool_size: options.upstream_pool_size,
        upgrade_sock: options.upgrade_socket.to_string_lossy().into_owned(),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: options.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    let draining = Arc::new(Draining::default());
    server.bootstrap();

    let flags = Flags {
        hsts: options.hsts,
        trusted_proxies: options.trusted_proxies,
        underscores_in_headers: options.limits.allow_underscores_in_headers,
    };
    let live = Arc::new(LiveConfig::new(options.upstream, flags)?);
    let protection = ProtectionMetrics::new(&registry);
    let metrics = Arc::new(Metrics::new(registry));
    let limits = options.limits;
    let connections = Connections::new(&limits, protection.clone());

    let mut app = pingora::proxy::http_proxy(
        &server.configuration,
        IngressProxy {
            live: live.clone(),
            metrics: metrics.clone(),
            access_log: AccessLog::start(options.access_log, metrics.access_log_dropped.clone()),
            request_ids: RequestIds::new(),
            timeouts: options.timeouts,
            https_port: options.listen_https.port(),
            limits: limits.clone(),
            connections: connections.clone(),
            protection,
        },
    );
    app.h2_options = Some(limits::h2_options(&limits));
    app.server_options = Some(limits::server_options(&limits));
    let mut proxy = Service::new(
        "pingress proxy".to_string(),
        LimitedApp::new(app, connections, limits.client_header_timeout),
    );
    proxy.add_tcp(&options.listen_http.to_string());
    let tls = tls::listener_settings(live.clone(), metrics.clone())?;
    proxy.add_tls_with_settings(&options.listen_https.to_string(), None, tls);
    proxy.threads = Some(options.threads);

    let mut admin = Service::new(
        "pingress admin".to_string(),
        AdminApp {
            live: live.clone(),
            metrics: metrics.clone(),
            channel,
            stale_after: options.stale_after,
            draining: draining.clone(),
            http_listener: admin::ListenerProbe::new(options.listen_http),
        },
    );
    admin.add_tcp(&options.listen_admin.to_string());
    admin.threads = Some(1);

    let applier = background_service(
        "pingress config applier",
        ConfigApplier {
            snapshots,
            live,
            metrics,
        },
    );

    tracing::info!(
        http = %options.listen_http,
        https = %options.listen_https,
        admin = %options.listen_admin,
        threads = options.threads,
        "gateway listening"
    );
    server.add_service(applier);
    server.add_service(proxy);
    server.add_service(admin);
    server.run(RunArgs {
        shutdown_signal: Box::new(SignalWatch {
            draining,
            delay: options.shutdown_delay,
        }),
    });
    std::process::exit(0)
}
