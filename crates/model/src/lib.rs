//! The Snapshot: the contract between the controller and the gateway.
//!
//! A [`Snapshot`] is the complete routing configuration at one moment: the virtual hosts with
//! their path routes, the default backend, and the clusters (a Service port's ready endpoints)
//! that routes point at. It is plain data, serde-serializable so it can cross a process
//! boundary, and it is always whole: there are no partial updates. Every value in it has been
//! parsed and validated by the translation; the gateway trusts it.
//!
//! ```text
//! Snapshot { generation }
//! |-- virtual_hosts: VirtualHost { host: HostMatch, routes: [Route { path, backend, ssl_redirect }] }
//! |-- default_backend: Option<Backend>
//! |-- clusters: ClusterId -> Cluster { endpoints: [Endpoint { addr }] }
//! `-- tls: Tls
//!     |-- hosts: [TlsHost { host: HostMatch, certificate: Option<CertificateId> }]
//!     |-- certificates: CertificateId -> Certificate { chain_pem, key_pem }
//!     `-- default_certificate: Option<CertificateId>
//! ```
//!
//! A Snapshot carries TLS private keys: never log it whole, and keep any channel that carries it
//! private. [`Certificate`]'s `Debug` leaves the key out.
//!
//! This crate depends on nothing else of the project.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The whole routing configuration, versioned by `generation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Monotonic version assigned by the publisher; `0` means "not yet published".
    pub generation: u64,
    /// One entry per distinct host match, in no particular order.
    pub virtual_hosts: Vec<VirtualHost>,
    /// Where requests that match no rule go; `None` means the gateway answers `404`.
    pub default_backend: Option<Backend>,
    /// Every cluster that a route or the default backend refers to.
    pub clusters: BTreeMap<ClusterId, Cluster>,
    /// Certificates served on the HTTPS listener, by SNI name.
    pub tls: Tls,
}

impl Snapshot {
    /// The number of routes across all virtual hosts.
    pub fn route_count(&self) -> usize {
        self.virtual_hosts.iter().map(|v| v.routes.len()).sum()
    }
}

/// Which request hosts a virtual host serves. Names are lower-case and carry no port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HostMatch {
    /// Exactly this name, e.g. `shop.example.com`.
    Exact(String),
    /// `*.` + this suffix: any name with exactly one more DNS label, e.g. suffix `example.com`
    /// matches `a.example.com` but neither `example.com` nor `a.b.example.com`.
    Wildcard(String),
    /// Every host (an Ingress rule without `host`).
    Any,
}

impl fmt::Display for HostMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostMatch::Exact(h) => f.write_str(h),
            HostMatch::Wildcard(suffix) => write!(f, "*.{suffix}"),
            HostMatch::Any => f.write_str("*"),
        }
    }
}

/// The routes of one host match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualHost {
    pub host: HostMatch,
    /// At most one route per distinct [`PathMatch`]; conflicts were resolved by the translation.
    pub routes: Vec<Route>,
}

/// How a route matches the request path. The query string never takes part.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PathMatch {
    /// The whole path, case-sensitive.
    Exact(String),
    /// Element-wise prefix on `/`. Stored without a trailing `/`; the root prefix `/` is stored
    /// as the empty string and matches every path.
    Prefix(String),
}

impl PathMatch {
    /// A prefix match, normalised: any trailing `/` is dropped (`/foo/` and `/foo` are the same
    /// rule, `/` becomes the empty prefix).
    pub fn prefix(path: &str) -> Self {
        PathMatch::Prefix(path.trim_end_matches('/').to_string())
    }

    /// The length used for "longest match wins".
    pub fn len(&self) -> usize {
        match self {
            PathMatch::Exact(p) | PathMatch::Prefix(p) => p.len(),
        }
    }

    /// True for the root prefix, which matches every path.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for PathMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathMatch::Exact(p) => write!(f, "Exact {p}"),
            PathMatch::Prefix(p) if p.is_empty() => f.write_str("Prefix /"),
            PathMatch::Prefix(p) => write!(f, "Prefix {p}"),
        }
    }
}

