//! What the leader writes back to the cluster after each translation: the addresses in each
//! served Ingress's `status.loadBalancer.ingress`, and an Event for each new problem found in
//! an Ingress. Nothing here runs on the request path; writes happen in background tasks, and
//! a failed write is logged and retried with the next translation.

use std::collections::HashSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::networking::v1::{Ingress, IngressLoadBalancerIngress};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource};
use pingress_model::ObjectRef;
use pingress_translate::{Objects, Severity, Translation};

use super::leader::Leadership;

/// Writes Ingress status and Events when this process leads.
pub struct ClusterReporter {
    client: Client,
    leadership: Leadership,
    /// The addresses of every node serving Ingresses.
    addresses: tokio::sync::watch::Receiver<Vec<String>>,
    recorder: Recorder,
    /// Diagnostics already published as Events (`Ingress ns/name: field: message`).
    published: HashSet<String>,
}

impl ClusterReporter {
    /// `addresses` are what Ingress status shows: `--publish-address` values, or the addresses
    /// of all nodes running Pingress (kept current by [`super::presence::run_presence`]).
    pub fn new(
        client: Client,
        leadership: Leadership,
        addresses: tokio::sync::watch::Receiver<Vec<String>>,
        instance: &str,
    ) -> Self {
        let reporter = Reporter {
            controller: "pingress".into(),
            instance: Some(instance.to_string()),
        };
        ClusterReporter {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            leadership,
            addresses,
            published: HashSet::new(),
        }
    }

    /// Called after every translation, with the objects it read.
    pub fn report(&mut self, objects: &Objects, translation: &Translation) {
        if !self.leadership.is_leader() {
            return;
        }
        self.write_status(objects, translation);
        self.publish_events(objects, translation);
    }

    fn write_status(&self, objects: &Objects, translation: &Translation) {
        let addresses: Vec<IngressLoadBalancerIngress> = self
            .addresses
            .borrow()
            .iter()
            .map(|a| load_balancer_ingress(a))
            .collect();
        if addresses.is_empty() {
            return;
        }
        let desired = serde_json::json!({"status": {"loadBalancer": {"ingress": addresses}}});
        for ingress in &objects.ingresses {
            let id = pingress_translate::object_ref(&ingress.metadata);
            if translation.ingresses.binary_search(&id).is_err() {
                continue;
            }
            let current = ingress
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.clone())
                .unwrap_or_default();
            if current == addresses {
                continue; // only write what changes
            }
            let api: Api<Ingress> = Api::namespaced(self.client.clone(), &id.namespace);
            let patch = desired.clone();
            tokio::spawn(async move {
                let params = PatchParams::default();
                match api
                    .patch_status(&id.name, &params, &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => tracing::info!(ingress = %id, "status updated"),
                    Err(e) => tracing::warn!(ingress = %id, "cannot update status: {e}"),
                }
            });
        }
    }

    fn publish_events(&mut self, objects: &Objects, translation: &Translation) {
        for diagnostic in &translation.diagnostics {
            if diagnostic.kind != <Ingress as k8s_openapi::Resource>::KIND {
                continue;
            }
            let line = diagnostic.to_string();
            if self.published.contains(&line) {
                continue;
            }
            let Some(reference) = ingress_reference(objects, &diagnostic.object) else {
                continue;
            };
            self.published.insert(line.clone());
            let event = Event {
                type_: match diagnostic.severity {
                    Severity::Error => EventType::Warning,
                    Severity::Warning => EventType::Normal,
                },
                reason: match diagnostic.severity {
                    Severity::Error => "InvalidIngress".into(),
                    Severity::Warning => "IgnoredIngressSetting".into(),
                },
                note: Some(truncate(&format!(
                    "{}: {}",
                    diagnostic.field, diagnostic.message
                ))),
                action: "Translate".into(),
                secondary: None,
            };
            let recorder = self.recorder.clone();
            tokio::spawn(async move {
                if let Err(e) = recorder.publish(&event, &reference).await {
                    tracing::warn!("cannot publish an Event for {line}: {e}");
                }
            });
        }
        // Forget problems that are gone, so that they are reported again if they come back.
        let current: HashSet<String> = translation
            .diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect();
        self.published.retain(|line| current.contains(line));
    }
}

/// An Event's `note` is limited to 1 kB.
fn truncate(note: &str) -> String {
    let mut end = note.len().min(1000);
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    note[..end].to_string()
}

fn ingress_reference(objects: &Objects, id: &ObjectRef) -> Option<ObjectReference> {
    let ingress = objects
        .ingresses
        .iter()
        .find(|i| pingress_translate::object_ref(&i.metadata) == *id)?;
    Some(ingress.object_ref(&()))
}

fn load_balancer_ingress(address: &str) -> IngressLoadBalancerIngress {
    if address.parse::<IpAddr>().is_ok() {
        IngressLoadBalancerIngress {
            ip: Some(address.to_string()),
            ..Default::default()
        }
    } else {
        IngressLoadBalancerIngress {
            hostname: Some(address.to_string()),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_ips_or_hostnames() {
        assert_eq!(
            load_balancer_ingress("10.0.0.1").ip.as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(load_balancer_ingress("::1").ip.as_deref(), Some("::1"));
        assert_eq!(
            load_balancer_ingress("lb.example.com").hostname.as_deref(),
            Some("lb.example.com")
        );
    }

    #[test]
    fn notes_are_cut_at_a_character_boundary() {
        let long = "é".repeat(700);
        let cut = truncate(&long);
        assert!(cut.len() <= 1000 && cut.chars().all(|c| c == 'é'));
    }
}
