//! The config path: Snapshot -> Generation -> swap.
//!
//! ```text
//! config channel (watch of Arc<Snapshot>)
//!   -> ConfigApplier (applier.rs, a background service)
//!        Generation::compile (generation.rs): RouteTable of RouteTargets (route.rs),
//!                                             upstreams, CertStore (certs.rs)
//!   -> LiveConfig::swap (live.rs): ArcSwap store; readers load() without a lock
//!   -> LiveConfig::register_health_checks, then release of retired generations
//! ```
//!
//! Nothing here runs on the request path except `LiveConfig::load` and the lazy, once-per-route
//! resolution of a route's metrics ([`RouteTarget::resolve`]).

mod applier;
mod certs;
mod choice;
mod generation;
mod live;
mod route;
mod settings;

pub use applier::ConfigApplier;
pub use certs::{CertStore, CertifiedKey};
pub use choice::WeightedChoice;
pub use generation::Generation;
pub use live::{release, return_freed_memory, LiveConfig};
pub use route::{
    Action, ErrorPages, Fallback, Forward, Location, RouteBackend, RouteInfo, RouteTarget,
};
pub use settings::{Flags, GatewaySettings, Shared};