/// One path rule of a virtual host and where it sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub path: PathMatch,
    pub backend: Backend,
    /// Whether plain-HTTP requests for a TLS host that match this route are redirected to HTTPS
    /// (the declaring Ingress's `ssl-redirect` annotation; `true` unless switched off).
    pub ssl_redirect: bool,
    /// Timeouts and retries from the declaring Ingress's annotations.
    pub policy: RoutePolicy,
}

/// Most retries an Ingress may ask for.
pub const MAX_RETRIES: u8 = 5;

/// How requests on a route talk to upstreams. `None` means the gateway's default (its flags).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePolicy {
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub send_timeout: Option<Duration>,
    /// Extra attempts on another endpoint for idempotent requests whose upstream failed after
    /// the request was sent (0..=[`MAX_RETRIES`]). Connection failures before anything was sent
    /// are retried regardless of this setting.
    pub retries: u8,
    /// Largest request body accepted, in bytes (`413` beyond it); `Some(0)` means no limit.
    pub max_body_size: Option<u64>,
}

/// A route's destination: the cluster, and the Ingress that declared it (for logs and metrics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    pub cluster: ClusterId,
    pub ingress: ObjectRef,
}

/// `namespace/name` of a Kubernetes object. Serialized as that string, so it can key a map.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ObjectRef {
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl From<ObjectRef> for String {
    fn from(object: ObjectRef) -> String {
        object.to_string()
    }
}

impl TryFrom<String> for ObjectRef {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.split_once('/') {
            Some((namespace, name)) => Ok(ObjectRef::new(namespace, name)),
            None => Err(format!("{s:?}: expected namespace/name")),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Names a cluster: the Service and the port the Ingress asked for, as the user wrote it
/// (`default/web:80` or `default/web:http`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClusterId(pub String);

impl ClusterId {
    pub fn new(service: &ObjectRef, port: impl fmt::Display) -> Self {
        ClusterId(format!("{service}:{port}"))
    }

    /// The Service's namespace, e.g. `default` for `default/web:80`.
    pub fn namespace(&self) -> &str {
        self.0.split_once('/').map_or("", |(ns, _)| ns)
    }

    /// The Service name and the port as written, e.g. `("web", "80")` for `default/web:80`.
    pub fn service_and_port(&self) -> (&str, &str) {
        let service = self.0.split_once('/').map_or(self.0.as_str(), |(_, s)| s);
        service.rsplit_once(':').unwrap_or((service, ""))
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The HTTPS side of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tls {
    /// The hosts listed under Ingresses' `spec.tls`, at most one entry per host match.
    pub hosts: Vec<TlsHost>,
    /// Every certificate a host or the default refers to, all validated by the translation.
    pub certificates: BTreeMap<CertificateId, Certificate>,
    /// The certificate for clients without SNI or with an unknown name; `None` means the
    /// gateway's own self-signed certificate.
    pub default_certificate: Option<CertificateId>,
}

/// A host name served over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsHost {
    /// `Exact` or `Wildcard`; never `Any`.
    pub host: HostMatch,
    /// The certificate for this host; `None` when its Secret was unusable (the default
    /// certificate is served instead, and a diagnostic says why).
    pub certificate: Option<CertificateId>,
}

/// Names a certificate: the `kubernetes.io/tls` Secret it came from.
pub type CertificateId = ObjectRef;

/// A certificate chain and its private key, PEM-encoded, as validated by the translation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The leaf certificate first, then intermediates.
    pub chain_pem: String,
    /// The private key (PKCS#1, PKCS#8 or SEC1 PEM).
    pub key_pem: String,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("chain_pem", &format_args!("{} bytes", self.chain_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// A set of interchangeable endpoints: the ready addresses of one Service port.
/// An empty cluster is legal; the gateway answers `503` for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// Sorted and free of duplicates.
    pub endpoints: Vec<Endpoint>,
    /// How endpoints are chosen and checked (from the oldest Ingress that uses the cluster).
    pub policy: ClusterPolicy,
}

/// How a cluster's endpoints are chosen and health-checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClusterPolicy {
    pub balance: Balance,
    /// Active health check settings; fields left `None` take the gateway's defaults (flags).
    pub health_check: HealthCheck,
}

/// The load-balancing policy of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Balance {
    /// Each endpoint in turn.
    #[default]
    RoundRobin,
    /// The endpoint with the fewest requests in flight (ties in turn).
    LeastRequests,
    /// Consistent hashing (Ketama) on a request key: the same key keeps its endpoint, and a
    /// change of endpoints moves only about 1/n of the keys.
    Hash(HashKey),
}

/// What consistent hashing hashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HashKey {
    /// A request header (lower-case name); requests without it are spread round robin.
    Header(String),
    /// A cookie; requests without it are spread round robin.
    Cookie(String),
    /// The client's IP address.
    ClientIp,
}

/// Active health check settings of a cluster. `None` fields take the gateway's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HealthCheck {
    /// `GET` this path and expect `2xx`/`3xx`; `None`: a TCP connect check.
    pub path: Option<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    /// Consecutive successes that make an unhealthy endpoint healthy again.
    pub healthy_threshold: Option<u32>,
    /// Consecutive failures that make a healthy endpoint unhealthy.
    pub unhealthy_threshold: Option<u32>,
}

