//! Kubernetes objects in, a Pingress [`Snapshot`] out.
//!
//! [`translate`] turns the Ingresses, IngressClasses, Services and EndpointSlices the controller
//! has observed into the routing configuration the gateway serves, plus a [`Diagnostic`] for
//! every problem found on the way. It is pure: no I/O, no clock, no logging, and the same
//! objects give the same [`Translation`] whatever order they come in.
//!
//! The steps, with the Kubernetes Ingress v1 semantics described for operators in
//! `docs/routing.md`:
//!
//! 1. keep the Ingresses of our class (annotation, `spec.ingressClassName`, default class);
//! 2. parse each Ingress's annotations (`docs/annotations.md`), then validate each rule's host,
//!    path and backend, skipping what Kubernetes would reject;
//! 3. settle conflicts between claims on the same host and path, and between default
//!    backends: the oldest Ingress wins. The oldest Ingress with a winning claim on a cluster
//!    also sets that cluster's load-balancing and health-check policy;
//! 4. resolve each winning backend to a cluster: the ready endpoints of a Service port, found
//!    through its EndpointSlices. A backend that cannot be resolved keeps its route, pointing
//!    at an empty cluster (the gateway answers `503`);
//! 5. collect the `spec.tls` hosts and check their Secrets' certificates (`docs/tls.md`).

mod annotations;
mod backend;
mod class;
mod configmap;
mod diagnostic;
mod fallback;
mod host;
mod names;
mod object;
mod path;
mod table;
mod tls;
pub mod units;
mod values;

use std::collections::BTreeMap;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::Resource;
use pingress_model::{Backend, Cluster, ObjectRef, Route, Snapshot, VirtualHost};

use crate::backend::{Resolver, ServiceRef};
use crate::class::ClassFilter;
use crate::diagnostic::{Diagnostics, Invalid};
use crate::fallback::Fallbacks;
pub use crate::object::object_ref;
use crate::table::{Claim, RouteTable};
use crate::tls::TlsTable;

pub use crate::annotations::catalog;
pub use crate::annotations::{MAX_VALUE_LEN as MAX_ANNOTATION_LEN, NGINX_PREFIX, PINGRESS_PREFIX};
pub use crate::configmap::{
    key_support as configmap_key_support, KeySupport, KEYS as CONFIGMAP_KEYS,
};
pub use crate::diagnostic::{Diagnostic, Severity};
pub use crate::units::{parse_duration, parse_size};

/// The `spec.controller` value that marks an IngressClass as ours, unless configured otherwise.
pub const DEFAULT_CONTROLLER_NAME: &str = "pingress.io/ingress-controller";
/// The ingress class name we answer to, unless configured otherwise.
pub const DEFAULT_INGRESS_CLASS: &str = "pingress";

/// Everything the translation looks at, in any order. Objects are identified by
/// namespace/name, which should be unique per kind; an object without a namespace is in
/// `default`.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    pub ingresses: Vec<Ingress>,
    pub ingress_classes: Vec<IngressClass>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    /// Only `kubernetes.io/tls` Secrets are used; others may be passed and are ignored.
    pub secrets: Vec<Secret>,
    /// Only the one [`Options::configmap`] names is read.
    pub config_maps: Vec<ConfigMap>,
}

/// Which Ingresses are ours, and the settings that are not in the objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The class name we answer to: in the `kubernetes.io/ingress.class` annotation, or in
    /// `spec.ingressClassName` when no IngressClass of that name exists.
    pub ingress_class: String,
    /// IngressClasses whose `spec.controller` equals this are ours (`--controller-class`).
    pub controller_name: String,
    /// Ingresses naming no class at all are ours too (`--watch-ingress-without-class`).
    pub watch_without_class: bool,
    /// The prefix of ingress-nginx annotations (`--annotations-prefix`).
    pub annotations_prefix: String,
    /// The ingress-nginx ConfigMap of global settings (`--configmap`); `None`: none.
    pub configmap: Option<ObjectRef>,
    /// The Secret whose certificate is served to clients without SNI or with an unknown name;
    /// `None`: the gateway's self-signed certificate.
    pub default_certificate: Option<ObjectRef>,
    /// The time against which certificates are checked for expiry; `None` skips the check.
    /// (A parameter rather than a clock read, so that the translation stays pure.)
    pub now: Option<SystemTime>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ingress_class: DEFAULT_INGRESS_CLASS.into(),
            controller_name: DEFAULT_CONTROLLER_NAME.into(),
            watch_without_class: false,
            annotations_prefix: annotations::NGINX_PREFIX.into(),
            configmap: None,
            default_certificate: None,
            now: None,
        }
    }
}

/// The result of [`translate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translation {
    /// The routing configuration, with `generation` 0: the publisher numbers it.
    pub snapshot: Snapshot,
    /// Every problem found, sorted by kind, object and field.
    pub diagnostics: Vec<Diagnostic>,
    /// How many served Ingresses set each ingress-nginx annotation Pingress does not honour
    /// (by its name after the prefix; `unknown` for names ingress-nginx does not have).
    pub ignored_annotations: BTreeMap<String, usize>,
    /// Every Ingress of our class, sorted, whether or not its rules made it into the snapshot:
    /// the Ingresses this controller serves and reports status for.
    pub ingresses: Vec<ObjectRef>,
}

