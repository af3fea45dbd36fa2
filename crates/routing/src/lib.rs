//! The compiled host/path matcher: turns a [`Snapshot`] into a [`RouteTable`] that answers
//! "which backend serves this request?" with the Kubernetes Ingress v1 semantics.
//!
//! ```text
//! find(host, path)
//!  |  host: normalize_host -> lower-case, no port, no trailing dot
//!  |
//!  |-- 1. Exact vhost      shop.example.com
//!  |-- 2. Wildcard vhost   *.example.com   exactly one more label: a.example.com, not
//!  |                                       example.com, not a.b.example.com
//!  |-- 3. Any vhost        rules without a host
//!  |       in each tier, the best matching path rule; none -> fall through to the next tier
//!  |        |-- longest rule wins: Exact  path == rule (case-sensitive)
//!  |        |                      Prefix element-wise on '/': /foo matches /foo, /foo/,
//!  |        |                             /foo/bar, not /foobar; / matches every path
//!  |        `-- equal length: Exact beats Prefix
//!  |-- 4. the snapshot's default backend
//!  `-- 5. None (the gateway answers 404)
//! ```
//!
//! The table is immutable and lock-free; lookups are a handful of hash probes (one per host tier
//! and per path segment), never a scan over the rules, and do not allocate when the host is
//! already normal.
//!
//! Cost per lookup (benches/micro, docs/performance.md): the maps hash with foldhash, not
//! SipHash (the keys are configuration, not attacker input: a request only looks up, so it
//! cannot fill a bucket), and each virtual host keeps the set of its rule lengths, so a path
//! segment no rule is that long is skipped without a probe. `/team7/service/v1/items/42` under
//! `Prefix /team7/service` probes one prefix, not four.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::HashMap as StdHashMap;

use pingress_model::{Backend, HostMatch, PathMatch, RoutePolicy, Snapshot};

/// The table's maps: std's hashbrown with foldhash instead of SipHash (several times faster on
/// short strings; randomly seeded per process).
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;

/// The lengths of a virtual host's rules of one kind, as a bit set: bit `n` for a rule `n`
/// bytes long, bit 63 for every rule of 63 bytes or more. A candidate whose bit is clear
/// cannot match and is not probed.
#[derive(Debug, Default, Clone, Copy)]
struct Lengths(u64);

impl Lengths {
    fn bit(len: usize) -> u64 {
        1 << len.min(63)
    }

    fn add(&mut self, len: usize) {
        self.0 |= Self::bit(len);
    }

    fn may_contain(self, len: usize) -> bool {
        self.0 & Self::bit(len) != 0
    }
}

mod path;
pub use path::{normalize_path, EncodedSlashes, PathError};

/// Compiled, immutable lookup table built from a [`Snapshot`].
///
/// `T` is whatever the caller attaches to each backend (e.g. an `Arc` to a runtime cluster).
#[derive(Debug)]
pub struct RouteTable<T> {
    exact: HashMap<String, VirtualHost<T>>,
    /// Keyed by the suffix after `*.`.
    wildcard: HashMap<String, VirtualHost<T>>,
    any: Option<VirtualHost<T>>,
    default: Option<Target<T>>,
    len: usize,
}

/// The answer of [`RouteTable::find`].
#[derive(Debug)]
pub struct RouteMatch<'a, T> {
    /// What the caller attached to the backend.
    pub target: &'a T,
    /// The model backend (cluster id and Ingress), for logs and metrics.
    pub backend: &'a Backend,
    /// The virtual host that matched; `None` when the default backend answered.
    pub host: Option<&'a HostMatch>,
    /// The path rule that matched; `None` when the default backend answered.
    pub path: Option<&'a PathMatch>,
    /// Whether a plain-HTTP request on a TLS host that lands here is redirected to HTTPS (the
    /// route's own setting; `true` for the default backend).
    pub ssl_redirect: bool,
    /// The route's timeouts and retries (the defaults for the default backend).
    pub policy: &'a RoutePolicy,
}

impl<T> Clone for RouteMatch<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for RouteMatch<'_, T> {}

/// The host tiers, in the order they are tried (the derived `Ord` is the precedence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tier {
    Exact,
    Wildcard,
    Any,
}

