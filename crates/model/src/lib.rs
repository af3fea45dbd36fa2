//! The Snapshot: the contract between the controller and the gateway.
//!
//! A [`Snapshot`] is the complete routing configuration at one moment: the virtual hosts with
//! their routes, the default backend, and the clusters (a Service port's ready endpoints) that
//! routes send traffic to. It is plain data, serde-serializable so it can cross a process
//! boundary, and it is always whole: there are no partial updates. Every value in it has been
//! parsed and validated by a translation; the gateway trusts it.
//!
//! ```text
//! Snapshot { schema, generation }
//! |-- virtual_hosts: VirtualHost { host: HostMatch, routes: [Route] }
//! |     Route
//! |     |-- match:   path: PathMatch { Exact | Prefix | Regex }  + conditions: [Condition]
//! |     |            (header, query parameter, method, cookie; all must hold)
//! |     |-- action:  Forward(BackendSet { backends: [WeightedBackend], alternatives })
//! |     |            | Redirect { code, location } | Respond { status, body }
//! |     |-- filters: [Filter]  (ordered; each runs in the phase that owns it)
//! |     |-- ssl_redirect, https_redirect, policy (timeouts, retries, body size, fallbacks),
//! |     |   origin (the declaring object)
//! |-- default_backend: Option<Backend>
//! |-- clusters: ClusterId -> Cluster { endpoints: [Endpoint], policy }
//! |-- settings: gateway-wide settings (redirect code, HSTS, trusted proxies, ...)
//! `-- tls: Tls
//!     |-- hosts: [TlsHost { host: HostMatch, certificate: Option<CertificateId> }]
//!     |-- certificates: CertificateId -> Certificate { chain_pem, key_pem }
//!     `-- default_certificate: Option<CertificateId>
//! ```
//!
//! The route model is the one both APIs translate into (Ingress with its annotations today,
//! Gateway API next): the gateway never learns which API a route came from.
//!
//! A Snapshot carries TLS private keys: never log it whole, and keep any channel that carries it
//! private. [`Certificate`]'s `Debug` leaves the key out.
//!
//! This crate depends on nothing else of the project.

mod cluster;
mod object;
mod route;
mod settings;
mod tls;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::cluster::{
    Balance, Cluster, ClusterId, ClusterPolicy, Endpoint, HashKey, HealthCheck, ParseClusterIdError,
};
pub use crate::object::{ObjectRef, ParseObjectRefError};
pub use crate::route::{
    Action, Alternative, Backend, BackendSet, Condition, ErrorPages, Fallback, Filter,
    HeaderChanges, HostMatch, HttpsRedirect, Location, PathMatch, Redirect, RegexPath, Respond,
    Retry, RetryOn, Route, RoutePolicy, StringMatch, VirtualHost, WeightedBackend, MAX_RETRIES,
};
pub use crate::settings::{Cidr, Hsts, Settings};
pub use crate::tls::{Certificate, CertificateId, Tls, TlsHost};

/// The version of the Snapshot's serialized form. It changes whenever a change to these types
/// would make an older gateway misread a newer controller's Snapshot (or the reverse): a field
/// or variant added, removed or given another meaning. A gateway refuses a Snapshot of another
/// schema and keeps serving its last good one (crates/channel).
pub const SCHEMA_VERSION: u32 = 4;

/// The whole routing configuration, versioned by `generation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`SCHEMA_VERSION`] of the program that made it. Serialized first, so that a reader can
    /// check it before reading the rest.
    pub schema: u32,
    /// Monotonic version assigned by the publisher; `0` means "not yet published".
    pub generation: u64,
    /// One entry per distinct host match, in no particular order.
    pub virtual_hosts: Vec<VirtualHost>,
    /// Where requests that match no rule go; `None` means the gateway answers `404`.
    pub default_backend: Option<Backend>,
    /// Every cluster that a route or the default backend refers to.
    pub clusters: BTreeMap<ClusterId, Cluster>,
    /// Certificates served on the HTTPS listener, by SNI name.
    pub tls: Tls,
    /// Gateway-wide settings of the configuration (unset: the gateway's flags).
    pub settings: Settings,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            schema: SCHEMA_VERSION,
            generation: 0,
            virtual_hosts: Vec::new(),
            default_backend: None,
            clusters: BTreeMap::new(),
            tls: Tls::default(),
            settings: Settings::default(),
        }
    }
}

impl Snapshot {
    /// The number of routes across all virtual hosts.
    pub fn route_count(&self) -> usize {
        self.virtual_hosts.iter().map(|v| v.routes.len()).sum()
    }
}

#[cfg(test)]
mod tests;
