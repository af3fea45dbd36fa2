//! Collects the routes and default backends of our Ingresses and settles conflicts.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::rc::Rc;

use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress, IngressBackend};
use k8s_openapi::Resource;
use pingress_model::{ClusterId, ClusterPolicy, HostMatch, ObjectRef, PathMatch};

use crate::annotations::IngressAnnotations;
use crate::backend::ServiceRef;
use crate::configmap::IngressDefaults;
use crate::diagnostic::Diagnostics;
use crate::object::object_ref;
use crate::{host, path};

/// A backend an Ingress asked for, and where it asked.
#[derive(Debug)]
pub(crate) struct Claim {
    pub ingress: ObjectRef,
    /// The element that made the claim: `spec.rules[0].http.paths[1]` or `spec.defaultBackend`.
    pub field: String,
    /// The IngressBackend's field, for errors found while resolving it.
    pub backend_field: String,
    pub service: ServiceRef,
    /// The claiming Ingress's annotations.
    pub annotations: Rc<IngressAnnotations>,
}

/// The policy of a cluster and the Ingress it comes from.
#[derive(Debug)]
pub(crate) struct ClusterOwner {
    pub ingress: ObjectRef,
    pub policy: ClusterPolicy,
    /// `service-upstream`: the cluster is the Service's cluster IP.
    pub service_upstream: bool,
}

/// The winning claims. Ingresses must be added in precedence order (oldest first): the first
/// claim on a (host, path) or on the default backend wins, and the oldest Ingress with a
/// winning claim on a cluster sets that cluster's policy.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    pub routes: BTreeMap<HostMatch, BTreeMap<PathMatch, Claim>>,
    pub default_backend: Option<Claim>,
    /// The policy of every cluster a winning claim uses.
    pub clusters: BTreeMap<ClusterId, ClusterOwner>,
    /// How many Ingresses set each ingress-nginx annotation Pingress does not honour.
    pub ignored_annotations: BTreeMap<&'static str, usize>,
}

impl RouteTable {
    /// Adds the routes of `ingress`, its annotations read under `prefix` with `defaults` for
    /// what they leave unset.
    pub fn add(
        &mut self,
        ingress: &Ingress,
        prefix: &str,
        defaults: &IngressDefaults,
        diagnostics: &mut Diagnostics,
    ) {
        let id = object_ref(&ingress.metadata);
        let Some(spec) = &ingress.spec else {
            return;
        };
        let annotations = Rc::new(IngressAnnotations::parse(
            ingress,
            &id,
            prefix,
            defaults,
            diagnostics,
        ));
        for name in &annotations.ignored {
            *self.ignored_annotations.entry(name).or_default() += 1;
        }
        if let Some(backend) = &spec.default_backend {
            self.add_default_backend(&id, backend, &annotations, diagnostics);
        }
        for (i, rule) in spec.rules.iter().flatten().enumerate() {
            let host = match host::parse(rule.host.as_deref()) {
                Ok(host) => host,
                Err(invalid) => {
                    let rule = format!("spec.rules[{i}]");
                    diagnostics.invalid(Ingress::KIND, &id, &rule, invalid);
                    continue;
                }
            };
            for (j, http_path) in rule.http.iter().flat_map(|h| &h.paths).enumerate() {
                let field = format!("spec.rules[{i}].http.paths[{j}]");
                self.add_path(&id, &host, http_path, field, &annotations, diagnostics);
            }
        }
    }

    fn add_default_backend(
        &mut self,
        id: &ObjectRef,
        backend: &IngressBackend,
        annotations: &Rc<IngressAnnotations>,
        diagnostics: &mut Diagnostics,
    ) {
        let field = "spec.defaultBackend";
        let service = match ServiceRef::parse(backend, &id.namespace) {
            Ok(service) => service,
            Err(invalid) => return diagnostics.invalid(Ingress::KIND, id, field, invalid),
        };
        match &self.default_backend {
            Some(winner) => diagnostics.warning(
                Ingress::KIND,
                id,
                field,
                format!(
                    "ignored: the default backend of Ingress {} is used (oldest Ingress wins)",
                    winner.ingress
                ),
            ),
            None => {
                let claim = Claim {
                    ingress: id.clone(),
                    field: field.into(),
                    backend_field: field.into(),
                    service,
                    annotations: annotations.clone(),
                };
                use_cluster(&mut self.clusters, &claim, diagnostics);
                self.default_backend = Some(claim);
            }
        }
    }

