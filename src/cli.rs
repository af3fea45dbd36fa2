//! The command line: the clap structs, the value parsers, and the conversion of flags into the
//! controller's and the gateway's option structs. Nothing here starts anything; `main.rs`
//! decides what runs where.
//!
//! Durations, sizes and `NAMESPACE/NAME` references are parsed by the same functions as the
//! annotations and the Snapshot ([`pingress_translate::parse_duration`],
//! [`pingress_translate::parse_size`], [`ObjectRef`]'s `FromStr`), so a value means the same
//! wherever it is written.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use pingress_controller::KubernetesConfig;
use pingress_gateway::{
    access_log::AccessLogFormat,
    limits::{EncodedSlashes, IpNet, Limits},
    proxy::Timeouts,
    upstream::UpstreamDefaults,
    GatewayOptions, HeaderValue,
};
use pingress_model::ObjectRef;
use pingress_translate::{Options, DEFAULT_CONTROLLER_NAME};

/// How every DURATION flag is written, for the `--help` of each command.
macro_rules! durations {
    () => {
        "DURATION: whole numbers with units ms, s, m or h, one or more (500ms, 5s, 2m, 1m30s), \
         or a bare number of seconds (60), as the annotations write them."
    };
}

/// The value syntax of `pingress controller`'s flags.
const CONTROLLER_VALUES: &str = durations!();

/// The value syntax of the gateway's flags (`pingress run` and `pingress gateway`).
const GATEWAY_VALUES: &str = concat!(
    durations!(),
    "\nSIZE: digits with an optional k, m or g (powers of 1024: 8k, 1m), or a bare number of \
     bytes."
);

/// A Kubernetes Ingress controller whose data plane is Cloudflare Pingora.
#[derive(Parser, Debug)]
#[command(name = "pingress", version, about, long_about = None)]
pub struct Cli {
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller and the gateway in one process, fed by Kubernetes manifest files or
    /// by the Kubernetes API.
    ///
    /// Changes are applied within a second, without dropping a request. A manifest file that
    /// fails to parse keeps its last good objects.
    #[command(after_help = GATEWAY_VALUES)]
    Run(Box<RunArgs>),
    /// Run only the controller: watch the source, translate, and send each complete
    /// configuration to the gateways connected to --config-socket.
    #[command(after_help = CONTROLLER_VALUES)]
    Controller(Box<ControllerArgs>),
    /// Run only the gateway: serve the configurations the controller sends over
    /// --config-socket; keep serving the last one (persisted in --state-dir) while the
    /// controller is away.
    #[command(after_help = GATEWAY_VALUES)]
    Gateway(Box<GatewayCmdArgs>),
}

#[derive(clap::Args, Debug)]
pub struct ControllerArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// The Unix socket the gateways connect to (created owner-only: configurations carry TLS
    /// private keys).
    #[arg(long, value_name = "PATH", default_value = "/run/pingress/config.sock")]
    pub config_socket: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct GatewayCmdArgs {
    #[command(flatten)]
    pub gateway: GatewayArgs,

    /// The controller's Unix socket.
    #[arg(long, value_name = "PATH", default_value = "/run/pingress/config.sock")]
    pub config_socket: PathBuf,

    /// Where the last configuration received is kept (owner-only), so that a restarted gateway
    /// serves it before the controller is back. No persistence when not given.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// /readyz fails once the config channel has been down this long (the configuration may
    /// be out of date); traffic is still served.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub stale_after: Duration,
}

/// Where the controller reads objects from, and how it translates them.
#[derive(clap::Args, Debug)]
pub struct SourceArgs {
    /// A Kubernetes YAML file, or a directory of *.yaml/*.yml files (not recursive), holding
    /// Ingress, IngressClass, Service and EndpointSlice objects (multi-document files and
    /// `kind: List` are fine; other kinds are ignored). Repeat for several paths.
    #[arg(long = "manifests", value_name = "PATH", required_unless_present = "kubernetes", conflicts_with = "kubernetes", value_parser = existing_path)]
    manifests: Vec<PathBuf>,

    /// Watch the Kubernetes API instead of files: Ingress, IngressClass, Service,
    /// EndpointSlice, and Secrets of type kubernetes.io/tls. The leader among the Pingress
    /// processes (a Lease) writes Ingress status and Events.
    #[arg(long)]
    kubernetes: bool,

