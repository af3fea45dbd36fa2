//! What a route leads to at run time: the compiled form of one route of the model, built
//! once per Generation (and kept while its upstream is).

use std::sync::{Arc, OnceLock};

use pingress_model::Backend;
use pingress_routing::RouteMatch;

use crate::metrics::{Metrics, RouteCounters};
use crate::upstream::Upstream;

/// What a route leads to at run time: its upstream, and, once it served a request, its
/// metrics and log labels.
pub struct RouteTarget {
    pub upstream: Arc<Upstream>,
    /// The route's cluster and declaring Ingress.
    pub backend: Backend,
    resolved: OnceLock<RouteInfo>,
}

/// A route's per-request bookkeeping, built once on its first request so that no request
/// formats labels or names.
pub struct RouteInfo {
    pub counters: RouteCounters,
    /// `host path` of the rule (`default backend` for it), for the access log.
    pub rule: String,
    /// `namespace/name` of the Ingress.
    pub ingress: String,
}

impl RouteTarget {
    /// The target of a route to `upstream`, declared as `backend`.
    pub fn new(upstream: Arc<Upstream>, backend: Backend) -> Self {
        RouteTarget {
            upstream,
            backend,
            resolved: OnceLock::new(),
        }
    }

    /// The bookkeeping of the route `route` matched (whose target is `self`), built from the
    /// match on first use.
    pub fn resolve(
        &self,
        route: &RouteMatch<'_, Arc<RouteTarget>>,
        metrics: &Metrics,
    ) -> &RouteInfo {
        self.resolved.get_or_init(|| RouteInfo {
            counters: metrics.route_counters(route.backend, route.host, route.path),
            rule: match (route.host, route.path) {
                (Some(host), Some(path)) => format!("{host} {path}"),
                _ => "default backend".to_string(),
            },
            ingress: route.backend.ingress.to_string(),
        })
    }

    /// The bookkeeping, once [`RouteTarget::resolve`] built it.
    pub fn resolved(&self) -> Option<&RouteInfo> {
        self.resolved.get()
    }
}
