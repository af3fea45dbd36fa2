//! Upstreams: the runtime form of a cluster — its endpoints, their health, and the policy that
//! picks one for each request.
//!
//! ```text
//! Upstream (one per cluster and generation)                                  mod.rs
//! |-- members: [endpoint addr, its pingora Backend, Arc<EndpointState> { in flight,
//! |            consecutive failures, ejected until }], sorted by address     state.rs
//! |-- selection: round robin / least requests (an atomic counter over `members`),
//! |              consistent hashing (a pingora LoadBalancer<Consistent>, Ketama,
//! |              built only for clusters that hash) on a RequestKey           select.rs, key.rs
//! |-- health: the shared view of the cluster's health-check setting (readiness by Backend),
//! |           registered with the setting's registry just after the swap      health.rs
//! `-- retry budget                                                           budget.rs
//! HealthChecks: HealthCheckConfig -> (HealthRegistry, a running HealthCheckService)
//! ```
//!
//! Round robin and least requests need no pingora `LoadBalancer`: one per cluster (a private
//! health registry, a discovery, a membership view with readiness maps, a selector behind an
//! `ArcSwap`) was most of the cost of applying a large configuration, and of every request's
//! selection. The shared health view still answers readiness.
//!
//! Health and ejection state are keyed by endpoint address and outlive generations: a new
//! Snapshot that keeps an endpoint keeps its health (the shared registry) and its ejection
//! state and in-flight count (carried over by [`Upstream::new`]). Pingora's connection pool is
//! keyed by address too, so pooled connections survive as well.
//!
//! Selection never locks: readiness is an `ArcSwap` snapshot in the load balancer and the
//! endpoint state is atomics.

mod budget;
mod health;
mod key;
mod select;
mod state;

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use pingora::lb::discovery::Static;
use pingora::lb::selection::Consistent;
use pingora::lb::{Backend, Backends, LoadBalancer};
use pingress_model::{Balance, ClusterId, ClusterPolicy, Endpoint};

pub use budget::RetryBudget;
pub use health::{HealthChecks, HealthView};
pub use key::RequestKey;
pub use state::{EndpointState, InFlight};

use state::now_ms;

/// Gateway-wide defaults for what annotations leave unset, and the passive ejection policy.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamDefaults {
    pub health_interval: Duration,
    pub health_timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// Consecutive failures (connect errors or 5xx) that eject an endpoint; 0 disables.
    pub eject_after: u32,
    /// How long an ejected endpoint gets no requests.
    pub eject_for: Duration,
}

/// One endpoint of an upstream.
struct Member {
    addr: SocketAddr,
    /// The key of the shared health view.
    backend: Backend,
    state: Arc<EndpointState>,
}

/// The endpoints of one cluster and the policy that spreads requests over them.
pub struct Upstream {
    pub id: ClusterId,
    endpoints: Vec<Endpoint>,
    policy: ClusterPolicy,
    /// In `endpoints` order (sorted by address); empty when the cluster has no ready endpoint
    /// (the gateway answers `503`).
    members: Vec<Member>,
    /// Consistent hashing over `members`, for `Balance::Hash` clusters.
    ketama: Option<LoadBalancer<Consistent>>,
    /// The health of the endpoints, shared with every cluster checked the same way; `None`
    /// means every endpoint counts as healthy.
    health: Option<Arc<HealthView>>,
    /// Retries this upstream may still make (see [`Upstream::allow_retry`]).
    retry_budget: RetryBudget,
    /// Spreads requests without a hash key, and rotates least-requests ties.
    counter: AtomicUsize,
    defaults: UpstreamDefaults,
}