    /// The kubeconfig to use with --kubernetes [default: in-cluster service account, else
    /// $KUBECONFIG, else ~/.kube/config].
    #[arg(long, value_name = "PATH", requires = "kubernetes", value_parser = existing_path)]
    kubeconfig: Option<PathBuf>,

    /// Only watch this namespace (repeatable) [default: all namespaces]. IngressClasses are
    /// cluster-wide and always watched.
    #[arg(long = "watch-namespace", value_name = "NS", requires = "kubernetes")]
    watch_namespaces: Vec<String>,

    /// The address (IP or hostname) written to status.loadBalancer.ingress of served
    /// Ingresses (repeatable) [default: the addresses of every node running Pingress, each
    /// announced in a Lease by its own process].
    #[arg(long = "publish-address", value_name = "ADDR", requires = "kubernetes")]
    publish_addresses: Vec<String>,

    /// This node's name: its addresses (from the Node object) are announced for Ingress status.
    #[arg(long, env = "NODE_NAME", value_name = "NAME")]
    node_name: Option<String>,

    /// This process's identity in the leader election [default: $POD_NAME, else the host name].
    #[arg(long, env = "POD_NAME", value_name = "NAME")]
    pod_name: Option<String>,

    /// A leader that has not renewed the Lease for this long is replaced (it renews every
    /// fifth of it).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = duration)]
    leader_lease_duration: Duration,

    /// Namespace of the leader-election Lease `pingress-leader`.
    #[arg(
        long,
        env = "POD_NAMESPACE",
        value_name = "NS",
        default_value = "default"
    )]
    leader_election_namespace: String,

    /// The kubernetes.io/tls Secret (NAMESPACE/NAME) served to clients that send no SNI name or
    /// an unknown one [default: a self-signed certificate generated at start-up].
    #[arg(long, value_name = "NAMESPACE/NAME", value_parser = ObjectRef::from_str)]
    default_certificate: Option<ObjectRef>,

    /// Serve Ingresses whose spec.ingressClassName (or legacy kubernetes.io/ingress.class
    /// annotation) is this name, besides those naming an IngressClass whose spec.controller is
    /// --controller-class. To take over from ingress-nginx: `nginx`.
    #[arg(long, value_name = "NAME", default_value = "pingress")]
    ingress_class: String,

    /// The spec.controller value that marks an IngressClass as ours. To take over from
    /// ingress-nginx: `k8s.io/ingress-nginx`.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_CONTROLLER_NAME, visible_alias = "controller-name")]
    controller_class: String,

    /// Also serve Ingresses that name no class at all (neither spec.ingressClassName nor the
    /// kubernetes.io/ingress.class annotation), as ingress-nginx's flag of the same name does.
    /// Without it they are served only when an IngressClass of ours is the default class.
    #[arg(long)]
    watch_ingress_without_class: bool,

    /// The prefix of the ingress-nginx annotations Pingress reads beside its own pingress.io/
    /// ones (ingress-nginx's flag of the same name).
    #[arg(long, value_name = "PREFIX", default_value = pingress_translate::NGINX_PREFIX)]
    annotations_prefix: String,

    /// The ingress-nginx ConfigMap (NAMESPACE/NAME) of global settings: ssl-redirect, hsts,
    /// proxy-body-size, proxy-*-timeout, use-forwarded-headers, ... (docs/configuration.md
    /// lists the keys Pingress reads; every other key is reported). Watched and applied on
    /// change; in --manifests mode, read from the manifest files.
    #[arg(long, value_name = "NAMESPACE/NAME", value_parser = ObjectRef::from_str)]
    configmap: Option<ObjectRef>,

    /// Quiet time after a manifest file changes before the files are read again (an editor's
    /// save is often several file events).
    #[arg(long, value_name = "DURATION", default_value = "50ms", value_parser = duration)]
    reload_debounce: Duration,
}

/// How the gateway listens and talks to upstreams.
#[derive(clap::Args, Debug)]
pub struct GatewayArgs {
    /// Address for plain HTTP traffic.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:80")]
    listen_http: SocketAddr,

    /// Address for HTTPS traffic (TLS 1.2/1.3, HTTP/2 and HTTP/1.1). The certificate is chosen
    /// by the client's SNI name from the Ingresses' spec.tls Secrets.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:443")]
    listen_https: SocketAddr,

    /// Add `Strict-Transport-Security: VALUE` to HTTPS responses, e.g.
    /// "max-age=31536000; includeSubDomains". Off by default: once a browser has seen it, the
    /// host cannot go back to plain HTTP for max-age seconds.
    #[arg(long, value_name = "VALUE", value_parser = header_value)]
    hsts: Option<HeaderValue>,

