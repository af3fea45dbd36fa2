//! A Generation: one Snapshot compiled into the tables the request path reads, and the
//! [`LiveConfig`] slot through which it is swapped in atomically.
//!
//! Readers `load()` the current generation without locking; a config update `store()`s a new
//! one; an old generation is dropped when its last in-flight request ends. Upstreams whose
//! endpoints did not change are carried over from the previous generation, so their balancer
//! state survives a swap (and Pingora's connection pool is keyed by endpoint address, so pooled
//! keep-alive connections survive every swap).
//!
//! What else a compile takes over from the previous generation, so that a swap in which few
//! objects changed costs little more than comparing the Snapshots:
//!
//! - the health views, when every cluster was kept (no endpoint of a health registry changed);
//! - the whole route table (an `Arc`), when the routes, the default backend and the clusters
//!   are the same;
//! - the endpoint states, looked up by address only for the upstreams built anew.
//!
//! Registering new health views with their registries (most of the cost of a large change) is
//! left until after the swap: [`LiveConfig::swap`] serves the new routes first,
//! [`LiveConfig::register_health_checks`] then starts probing the new endpoints.

use std::collections::HashMap as StdHashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use pingress_model::{Backend, ClusterId, RoutePolicy, Snapshot};
use pingress_routing::{Declared, RouteMatch, RouteTable};

use crate::metrics::{Metrics, RouteCounters};

use crate::tls::{CertStore, CertifiedKey};
use crate::upstream::{EndpointState, HealthChecks, Upstream, UpstreamDefaults};

/// Maps built per configuration, keyed by cluster id or address: foldhash, not SipHash.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;

/// What a route leads to at run time: its upstream, and, once it served a request, its
/// metrics and log labels.
pub struct RouteTarget {
    pub upstream: Arc<Upstream>,
    /// The route's cluster and declaring Ingress.
    pub backend: Backend,
    /// The route's timeouts and retries (the defaults for the default backend).
    pub policy: RoutePolicy,
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
    /// The bookkeeping of the route `route` matched (whose target is `self`), built from the
    /// match on first use.
    pub fn resolve<T>(&self, route: &RouteMatch<'_, T>, metrics: &Metrics) -> &RouteInfo {
        self.resolved.get_or_init(|| RouteInfo {
            counters: metrics.route_counters(&self.backend, route.host, route.path),
            rule: match (route.host, route.path) {
                (Some(host), Some(path)) => format!("{host} {path}"),
                _ => "default backend".to_string(),
            },
            ingress: self.backend.ingress.to_string(),
        })
    }

    /// The bookkeeping, once [`RouteTarget::resolve`] built it.
    pub fn resolved(&self) -> Option<&RouteInfo> {
        self.resolved.get()
    }
}

/// The compiled form of one Snapshot.
pub struct Generation {
    /// The Snapshot's generation number; `0` is the empty start-up generation.
    pub number: u64,
    /// The Snapshot itself, for `/debug/config`.
    pub snapshot: Arc<Snapshot>,
    /// Shared with the next generation when its routes and upstreams are the same. `None`
    /// for a route that does not forward (or has no backend).
    pub routes: Arc<RouteTable<Option<Arc<RouteTarget>>>>,
    /// Certificates by SNI name, and which hosts are TLS hosts.
    pub tls: CertStore,
    upstreams: HashMap<ClusterId, Arc<Upstream>>,
}

impl Generation {
    /// The generation served before any configuration arrives: every request gets `404`, every
    /// handshake the `fallback` certificate.
    pub fn empty(fallback: &Arc<CertifiedKey>, checks: &HealthChecks) -> Self {
        Self::compile(Arc::new(Snapshot::default()), fallback, checks, None)
    }

