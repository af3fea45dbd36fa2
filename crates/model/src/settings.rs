//! Gateway-wide settings that travel with the configuration: what an ingress-nginx ConfigMap
//! (`--configmap`) says about the whole gateway. Each is `None` unless the configuration sets
//! it, and the gateway's own flag applies then. Per-route defaults from the same ConfigMap
//! (timeouts, body size, redirects) are applied to the routes by the translation instead.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Gateway-wide settings; `None`: the gateway's flag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The status of redirects to HTTPS and between `www.` and the bare host: `301`, `302`,
    /// `307` or `308` (ingress-nginx's `http-redirect-code`).
    pub http_redirect_code: Option<u16>,
    /// `Strict-Transport-Security` on HTTPS responses.
    pub hsts: Option<Hsts>,
    /// Peers whose forwarding headers are believed (ingress-nginx's `use-forwarded-headers`
    /// with `proxy-real-ip-cidr`); an empty list believes nobody.
    pub trusted_proxies: Option<Vec<Cidr>>,
    /// Forward request headers whose names contain `_`
    /// (`enable-underscores-in-headers`).
    pub underscores_in_headers: Option<bool>,
    // Rewrites and redirects.
    // Hosts and headers.
    // Canary and session affinity.
    // Fallbacks, errors and retries.
}

/// Whether HTTPS responses carry `Strict-Transport-Security`, and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hsts {
    Off,
    /// The header's value, e.g. `max-age=31536000; includeSubDomains`.
    Header(String),
}

/// An address block: `addr/prefix`, the address's host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cidr {
    pub addr: IpAddr,
    /// 0..=32 for IPv4, 0..=128 for IPv6.
    pub prefix: u8,
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}
