//! Active health checks: one shared pingora-load-balancing `HealthRegistry` per distinct
//! health-check setting, probed by its own `HealthCheckService` task, and the views through
//! which upstreams read their endpoints' health.
//!
//! A view is registered with its registry just after the generation that made it is swapped
//! in ([`HealthChecks::register_pending`]): registering 50,000 endpoints is most of the cost of
//! applying a large configuration and need not delay its routes. Until then an endpoint keeps
//! the health the view it replaces gives it.

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures::FutureExt;
use parking_lot::Mutex;
use pingora::lb::discovery::Static;
use pingora::lb::health_check::{HttpHealthCheck, TcpHealthCheck};
use pingora::lb::{Backend, Backends, HealthCheckService, HealthRegistry};
use pingora::services::background::BackgroundService;
use pingress_model::{Cluster, HealthCheck};

use super::{backend, UpstreamDefaults};

/// shared health registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CheckConfig {
    path: Option<String>,
    interval: Duration,
    timeout: Duration,
    healthy: u32,
    unhealthy: u32,
}

/// The health of the endpoints of one health-check setting, shared by every upstream checked
/// that way. It is filled once its endpoints are registered with the setting's registry
/// ([`HealthChecks::register_pending`], right after the generation using it is swapped in).
/// Until then an endpoint the view it replaces knows has the health that view gives it, and
/// any other counts as healthy (as a newly registered one does).
#[derive(Default)]
pub struct HealthView {
    registered: OnceLock<Backends>,
    /// Until registered: the view this one replaces.
    before: ArcSwapOption<HealthView>,
}

impl HealthView {
    fn replacing(before: Option<Arc<HealthView>>) -> Self {
        HealthView {
            registered: OnceLock::new(),
            before: ArcSwapOption::new(before),
        }
    }

    /// Whether `backend` passes its health checks.
    pub(super) fn ready(&self, backend: &Backend) -> bool {
        if let Some(view) = self.registered.get() {
            return view.ready(backend);
        }
        match &*self.before.load() {
            Some(before) => before.ready(backend) || !before.knows(backend),
            None => true,
        }
    }

    /// Whether `backend` is a member of this view, once registered.
    fn knows(&self, backend: &Backend) -> bool {
        self.registered
            .get()
            .is_some_and(|view| view.get_backend().contains(backend))
    }

    fn register(&self, backends: Backends) {
        // Only `register_pending` fills a view, and each view is pending once.
        let _ = self.registered.set(backends);
        self.before.store(None);
    }
}

/// A shared health view and its members (sorted).
type View = (Vec<SocketAddr>, Arc<HealthView>);

/// A view still to be registered: its setting, its members and the view to fill.
struct Pending {
    check: HealthCheck,
    addrs: Vec<SocketAddr>,
    view: Arc<HealthView>,
}