    /// Address of the admin listener serving /healthz, /readyz and /metrics.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:10254")]
    listen_admin: SocketAddr,

    /// Worker threads of the proxy service [default: the number of CPU cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,

    /// Timeout for establishing a connection to an upstream endpoint (e.g. 5s, 500ms; a bare
    /// number is seconds). Expiry answers 504.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    proxy_connect_timeout: Duration,

    /// Timeout between two reads from an upstream endpoint, the response header included.
    /// Expiry answers 504 (or cuts a response already started).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    proxy_read_timeout: Duration,

    /// Timeout between two writes of the request to an upstream endpoint.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    proxy_send_timeout: Duration,

    /// How many idle keep-alive connections to upstream endpoints are kept. Below the number
    /// of concurrent requests, connections are closed and reopened all the time.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    upstream_keepalive_pool_size: usize,

    /// How long an idle keep-alive connection to an upstream endpoint stays in the pool.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    upstream_keepalive_timeout: Duration,

    /// Interval of the active health checks of every endpoint (TCP connect, or HTTP GET with
    /// the pingress.io/health-check-path annotation); annotations may override it per Ingress.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    health_check_interval: Duration,

    /// Timeout of one health check.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration)]
    health_check_timeout: Duration,

    /// Consecutive successful checks that make an unhealthy endpoint healthy again.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    health_check_healthy_threshold: u32,

    /// Consecutive failed checks that take an endpoint out of rotation.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    health_check_unhealthy_threshold: u32,

    /// Consecutive failed requests (connect errors or 5xx answers) that eject an endpoint for
    /// --eject-for, without waiting for the health checks; 0 disables ejection.
    #[arg(long, value_name = "N", default_value_t = 5)]
    eject_after: u32,

    /// How long an ejected endpoint gets no requests.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    eject_for: Duration,

    /// After SIGTERM the listeners close at once; requests in flight then get this long to
    /// finish before the process exits (whole seconds, at least 1; Pingora waits the full
    /// time). Keep it below the pod's terminationGracePeriodSeconds.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    shutdown_timeout: Duration,

    /// After SIGTERM, keep accepting and serving this long with /readyz failing, so that load
    /// balancers take the node out before the listeners close (a connection still in the
    /// accept queue at that moment would be reset). 0: close at once. The pod's
    /// terminationGracePeriodSeconds must exceed this plus --shutdown-timeout.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration)]
    shutdown_delay: Duration,

    /// Start as the successor of a running gateway: take over its listening sockets through
    /// --upgrade-socket (send the old process SIGQUIT to hand them over), so that a binary
    /// upgrade refuses no connection. The old process then finishes its requests and exits.
    #[arg(long)]
    upgrade: bool,

    /// The Unix socket used to hand listening sockets to a successor (see --upgrade).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/tmp/pingress-upgrade.sock"
    )]
    upgrade_socket: PathBuf,

    /// Access log on stdout, one line per request: json, text, or off.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = AccessLogArg::Json)]
    access_log: AccessLogArg,

    #[command(flatten)]
    clients: ClientArgs,
}

/// What clients may send and how long they may take; docs/security.md explains each.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Client limits")]
pub struct ClientArgs {
    /// Largest request body (e.g. 1m, 512k, 10485760; 0: no limit). A larger Content-Length is
    /// answered 413 before the body is read. The pingress.io/proxy-body-size annotation
    /// overrides it per Ingress.
    #[arg(long, value_name = "SIZE", default_value = "1m", value_parser = size)]
    max_body_size: u64,

    /// Longest HTTP/1 request line (method, target and version); longer is answered 414.
    #[arg(long, value_name = "SIZE", default_value = "8k", value_parser = size)]
    max_request_line: u64,

    /// Largest request header section, request line included (HTTP/2: the decoded header
    /// list); larger is answered 431.
    #[arg(long, value_name = "SIZE", default_value = "32k", value_parser = size)]
    max_header_size: u64,

    /// Encoded slashes in request paths (%2F, %5C, and a raw backslash): keep them as data
    /// (never path separators), decode them to "/" before matching, or reject the request
    /// with 400.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = EncodedSlashesArg::Keep)]
    encoded_slashes: EncodedSlashesArg,

    /// Forward request headers whose names contain "_" (dropped by default, as nginx does).
    #[arg(long)]
    allow_underscores_in_headers: bool,

