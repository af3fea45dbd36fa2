//! `pingress`: the one binary. Subcommands pick which halves run in this process, and on
//! which threads.
//!
//! ```text
//! pingress run         controller thread ──watch channel──> gateway (Pingora's threads)
//! pingress controller  controller thread ──watch channel──> config socket (main thread)
//! pingress gateway     config socket (channel thread) ──watch channel──> gateway
//! ```
//!
//! The flags and what they turn into are in `cli.rs`; the controller's sources in
//! `pingress_controller`, the socket in `pingress_channel`.

mod cli;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use pingress_controller::{
    config_channel, run_kubernetes, run_manifests, ControllerMetrics, Publisher, SnapshotReceiver,
};
use pingress_gateway::{run as run_gateway, ChannelStatus, GatewayOptions};
use pingress_model::Snapshot;

use crate::cli::{
    Cli, Command, ControllerArgs, GatewayCmdArgs, LogFormat, RunArgs, SourceArgs, SourceConfig,
};

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Application logs go to stderr, colored only on a terminal; stdout is left for data.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// mimalloc, not glibc's malloc: Pingora allocates and frees many small objects per request
/// (header maps, tasks, buffers), and mimalloc's thread-local free lists do that in fewer
/// instructions (14% fewer per proxied request, 22% fewer to compile and drop a large
/// configuration: docs/performance.md). It also returns freed memory to the system by itself.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Run(args) => run(*args),
        Command::Controller(args) => controller(*args),
        Command::Gateway(args) => gateway(*args),
    }
}

/// `pingress run`: the controller on its own thread, the gateway on Pingora's.
fn run(args: RunArgs) -> ! {
    let registry = prometheus::Registry::new();
    let (publisher, snapshots) = config_channel(ControllerMetrics::new(&registry));
    start_controller(args.source, publisher);
    // No config channel to go stale: the controller is in this process.
    serve_gateway(
        args.gateway.into_options(Duration::MAX),
        snapshots,
        registry,
        None,
    )
}

/// `pingress controller`: the source and translation, publishing on the config socket.
fn controller(args: ControllerArgs) -> ! {
    let registry = prometheus::Registry::new();
    let (publisher, snapshots) = config_channel(ControllerMetrics::new(&registry));
    start_controller(args.source, publisher);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a single-threaded tokio runtime");
    let served = runtime.block_on(pingress_channel::serve(&args.config_socket, snapshots));
    if let Err(e) = served {
        tracing::error!(socket = %args.config_socket.display(), "config channel: {e}");
    }
    std::process::exit(1)
}

/// `pingress gateway`: serves what the controller sends over the config socket.
fn gateway(args: GatewayCmdArgs) -> ! {
    let (tx, snapshots) = tokio::sync::watch::channel(Arc::new(Snapshot::default()));
    let status = Arc::new(ChannelStatus::default());
    let (socket, state_dir, follow_status) = (args.config_socket, args.state_dir, status.clone());
    std::thread::Builder::new()
        .name("pingress-channel".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a single-threaded tokio runtime");
            runtime.block_on(pingress_channel::follow(
                socket,
                tx,
                follow_status,
                state_dir,
            ));
        })
        .expect("spawn the config channel thread");
    let registry = prometheus::Registry::new();
    serve_gateway(
        args.gateway.into_options(args.stale_after),
        snapshots,
        registry,
        Some(status),
    )
}

/// Starts the controller (file or Kubernetes source) on its own thread; a start-up error
/// ends the process.
fn start_controller(args: SourceArgs, publisher: Publisher) {
    let (source, options) = args.into_config();
    std::thread::Builder::new()
        .name("pingress-controller".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a single-threaded tokio runtime");
            let result = match source {
                SourceConfig::Manifests { paths, debounce } => runtime
                    .block_on(run_manifests(paths, options, publisher, debounce))
                    .map_err(anyhow::Error::from),
                SourceConfig::Kubernetes(config) => runtime
                    .block_on(run_kubernetes(config, options, publisher))
                    .map_err(anyhow::Error::from),
            };
            // The errors' messages already carry their causes.
            if let Err(e) = result {
                tracing::error!("{e}");
                std::process::exit(1);
            }
        })
        .expect("spawn the controller thread");
}

/// Serves the gateway until the process ends.
fn serve_gateway(
    options: GatewayOptions,
    snapshots: SnapshotReceiver,
    registry: prometheus::Registry,
    channel: Option<Arc<ChannelStatus>>,
) -> ! {
    // `run` only returns when the server could not be built.
    let Err(e) = run_gateway(options, snapshots, registry, channel);
    tracing::error!("cannot start the gateway: {e:#}");
    std::process::exit(1)
}