/// The shared health registries, one per distinct setting, each probed by its own
/// `HealthCheckService` task. Touched only when a configuration is compiled.
pub struct HealthChecks {
    defaults: UpstreamDefaults,
    registries: Mutex<HashMap<CheckConfig, Arc<HealthRegistry>>>,
    /// The views of the last configuration, with their (sorted) members: a configuration whose
    /// endpoints did not change for a setting reuses its view instead of registering every
    /// endpoint again (most of the cost of applying a large configuration).
    last_views: Mutex<HashMap<HealthCheck, View>>,
    /// Views made by [`HealthChecks::views`] and not yet registered.
    pending: Mutex<Vec<Pending>>,
    /// Dropping it stops the probing tasks.
    _stop: tokio::sync::watch::Sender<bool>,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl HealthChecks {
    pub fn new(defaults: UpstreamDefaults) -> Self {
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        HealthChecks {
            defaults,
            registries: Mutex::new(HashMap::new()),
            last_views: Mutex::new(HashMap::new()),
            pending: Mutex::new(Vec::new()),
            _stop: stop_tx,
            stop,
        }
    }

    pub fn defaults(&self) -> &UpstreamDefaults {
        &self.defaults
    }

    /// One view per distinct health-check setting over the endpoints of all `clusters` using
    /// it, to be registered in that setting's shared registry: the registry reconciles once per
    /// setting and configuration, however many clusters there are (one view per cluster made
    /// applying a configuration quadratic in its endpoints).
    ///
    /// A view whose endpoints are those of the last call is reused as it is. A new one is
    /// empty (every endpoint healthy) until [`HealthChecks::register_pending`] registers it:
    /// registering 50,000 endpoints is most of the cost of applying a large configuration, and
    /// need not delay its routes.
    pub fn views<'a>(
        &self,
        clusters: impl Iterator<Item = &'a Cluster>,
    ) -> HashMap<HealthCheck, Arc<HealthView>> {
        let mut members: HashMap<&HealthCheck, Vec<SocketAddr>> = HashMap::new();
        for cluster in clusters {
            members
                .entry(&cluster.policy.health_check)
                .or_default()
                .extend(cluster.endpoints.iter().map(|e| e.addr));
        }
        let mut last = self.last_views.lock();
        let mut pending = self.pending.lock();
        let views: HashMap<HealthCheck, View> = members
            .into_iter()
            .map(|(check, mut addrs)| {
                // By integers, not `SocketAddr`'s derived order (a third of the cost here);
                // any order does, as long as it is the same every time.
                addrs.sort_unstable_by_key(|a| match a {
                    SocketAddr::V4(v4) => (false, u128::from(v4.ip().to_bits()), v4.port()),
                    SocketAddr::V6(v6) => (true, v6.ip().to_bits(), v6.port()),
                });
                addrs.dedup();
                let view = match last.remove(check) {
                    Some((before, view)) if before == addrs => view,
                    replaced => {
                        let view = Arc::new(HealthView::replacing(replaced.map(|(_, v)| v)));
                        pending.push(Pending {
                            check: check.clone(),
                            addrs: addrs.clone(),
                            view: view.clone(),
                        });
                        view
                    }
                };
                (check.clone(), (addrs, view))
            })
            .collect();
        let out = views
            .iter()
            .map(|(check, (_, view))| (check.clone(), view.clone()))
            .collect();
        *last = views;
        out
    }

    /// Registers the views [`HealthChecks::views`] made since the last call with their
    /// registries (their endpoints are probed from then on) and returns how many endpoints
    /// that was. Views no generation uses any more are dropped instead.
    pub fn register_pending(&self) -> usize {
        let pending = std::mem::take(&mut *self.pending.lock());
        let mut registered = 0;
        for Pending { check, addrs, view } in pending {
            if Arc::strong_count(&view) == 1 {
                continue;
            }
            registered += addrs.len();
            // Sorted input: the set is bulk-built, not inserted into one by one.
            let backends: BTreeSet<Backend> = addrs.iter().map(|&a| backend(a)).collect();
            let backends =
                Backends::new_with_health_registry(Static::new(backends), self.registry(&check));
            if let Some(Err(e)) = backends.update(|_| ()).now_or_never() {
                tracing::error!("cannot register endpoints for health checks: {e}");
            }
            view.register(backends);
        }
        registered
    }

    /// The registry for `check`, created (and its probing started, when a runtime is
    /// available) on first use.
    fn registry(&self, check: &HealthCheck) -> Arc<HealthRegistry> {
        let d = &self.defaults;
        let config = CheckConfig {
            path: check.path.clone(),
            interval: check.interval.unwrap_or(d.health_interval),
            timeout: check.timeout.unwrap_or(d.health_timeout),
            healthy: check
                .healthy_threshold
                .unwrap_or(d.healthy_threshold)
                .max(1),
            unhealthy: check
                .unhealthy_threshold
                .unwrap_or(d.unhealthy_threshold)
                .max(1),
        };
        let mut registries = self.registries.lock();
        if let Some(registry) = registries.get(&config) {
            return registry.clone();
        }
        let hasher = foldhash::fast::RandomState::default();
        let registry = Arc::new(HealthRegistry::with_equivalence(move |b: &Backend| {
            health_key(&hasher, b)
        }));
        registry.set_health_check(probe(&config));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut service = HealthCheckService::new(registry.clone());
            service.health_check_frequency = Some(config.interval);
            service.parallel_health_check = true;
            let stop = self.stop.clone();
            runtime.spawn(async move { service.start(stop).await });
        }
        tracing::info!(?config, "health checks started");
        registries.insert(config, registry.clone());
        registry
    }
}

