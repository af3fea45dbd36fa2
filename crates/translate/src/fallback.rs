//! The fallbacks of each route (`docs/annotations.md`, fallbacks, errors and retries): the
//! Service of a `default-backend` annotation resolved to a cluster (its first port, as
//! ingress-nginx takes it), and where the route's custom errors go.
//!
//! As in ingress-nginx, the `default-backend` Service is used only when it has a ready
//! endpoint: then it serves the route while the route's backend has none, and it answers the
//! statuses of the Ingress's own `custom-http-errors`. The ConfigMap's list always goes to the
//! global default backend — Pingress's default backend (the oldest Ingress's
//! `spec.defaultBackend`) in the place of ingress-nginx's `--default-backend-service` — and
//! without one the gateway answers those statuses `404`, as ingress-nginx's built-in default
//! backend does.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::Resource;
use pingress_model::{ClusterId, ErrorPages, Fallback, ObjectRef};

use crate::annotations::IngressAnnotations;
use crate::backend::{Resolver, ServiceRef};
use crate::diagnostic::{Diagnostics, Invalid};

/// Resolves the fallbacks of routes, once per Ingress.
pub(crate) struct Fallbacks<'a> {
    resolver: &'a Resolver<'a>,
    /// The global default backend, when it can serve.
    global: Option<ClusterId>,
    /// Each Ingress's usable `default-backend` cluster.
    resolved: BTreeMap<ObjectRef, Option<ClusterId>>,
}

impl<'a> Fallbacks<'a> {
    pub fn new(resolver: &'a Resolver<'a>, global: Option<ClusterId>) -> Self {
        Fallbacks {
            resolver,
            global,
            resolved: BTreeMap::new(),
        }
    }

    /// The fallback of a route of `ingress` with these annotations; `cluster` resolves a
    /// Service port into the Snapshot's clusters (its id and ready endpoints).
    pub fn of(
        &mut self,
        ingress: &ObjectRef,
        annotations: &IngressAnnotations,
        cluster: &mut impl FnMut(&ServiceRef, &mut Diagnostics) -> (ClusterId, Result<usize, Invalid>),
        diagnostics: &mut Diagnostics,
    ) -> Fallback {
        let fallback = &annotations.fallback;
        if fallback.default_backend.is_none() && fallback.error_codes.is_empty() {
            return Fallback::default();
        }
        let resolver = self.resolver;
        let default_backend = self
            .resolved
            .entry(ingress.clone())
            .or_insert_with(|| {
                let (key, name) = fallback.default_backend.as_ref()?;
                default_backend(resolver, ingress, key, name, cluster, diagnostics)
            })
            .clone();
        let errors = (!fallback.error_codes.is_empty()).then(|| ErrorPages {
            codes: fallback.error_codes.clone(),
            backend: match fallback.codes_from_annotation {
                true => default_backend.clone().or_else(|| self.global.clone()),
                false => self.global.clone(),
            },
            intercept: fallback.intercept,
        });
        Fallback {
            no_endpoints: default_backend,
            errors,
        }
    }
}

/// The cluster of a `default-backend` Service `name` in `ingress`'s namespace, named by the
/// annotation `key`: `None`, reported, when it does not exist or has no ready endpoint.
fn default_backend(
    resolver: &Resolver,
    ingress: &ObjectRef,
    key: &str,
    name: &str,
    cluster: &mut impl FnMut(&ServiceRef, &mut Diagnostics) -> (ClusterId, Result<usize, Invalid>),
    diagnostics: &mut Diagnostics,
) -> Option<ClusterId> {
    let field = format!("metadata.annotations[{key:?}]");
    let service = ObjectRef::new(&ingress.namespace, name);
    let Some(port) = resolver.first_port(&service) else {
        let message = format!("Service {service} not found, or it has no port; no default backend");
        diagnostics.error(Ingress::KIND, ingress, field, message);
        return None;
    };
    match cluster(&port, diagnostics) {
        (id, Ok(endpoints)) if endpoints > 0 => Some(id),
        (id, Ok(_)) => {
            let message = format!(
                "the default backend {id} has no ready endpoint; it is not used until it has one"
            );
            diagnostics.warning(Ingress::KIND, ingress, field, message);
            None
        }
        (_, Err(invalid)) => {
            diagnostics.error(
                Ingress::KIND,
                ingress,
                field,
                format!("{}; no default backend", invalid.message),
            );
            None
        }
    }
}
