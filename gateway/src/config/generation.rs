//! A Generation: one Snapshot compiled into the tables the request path reads.
//!
//! What a compile takes over from the previous generation, so that a swap in which few
//! objects changed costs little more than comparing the Snapshots:
//!
//! - the upstreams whose endpoints and policy did not change, with their balancer state
//!   (Pingora's connection pool is keyed by endpoint address, so pooled keep-alive
//!   connections survive every swap);
//! - the health views, when every cluster was kept (no endpoint of a health registry changed);
//! - the whole route table (an `Arc`), when the routes, the default backend and the clusters
//!   are the same;
//! - the endpoint states, looked up by address only for the upstreams built anew;
//! - the parsed certificates whose PEM did not change.
//!
//! Registering new health views with their registries (most of the cost of a large change) is
//! left until after the swap ([`super::LiveConfig`]).

use std::collections::HashMap as StdHashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use pingress_model::{ClusterId, Snapshot};
use pingress_routing::RouteTable;

use super::certs::CertStore;
use super::route::RouteTarget;
use super::settings::{GatewaySettings, Shared};
use crate::upstream::{EndpointState, Upstream};

/// Maps built per configuration, keyed by cluster id or address: foldhash, not SipHash.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;

/// The compiled form of one Snapshot.
pub struct Generation {
    /// The Snapshot's generation number; `0` is the empty start-up generation.
    pub number: u64,
    /// The Snapshot itself, for `/debug/config`.
    pub snapshot: Arc<Snapshot>,
    /// Shared with the next generation when its routes and upstreams are the same.
    pub routes: Arc<RouteTable<Arc<RouteTarget>>>,
    /// Certificates by SNI name, and which hosts are TLS hosts.
    pub tls: CertStore,
    /// The gateway-wide settings in effect (shared with the route targets).
    pub settings: Arc<GatewaySettings>,
    upstreams: HashMap<ClusterId, Arc<Upstream>>,
}

impl Generation {
    /// The generation served before any configuration arrives: every request gets `404`, every
    /// handshake the self-signed certificate.
    pub fn empty(shared: &Shared) -> Self {
        Self::compile(Arc::new(Snapshot::default()), shared, None)
    }

    /// Compiles `snapshot`, reusing from `previous`: its upstreams whose endpoints and policy
    /// are unchanged (and the health views, when no cluster changed), the state of every
    /// endpoint it keeps, its route table when no route and no upstream changed, and its parsed
    /// certificates whose PEM is unchanged. `shared`'s self-signed certificate is the default when the
    /// Snapshot names none. New health views are registered later
    /// ([`HealthChecks::register_pending`](crate::upstream::HealthChecks::register_pending)).
    pub fn compile(
        snapshot: Arc<Snapshot>,
        shared: &Shared,
        previous: Option<&Generation>,
    ) -> Self {
        let (fallback, checks) = (&shared.fallback, &shared.checks);
        let settings = Arc::new(GatewaySettings::compile(&snapshot.settings, &shared.flags));
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
                && *p.settings == *settings
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
                    Arc::new(RouteTarget::compile(declared, &settings, |cluster| {
                        // The translation always defines the clusters it references; an
                        // unknown one is served as an empty cluster (503) rather than trusted
                        // blindly.
                        upstreams
                            .entry(cluster.clone())
                            .or_insert_with(|| {
                                Arc::new(Upstream::new(
                                    cluster.clone(),
                                    &[],
                                    &Default::default(),
                                    None,
                                    states(),
                                    *checks.defaults(),
                                ))
                            })
                            .clone()
                    }))
                }))
            }
        };
        Generation {
            number: snapshot.generation,
            tls: CertStore::compile(&snapshot.tls, fallback, previous.map(|p| &p.tls)),
            settings,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LiveConfig;
    use crate::upstream::tests::defaults;
    use crate::upstream::RequestKey;
    use pingress_model::{Cluster, Endpoint, HostMatch, ObjectRef, PathMatch, Route, VirtualHost};

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
            settings: Default::default(),
        }
    }

    /// The upstream the live table routes `host` and `path` to (a GET without headers).
    fn routed(live: &LiveConfig, host: &str, path: &str) -> Arc<Upstream> {
        let headers = http::HeaderMap::new();
        let request = pingress_routing::RequestParts {
            method: &http::Method::GET,
            headers: &headers,
            query: None,
        };
        let generation = live.load();
        let found = generation
            .routes
            .find(&pingress_routing::Host::new(host), path, &request)
            .expect("a route");
        found.target.backend(0).expect("a backend").upstream.clone()
    }

    #[test]
    fn unchanged_upstreams_survive_a_swap_and_changed_ones_are_rebuilt() {
        let live = LiveConfig::new(defaults(), Default::default()).unwrap();
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
        let live = LiveConfig::new(defaults(), Default::default()).unwrap();
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
        let live = LiveConfig::new(defaults(), Default::default()).unwrap();
        live.swap(Arc::new(snapshot(1, &["127.0.0.1:1"])));
        assert_eq!(live.register_health_checks(), 1);
        live.swap(Arc::new(snapshot(2, &["127.0.0.1:1"])));
        assert_eq!(live.register_health_checks(), 0, "nothing new");
        live.swap(Arc::new(snapshot(3, &["127.0.0.1:1", "127.0.0.1:2"])));
        assert_eq!(live.register_health_checks(), 2, "the changed view, whole");
    }

    #[test]
    fn endpoint_state_outlives_generations() {
        let live = LiveConfig::new(defaults(), Default::default()).unwrap();
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
