//! The Kubernetes mode: the API source, and what a controller in a cluster does besides
//! translating (leader election, node presence, Ingress status and Events).
//!
//! ```text
//! client ─┬─ run_election (Lease pingress-leader) ── Leadership ─────── gained ──┐
//!         ├─ run_presence (Lease pingress-node-<node>) ── addresses ─ changed ─┤ wake
//!         ├─ ClusterReporter (status, Events; the leader only) <─ on_translation │
//!         └─ ClusterView ─> run_source (debounce, resync every 60 s) <──────────┘
//!                              └─> Publisher
//! ```

pub mod client;
pub mod leader;
pub mod presence;
pub mod report;
pub mod view;

use std::path::PathBuf;
use std::time::Duration;

use pingress_translate::Options;

use crate::publisher::Publisher;
use crate::source::{run_source, Schedule};
use client::{client, ClientError};
use leader::{run_election, LeaderConfig, Leadership};
use presence::{node_addresses, run_presence};
use report::ClusterReporter;
use view::ClusterView;

/// How often the objects are translated again without any change: certificates expire, and
/// status written by the leader may have been edited.
const RESYNC: Duration = Duration::from_secs(60);

/// The leader-election Lease.
const LEADER_LEASE: &str = "pingress-leader";

/// Everything the Kubernetes mode needs besides the translation options.
#[derive(Debug, Clone)]
pub struct KubernetesConfig {
    /// The kubeconfig to use; `None`: the in-cluster service account, else `$KUBECONFIG`,
    /// else `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The namespaces to watch; empty: all of them.
    pub namespaces: Vec<String>,
    /// The addresses written to served Ingresses' status; empty: those of every node running
    /// Pingress, each announced by its own process.
    pub publish_addresses: Vec<String>,
    /// This node, whose addresses this process announces when `publish_addresses` is empty.
    pub node_name: Option<String>,
    /// This process's identity in the leader election, and the instance its Events name.
    pub identity: String,
    /// The namespace of the leader and presence Leases.
    pub lease_namespace: String,
    /// A leader that has not renewed its Lease for this long is replaced; it renews every
    /// fifth of it.
    pub lease_duration: Duration,
    /// Quiet time after a change before the objects are read again.
    pub debounce: Duration,
}

/// Runs the Kubernetes source with leader election, presence, status and Events until the
/// process ends; returns only when no client can be built.
pub async fn run_kubernetes(
    config: KubernetesConfig,
    options: Options,
    publisher: Publisher,
) -> Result<(), ClientError> {
    let client = client(config.kubeconfig.as_deref()).await?;
    let leadership = Leadership::default();
    let election = LeaderConfig {
        namespace: config.lease_namespace,
        lease_name: LEADER_LEASE.into(),
        identity: config.identity.clone(),
        lease_duration: config.lease_duration.max(Duration::from_secs(1)),
        renew: (config.lease_duration / 5).max(Duration::from_millis(200)),
    };
    tokio::spawn(run_election(
        client.clone(),
        election.clone(),
        leadership.clone(),
        publisher.metrics().leader.clone(),
    ));
    let wake = leadership.gained.clone();
    // Status addresses: fixed by --publish-address, else those of every node running Pingress.
    let (known, addresses) = tokio::sync::watch::channel(config.publish_addresses.clone());
    match (config.publish_addresses.is_empty(), &config.node_name) {
        (false, _) => {}
        (true, Some(node)) => {
            let own = node_addresses(&client, node).await.unwrap_or_else(|e| {
                tracing::warn!(%node, "cannot read the node's addresses: {e}");
                Vec::new()
            });
            tokio::spawn(run_presence(
                client.clone(),
                election,
                node.clone(),
                own,
                known,
                wake.clone(),
            ));
        }
        (true, None) => {
            tracing::warn!("neither --publish-address nor NODE_NAME: Ingress status stays empty")
        }
    }
    let mut reporter =
        ClusterReporter::new(client.clone(), leadership, addresses, &config.identity);
    let errors = publisher.metrics().source_errors.clone();
    let view = ClusterView::start(&client, &config.namespaces, errors);
    tracing::info!(namespaces = ?config.namespaces, "waiting for the first list of every watched kind");
    let schedule = Schedule {
        debounce: config.debounce,
        resync: Some(RESYNC),
        wake: Some(wake),
    };
    run_source(
        view,
        options,
        publisher,
        schedule,
        |objects, translation| reporter.report(objects, translation),
    )
    .await;
    Ok(())
}