    /// Validates one path of a rule and claims it; `field` is the path's.
    fn add_path(
        &mut self,
        id: &ObjectRef,
        host: &HostMatch,
        http_path: &HTTPIngressPath,
        field: String,
        annotations: &Rc<IngressAnnotations>,
        diagnostics: &mut Diagnostics,
    ) {
        let backend_field = format!("{field}.backend");
        // Validate both halves so that both are reported.
        let path_match = path::parse(&http_path.path_type, http_path.path.as_deref())
            .map_err(|invalid| diagnostics.invalid(Ingress::KIND, id, &field, invalid));
        let service = ServiceRef::parse(&http_path.backend, &id.namespace)
            .map_err(|invalid| diagnostics.invalid(Ingress::KIND, id, &backend_field, invalid));
        let (Ok(path_match), Ok(service)) = (path_match, service) else {
            return;
        };
        match self
            .routes
            .entry(host.clone())
            .or_default()
            .entry(path_match)
        {
            Entry::Vacant(entry) => {
                let claim = entry.insert(Claim {
                    ingress: id.clone(),
                    field,
                    backend_field,
                    service,
                    annotations: annotations.clone(),
                });
                use_cluster(&mut self.clusters, claim, diagnostics);
            }
            Entry::Occupied(entry) => {
                let winner = entry.get();
                let by = if winner.ingress == *id {
                    format!("{} of this Ingress", winner.field)
                } else {
                    format!("Ingress {} (oldest Ingress wins)", winner.ingress)
                };
                let message = format!(
                    "ignored: {} for {} is already routed by {by}",
                    entry.key(),
                    describe(host),
                );
                diagnostics.warning(Ingress::KIND, id, field, message);
            }
        }
    }
}

/// Records that a winning claim uses its cluster: the first (oldest) Ingress to do so sets the
/// cluster's policy, and a later one with a different policy is warned.
fn use_cluster(
    clusters: &mut BTreeMap<ClusterId, ClusterOwner>,
    claim: &Claim,
    diagnostics: &mut Diagnostics,
) {
    match clusters.entry(claim.service.cluster_id()) {
        Entry::Vacant(entry) => {
            entry.insert(ClusterOwner {
                ingress: claim.ingress.clone(),
                policy: claim.annotations.cluster.clone(),
                service_upstream: claim.annotations.service_upstream,
            });
        }
        Entry::Occupied(entry) => {
            let owner = entry.get();
            if owner.service_upstream != claim.annotations.service_upstream {
                let message = format!(
                    "service-upstream {} for Service {} ignored: Ingress {} decides it (oldest Ingress wins)",
                    claim.annotations.service_upstream,
                    entry.key(),
                    owner.ingress
                );
                diagnostics.warning(
                    Ingress::KIND,
                    &claim.ingress,
                    "metadata.annotations",
                    message,
                );
            }
            if owner.policy != claim.annotations.cluster {
                let message = format!(
                    "load-balancing and health-check annotations for Service {} ignored: set by \
                     Ingress {} (oldest Ingress wins)",
                    entry.key(),
                    owner.ingress
                );
                diagnostics.warning(
                    Ingress::KIND,
                    &claim.ingress,
                    "metadata.annotations",
                    message,
                );
            }
        }
    }
}

/// A host match for messages: `host "shop.example.com"`, `host "*.example.com"`, `any host`.
fn describe(host: &HostMatch) -> String {
    match host {
        HostMatch::Any => "any host".into(),
        host => format!("host {:?}", host.to_string()),
    }
}