    /// Compiles `snapshot`, reusing from `previous`: its upstreams whose endpoints and policy
    /// are unchanged (and the health views, when no cluster changed), the state of every
    /// endpoint it keeps, its route table when no route and no upstream changed, and its parsed
    /// certificates whose PEM is unchanged. `fallback` is the default certificate when the
    /// Snapshot names none. New health views are registered later
    /// ([`HealthChecks::register_pending`]).
    pub fn compile(
        snapshot: Arc<Snapshot>,
        fallback: &Arc<CertifiedKey>,
        checks: &HealthChecks,
        previous: Option<&Generation>,
    ) -> Self {
        let mut upstreams: HashMap<ClusterId, Arc<Upstream>> = HashMap::default();
        upstreams.reserve(snapshot.clusters.len());
        let mut changed = Vec::new();
        for (id, cluster) in &snapshot.clusters {
            let kept = previous.and_then(|p| p.upstreams.get(id)).filter(|u| {
                u.endpoints() == cluster.endpoints.as_slice() && *u.policy() == cluster.policy
            });
            match kept {
                Some(u) => {
                    upstreams.insert(id.clone(), u.clone());
                }
                None => changed.push((id, cluster)),
            }
        }
        // Every cluster kept and none gone: the health views registered for `previous` are
        // still exact, and the kept upstreams hold them.
        let same_clusters = changed.is_empty()
            && previous.is_some_and(|p| p.snapshot.clusters.keys().eq(snapshot.clusters.keys()));
        // The endpoint states of `previous` by address, for the upstreams built anew; only
        // collected when there is one.
        let states = std::cell::OnceCell::new();
        let states = || -> &HashMap<SocketAddr, Arc<EndpointState>> {
            states.get_or_init(|| {
                previous
                    .into_iter()
                    .flat_map(|p| p.upstreams.values())
                    .flat_map(|u| u.states())
                    .map(|(addr, state)| (*addr, state.clone()))
                    .collect()
            })
        };
        if !same_clusters {
            let views = checks.views(snapshot.clusters.values());
            for (id, cluster) in changed {
                let upstream = Upstream::new(
                    id.clone(),
                    &cluster.endpoints,
                    &cluster.policy,
                    views.get(&cluster.policy.health_check).cloned(),
                    states(),
                    *checks.defaults(),
                );
                upstreams.insert(id.clone(), Arc::new(upstream));
            }
        }
        let reusable_table = previous.filter(|p| {
            same_clusters
                && p.snapshot.default_backend == snapshot.default_backend
                && p.snapshot.virtual_hosts == snapshot.virtual_hosts
        });
        let routes = match reusable_table {
            // Same routes over the same upstreams: the same table. `previous`'s upstreams
            // include those made for clusters the Snapshot does not define.
            Some(p) => {
                upstreams = p.upstreams.clone();
                p.routes.clone()
            }
            None => {
                Arc::new(RouteTable::build(&snapshot, |declared| {
                    let (backend, policy) = match declared {
                        Declared::Route { route, .. } => {
                            let cluster = &route.action.backends()?.backends.first()?.cluster;
                            let backend = Backend {
                                cluster: cluster.clone(),
                                ingress: route.origin.clone(),
                            };
                            (backend, route.policy.clone())
                        }
                        Declared::Default(backend) => (backend.clone(), RoutePolicy::default()),
                    };
                    // The translation always defines the clusters it references; an unknown
                    // one is served as an empty cluster (503) rather than trusted blindly.
                    let upstream = match upstreams.get(&backend.cluster) {
                        Some(u) => u.clone(),
                        None => upstreams
                            .entry(backend.cluster.clone())
                            .or_insert_with(|| {
                                Arc::new(Upstream::new(
                                    backend.cluster.clone(),
                                    &[],
                                    &Default::default(),
                                    None,
                                    states(),
                                    *checks.defaults(),
                                ))
                            })
                            .clone(),
                    };
                    Some(Arc::new(RouteTarget {
                        upstream,
                        backend,
                        policy,
                        resolved: OnceLock::new(),
                    }))
                }))
            }
        };
        Generation {
            number: snapshot.generation,
            tls: CertStore::compile(&snapshot.tls, fallback, previous.map(|p| &p.tls)),
            routes,
            upstreams,
            snapshot,
        }
    }
}

impl Generation {
    /// Every upstream of this generation.
    pub fn upstreams(&self) -> impl Iterator<Item = &Arc<Upstream>> {
        self.upstreams.values()
    }
}

/// The slot holding the live generation, the self-signed certificate generated at start-up,
/// and the health checks shared by all generations.
pub struct LiveConfig {
    current: ArcSwap<Generation>,
    fallback: Arc<CertifiedKey>,
    checks: HealthChecks,
}

