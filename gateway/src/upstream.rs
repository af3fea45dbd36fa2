//! Upstreams: the runtime form of a cluster — its endpoints, their health, and the policy that
//! picks one for each request.
//!
//! ```text
//! Upstream (one per cluster and generation)
//! |-- members: [endpoint addr, its pingora Backend, Arc<EndpointState> { in flight,
//! |            consecutive failures, ejected until }], sorted by address
//! |-- round robin / least requests: an atomic counter over `members`
//! |-- consistent hashing: a pingora-load-balancing LoadBalancer<Consistent> (Ketama), built
//! |                       only for clusters that hash
//! |-- health: the shared view of the cluster's health-check setting (readiness by Backend),
//! |           registered with the setting's registry just after the swap
//! `-- retry budget
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

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures::FutureExt;
use pingora::lb::discovery::Static;
use pingora::lb::health_check::{HttpHealthCheck, TcpHealthCheck};
use pingora::lb::selection::Consistent;
use pingora::lb::{Backend, Backends, HealthCheckService, HealthRegistry, LoadBalancer};
use pingora::services::background::BackgroundService;
use pingress_model::{Balance, Cluster, ClusterId, ClusterPolicy, Endpoint, HashKey, HealthCheck};

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

/// Milliseconds since the process started: the clock of ejections.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// What the gateway knows about one endpoint across generations.
#[derive(Debug, Default)]
pub struct EndpointState {
    in_flight: AtomicUsize,
    failures: AtomicU32,
    ejected_until_ms: AtomicU64,
}

impl EndpointState {
    fn ejected(&self, now: u64) -> bool {
        self.ejected_until_ms.load(Ordering::Relaxed) > now
    }

    /// Requests to this endpoint now in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// Holds one in-flight request against an endpoint; dropping it ends the request.
pub struct InFlight(Arc<EndpointState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The health-check settings of a cluster with the gateway's defaults filled in: the key of a
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
    fn ready(&self, backend: &Backend) -> bool {
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
        let mut last = self.last_views.lock().unwrap_or_else(|p| p.into_inner());
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
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
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
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
        let mut registries = self.registries.lock().unwrap_or_else(|p| p.into_inner());
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
    /// Retry budget in thousandths of a retry (see [`Upstream::allow_retry`]).
    retry_budget: AtomicI64,
    /// Spreads requests without a hash key, and rotates least-requests ties.
    counter: AtomicUsize,
    defaults: UpstreamDefaults,
}

/// Retries a budget starts with, earned per request, and holds at most (thousandths).
const BUDGET_START: i64 = 10_000;
const BUDGET_PER_REQUEST: i64 = 200;
const BUDGET_MAX: i64 = 10_000;

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
            retry_budget: AtomicI64::new(BUDGET_START),
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

    /// Picks an endpoint for a request: healthy, not ejected and not in `tried`, by the
    /// cluster's policy. If no endpoint qualifies, health and ejection are ignored rather than
    /// failing the request (a cluster that is "all down" is more often a bad check than a
    /// dead service). `None` only when there is no endpoint left to try.
    pub fn select(
        &self,
        request: &RequestKey,
        tried: &[SocketAddr],
    ) -> Option<(SocketAddr, InFlight)> {
        if self.members.is_empty() {
            return None;
        }
        let now = now_ms();
        let member = self
            .pick(request, tried, |m| {
                !m.state.ejected(now) && self.healthy(&m.backend)
            })
            .or_else(|| self.pick(request, tried, |_| true))?;
        let state = member.state.clone();
        state.in_flight.fetch_add(1, Ordering::Relaxed);
        Some((member.addr, InFlight(state)))
    }

    /// The member the policy picks among those `usable` and not in `tried`.
    fn pick(
        &self,
        request: &RequestKey,
        tried: &[SocketAddr],
        usable: impl Fn(&Member) -> bool,
    ) -> Option<&Member> {
        let ok = |m: &Member| !tried.contains(&m.addr) && usable(m);
        let n = self.members.len();
        match (&self.policy.balance, &self.ketama) {
            (Balance::Hash(key), Some(lb)) => {
                let spread;
                let key = match request.hash_input(key) {
                    Some(k) => k,
                    None => {
                        spread = self.counter.fetch_add(1, Ordering::Relaxed).to_le_bytes();
                        &spread[..]
                    }
                };
                let accept = |b: &Backend, _: bool| {
                    let addr = b.addr.as_inet();
                    addr.and_then(|a| self.member(a)).is_some_and(ok)
                };
                let found = lb.select_with(key, 256, accept)?;
                self.member(found.addr.as_inet()?)
            }
            (Balance::LeastRequests, _) => {
                let start = self.counter.fetch_add(1, Ordering::Relaxed) % n;
                self.members
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| ok(m))
                    .min_by_key(|(i, m)| (m.state.in_flight(), (i + n - start) % n))
                    .map(|(_, m)| m)
            }
            // Round robin: the next usable member after the counter.
            _ => {
                let start = self.counter.fetch_add(1, Ordering::Relaxed) % n;
                (0..n)
                    .map(|k| &self.members[(start + k) % n])
                    .find(|m| ok(m))
            }
        }
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
        let Some(state) = self.member(&addr).map(|m| &m.state) else {
            return false;
        };
        if success {
            state.failures.store(0, Ordering::Relaxed);
            return false;
        }
        let limit = self.defaults.eject_after;
        if limit == 0 || state.failures.fetch_add(1, Ordering::Relaxed) + 1 < limit {
            return false;
        }
        state.failures.store(0, Ordering::Relaxed);
        let until = now_ms() + self.defaults.eject_for.as_millis() as u64;
        state.ejected_until_ms.store(until, Ordering::Relaxed);
        true
    }

