//! The gateway half of Pingress: a Pingora server that serves whatever Snapshot arrives on the
//! config channel.
//!
//! ```text
//! config path    config channel (watch of Arc<Snapshot>)
//!                  -> config::ConfigApplier: Generation::compile -> LiveConfig (ArcSwap)
//!                                                                     |  load(), no lock
//! request path   client -> limits::LimitedApp -> proxy::IngressProxy (admit -> decide ->
//!                  upstream select -> forward -> log) -> endpoint
//!                  HTTP listener, and HTTPS listener (tls: certificate by SNI)
//! admin          /healthz /readyz /metrics /debug/config
//! ```
//!
//! `server.rs` assembles the Pingora server from these parts. The gateway depends on the model
//! and the routing crates only, never on Kubernetes types.

pub mod access_log;
pub mod admin;
pub mod config;
pub mod headers;
pub mod limits;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod request_id;
mod server;
pub mod shutdown;
pub mod tls;
pub mod upstream;

pub use http::HeaderValue;
pub use pingress_channel::ChannelStatus;
pub use server::{run, GatewayError, GatewayOptions};
