//! An Upstream: the runtime form of a cluster — its endpoints behind a round-robin
//! `pingora-load-balancing` selector.

use std::net::SocketAddr;

use pingora::lb::selection::RoundRobin;
use pingora::lb::LoadBalancer;
use pingress_model::{ClusterId, Endpoint};

/// The endpoints of one cluster and the selector that spreads requests over them.
pub struct Upstream {
    pub id: ClusterId,
    endpoints: Vec<Endpoint>,
    /// `None` when the cluster has no ready endpoint (the gateway answers `503`).
    balancer: Option<LoadBalancer<RoundRobin>>,
}

impl Upstream {
    pub fn new(id: ClusterId, endpoints: &[Endpoint]) -> Self {
        let balancer = if endpoints.is_empty() {
            None
        } else {
            // Static discovery over literal socket addresses: no DNS, cannot fail.
            LoadBalancer::try_from_iter(endpoints.iter().map(|e| e.addr)).ok()
        };
        Upstream {
            id,
            endpoints: endpoints.to_vec(),
            balancer,
        }
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The next endpoint in round-robin order, or `None` if there is none.
    pub fn select(&self) -> Option<SocketAddr> {
        let backend = self.balancer.as_ref()?.select(b"", 256)?;
        backend.addr.as_inet().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_visits_every_endpoint() {
        let endpoints: Vec<Endpoint> = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
            .iter()
            .map(|a| Endpoint {
                addr: a.parse().unwrap(),
            })
            .collect();
        let upstream = Upstream::new(ClusterId("c".into()), &endpoints);
        let mut seen: Vec<SocketAddr> = (0..6).filter_map(|_| upstream.select()).collect();
        assert_eq!(seen.len(), 6);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 3, "all three endpoints chosen");
    }

    #[test]
    fn empty_cluster_selects_nothing() {
        assert_eq!(Upstream::new(ClusterId("c".into()), &[]).select(), None);
    }
}