/// Translates the observed objects into a [`Snapshot`] and [`Diagnostic`]s.
pub fn translate(objects: &Objects, options: &Options) -> Translation {
    let mut diagnostics = Diagnostics::default();
    let classes = ClassFilter::new(
        &objects.ingress_classes,
        &options.ingress_class,
        &options.controller_name,
        options.watch_without_class,
    );
    let global = configmap::read(
        &objects.config_maps,
        options.configmap.as_ref(),
        &mut diagnostics,
    );
    let mut ours: Vec<&Ingress> = objects
        .ingresses
        .iter()
        .filter(|i| classes.is_ours(i))
        .filter(|i| valid_names(i, &mut diagnostics))
        .collect();
    // Precedence: oldest first; no timestamp counts as newest; ties by namespace, then name.
    ours.sort_by_cached_key(|i| {
        let created = i.metadata.creation_timestamp.as_ref();
        (created.is_none(), created, object_ref(&i.metadata))
    });

    let mut table = RouteTable::default();
    let mut tls = TlsTable::default();
    for ingress in &ours {
        table.add(
            ingress,
            &options.annotations_prefix,
            &global.defaults,
            &mut diagnostics,
        );
        tls.add(ingress, &mut diagnostics);
    }
    let tls = tls.build(
        &objects.secrets,
        options.default_certificate.as_ref(),
        options.now,
        &mut diagnostics,
    );

    let resolver = Resolver::new(&objects.services, &objects.endpoint_slices);
    let RouteTable {
        routes,
        default_backend,
        clusters: mut policies,
        ignored_annotations,
    } = table;
    let mut clusters = BTreeMap::new();
    // The cluster of a backend, resolved once, and how many ready endpoints it has.
    let mut cluster = |service: &ServiceRef, diagnostics: &mut Diagnostics| {
        let id = service.cluster_id();
        let service_upstream = policies.get(&id).is_some_and(|o| o.service_upstream);
        let endpoints = clusters
            .entry(id.clone())
            .or_insert_with(|| resolver.resolve(service, service_upstream, diagnostics))
            .as_ref()
            .map(|c| c.endpoints.len())
            .map_err(Clone::clone);
        (id, endpoints)
    };
    let default_backend = default_backend.map(|claim| {
        let (id, resolved) = cluster(&claim.service, &mut diagnostics);
        let endpoints = ready_endpoints(&claim, resolved, &mut diagnostics);
        let backend = Backend {
            cluster: id,
            ingress: claim.ingress,
        };
        (backend, endpoints)
    });
    // The global default backend, where the ConfigMap's custom errors go: the Snapshot's
    // default backend, when it has a ready endpoint.
    let error_backend = default_backend
        .as_ref()
        .filter(|(_, endpoints)| *endpoints > 0)
        .map(|(backend, _)| backend.cluster.clone());
    let default_backend = default_backend.map(|(backend, _)| backend);
    let mut fallbacks = Fallbacks::new(&resolver, error_backend);
    let virtual_hosts = routes
        .into_iter()
        .map(|(host, routes)| VirtualHost {
            host,
            routes: routes
                .into_iter()
                .map(|(path, claim)| {
                    let annotations = claim.annotations.clone();
                    let (cluster_id, resolved) = cluster(&claim.service, &mut diagnostics);
                    ready_endpoints(&claim, resolved, &mut diagnostics);
                    let fallback =
                        fallbacks.of(&claim.ingress, &annotations, &mut cluster, &mut diagnostics);
                    let mut route = Route::forward(path, cluster_id, claim.ingress);
                    annotations.apply(&mut route);
                    route.policy.fallback = fallback;
                    route
                })
                .collect(),
        })
        .collect();

    let mut ingresses: Vec<ObjectRef> = ours.iter().map(|i| object_ref(&i.metadata)).collect();
    ingresses.sort();
    Translation {
        snapshot: Snapshot {
            schema: pingress_model::SCHEMA_VERSION,
            generation: 0,
            virtual_hosts,
            default_backend,
            clusters: clusters
                .into_iter()
                .map(|(id, resolved)| {
                    let policy = policies.remove(&id).map(|o| o.policy).unwrap_or_default();
                    let cluster = Cluster {
                        policy,
                        ..resolved.unwrap_or_default()
                    };
                    (id, cluster)
                })
                .collect(),
            tls,
            settings: global.settings,
        },
        diagnostics: diagnostics.into_sorted(),
        ignored_annotations: ignored_annotations
            .into_iter()
            .map(|(name, count)| (name.to_string(), count))
            .collect(),
        ingresses,
    }
}

/// The ready endpoints of a claim's backend, as resolved; a backend that cannot be resolved is
/// reported on the claim's field and has none.
fn ready_endpoints(
    claim: &Claim,
    resolved: Result<usize, Invalid>,
    diagnostics: &mut Diagnostics,
) -> usize {
    resolved.unwrap_or_else(|invalid| {
        diagnostics.invalid(Ingress::KIND, &claim.ingress, &claim.backend_field, invalid);
        0
    })
}

/// Whether an Ingress's namespace and name are what the API server accepts; a manifest file
/// can hold anything, and the Snapshot's object and cluster ids must stay unambiguous. An
/// Ingress that is not is reported and left out.
fn valid_names(ingress: &Ingress, diagnostics: &mut Diagnostics) -> bool {
    let id = object_ref(&ingress.metadata);
    let checks = [
        ("metadata.namespace", names::check_label(&id.namespace)),
        ("metadata.name", names::check_subdomain(&id.name)),
    ];
    let mut valid = true;
    for (field, check) in checks {
        if let Err(e) = check {
            diagnostics.error(
                Ingress::KIND,
                &id,
                field,
                format!("{e}; the Ingress is ignored"),
            );
            valid = false;
        }
    }
    valid
}
