//! Inputs for the criterion micro-benchmarks in `benches/`: route tables of a given size and
//! shape, and a cluster's worth of Kubernetes objects. Everything is generated, deterministic
//! and checked by the tests below, so a benchmark never silently measures a table of misses.
//!
//! Every generated Ingress has the same five paths, the shape of a typical application:
//!
//! | rule | pathType | request that hits it |
//! |---|---|---|
//! | `/` | Prefix | `/` |
//! | `/api` | Prefix | `/api/orders` |
//! | `/api/v1/users` | Prefix | `/api/v1/users/42` |
//! | `/static` | Prefix | `/static/js/app.js` |
//! | `/login` | Exact | `/login` |

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint as SliceEndpoint, EndpointPort, EndpointSlice};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use pingress_gateway::config::Generation;
use pingress_gateway::config::Shared;
use pingress_gateway::upstream::UpstreamDefaults;
use pingress_model::{
    ClusterId, HostMatch, ObjectRef, PathMatch, RegexPath, Route, Snapshot, VirtualHost,
};
use pingress_routing::RequestParts;
use pingress_translate::{translate, Objects, Options};

/// The path rules of every generated host: `(path, pathType)`.
pub const PATHS: [(&str, &str); 5] = [
    ("/", "Prefix"),
    ("/api", "Prefix"),
    ("/api/v1/users", "Prefix"),
    ("/static", "Prefix"),
    ("/login", "Exact"),
];

/// A request path for each entry of [`PATHS`], hitting that rule.
pub const REQUEST_PATHS: [&str; 5] = [
    "/",
    "/api/orders",
    "/api/v1/users/42",
    "/static/js/app.js",
    "/login",
];

/// How many lookup keys a benchmark cycles through (a power of two).
pub const KEYS: usize = 4096;

/// The shape of a route table for the lookup benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Exact hosts `h{i}.example.com`, the five [`PATHS`] each.
    ExactHosts,
    /// Wildcard hosts `*.w{i}.example.com`, the five [`PATHS`] each; requests for
    /// `app.w{i}.example.com`.
    WildcardHosts,
    /// One host with one Prefix rule per service, `/team{i}/service`; requests five segments
    /// below it (`/team{i}/service/v1/items/42`), so each lookup probes several prefixes.
    PrefixPaths,
}

impl Shape {
    pub const ALL: [Shape; 3] = [Shape::ExactHosts, Shape::WildcardHosts, Shape::PrefixPaths];

    pub fn name(self) -> &'static str {
        match self {
            Shape::ExactHosts => "exact_hosts",
            Shape::WildcardHosts => "wildcard_hosts",
            Shape::PrefixPaths => "prefix_paths",
        }
    }
}

/// A Snapshot of `rules` routes of the given shape (rounded up to a multiple of five for the
/// host shapes), plus [`KEYS`] `(host, path)` requests spread pseudo-randomly over its rules.
/// Every route points at one Service. Built through `translate`, as the gateway gets it.
pub fn lookup_table(shape: Shape, rules: usize) -> (Snapshot, Vec<(String, String)>) {
    let mut objects = Objects::default();
    let mut rng = Lcg(0x5eed);
    let keys = match shape {
        Shape::ExactHosts | Shape::WildcardHosts => {
            let hosts = rules.div_ceil(PATHS.len()).max(1);
            for i in 0..hosts {
                let host = match shape {
                    Shape::ExactHosts => format!("h{i}.example.com"),
                    _ => format!("*.w{i}.example.com"),
                };
                objects
                    .ingresses
                    .push(ingress(format!("ing-{i}"), host, &PATHS, "web"));
            }
            (0..KEYS)
                .map(|_| {
                    let i = rng.below(hosts);
                    let host = match shape {
                        Shape::ExactHosts => format!("h{i}.example.com"),
                        _ => format!("app.w{i}.example.com"),
                    };
                    (host, REQUEST_PATHS[rng.below(PATHS.len())].to_string())
                })
                .collect()
        }
        Shape::PrefixPaths => {
            let paths: Vec<(String, &str)> = (0..rules)
                .map(|i| (format!("/team{i}/service"), "Prefix"))
                .collect();
            let paths: Vec<(&str, &str)> = paths.iter().map(|(p, t)| (p.as_str(), *t)).collect();
            objects.ingresses.push(ingress(
                "prefixes".into(),
                "prefix.example.com".into(),
                &paths,
                "web",
            ));
            (0..KEYS)
                .map(|_| {
                    let i = rng.below(rules);
                    (
                        "prefix.example.com".to_string(),
                        format!("/team{i}/service/v1/items/42"),
                    )
                })
                .collect()
        }
    };
    add_service(&mut objects, "web", 1, 0);
    (translate(&objects, &Options::default()).snapshot, keys)
}

