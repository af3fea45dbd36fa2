//! The end of the controller's pipeline: numbers each translation's Snapshot and hands it to
//! the gateway through the config channel.
//!
//! The channel is a `tokio::sync::watch` of `Arc<Snapshot>`: a reader always sees the newest
//! complete Snapshot and never a partial one; a slow reader skips intermediate generations,
//! which is what we want (only the latest configuration matters).

use std::collections::BTreeSet;
use std::sync::Arc;

use pingress_model::Snapshot;
use pingress_translate::{Severity, Translation};
use tokio::sync::watch;

use crate::metrics::ControllerMetrics;

/// The receiving end of the config channel, held by the gateway.
pub type SnapshotReceiver = watch::Receiver<Arc<Snapshot>>;

/// Creates the config channel. The receiver starts with an empty generation-0 Snapshot, which
/// the gateway treats as "no configuration yet".
pub fn config_channel(metrics: ControllerMetrics) -> (Publisher, SnapshotReceiver) {
    let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
    (
        Publisher {
            tx,
            generation: 0,
            reported: BTreeSet::new(),
            metrics,
        },
        rx,
    )
}

/// Numbers and sends Snapshots, and reports diagnostics once per appearance (a diagnostic that
/// persists across reloads is not logged again).
pub struct Publisher {
    tx: watch::Sender<Arc<Snapshot>>,
    generation: u64,
    reported: BTreeSet<String>,
    metrics: ControllerMetrics,
}

impl Publisher {
    /// The controller's metrics, for the sources to count into.
    pub fn metrics(&self) -> &ControllerMetrics {
        &self.metrics
    }

    /// Publishes `translation`'s Snapshot as the next generation, unless it equals the current
    /// one. Returns the generation now live on the channel.
    pub fn publish(&mut self, translation: Translation) -> u64 {
        let Translation {
            mut snapshot,
            diagnostics,
            ignored_annotations,
            ingresses,
        } = translation;
        let mut reported = BTreeSet::new();
        for d in &diagnostics {
            let line = d.to_string();
            if !self.reported.contains(&line) {
                // The line reads `Ingress default/shop: spec.rules[0].host: <problem>`.
                match d.severity {
                    Severity::Error => tracing::error!("{line}"),
                    Severity::Warning => tracing::warn!("{line}"),
                }
            }
            reported.insert(line);
        }
        self.reported = reported;
        self.metrics.observe_diagnostics(&diagnostics);
        self.metrics
            .observe_ignored_annotations(&ignored_annotations);

        snapshot.generation = self.generation;
        if self.generation > 0 && **self.tx.borrow() == snapshot {
            return self.generation;
        }
        self.generation += 1;
        snapshot.generation = self.generation;
        tracing::info!(
            generation = self.generation,
            ingresses = ingresses.len(),
            virtual_hosts = snapshot.virtual_hosts.len(),
            routes = snapshot.route_count(),
            clusters = snapshot.clusters.len(),
            diagnostics = diagnostics.len(),
            "publishing configuration"
        );
        self.tx.send_replace(Arc::new(snapshot));
        self.metrics.published.inc();
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingress_model::{HostMatch, VirtualHost};

    fn translation(hosts: &[&str]) -> Translation {
        Translation {
            snapshot: Snapshot {
                virtual_hosts: hosts
                    .iter()
                    .map(|h| VirtualHost {
                        host: HostMatch::Exact(h.to_string()),
                        routes: vec![],
                    })
                    .collect(),
                ..Snapshot::default()
            },
            diagnostics: vec![],
            ignored_annotations: Default::default(),
            ingresses: vec![],
        }
    }

    #[test]
    fn generations_advance_only_on_change() {
        let (mut publisher, rx) =
            config_channel(ControllerMetrics::new(&prometheus::Registry::new()));
        assert_eq!(rx.borrow().generation, 0);
        assert_eq!(
            publisher.publish(translation(&[])),
            1,
            "first config, even empty"
        );
        assert_eq!(publisher.publish(translation(&[])), 1, "unchanged");
        assert_eq!(publisher.publish(translation(&["a"])), 2);
        assert_eq!(rx.borrow().generation, 2);
        assert_eq!(rx.borrow().virtual_hosts.len(), 1);
    }
}
