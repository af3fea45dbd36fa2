//! Selection policies: which member of an upstream serves a request — round robin, least
//! requests, or consistent hashing (Ketama) on the request key — skipping members that are
//! ejected, unhealthy or already tried by this request.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use pingora::lb::Backend;
use pingress_model::Balance;

use super::{now_ms, InFlight, Member, RequestKey, Upstream};

impl Upstream {
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
        Some((member.addr, member.state.start_request()))
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
}