impl Tier {
    const ALL: [Tier; 3] = [Tier::Exact, Tier::Wildcard, Tier::Any];
}

/// The kind of a path rule. With the rule's length it forms the path precedence: the derived
/// `Ord` of `(len, Kind)` ranks a longer rule higher and, on equal length, Exact above Prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Prefix,
    Exact,
}

/// A destination: the path rule that leads to it (`None` for the default backend), the model
/// backend and the caller's value.
#[derive(Debug)]
struct Target<T> {
    path: Option<PathMatch>,
    backend: Backend,
    ssl_redirect: bool,
    policy: RoutePolicy,
    target: T,
}

impl<T> Target<T> {
    fn to_match<'a>(&'a self, host: Option<&'a HostMatch>) -> RouteMatch<'a, T> {
        RouteMatch {
            target: &self.target,
            backend: &self.backend,
            host,
            path: self.path.as_ref(),
            ssl_redirect: self.ssl_redirect,
            policy: &self.policy,
        }
    }
}

/// The path rules of one host match, keyed by the rule's (normalised) path.
#[derive(Debug)]
struct VirtualHost<T> {
    host: HostMatch,
    exact: HashMap<String, Target<T>>,
    prefix: HashMap<String, Target<T>>,
    exact_lengths: Lengths,
    prefix_lengths: Lengths,
}

impl<T> VirtualHost<T> {
    fn new(host: HostMatch) -> Self {
        VirtualHost {
            host,
            exact: HashMap::default(),
            prefix: HashMap::default(),
            exact_lengths: Lengths::default(),
            prefix_lengths: Lengths::default(),
        }
    }

    fn rules(&self, kind: Kind) -> (&HashMap<String, Target<T>>, Lengths) {
        match kind {
            Kind::Exact => (&self.exact, self.exact_lengths),
            Kind::Prefix => (&self.prefix, self.prefix_lengths),
        }
    }

    /// The best rule for `path`: candidates come best first, so the first hit wins.
    fn find(&self, path: &str) -> Option<RouteMatch<'_, T>> {
        candidates(path)
            .find_map(|(kind, key)| {
                let (rules, lengths) = self.rules(kind);
                lengths.may_contain(key.len()).then(|| rules.get(key))?
            })
            .map(|target| target.to_match(Some(&self.host)))
    }
}

/// Every rule that could match `path`, in descending precedence: `Exact path`, `Prefix path`,
/// then `Prefix` of `path` cut at each `/` from the right, ending with the root prefix `""`.
/// Cutting at the last `/` of `/foo/` gives `/foo`, so the trailing-slash case needs no special
/// handling. Prefix rules never end in `/`, so probing `Prefix /foo/` itself is just a miss.
///
/// A path that does not start with `/` (`*` of `OPTIONS *`, or an empty path) is not a
/// sequence of `/`-elements: it is treated as the empty path and matches only the root prefix.
fn candidates(path: &str) -> impl Iterator<Item = (Kind, &str)> {
    let path = if path.starts_with('/') { path } else { "" };
    // A byte loop, not `rmatch_indices`: paths are short, and its searcher cost more than the
    // hash probes (benches/micro/examples/lookup.rs under callgrind).
    let mut end = path.len();
    let cuts = std::iter::from_fn(move || {
        end = path.as_bytes()[..end].iter().rposition(|&b| b == b'/')?;
        Some((Kind::Prefix, &path[..end]))
    });
    [(Kind::Exact, path), (Kind::Prefix, path)]
        .into_iter()
        .chain(cuts)
}

/// The suffix a `*.suffix` vhost would need to match `host`: `host` minus its first label.
/// A host with no `.`, or with an empty first label (`.example.com`), has none.
fn wildcard_suffix(host: &str) -> Option<&str> {
    match host.split_once('.') {
        Some((label, suffix)) if !label.is_empty() => Some(suffix),
        _ => None,
    }
}