/// The key of an endpoint's health in a registry: an IPv4 address and port packed into it,
/// anything else hashed with foldhash (not pingora's default SipHash of the Backend: a
/// registry keys every endpoint of every view twice per reconciliation).
fn health_key(hasher: &foldhash::fast::RandomState, backend: &Backend) -> u64 {
    match backend.addr.as_inet() {
        Some(SocketAddr::V4(a)) => {
            (1 << 48) | (u64::from(a.ip().to_bits()) << 16) | u64::from(a.port())
        }
        _ => hasher.hash_one(backend),
    }
}

/// The probe for a setting: `GET path` expecting 2xx/3xx, or a TCP connect.
fn probe(config: &CheckConfig) -> Box<dyn pingora::lb::health_check::HealthCheck + Send + Sync> {
    let (healthy, unhealthy) = (config.healthy as usize, config.unhealthy as usize);
    match &config.path {
        Some(path) => {
            let mut check = HttpHealthCheck::new("localhost", false);
            check
                .req
                .set_uri(path.parse().unwrap_or_else(|_| "/".parse().unwrap()));
            check.consecutive_success = healthy;
            check.consecutive_failure = unhealthy;
            check.peer_template.options.connection_timeout = Some(config.timeout);
            check.peer_template.options.read_timeout = Some(config.timeout);
            check.validator = Some(Box::new(|response| match response.status.as_u16() {
                200..=399 => Ok(()),
                code => pingora::Error::e_explain(
                    pingora::ErrorType::CustomCode("unhealthy status", code),
                    format!("health check answered {code}"),
                ),
            }));
            Box::new(check)
        }
        None => {
            let mut check = TcpHealthCheck::new();
            check.consecutive_success = healthy;
            check.consecutive_failure = unhealthy;
            check.peer_template.options.connection_timeout = Some(config.timeout);
            check
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::tests::{defaults, endpoints};

    #[test]
    fn a_view_waiting_for_registration_keeps_the_health_its_predecessor_knows() {
        let [a, b, c] =
            ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"].map(|s| backend(s.parse().unwrap()));
        let registered = |members: &[&Backend]| {
            let set: BTreeSet<Backend> = members.iter().map(|&m| m.clone()).collect();
            let backends = Backends::new(Static::new(set));
            backends.update(|_| ()).now_or_never().unwrap().unwrap();
            backends
        };
        let old = Arc::new(HealthView::default());
        old.register(registered(&[&a, &b]));
        old.registered.get().unwrap().set_enable(&a, false);
        assert!(!old.ready(&a) && old.ready(&b));

        let new = HealthView::replacing(Some(old.clone()));
        assert!(
            !new.ready(&a),
            "a stays down until the new view is registered"
        );
        assert!(new.ready(&b));
        assert!(
            new.ready(&c),
            "an endpoint no view knows yet counts as healthy"
        );

        new.register(registered(&[&a, &c]));
        assert!(
            new.ready(&a) && new.ready(&c),
            "the registered view answers now"
        );
        assert!(!new.ready(&b), "b is no member any more");
        assert!(new.before.load().is_none(), "the predecessor is let go");
    }

    #[test]
    fn views_wait_for_registration_and_unchanged_ones_are_reused() {
        let checks = HealthChecks::new(defaults());
        let cluster = |addrs: &[&str]| Cluster {
            endpoints: endpoints(addrs),
            ..Default::default()
        };
        let first = checks.views([cluster(&["127.0.0.1:1", "127.0.0.1:2"])].iter());
        let view = first.values().next().unwrap().clone();
        assert!(view.registered.get().is_none());
        assert_eq!(checks.register_pending(), 2);
        assert!(view.registered.get().is_some());
        assert_eq!(checks.register_pending(), 0, "each view is registered once");

        let same = checks.views([cluster(&["127.0.0.1:2", "127.0.0.1:1"])].iter());
        assert!(Arc::ptr_eq(&view, same.values().next().unwrap()));
        assert_eq!(checks.register_pending(), 0);

        let other = checks.views([cluster(&["127.0.0.1:1", "127.0.0.1:3"])].iter());
        assert!(!Arc::ptr_eq(&view, other.values().next().unwrap()));
        drop(other);
        assert_eq!(
            checks.register_pending(),
            2,
            "still the last views: registered"
        );
    }
}