    /// Credits the retry budget with one request.
    pub fn earn_retry(&self) {
        let budget = self
            .retry_budget
            .fetch_add(BUDGET_PER_REQUEST, Ordering::Relaxed);
        if budget + BUDGET_PER_REQUEST > BUDGET_MAX {
            self.retry_budget
                .fetch_sub(BUDGET_PER_REQUEST, Ordering::Relaxed);
        }
    }

    /// Takes one retry from the budget: ten to start with, then one per five requests, so that
    /// a failing cluster is not hammered by retry storms.
    pub fn allow_retry(&self) -> bool {
        if self.retry_budget.fetch_sub(1_000, Ordering::Relaxed) >= 1_000 {
            true
        } else {
            self.retry_budget.fetch_add(1_000, Ordering::Relaxed);
            false
        }
    }
}

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

/// What consistent hashing may hash, taken from the request.
#[derive(Debug, Default)]
pub struct RequestKey<'a> {
    pub headers: Option<&'a http::HeaderMap>,
    pub client_ip: Option<std::net::IpAddr>,
    /// Scratch space for the client IP bytes.
    ip_bytes: OnceLock<Vec<u8>>,
}

impl<'a> RequestKey<'a> {
    pub fn new(headers: &'a http::HeaderMap, client_ip: Option<std::net::IpAddr>) -> Self {
        RequestKey {
            headers: Some(headers),
            client_ip,
            ip_bytes: OnceLock::new(),
        }
    }

    fn hash_input(&self, key: &HashKey) -> Option<&[u8]> {
        match key {
            HashKey::Header(name) => Some(self.headers?.get(name.as_str())?.as_bytes()),
            HashKey::Cookie(name) => self
                .headers?
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    (k == name).then_some(v.as_bytes())
                }),
            HashKey::ClientIp => {
                let ip = self.client_ip?;
                Some(self.ip_bytes.get_or_init(|| match ip {
                    std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                    std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
                }))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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

    fn endpoints(addrs: &[&str]) -> Vec<Endpoint> {
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
            &HashMap::new(),
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

    #[test]
    fn the_retry_budget_allows_a_few_then_one_per_five_requests() {
        let up = upstream(&THREE, Balance::RoundRobin);
        assert!((0..10).all(|_| up.allow_retry()));
        assert!(!up.allow_retry(), "start budget spent");
        for _ in 0..5 {
            up.earn_retry();
        }
        assert!(up.allow_retry());
        assert!(!up.allow_retry());
    }

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

    #[test]
    fn cookies_and_client_ips_are_hash_keys() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            "a=1; session=xyz; b=2".parse().unwrap(),
        );
        let key = RequestKey::new(&headers, Some("10.0.0.7".parse().unwrap()));
        assert_eq!(
            key.hash_input(&HashKey::Cookie("session".into())),
            Some(&b"xyz"[..])
        );
        assert_eq!(key.hash_input(&HashKey::Cookie("none".into())), None);
        assert_eq!(key.hash_input(&HashKey::ClientIp), Some(&[10, 0, 0, 7][..]));
    }
}