impl LiveConfig {
    /// An empty configuration with a freshly generated self-signed default certificate.
    pub fn new(defaults: UpstreamDefaults) -> Result<Self, openssl::error::ErrorStack> {
        let fallback = Arc::new(CertifiedKey::self_signed()?);
        let checks = HealthChecks::new(defaults);
        Ok(LiveConfig {
            current: ArcSwap::from_pointee(Generation::empty(&fallback, &checks)),
            fallback,
            checks,
        })
    }

    /// The current generation, without locking.
    pub fn load(&self) -> arc_swap::Guard<Arc<Generation>> {
        self.current.load()
    }

    /// Compiles `snapshot` against the live generation and swaps it in. Returns the generation
    /// it replaced, which requests in flight may still hold (see [`release`]). New health
    /// views are not registered yet: call [`LiveConfig::register_health_checks`] next.
    pub fn swap(&self, snapshot: Arc<Snapshot>) -> Arc<Generation> {
        let previous = self.current.load_full();
        let next = Generation::compile(snapshot, &self.fallback, &self.checks, Some(&previous));
        self.current.store(Arc::new(next));
        previous
    }

    /// Registers the health views the last swaps made (see [`HealthChecks::register_pending`]);
    /// returns how many endpoints that was.
    pub fn register_health_checks(&self) -> usize {
        self.checks.register_pending()
    }

    /// [`LiveConfig::swap`], then [`LiveConfig::register_health_checks`].
    pub fn apply(&self, snapshot: Arc<Snapshot>) -> Arc<Generation> {
        let previous = self.swap(snapshot);
        self.register_health_checks();
        previous
    }
}

/// Drops the retired generations no request holds any more, and returns true when it dropped
/// one. (`ArcSwap` turns every reader's borrowed `load()` into a counted reference when the
/// value is swapped out, so the strong count is exact.)
pub fn release(retired: &mut Vec<Arc<Generation>>) -> bool {
    let before = retired.len();
    retired.retain(|generation| Arc::strong_count(generation) > 1);
    retired.len() < before
}

