//! Presence: every Pingress process keeps a Lease `pingress-node-<node>` (labelled
//! `pingress.io/role: node`) carrying its node's addresses, renewed like the leader Lease. The
//! addresses of all live ones are what served Ingresses show in their status: every node that
//! runs Pingress serves every Ingress, and a node that stops renewing drops out of the status
//! once its Lease expires.

use std::sync::Arc;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};

use super::leader::{jiff_seconds, won, LeaderConfig};

/// Announces `addresses` as those of `node` until the process ends, in a Lease of
/// `config.namespace` renewed every `config.renew`; after each renewal, sends the addresses of
/// every live node to `known` when they changed, and notifies `changed`.
pub async fn run_presence(
    client: Client,
    config: LeaderConfig,
    node: String,
    addresses: Vec<String>,
    known: tokio::sync::watch::Sender<Vec<String>>,
    changed: Arc<tokio::sync::Notify>,
) {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let name = format!("pingress-node-{node}");
    loop {
        if let Err(e) = announce(&api, &name, &node, &addresses, &config).await {
            tracing::warn!(lease = %name, "presence: {e}");
        }
        match live_addresses(&api).await {
            Ok(all) if *known.borrow() != all => {
                tracing::info!(addresses = ?all, "nodes serving Ingresses changed");
                known.send_replace(all);
                changed.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("presence: cannot list node Leases: {e}"),
        }
        tokio::time::sleep(config.renew).await;
    }
}

const ADDRESSES: &str = "pingress.io/addresses";
const ROLE: &str = "pingress.io/role";

async fn announce(
    api: &Api<Lease>,
    name: &str,
    node: &str,
    addresses: &[String],
    config: &LeaderConfig,
) -> Result<(), kube::Error> {
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some([(ROLE.to_string(), "node".to_string())].into()),
            annotations: Some([(ADDRESSES.to_string(), addresses.join(","))].into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.to_string()),
            lease_duration_seconds: Some(
                i32::try_from(config.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..LeaseSpec::default()
        }),
    };
    match api.get_opt(name).await? {
        None => api.create(&PostParams::default(), &lease).await.map(|_| ()),
        Some(current) => {
            let mut lease = lease;
            lease.metadata.resource_version = current.metadata.resource_version;
            won(api.replace(name, &PostParams::default(), &lease).await).map(|_| ())
        }
    }
}

/// The addresses announced by node Leases renewed within their duration, sorted.
async fn live_addresses(api: &Api<Lease>) -> Result<Vec<String>, kube::Error> {
    let now = Timestamp::now();
    let leases = api
        .list(&kube::api::ListParams::default().labels(&format!("{ROLE}=node")))
        .await?;
    let mut all: Vec<String> = leases
        .items
        .iter()
        .filter(|l| {
            let spec = l.spec.as_ref();
            let renewed = spec.and_then(|s| s.renew_time.as_ref()).map(|t| t.0);
            let duration = spec.and_then(|s| s.lease_duration_seconds).unwrap_or(0);
            renewed.is_some_and(|t| {
                t.checked_add(jiff_seconds(duration))
                    .is_ok_and(|deadline| deadline >= now)
            })
        })
        .filter_map(|l| l.metadata.annotations.as_ref()?.get(ADDRESSES).cloned())
        .flat_map(|a| {
            a.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    all.sort();
    all.dedup();
    Ok(all)
}

/// The addresses of node `name`: its external IPs, else its internal IPs.
pub async fn node_addresses(client: &Client, name: &str) -> Result<Vec<String>, kube::Error> {
    let node = Api::<Node>::all(client.clone()).get(name).await?;
    let addresses = node.status.and_then(|s| s.addresses).unwrap_or_default();
    let of = |kind: &str| -> Vec<String> {
        addresses
            .iter()
            .filter(|a| a.type_ == kind)
            .map(|a| a.address.clone())
            .collect()
    };
    let external = of("ExternalIP");
    Ok(if external.is_empty() {
        of("InternalIP")
    } else {
        external
    })
}