/// The regex lookups: one host with `regexes` Regex routes `/team{i}/service/v[0-9]+/` (the
/// shape of ingress-nginx's regex mode, where every path of a host is a regex) and a
/// `Prefix /` route after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegexCase {
    /// Requests only the last pattern matches (`/team{last}/service/v1/items/42`).
    HitLast,
    /// Requests no pattern matches (`/team{i}/static/42`), answered by the `Prefix /` route.
    Miss,
}

impl RegexCase {
    pub const ALL: [RegexCase; 2] = [RegexCase::HitLast, RegexCase::Miss];

    pub fn name(self) -> &'static str {
        match self {
            RegexCase::HitLast => "regex_hit_last",
            RegexCase::Miss => "regex_miss",
        }
    }
}

/// The Snapshot of a [`RegexCase`] with `regexes` patterns, and [`KEYS`] requests. Built
/// directly, not through `translate`, which has no regex paths yet.
pub fn regex_table(case: RegexCase, regexes: usize) -> (Snapshot, Vec<(String, String)>) {
    let cluster = ClusterId::new(&ObjectRef::new("bench", "web"), 80).unwrap();
    let origin = ObjectRef::new("bench", "regexes");
    let mut routes: Vec<Route> = (0..regexes)
        .map(|i| {
            let path = PathMatch::Regex(RegexPath {
                pattern: format!("/team{i}/service/v[0-9]+/"),
                case_insensitive: false,
            });
            Route::forward(path, cluster.clone(), origin.clone())
        })
        .collect();
    routes.push(Route::forward(PathMatch::prefix("/"), cluster, origin));
    let snapshot = Snapshot {
        virtual_hosts: vec![VirtualHost {
            host: HostMatch::Exact("regex.example.com".into()),
            routes,
        }],
        ..Snapshot::default()
    };
    let mut rng = Lcg(0x5eed);
    let keys = (0..KEYS)
        .map(|k| {
            let path = match case {
                RegexCase::HitLast => format!("/team{}/service/v1/items/{k}", regexes - 1),
                RegexCase::Miss => format!("/team{}/static/{k}", rng.below(regexes)),
            };
            ("regex.example.com".to_string(), path)
        })
        .collect();
    (snapshot, keys)
}

/// A `GET` without headers or query: what the lookup benchmarks' requests carry besides host
/// and path (no route of theirs has conditions).
pub struct BareRequest {
    method: http::Method,
    headers: http::HeaderMap,
}

impl BareRequest {
    pub fn new() -> Self {
        BareRequest {
            method: http::Method::GET,
            headers: http::HeaderMap::new(),
        }
    }

    pub fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            headers: &self.headers,
            query: None,
        }
    }
}

impl Default for BareRequest {
    fn default() -> Self {
        Self::new()
    }
}