    /// Comma-separated CIDRs (e.g. 10.0.0.0/8,192.168.1.7/32) of proxies in front of the
    /// gateway whose X-Forwarded-For/-Proto/-Host and Forwarded headers are kept and extended;
    /// from any other client they are replaced.
    #[arg(long, value_name = "CIDRS", value_delimiter = ',', value_parser = cidr)]
    trusted_proxies: Vec<IpNet>,

    /// A new client connection must send its first complete request header within this time,
    /// or it is closed (slow-header clients).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    client_header_timeout: Duration,

    /// Longest wait between two reads of a request body; expiry answers 408.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    client_body_timeout: Duration,

    /// How long an idle client keep-alive connection (HTTP/1 or HTTP/2) waits for its next
    /// request (whole seconds, at least 1).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    keepalive_timeout: Duration,

    /// Requests served on one HTTP/1 client connection before it is closed.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    keepalive_requests: u32,

    /// Most client connections open at once (0: no limit); more are closed when accepted.
    /// Each idle connection costs a few KiB, a slow-header one up to --max-header-size more.
    #[arg(long, value_name = "N", default_value_t = 65536)]
    max_connections: usize,

    /// Most client connections open at once from one IP address (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 0)]
    max_connections_per_ip: usize,

    /// Most concurrent streams on one HTTP/2 connection.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    http2_max_concurrent_streams: u32,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum EncodedSlashesArg {
    Keep,
    Decode,
    Reject,
}

