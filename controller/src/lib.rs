//! The controller half of Pingress: sources of Kubernetes objects, translation, and the
//! config channel that hands each complete [`pingress_model::Snapshot`] to the gateway.
//!
//! ```text
//! files::ManifestSource (YAML on disk)  ─┐
//!                                        ├─ Source ─> source::run_source
//! kube::view::ClusterView (the API)     ─┘              objects -> translate (now)
//!   + kube: election, presence,                          -> on_translation (kube::report:
//!     status and Events                                       status, Events)
//!                                                        -> publisher::Publisher
//!                                                             new generation, diagnostics logged
//!                                                        -> watch channel -> gateway (in
//!                                                           process, or pingress_channel)
//! ```
//!
//! Modules by stage: [`files`] and [`kube`] are the two sources (and what the Kubernetes mode
//! does besides reading), [`source`] is the one loop they share, [`publisher`] is the end of
//! the pipeline, [`metrics`] what they count. Each imports only from stages after it.

pub mod files;
pub mod kube;
pub mod metrics;
pub mod publisher;
pub mod source;

pub use crate::files::{manifests, run_manifests, WatchError};
pub use crate::kube::client::ClientError;
pub use crate::kube::{run_kubernetes, KubernetesConfig};
pub use crate::metrics::ControllerMetrics;
pub use crate::publisher::{config_channel, Publisher, SnapshotReceiver};
pub use crate::source::{run_source, Schedule, Source};