/// One upstream address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    pub addr: SocketAddr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_normalised_without_trailing_slash() {
        assert_eq!(PathMatch::prefix("/foo/"), PathMatch::Prefix("/foo".into()));
        assert_eq!(PathMatch::prefix("/foo"), PathMatch::Prefix("/foo".into()));
        assert_eq!(PathMatch::prefix("/"), PathMatch::Prefix(String::new()));
        assert!(PathMatch::prefix("/").is_empty());
        assert_eq!(PathMatch::prefix("/").to_string(), "Prefix /");
    }

    #[test]
    fn cluster_ids_name_service_and_port() {
        let id = ClusterId::new(&ObjectRef::new("shop", "web"), "http");
        assert_eq!(id.0, "shop/web:http");
        assert_eq!(id.service_and_port(), ("web", "http"));
        assert_eq!(id.namespace(), "shop");
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let mut clusters = BTreeMap::new();
        let id = ClusterId::new(&ObjectRef::new("default", "web"), 80);
        clusters.insert(
            id.clone(),
            Cluster {
                endpoints: vec![Endpoint {
                    addr: "10.0.0.1:8080".parse().unwrap(),
                }],
                policy: ClusterPolicy::default(),
            },
        );
        let snapshot = Snapshot {
            generation: 7,
            virtual_hosts: vec![VirtualHost {
                host: HostMatch::Wildcard("example.com".into()),
                routes: vec![Route {
                    path: PathMatch::Exact("/a".into()),
                    backend: Backend {
                        cluster: id,
                        ingress: ObjectRef::new("default", "ing"),
                    },
                    ssl_redirect: true,
                    policy: RoutePolicy::default(),
                }],
            }],
            default_backend: None,
            clusters,
            tls: Tls {
                hosts: vec![TlsHost {
                    host: HostMatch::Exact("shop.test".into()),
                    certificate: Some(ObjectRef::new("default", "shop-tls")),
                }],
                certificates: [(
                    ObjectRef::new("default", "shop-tls"),
                    Certificate {
                        chain_pem: "chain".into(),
                        key_pem: "key".into(),
                    },
                )]
                .into(),
                default_certificate: None,
            },
        };
        let json = serde_json::to_string(&snapshot).unwrap();
        assert!(
            json.contains(r#""default/shop-tls":"#),
            "maps keyed by object: {json}"
        );
        let back: Snapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snapshot);
        assert_eq!(back.route_count(), 1);
    }

    #[test]
    fn certificate_debug_never_shows_the_key() {
        let cert = Certificate {
            chain_pem: "-----BEGIN CERTIFICATE-----".into(),
            key_pem: "-----BEGIN PRIVATE KEY----- secret".into(),
        };
        let debug = format!("{cert:?}");
        assert!(
            !debug.contains("secret") && debug.contains("redacted"),
            "{debug}"
        );
    }
}