/// Hands freed heap memory back to the operating system. Allocators keep what a dropped
/// generation freed for reuse (a 10,000-Ingress table left RSS 340 MiB up after it was swapped
/// out): mimalloc, the `pingress` binary's allocator, purges its free pages only a while later
/// and only when the thread allocates again, so it is asked to now (`mi_collect`); glibc's
/// `malloc_trim` returns the free pages of its arenas (the tests' allocator). Each is a cheap
/// no-op when the other allocator is in use.
pub fn return_freed_memory() {
    // SAFETY: mi_collect has no preconditions; it walks only mimalloc's own heap.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::tests::defaults;
    use crate::upstream::RequestKey;
    use pingress_model::{Cluster, Endpoint, HostMatch, ObjectRef, PathMatch, Route, VirtualHost};
    use pingress_routing::{Host, RequestParts};

    /// The upstream a `GET` of `host` `path` is routed to.
    fn routed(live: &LiveConfig, host: &str, path: &str) -> Arc<Upstream> {
        let (method, headers) = (http::Method::GET, http::HeaderMap::new());
        let parts = RequestParts {
            method: &method,
            headers: &headers,
            query: None,
        };
        let generation = live.load();
        let found = generation.routes.find(&Host::new(host), path, &parts);
        found.unwrap().target.as_ref().unwrap().upstream.clone()
    }

    fn snapshot(generation: u64, endpoints: &[&str]) -> Snapshot {
        let id = "default/web:80".parse::<ClusterId>().unwrap();
        Snapshot {
            schema: pingress_model::SCHEMA_VERSION,
            generation,
            virtual_hosts: vec![VirtualHost {
                host: HostMatch::Any,
                routes: vec![Route::forward(
                    PathMatch::prefix("/"),
                    id.clone(),
                    ObjectRef::new("default", "web"),
                )],
            }],
            default_backend: None,
            clusters: [(
                id,
                Cluster {
                    endpoints: endpoints
                        .iter()
                        .map(|a| Endpoint {
                            addr: a.parse().unwrap(),
                        })
                        .collect(),
                    policy: Default::default(),
                },
            )]
            .into(),
            tls: Default::default(),
        }
    }

    #[test]
    fn unchanged_upstreams_survive_a_swap_and_changed_ones_are_rebuilt() {
        let live = LiveConfig::new(defaults()).unwrap();
        assert_eq!(live.load().number, 0);
        let upstream = |live: &LiveConfig| routed(live, "any", "/");
        live.apply(Arc::new(snapshot(1, &["127.0.0.1:1"])));
        let first = upstream(&live);

        live.apply(Arc::new(snapshot(2, &["127.0.0.1:1"])));
        let second = upstream(&live);
        assert_eq!(live.load().number, 2);
        assert!(
            Arc::ptr_eq(&first, &second),
            "same endpoints: same upstream"
        );

        live.apply(Arc::new(snapshot(3, &["127.0.0.1:2"])));
        let third = upstream(&live);
        assert!(!Arc::ptr_eq(&second, &third), "new endpoints: new upstream");
        let picked = third.select(&RequestKey::default(), &[]).map(|s| s.0);
        assert_eq!(picked, Some("127.0.0.1:2".parse().unwrap()));
    }

    #[test]
    fn the_route_table_is_kept_while_routes_and_upstreams_are_unchanged() {
        let live = LiveConfig::new(defaults()).unwrap();
        let upstream = |live: &LiveConfig, host: &str| routed(live, host, "/x");
        // Two clusters: `web` on every host, `api` on api.test.
        let two = |generation: u64, web: &str, api: &str| {
            let mut s = snapshot(generation, &[web]);
            let id = "default/api:80".parse::<ClusterId>().unwrap();
            let mut route = s.virtual_hosts[0].routes[0].clone();
            route.action =
                pingress_model::Action::Forward(pingress_model::BackendSet::single(id.clone()));
            s.virtual_hosts.push(VirtualHost {
                host: HostMatch::Exact("api.test".into()),
                routes: vec![route],
            });
            let mut cluster = s.clusters.values().next().unwrap().clone();
            cluster.endpoints[0].addr = api.parse().unwrap();
            s.clusters.insert(id, cluster);
            Arc::new(s)
        };
        live.apply(two(1, "127.0.0.1:1", "127.0.0.1:2"));
        let table = live.load().routes.clone();
        let (web, api) = (upstream(&live, "web.test"), upstream(&live, "api.test"));

        live.apply(two(2, "127.0.0.1:1", "127.0.0.1:2"));
        assert!(Arc::ptr_eq(&table, &live.load().routes), "nothing changed");

        live.apply(two(3, "127.0.0.1:1", "127.0.0.1:3"));
        assert!(
            !Arc::ptr_eq(&table, &live.load().routes),
            "an upstream changed"
        );
        assert!(Arc::ptr_eq(&web, &upstream(&live, "web.test")), "web kept");
        let api3 = upstream(&live, "api.test");
        assert!(!Arc::ptr_eq(&api, &api3), "api's endpoints changed");
        assert_eq!(api3.endpoints()[0].addr, "127.0.0.1:3".parse().unwrap());
    }

    #[test]
    fn new_endpoints_are_registered_for_health_checks_after_the_swap() {
        let live = LiveConfig::new(defaults()).unwrap();
        live.swap(Arc::new(snapshot(1, &["127.0.0.1:1"])));
        assert_eq!(live.register_health_checks(), 1);
        live.swap(Arc::new(snapshot(2, &["127.0.0.1:1"])));
        assert_eq!(live.register_health_checks(), 0, "nothing new");
        live.swap(Arc::new(snapshot(3, &["127.0.0.1:1", "127.0.0.1:2"])));
        assert_eq!(live.register_health_checks(), 2, "the changed view, whole");
    }

    #[test]
    fn endpoint_state_outlives_generations() {
        let live = LiveConfig::new(defaults()).unwrap();
        let upstream = |live: &LiveConfig| routed(live, "x", "/");
        let one: SocketAddr = "127.0.0.1:1".parse().unwrap();
        live.apply(Arc::new(snapshot(1, &["127.0.0.1:1", "127.0.0.1:2"])));
        let first = upstream(&live);
        let held = first.select(
            &RequestKey::default(),
            &[one, "127.0.0.1:2".parse().unwrap()],
        );
        assert!(held.is_none());
        assert!((0..3).any(|_| first.record(one, false)), "ejected");

        live.apply(Arc::new(snapshot(2, &["127.0.0.1:1", "127.0.0.1:3"])));
        let second = upstream(&live);
        assert!(!Arc::ptr_eq(&first, &second));
        for _ in 0..10 {
            let (addr, _) = second.select(&RequestKey::default(), &[]).unwrap();
            assert_ne!(addr, one, "still ejected after the swap");
        }
    }
}