impl Upstream {
    /// Builds the upstream of a cluster. `states` holds the endpoint states of the previous
    /// generation, to carry them over.
    pub fn new<S: BuildHasher>(
        id: ClusterId,
        endpoints: &[Endpoint],
        policy: &ClusterPolicy,
        health: Option<Arc<HealthView>>,
        states: &HashMap<SocketAddr, Arc<EndpointState>, S>,
        defaults: UpstreamDefaults,
    ) -> Self {
        let mut endpoints = endpoints.to_vec();
        // The Snapshot promises sorted, distinct endpoints; `member` relies on it.
        if !endpoints.is_sorted() {
            endpoints.sort();
        }
        endpoints.dedup();
        let ketama = match policy.balance {
            Balance::Hash(_) if !endpoints.is_empty() => {
                let backends: BTreeSet<Backend> =
                    endpoints.iter().map(|e| backend(e.addr)).collect();
                // A private view without a health check: its selector treats every endpoint
                // as healthy, and `health` (shared) answers for real.
                let view = Backends::new(Static::new(backends));
                Some(publish(LoadBalancer::from_backends(view)))
            }
            _ => None,
        };
        Upstream {
            id,
            members: endpoints
                .iter()
                .map(|e| Member {
                    addr: e.addr,
                    backend: backend(e.addr),
                    state: states.get(&e.addr).cloned().unwrap_or_default(),
                })
                .collect(),
            endpoints,
            policy: policy.clone(),
            ketama,
            retry_budget: RetryBudget::default(),
            counter: AtomicUsize::new(0),
            defaults,
            health,
        }
    }

    /// Whether `backend` passes its active health checks.
    fn healthy(&self, backend: &Backend) -> bool {
        self.health.as_ref().is_none_or(|h| h.ready(backend))
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    pub fn policy(&self) -> &ClusterPolicy {
        &self.policy
    }

    /// The endpoint states, to carry over to the next generation.
    pub fn states(&self) -> impl Iterator<Item = (&SocketAddr, &Arc<EndpointState>)> {
        self.members.iter().map(|m| (&m.addr, &m.state))
    }

    /// The member at `addr` (members are sorted by address).
    fn member(&self, addr: &SocketAddr) -> Option<&Member> {
        let i = self.members.binary_search_by(|m| m.addr.cmp(addr)).ok()?;
        Some(&self.members[i])
    }

    /// How many endpoints are `[healthy, unhealthy, ejected]` right now (ejected ones may be
    /// healthy or not; they count as ejected).
    pub fn endpoint_health(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        let now = now_ms();
        for member in &self.members {
            let index = if member.state.ejected(now) {
                2
            } else if self.healthy(&member.backend) {
                0
            } else {
                1
            };
            counts[index] += 1;
        }
        counts
    }

    /// Records how a request to `addr` went: a failure (connect error or 5xx) counts towards
    /// ejection, a success resets the count. Returns true when this failure ejected it.
    pub fn record(&self, addr: SocketAddr, success: bool) -> bool {
        self.member(&addr).is_some_and(|m| {
            let d = &self.defaults;
            m.state.record(success, d.eject_after, d.eject_for)
        })
    }

    /// Credits the retry budget with one request.
    pub fn earn_retry(&self) {
        self.retry_budget.earn();
    }

    /// Takes one retry from the budget (see [`RetryBudget`]).
    pub fn allow_retry(&self) -> bool {
        self.retry_budget.allow()
    }
}

/// The pingora Backend of an endpoint (the key of health views and of the Ketama ring).
fn backend(addr: SocketAddr) -> Backend {
    Backend {
        addr: addr.into(),
        weight: 1,
        ext: Default::default(),
    }
}

/// Publishes a load balancer's initial membership (static discovery: never waits).
fn publish<S>(lb: LoadBalancer<S>) -> LoadBalancer<S>
where
    S: pingora::lb::selection::BackendSelection + 'static,
    S::Iter: pingora::lb::selection::BackendIter,
{
    if let Some(Err(e)) = lb.update().now_or_never() {
        tracing::error!("cannot publish upstream endpoints: {e}");
    }
    lb
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pingress_model::HashKey;

    /// Defaults for tests: three failures eject for 30 s.
    pub(crate) fn defaults() -> UpstreamDefaults {
        UpstreamDefaults {
            health_interval: Duration::from_secs(5),
            health_timeout: Duration::from_secs(1),
            healthy_threshold: 1,
            unhealthy_threshold: 3,
            eject_after: 3,
            eject_for: Duration::from_secs(30),
        }
    }

    pub(crate) fn endpoints(addrs: &[&str]) -> Vec<Endpoint> {
        addrs
            .iter()
            .map(|a| Endpoint {
                addr: a.parse().unwrap(),
            })
            .collect()
    }

    fn upstream(addrs: &[&str], balance: Balance) -> Upstream {
        let policy = ClusterPolicy {
            balance,
            ..ClusterPolicy::default()
        };
        Upstream::new(
            "test/c:80".parse::<ClusterId>().unwrap(),
            &endpoints(addrs),
            &policy,
            None,
            &HashMap::<SocketAddr, Arc<EndpointState>>::new(),
            defaults(),
        )
    }

    const THREE: [&str; 3] = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"];

    #[test]
    fn round_robin_visits_every_endpoint() {
        let up = upstream(&THREE, Balance::RoundRobin);
        let key = RequestKey::default();
        let mut seen: Vec<SocketAddr> = (0..6)
            .filter_map(|_| up.select(&key, &[]).map(|s| s.0))
            .collect();
        assert_eq!(seen.len(), 6);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 3, "all three endpoints chosen");
    }

