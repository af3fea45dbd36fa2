//! Clusters: the ready endpoints of one Service port, and how they are chosen and checked.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::object::ObjectRef;

/// Names a cluster: the Service and the port the Ingress asked for, as the user wrote it
/// (`default/web:80` or `default/web:http`). Parsed once: its parts are slices of the text,
/// never split again. Ordered, compared and serialized as that text (it keys maps).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ClusterId {
    text: String,
    /// Where the `/` after the namespace is.
    slash: u32,
    /// Where the `:` before the port is.
    colon: u32,
}

impl ClusterId {
    /// The cluster of `service`'s port `port` (a number or a port name). Fails when a part
    /// is empty or holds a `/` or `:`, which would make the id ambiguous (Kubernetes names
    /// never do).
    pub fn new(service: &ObjectRef, port: impl fmt::Display) -> Result<Self, ParseClusterIdError> {
        format!("{service}:{port}").parse()
    }

    /// The whole id, e.g. `default/web:80`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The Service's namespace, e.g. `default` for `default/web:80`.
    pub fn namespace(&self) -> &str {
        &self.text[..self.slash as usize]
    }

    /// The Service's name, e.g. `web` for `default/web:80`.
    pub fn service(&self) -> &str {
        &self.text[self.slash as usize + 1..self.colon as usize]
    }

    /// The port as written, e.g. `80` or `http`.
    pub fn port(&self) -> &str {
        &self.text[self.colon as usize + 1..]
    }
}

/// Not `NAMESPACE/SERVICE:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected NAMESPACE/SERVICE:PORT")]
pub struct ParseClusterIdError(String);

impl FromStr for ClusterId {
    type Err = ParseClusterIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseClusterIdError(s.to_string());
        let slash = s.find('/').ok_or_else(invalid)?;
        let colon = s
            .rfind(':')
            .filter(|&c| c > slash + 1)
            .ok_or_else(invalid)?;
        let one_of_each = s.matches('/').count() == 1 && s.matches(':').count() == 1;
        if slash == 0 || colon + 1 == s.len() || !one_of_each {
            return Err(invalid());
        }
        Ok(ClusterId {
            text: s.to_string(),
            slash: u32::try_from(slash).map_err(|_| invalid())?,
            colon: u32::try_from(colon).map_err(|_| invalid())?,
        })
    }
}

impl TryFrom<String> for ClusterId {
    type Error = ParseClusterIdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ClusterId> for String {
    fn from(id: ClusterId) -> String {
        id.text
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterId({:?})", self.text)
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