impl<T> RouteTable<T> {
    /// Compiles `snapshot`. `target` is called once per route and once for the default backend.
    ///
    /// The snapshot promises one virtual host per host match and one route per path match;
    /// should it repeat one anyway, the first wins and the repeat is skipped (without calling
    /// `target`).
    pub fn build(snapshot: &Snapshot, mut target: impl FnMut(&Backend) -> T) -> Self {
        let mut table = RouteTable {
            exact: HashMap::default(),
            wildcard: HashMap::default(),
            any: None,
            default: None,
            len: 0,
        };
        for vh in &snapshot.virtual_hosts {
            let new = || VirtualHost::new(vh.host.clone());
            let vhost = match &vh.host {
                HostMatch::Exact(host) => table.exact.entry(host.clone()).or_insert_with(new),
                HostMatch::Wildcard(suffix) => {
                    table.wildcard.entry(suffix.clone()).or_insert_with(new)
                }
                HostMatch::Any => table.any.get_or_insert_with(new),
            };
            for route in &vh.routes {
                let (rules, lengths, key) = match &route.path {
                    PathMatch::Exact(p) => (&mut vhost.exact, &mut vhost.exact_lengths, p),
                    PathMatch::Prefix(p) => (&mut vhost.prefix, &mut vhost.prefix_lengths, p),
                };
                if let Entry::Vacant(slot) = rules.entry(key.clone()) {
                    lengths.add(key.len());
                    slot.insert(Target {
                        path: Some(route.path.clone()),
                        backend: route.backend.clone(),
                        ssl_redirect: route.ssl_redirect,
                        policy: route.policy.clone(),
                        target: target(&route.backend),
                    });
                    table.len += 1;
                }
            }
        }
        table.default = snapshot.default_backend.as_ref().map(|backend| Target {
            path: None,
            backend: backend.clone(),
            ssl_redirect: true,
            policy: RoutePolicy::default(),
            target: target(backend),
        });
        table.len += usize::from(table.default.is_some());
        table
    }

    /// Finds the route for a raw `Host` header value (any case, maybe with a port, a trailing
    /// dot, IPv6 brackets, or empty) and a request path without its query string.
    ///
    /// Returns `None` when nothing matches and there is no default backend.
    pub fn find(&self, host: &str, path: &str) -> Option<RouteMatch<'_, T>> {
        let host = normalize_host(host);
        Tier::ALL
            .iter()
            .find_map(|&tier| self.vhost(tier, &host)?.find(path))
            .or_else(|| self.default.as_ref().map(|default| default.to_match(None)))
    }

    fn vhost(&self, tier: Tier, host: &str) -> Option<&VirtualHost<T>> {
        match tier {
            Tier::Exact => self.exact.get(host),
            Tier::Wildcard => self.wildcard.get(wildcard_suffix(host)?),
            Tier::Any => self.any.as_ref(),
        }
    }

    /// The number of routes, plus one for the default backend.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the table has neither routes nor a default backend: `find` always says `None`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Normalises a `Host` header value to the form the model uses: lower-case, the port stripped
/// (`example.com:8080` -> `example.com`, `[::1]:80` -> `::1`), trailing dots stripped.
/// Borrows when nothing needs lower-casing. Idempotent: a malformed bracketed host (no `]`, or
/// not an IPv6 address inside) is kept whole, so it matches no virtual host.
pub fn normalize_host(raw: &str) -> Cow<'_, str> {
    let name = if let Some(bracketed) = raw.strip_prefix('[') {
        match bracketed.split_once(']') {
            // An IPv6 literal has at least two colons; anything else is not one.
            Some((addr, _port)) if addr.matches(':').count() >= 2 && !addr.contains('[') => addr,
            _ => raw,
        }
    } else {
        // Counting with a loop the compiler vectorises instead of `rsplit_once` and
        // `contains` (a third of a lookup's cost, benches/micro/examples/lookup.rs).
        let bytes = raw.as_bytes();
        match bytes.iter().filter(|&&b| b == b':').count() {
            // `name:port`; a second ':' means an unbracketed IPv6 address, not a port.
            1 => bytes
                .iter()
                .rposition(|&b| b == b':')
                .map_or(raw, |i| &raw[..i]),
            _ => raw,
        }
    };
    let name = if name.starts_with('[') {
        name
    } else {
        name.trim_end_matches('.')
    };
    // `fold`, not `any`: no early exit, so the scan vectorises.
    if name
        .bytes()
        .fold(false, |upper, b| upper | b.is_ascii_uppercase())
    {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

#[cfg(test)]
mod tests;