    #[test]
    fn empty_cluster_selects_nothing() {
        assert!(upstream(&[], Balance::RoundRobin)
            .select(&RequestKey::default(), &[])
            .is_none());
    }

    #[test]
    fn tried_endpoints_are_skipped_and_ejected_ones_avoided() {
        let up = upstream(&THREE, Balance::RoundRobin);
        let key = RequestKey::default();
        let one: SocketAddr = THREE[0].parse().unwrap();
        let two: SocketAddr = THREE[1].parse().unwrap();
        for _ in 0..10 {
            let (addr, _) = up.select(&key, &[one, two]).unwrap();
            assert_eq!(addr.to_string(), THREE[2]);
        }
        assert!(!up.record(one, false) && !up.record(one, false));
        assert!(
            up.record(one, false),
            "the third consecutive failure ejects"
        );
        for _ in 0..10 {
            assert_ne!(up.select(&key, &[]).unwrap().0, one);
        }
        // Everything ejected or tried: ejection is ignored rather than failing.
        assert_eq!(
            up.select(&key, &[two, THREE[2].parse().unwrap()])
                .unwrap()
                .0,
            one
        );
        assert!(up
            .select(&key, &THREE.map(|a| a.parse().unwrap()))
            .is_none());
    }

    #[test]
    fn least_requests_prefers_the_idlest_endpoint() {
        let up = upstream(&THREE, Balance::LeastRequests);
        let key = RequestKey::default();
        let (first, _a) = up.select(&key, &[]).unwrap();
        let (second, _b) = up.select(&key, &[]).unwrap();
        let (third, _c) = up.select(&key, &[]).unwrap();
        let mut all = vec![first, second, third];
        all.sort();
        all.dedup();
        assert_eq!(
            all.len(),
            3,
            "three held requests spread over three endpoints"
        );
        drop(_b);
        assert_eq!(
            up.select(&key, &[]).unwrap().0,
            second,
            "the one that finished"
        );
    }

    #[test]
    fn hashing_keeps_a_key_on_one_endpoint_and_moves_few_keys_when_endpoints_change() {
        let balance = Balance::Hash(HashKey::Header("x-user".into()));
        let up = upstream(&THREE, balance.clone());
        let mut headers = http::HeaderMap::new();
        let mut pick = |up: &Upstream, user: usize| {
            headers.insert("x-user", user.to_string().parse().unwrap());
            up.select(&RequestKey::new(&headers, None), &[]).unwrap().0
        };
        let before: Vec<SocketAddr> = (0..300).map(|u| pick(&up, u)).collect();
        for (u, owner) in before.iter().enumerate() {
            assert_eq!(pick(&up, u), *owner, "user {u} is sticky");
        }
        let four = [THREE.as_slice(), &["127.0.0.1:4"]].concat();
        let grown = upstream(&four, balance);
        let moved = (0..300).filter(|&u| pick(&grown, u) != before[u]).count();
        assert!(
            moved < 150,
            "adding a fourth endpoint moved {moved} of 300 keys"
        );
    }
}