impl From<EncodedSlashesArg> for EncodedSlashes {
    fn from(arg: EncodedSlashesArg) -> Self {
        match arg {
            EncodedSlashesArg::Keep => EncodedSlashes::Keep,
            EncodedSlashesArg::Decode => EncodedSlashes::Decode,
            EncodedSlashesArg::Reject => EncodedSlashes::Reject,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum AccessLogArg {
    Json,
    Text,
    Off,
}

impl From<AccessLogArg> for AccessLogFormat {
    fn from(arg: AccessLogArg) -> Self {
        match arg {
            AccessLogArg::Json => AccessLogFormat::Json,
            AccessLogArg::Text => AccessLogFormat::Text,
            AccessLogArg::Off => AccessLogFormat::Off,
        }
    }
}

/// How application log lines are written (to stderr).
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum LogFormat {
    Text,
    Json,
}

/// A size as the annotations write it: digits with an optional k, m or g.
fn size(s: &str) -> Result<u64, String> {
    pingress_translate::parse_size(s)
        .ok_or_else(|| format!("{s:?}: expected a size such as 8m, 512k or 1048576"))
}

/// A duration as the annotations write it: `5s`, `250ms`, `1m30s`, or bare seconds.
fn duration(s: &str) -> Result<Duration, String> {
    pingress_translate::parse_duration(s).ok_or_else(|| {
        format!("{s:?}: expected a duration such as 5s, 250ms or 1m30s (units ms, s, m, h), or a bare number of seconds")
    })
}

fn cidr(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?}: expected a CIDR such as 10.0.0.0/8, or an address"))
}

fn header_value(s: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(s).map_err(|_| format!("{s:?} is not a valid header value"))
}

fn existing_path(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    match path.try_exists() {
        Ok(true) => Ok(path),
        Ok(false) => Err(format!("{s}: no such file or directory")),
        Err(e) => Err(format!("{s}: {e}")),
    }
}

/// What the controller reads, from the source flags.
pub enum SourceConfig {
    /// `--manifests`: files, watched.
    Manifests {
        /// The files and directories given.
        paths: Vec<PathBuf>,
        /// `--reload-debounce`.
        debounce: Duration,
    },
    /// `--kubernetes`: the API, with leader election, presence, status and Events.
    Kubernetes(KubernetesConfig),
}

impl SourceArgs {
    /// The controller's source and translation options.
    pub fn into_config(self) -> (SourceConfig, Options) {
        let options = Options {
            ingress_class: self.ingress_class,
            controller_name: self.controller_class,
            watch_without_class: self.watch_ingress_without_class,
            annotations_prefix: self.annotations_prefix,
            configmap: self.configmap,
            default_certificate: self.default_certificate,
            now: None, // set by the source at each translation
        };
        let source = if self.kubernetes {
            SourceConfig::Kubernetes(KubernetesConfig {
                kubeconfig: self.kubeconfig,
                namespaces: self.watch_namespaces,
                publish_addresses: self.publish_addresses,
                node_name: self.node_name,
                identity: self.pod_name.unwrap_or_else(host_name),
                lease_namespace: self.leader_election_namespace,
                lease_duration: self.leader_lease_duration,
                debounce: self.reload_debounce,
            })
        } else {
            SourceConfig::Manifests {
                paths: self.manifests,
                debounce: self.reload_debounce,
            }
        };
        (source, options)
    }
}

/// The default identity in the leader election when there is no `$POD_NAME`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "pingress".into())
}

impl GatewayArgs {
    /// The gateway's options; `/readyz` fails once the config channel has been down for
    /// `stale_after` (`Duration::MAX` when the controller runs in the same process).
    pub fn into_options(self, stale_after: Duration) -> GatewayOptions {
        let threads = self.threads.map(usize::from).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        let c = self.clients;
        GatewayOptions {
            listen_http: self.listen_http,
            listen_https: self.listen_https,
            listen_admin: self.listen_admin,
            threads,
            timeouts: Timeouts {
                connect: self.proxy_connect_timeout,
                read: self.proxy_read_timeout,
                send: self.proxy_send_timeout,
                idle: self.upstream_keepalive_timeout,
            },
            hsts: self.hsts,
            access_log: self.access_log.into(),
            upstream: UpstreamDefaults {
                health_interval: self.health_check_interval,
                health_timeout: self.health_check_timeout,
                healthy_threshold: self.health_check_healthy_threshold,
                unhealthy_threshold: self.health_check_unhealthy_threshold,
                eject_after: self.eject_after,
                eject_for: self.eject_for,
            },
            shutdown_timeout: self.shutdown_timeout,
            shutdown_delay: self.shutdown_delay,
            upgrade: self.upgrade,
            upgrade_socket: self.upgrade_socket,
            stale_after,
            upstream_pool_size: self.upstream_keepalive_pool_size,
            limits: Limits {
                max_request_line: usize::try_from(c.max_request_line).unwrap_or(usize::MAX),
                max_header_size: usize::try_from(c.max_header_size).unwrap_or(usize::MAX),
                max_body_size: c.max_body_size,
                encoded_slashes: c.encoded_slashes.into(),
                allow_underscores_in_headers: c.allow_underscores_in_headers,
                client_header_timeout: c.client_header_timeout,
                client_body_timeout: c.client_body_timeout,
                keepalive_timeout: c.keepalive_timeout,
                keepalive_requests: c.keepalive_requests,
                max_connections: c.max_connections,
                max_connections_per_ip: c.max_connections_per_ip,
                http2_max_concurrent_streams: c.http2_max_concurrent_streams,
            },
            trusted_proxies: c.trusted_proxies,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flag_values_use_the_annotations_grammar() {
        assert_eq!(duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(duration("soon")
            .unwrap_err()
            .contains("\"soon\": expected a duration"));
        assert_eq!(size("8k").unwrap(), 8192);
        assert!(size("8kb").unwrap_err().contains("expected a size"));
    }

    #[test]
    fn every_default_parses() {
        let cli = Cli::try_parse_from(["pingress", "gateway"]).unwrap();
        let Command::Gateway(args) = cli.command else {
            panic!("the gateway command");
        };
        assert_eq!(args.stale_after, Duration::from_secs(300));
        let options = args.gateway.into_options(args.stale_after);
        assert_eq!(options.timeouts.connect, Duration::from_secs(5));
        assert_eq!(options.limits.max_body_size, 1 << 20);

        let cli = Cli::try_parse_from(["pingress", "controller", "--kubernetes"]).unwrap();
        let Command::Controller(args) = cli.command else {
            panic!("the controller command");
        };
        let (SourceConfig::Kubernetes(k), _) = args.source.into_config() else {
            panic!("the Kubernetes source");
        };
        assert_eq!(k.lease_duration, Duration::from_secs(15));
        assert_eq!(k.debounce, Duration::from_millis(50));
    }

    #[test]
    fn object_references_are_namespace_slash_name() {
        let parse = |value: &str| {
            Cli::try_parse_from([
                "pingress",
                "controller",
                "--kubernetes",
                "--default-certificate",
                value,
            ])
        };
        let cli = parse("tls/default").unwrap();
        let Command::Controller(args) = cli.command else {
            panic!("the controller command");
        };
        let (_, options) = args.source.into_config();
        assert_eq!(
            options.default_certificate,
            Some(ObjectRef::new("tls", "default"))
        );
        let error = parse("default").unwrap_err().to_string();
        assert!(
            error.contains("--default-certificate") && error.contains("expected NAMESPACE/NAME"),
            "{error}"
        );
    }
}