/// A cluster's worth of objects: `ingresses` Ingresses of class `pingress` with one rule of
/// the five [`PATHS`] each (every tenth host a wildcard), each to its own Service, whose one
/// EndpointSlice holds `endpoints_per_service` ready endpoints.
pub fn cluster_objects(ingresses: usize, endpoints_per_service: usize) -> Objects {
    let mut objects = Objects::default();
    for i in 0..ingresses {
        let service = format!("svc-{i}");
        let host = if i % 10 == 9 {
            format!("*.w{i}.bench.example")
        } else {
            format!("h{i}.bench.example")
        };
        objects
            .ingresses
            .push(ingress(format!("ing-{i}"), host, &PATHS, &service));
        add_service(
            &mut objects,
            &service,
            endpoints_per_service,
            i * endpoints_per_service,
        );
    }
    objects
}

fn meta(name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some("bench".into()),
        ..ObjectMeta::default()
    }
}

/// An Ingress of class `pingress` with one rule: `host`, `paths` (path, pathType) to
/// `service` port 80.
fn ingress(name: String, host: String, paths: &[(&str, &str)], service: &str) -> Ingress {
    let paths = paths
        .iter()
        .map(|(path, kind)| HTTPIngressPath {
            path: Some(path.to_string()),
            path_type: kind.to_string(),
            backend: IngressBackend {
                service: Some(IngressServiceBackend {
                    name: service.to_string(),
                    port: Some(ServiceBackendPort {
                        number: Some(80),
                        name: None,
                    }),
                }),
                resource: None,
            },
        })
        .collect();
    Ingress {
        metadata: meta(name),
        spec: Some(IngressSpec {
            ingress_class_name: Some("pingress".into()),
            rules: Some(vec![IngressRule {
                host: Some(host),
                http: Some(HTTPIngressRuleValue { paths }),
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}

/// A Service `name` (port 80, named `http`) and one EndpointSlice with `endpoints` ready pods,
/// numbered from `first_pod`.
fn add_service(objects: &mut Objects, name: &str, endpoints: usize, first_pod: usize) {
    objects.services.push(Service {
        metadata: meta(name.to_string()),
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    });
    let mut slice_meta = meta(format!("{name}-abcde"));
    slice_meta.labels = Some(BTreeMap::from([(
        "kubernetes.io/service-name".to_string(),
        name.to_string(),
    )]));
    objects.endpoint_slices.push(EndpointSlice {
        metadata: slice_meta,
        address_type: "IPv4".into(),
        ports: Some(vec![EndpointPort {
            name: Some("http".into()),
            port: Some(8080),
            ..EndpointPort::default()
        }]),
        endpoints: Some(
            (0..endpoints)
                .map(|k| SliceEndpoint {
                    addresses: vec![pod_ip(first_pod + k).to_string()],
                    ..SliceEndpoint::default()
                })
                .collect(),
        ),
    });
}

/// The `n`th pod address, in 10.0.0.0/8.
fn pod_ip(n: usize) -> IpAddr {
    let n = u32::try_from(n).expect("fewer than 2^24 pods") + 1;
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff)))
}

/// The endpoint address `cluster_objects` gives the `n`th pod.
pub fn pod_addr(n: usize) -> SocketAddr {
    SocketAddr::new(pod_ip(n), 8080)
}

/// The gateway's compile step (`Generation::compile`) as a config swap runs it, with the
/// gateway's start-up state (its self-signed default certificate, health checks with the
/// `pingress run` defaults). The one place in the benchmarks that follows the gateway's API.
pub struct Compiler {
    shared: Shared,
}

impl Compiler {
    pub fn new() -> Self {
        let defaults = UpstreamDefaults {
            health_interval: Duration::from_secs(5),
            health_timeout: Duration::from_secs(1),
            healthy_threshold: 1,
            unhealthy_threshold: 3,
            eject_after: 5,
            eject_for: Duration::from_secs(30),
        };
        Compiler {
            shared: Shared::new(defaults, Default::default()).expect("a self-signed certificate"),
        }
    }

    /// Compiles `snapshot`, against `previous` when given: what a swap does before the new
    /// generation serves. Its new health views are registered by
    /// [`Compiler::register_health_checks`].
    pub fn compile_only(
        &self,
        snapshot: Arc<Snapshot>,
        previous: Option<&Generation>,
    ) -> Generation {
        Generation::compile(snapshot, &self.shared, previous)
    }

    /// Registers the health views of the compiles so far (what the gateway does just after a
    /// swap); returns how many endpoints that was.
    pub fn register_health_checks(&self) -> usize {
        self.shared.checks.register_pending()
    }

    /// The whole apply: [`Compiler::compile_only`], then [`Compiler::register_health_checks`].
    pub fn compile(&self, snapshot: Arc<Snapshot>, previous: Option<&Generation>) -> Generation {
        let generation = self.compile_only(snapshot, previous);
        self.register_health_checks();
        generation
    }
}

impl Default for Compiler {
    fn default() -> Self {
        Self::new()
    }
}

/// How long the benchmarks measure.
pub mod settings {
    use std::time::Duration;

    /// True under `cargo bench`; false when `cargo test --all-targets` runs a bench binary once as
    /// a smoke test, where the inputs are shrunk so the test suite stays fast.
    pub fn bench_mode() -> bool {
        std::env::args().any(|a| a == "--bench")
    }

    /// `PINGRESS_MICRO_QUICK=1` (set by `benches/run --quick`): shorter measurements.
    pub fn quick() -> bool {
        std::env::var_os("PINGRESS_MICRO_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
    }

    /// Measurement time of a fast benchmark.
    pub fn measurement_time() -> Duration {
        if quick() {
            Duration::from_millis(700)
        } else {
            Duration::from_secs(3)
        }
    }

    /// Warm-up time of a fast benchmark.
    pub fn warm_up_time() -> Duration {
        if quick() {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(1)
        }
    }
}

/// A tiny deterministic generator (Knuth's MMIX LCG): benchmarks need spread, not quality.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingress_model::Endpoint;
    use pingress_routing::{Host, RouteTable};

    #[test]
    fn every_lookup_key_hits_a_route() {
        for shape in Shape::ALL {
            for rules in [10, 1000] {
                let (snapshot, keys) = lookup_table(shape, rules);
                assert_eq!(snapshot.route_count(), rules, "{shape:?}");
                let table = RouteTable::build(&snapshot, |_| ());
                assert_eq!(table.len(), rules, "{shape:?}");
                let request = BareRequest::new();
                for (host, path) in &keys {
                    let found = table.find(&Host::new(host), path, &request.parts());
                    let path_rule = found.and_then(|m| m.path);
                    assert!(
                        path_rule.is_some_and(|p| !p.is_empty() || path == "/"),
                        "{shape:?} {host}{path} -> {path_rule:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn regex_keys_hit_what_their_case_says() {
        for case in RegexCase::ALL {
            let (snapshot, keys) = regex_table(case, 100);
            let table = RouteTable::build(&snapshot, |_| ());
            assert_eq!(table.len(), 101, "{case:?}");
            let want = match case {
                RegexCase::HitLast => "Regex /team99/service/v[0-9]+/",
                RegexCase::Miss => "Prefix /",
            };
            let request = BareRequest::new();
            for (host, path) in &keys {
                let found = table.find(&Host::new(host), path, &request.parts());
                let rule = found.and_then(|m| m.path).map(|p| p.to_string());
                assert_eq!(rule.as_deref(), Some(want), "{case:?} {host}{path}");
            }
        }
    }

    #[test]
    fn cluster_objects_translate_cleanly() {
        let objects = cluster_objects(20, 5);
        let translation = translate(&objects, &Options::default());
        assert!(
            translation.diagnostics.is_empty(),
            "{:?}",
            translation.diagnostics
        );
        let snapshot = translation.snapshot;
        assert_eq!(snapshot.route_count(), 20 * PATHS.len());
        assert_eq!(snapshot.clusters.len(), 20);
        let endpoints: usize = snapshot.clusters.values().map(|c| c.endpoints.len()).sum();
        assert_eq!(endpoints, 100);
        assert!(snapshot
            .clusters
            .values()
            .any(|c| c.endpoints.contains(&Endpoint { addr: pod_addr(0) })));
    }
}
