//! A Generation: one Snapshot compiled into the tables the request path reads, and the
//! [`LiveConfig`] slot through which it is swapped in atomically.
//!
//! Readers `load()` the current generation without locking; a config update `store()`s a new
//! one; an old generation is dropped when its last in-flight request ends. Upstreams whose
//! endpoints did not change are carried over from the previous generation, so their balancer
//! state survives a swap (and Pingora's connection pool is keyed by endpoint address, so pooled
//! keep-alive connections survive every swap).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use pingress_model::{ClusterId, Snapshot};
use pingress_routing::RouteTable;

use crate::upstream::Upstream;

/// The compiled form of one Snapshot.
pub struct Generation {
    /// The Snapshot's generation number; `0` is the empty start-up generation.
    pub number: u64,
    pub routes: RouteTable<Arc<Upstream>>,
    upstreams: HashMap<ClusterId, Arc<Upstream>>,
}

impl Generation {
    /// The generation served before any configuration arrives: every request gets `404`.
    pub fn empty() -> Self {
        Self::compile(&Snapshot::default(), None)
    }

    /// Compiles `snapshot`, reusing `previous`'s upstreams whose endpoints are unchanged.
    pub fn compile(snapshot: &Snapshot, previous: Option<&Generation>) -> Self {
        let mut upstreams: HashMap<ClusterId, Arc<Upstream>> = snapshot
            .clusters
            .iter()
            .map(|(id, cluster)| {
                let kept = previous
                    .and_then(|p| p.upstreams.get(id))
                    .filter(|u| u.endpoints() == cluster.endpoints.as_slice());
                let upstream = match kept {
                    Some(u) => u.clone(),
                    None => Arc::new(Upstream::new(id.clone(), &cluster.endpoints)),
                };
                (id.clone(), upstream)
            })
            .collect();
        let routes = RouteTable::build(snapshot, |backend| {
            // The translation always defines the clusters it references; an unknown one is
            // served as an empty cluster (503) rather than trusted blindly.
            upstreams
                .entry(backend.cluster.clone())
                .or_insert_with(|| Arc::new(Upstream::new(backend.cluster.clone(), &[])))
                .clone()
        });
        Generation {
            number: snapshot.generation,
            routes,
            upstreams,
        }
    }
}

/// The slot holding the live generation.
pub struct LiveConfig(ArcSwap<Generation>);

impl LiveConfig {
    pub fn new() -> Self {
        LiveConfig(ArcSwap::from_pointee(Generation::empty()))
    }

    /// The current generation, without locking.
    pub fn load(&self) -> arc_swap::Guard<Arc<Generation>> {
        self.0.load()
    }

    /// Compiles `snapshot` against the live generation and swaps it in.
    pub fn apply(&self, snapshot: &Snapshot) {
        let next = Generation::compile(snapshot, Some(&self.0.load()));
        self.0.store(Arc::new(next));
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingress_model::{
        Backend, Cluster, Endpoint, HostMatch, ObjectRef, PathMatch, Route, VirtualHost,
    };

    fn snapshot(generation: u64, endpoints: &[&str]) -> Snapshot {
        let id = ClusterId("default/web:80".into());
        Snapshot {
            generation,
            virtual_hosts: vec![VirtualHost {
                host: HostMatch::Any,
                routes: vec![Route {
                    path: PathMatch::prefix("/"),
                    backend: Backend {
                        cluster: id.clone(),
                        ingress: ObjectRef::new("default", "web"),
                    },
                }],
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
                },
            )]
            .into(),
        }
    }

    #[test]
    fn unchanged_upstreams_survive_a_swap_and_changed_ones_are_rebuilt() {
        let live = LiveConfig::new();
        assert_eq!(live.load().number, 0);
        live.apply(&snapshot(1, &["127.0.0.1:1"]));
        let first = live.load().routes.find("any", "/").unwrap().target.clone();

        live.apply(&snapshot(2, &["127.0.0.1:1"]));
        let second = live.load().routes.find("any", "/").unwrap().target.clone();
        assert_eq!(live.load().number, 2);
        assert!(
            Arc::ptr_eq(&first, &second),
            "same endpoints: same upstream"
        );

        live.apply(&snapshot(3, &["127.0.0.1:2"]));
        let third = live.load().routes.find("any", "/").unwrap().target.clone();
        assert!(!Arc::ptr_eq(&second, &third), "new endpoints: new upstream");
        assert_eq!(third.select(), Some("127.0.0.1:2".parse().unwrap()));
    }
}
