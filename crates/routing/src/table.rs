//! [`RouteTable`] and its lookup (find): the host tiers, and in each virtual host the
//! candidate rules in precedence order, with its regexes and its routes' conditions where it
//! has some. How a Snapshot is laid out in the slot tables of [`crate::slots`] is [`build`]'s.
//! The crate's module comment has the picture.

use pingress_model::{Backend, HostMatch, PathMatch, Route};

use crate::conditions::{Conditions, RequestParts};
use crate::host::{wildcard_suffix, Host};
use crate::patterns::PathRegexes;
use crate::slots::{folded_multiply, hash_bytes, Keys, Table};

mod build;

/// The lengths of a virtual host's rules of one kind, as a bit set: bit `n` for a rule `n`
/// bytes long, bit 63 for every rule of 63 bytes or more. A candidate whose bit is clear
/// cannot match and is not probed.
#[derive(Debug, Default, Clone, Copy)]
struct Lengths(u64);

impl Lengths {
    #[inline]
    fn bit(len: usize) -> u64 {
        1 << len.min(63)
    }

    fn add(&mut self, len: usize) {
        self.0 |= Self::bit(len);
    }

    #[inline]
    fn may_contain(self, len: usize) -> bool {
        self.0 & Self::bit(len) != 0
    }
}

/// The kind of a path rule. With the rule's length it forms the path precedence: the derived
/// `Ord` of `(len, Kind)` ranks a longer rule higher and, on equal length, Exact above Prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Prefix = 0,
    Exact = 1,
}

/// The hash of a path rule key: the rule's path hashed alone, combined with its virtual host's
/// hash and its kind. Combining, not hashing the whole key, lets a lookup hash each candidate
/// path once for every host tier, and before it knows whether the host exists.
#[inline]
fn path_hash(vhost_hash: u64, kind: Kind, path_hash: u64) -> u64 {
    const MUL: [u64; 2] = [0x9e37_79b9_7f4a_7c15, 0xc2b2_ae3d_27d4_eb4f];
    folded_multiply(path_hash ^ vhost_hash, MUL[kind as usize])
}

/// The virtual host hash of the host-less tier (its path keys need one).
const ANY_HOST_HASH: u64 = 0x243f_6a88_85a3_08d3;

/// The bit of a path rule's key record tag (`vhost << 2 | kind << 1 | ssl_redirect`, with
/// `vhost < 2^29`) that says its route carries conditions: the routes of the (virtual host,
/// path match) are then `routes[index..index + group]`, tried in order.
const CONDITIONS: u32 = 1 << 31;

/// The bit of a host slot's index (the virtual host, `< 2^29`) that says the virtual host has
/// regex routes; its key record's tag then names them (`regexes[tag - 1]`).
const HAS_REGEXES: u32 = 1 << 31;

/// A path rule's record tag (see [`CONDITIONS`]) without its flags.
#[inline]
fn rule_owner(vhost: u32, kind: Kind) -> u32 {
    vhost << 1 | kind as u32
}

/// What a lookup knows of a virtual host once its host matched.
#[derive(Debug, Clone, Copy)]
struct Vhost {
    index: u32,
    /// `regexes[this - 1]` holds its regex routes; 0: it has none.
    regexes: u32,
    /// Its rule lengths, `[Prefix, Exact]`.
    lengths: [Lengths; 2],
}

/// What [`RouteTable::build`] hands its `target` function: a route that made it into the
/// table, with its virtual host, or the default backend.
#[derive(Debug, Clone, Copy)]
pub enum Declared<'a> {
    /// A route of any action (forward, redirect, respond: the table does not look at it).
    Route {
        host: &'a HostMatch,
        route: &'a Route,
    },
    /// The Snapshot's default backend.
    Default(&'a Backend),
}

/// Compiled, immutable lookup table built from a [`Snapshot`](pingress_model::Snapshot).
///
/// `T` is whatever the caller attaches to each route (e.g. an `Arc` to its runtime state).
#[derive(Debug)]
pub struct RouteTable<T> {
    state: foldhash::fast::RandomState,
    /// Exact hosts; a slot keeps its virtual host's rule lengths (`[Prefix, Exact]`).
    exact: Table<[Lengths; 2]>,
    /// Wildcard hosts, keyed by the suffix after `*.`.
    wildcard: Table<[Lengths; 2]>,
    /// The host-less virtual host.
    any: Option<Vhost>,
    /// Every path rule of every virtual host, keyed by (virtual host, kind, path).
    paths: Table<()>,
    keys: Keys,
    /// Every virtual host's rule lengths together: a candidate no rule is that long is not
    /// hashed at all.
    lengths: [Lengths; 2],
    has_exact: bool,
    has_wildcard: bool,
    /// Whether the table is too big for the cache, so that a lookup hashes and prefetches its
    /// candidates up front; a small table hashes them one by one until one hits.
    pub(crate) prefetch: bool,
    hosts: Vec<HostMatch>,
    routes: Vec<Target<T>>,
    /// The regex routes of each virtual host that has some.
    regexes: Vec<PathRegexes>,
    default: Option<T>,
    len: usize,
}

/// The answer of [`RouteTable::find`].
#[derive(Debug)]
pub struct RouteMatch<'a, T> {
    /// What the caller attached to the route (or to the default backend).
    pub target: &'a T,
    /// The virtual host that matched; `None` when the default backend answered.
    pub host: Option<&'a HostMatch>,
    /// The path rule that matched; `None` when the default backend answered.
    pub path: Option<&'a PathMatch>,
    /// Whether a plain-HTTP request on a TLS host that lands here is redirected to HTTPS (the
    /// route's own setting; `true` for the default backend).
    pub ssl_redirect: bool,
}

impl<T> Clone for RouteMatch<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for RouteMatch<'_, T> {}

/// A route as the table keeps it. A lookup takes references into it; it loads it only to
/// evaluate conditions (an unconditioned Exact or Prefix route's `ssl_redirect` lives in the
/// key arena).
#[derive(Debug)]
struct Target<T> {
    path: PathMatch,
    conditions: Conditions,
    /// For the first route of a conditional Exact or Prefix group: how many routes the group
    /// has (they follow it).
    group: u32,
    ssl_redirect: bool,
    target: T,
}

/// Every rule that could match `path`, in descending precedence: `Exact path`, `Prefix path`,
/// then `Prefix` of `path` cut at each `/` from the right, ending with the root prefix `""`.
/// Cutting at the last `/` of `/foo/` gives `/foo`, so the trailing-slash case needs no special
/// handling. Prefix rules never end in `/`, so probing `Prefix /foo/` itself is just a miss.
///
/// A path that does not start with `/` (`*` of `OPTIONS *`, or an empty path) is not a
/// sequence of `/`-elements: it is treated as the empty path and matches only the root prefix.
#[inline]
pub(crate) fn candidates(path: &str) -> impl Iterator<Item = (Kind, &str)> {
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

/// From how many path slots (16 bytes each) on a lookup hashes its candidates up front to
/// prefetch their slots: below, the table stays in the cache, where hashing candidates that a
/// better one makes moot costs more than the misses it would hide.
const PREFETCH_SLOTS: usize = 4096;

/// The most candidates a lookup hashes up front (and prefetches); a path with more `/` than
/// that has the rest hashed as they are tried.
const CANDIDATES: usize = 8;

/// The [`candidates`] of a path that some rule of the table is as long as, each with its path
/// hashed once for every host tier.
struct Candidates<'p> {
    /// The request path; `""` when it does not start with `/` (see [`candidates`]).
    path: &'p str,
    /// `(kind, key length)`, best first.
    keys: [(Kind, u32); CANDIDATES],
    /// The hash of each key.
    hashes: [u64; CANDIDATES],
    n: usize,
    /// How many of [`candidates`] `keys` covers, when it filled up before their end.
    rest: Option<usize>,
}

impl<'p> Candidates<'p> {
    fn new<T>(table: &RouteTable<T>, path: &'p str, prefetch: bool) -> Self {
        // As `candidates` sees it, so that its keys are prefixes of it.
        let path = if path.starts_with('/') { path } else { "" };
        let mut c = Candidates {
            path,
            keys: [(Kind::Prefix, 0); CANDIDATES],
            hashes: [0; CANDIDATES],
            n: 0,
            rest: None,
        };
        if !prefetch {
            c.rest = Some(0);
            return c;
        }
        for (i, (kind, key)) in candidates(path).enumerate() {
            if table.lengths[kind as usize].may_contain(key.len()) {
                if c.n == CANDIDATES {
                    c.rest = Some(i);
                    break;
                }
                c.keys[c.n] = (kind, key.len() as u32);
                c.hashes[c.n] = table.hash(key.as_bytes());
                c.n += 1;
            }
        }
        c
    }

    /// Starts loading the path slot of every candidate under the virtual host hashed `vhost`.
    fn prefetch<T>(&self, table: &RouteTable<T>, vhost: u64) {
        for (&(kind, _), &hash) in self.keys[..self.n].iter().zip(&self.hashes) {
            table.paths.prefetch(path_hash(vhost, kind, hash));
        }
    }

    /// The best route of one virtual host for the request.
    #[inline]
    fn rule<'t, T>(
        &self,
        table: &'t RouteTable<T>,
        vhost_hash: u64,
        vhost: Vhost,
        request: &RequestParts<'_>,
    ) -> Option<RouteMatch<'t, T>> {
        // Two copies, so that a virtual host without regex routes runs the loop it ran before
        // there were any.
        if vhost.regexes == 0 {
            self.walk::<false, T>(table, vhost_hash, vhost, request)
        } else {
            self.walk::<true, T>(table, vhost_hash, vhost, request)
        }
    }

    /// The candidates of one virtual host in precedence order; they come best first, so the
    /// first hit wins. Those beyond `keys` are hashed as they are tried. With `REGEXES`, the
    /// virtual host's regex routes are tried after its Exact rule and before its first Prefix
    /// rule.
    fn walk<'t, const REGEXES: bool, T>(
        &self,
        table: &'t RouteTable<T>,
        vhost_hash: u64,
        vhost: Vhost,
        request: &RequestParts<'_>,
    ) -> Option<RouteMatch<'t, T>> {
        let path = self.path;
        let lengths = vhost.lengths;
        let probe = |kind: Kind, key: &str, hash: u64| {
            table.rule(
                path_hash(vhost_hash, kind, hash),
                vhost.index,
                kind,
                key,
                request,
            )
        };
        // The regexes still to try.
        let mut regexes = REGEXES;
        let mut regex = || {
            std::mem::take(&mut regexes)
                .then(|| table.regex(vhost, path, request))
                .flatten()
        };
        for (&(kind, len), &hash) in self.keys[..self.n].iter().zip(&self.hashes) {
            if REGEXES && kind == Kind::Prefix {
                if let Some(found) = regex() {
                    return Some(found);
                }
            }
            if !lengths[kind as usize].may_contain(len as usize) {
                continue;
            }
            if let Some(found) = probe(kind, &path[..len as usize], hash) {
                return Some(found);
            }
        }
        if let Some(skip) = self.rest {
            for (kind, key) in candidates(path).skip(skip) {
                if REGEXES && kind == Kind::Prefix {
                    if let Some(found) = regex() {
                        return Some(found);
                    }
                }
                if !lengths[kind as usize].may_contain(key.len()) {
                    continue;
                }
                if let Some(found) = probe(kind, key, table.hash(key.as_bytes())) {
                    return Some(found);
                }
            }
        }
        regex()
    }
}

impl<T> RouteTable<T> {
    fn hash(&self, bytes: &[u8]) -> u64 {
        hash_bytes(&self.state, bytes)
    }

    /// Finds the route for a request: its host (see [`Host`]), its path without the query
    /// string (normalised: [`crate::normalize_path`]), and what conditions look at.
    ///
    /// Returns `None` when nothing matches and there is no default backend.
    pub fn find(
        &self,
        host: &Host<'_>,
        path: &str,
        request: &RequestParts<'_>,
    ) -> Option<RouteMatch<'_, T>> {
        self.find_with(host, path, request, self.prefetch)
    }

    /// [`Self::find`], hashing and prefetching the candidates up front or not (the tests try
    /// both on every table).
    #[inline]
    pub(crate) fn find_with(
        &self,
        host: &Host<'_>,
        path: &str,
        request: &RequestParts<'_>,
        prefetch: bool,
    ) -> Option<RouteMatch<'_, T>> {
        let host = host.as_str();
        // Hash the host for each populated tier and start loading its slot, then hash the
        // candidate paths and start loading their slots under each of those hosts: none of
        // these loads waits for another.
        let exact = self.has_exact.then(|| {
            let hash = self.hash(host.as_bytes());
            self.exact.prefetch(hash);
            (hash, host)
        });
        let wildcard = self
            .has_wildcard
            .then(|| wildcard_suffix(host))
            .flatten()
            .map(|suffix| {
                let hash = self.hash(suffix.as_bytes());
                self.wildcard.prefetch(hash);
                (hash, suffix)
            });
        let candidates = Candidates::new(self, path, prefetch);
        if prefetch {
            for (hash, _) in [exact, wildcard].into_iter().flatten() {
                candidates.prefetch(self, hash);
            }
        }
        // Then try the tiers in order.
        for (hosts, name) in [(&self.exact, exact), (&self.wildcard, wildcard)] {
            let Some((hash, name)) = name else { continue };
            let vhost = self.host(hosts, hash, name);
            if let Some(found) = vhost.and_then(|vhost| candidates.rule(self, hash, vhost, request))
            {
                return Some(found);
            }
        }
        if let Some(found) = self
            .any
            .and_then(|vhost| candidates.rule(self, ANY_HOST_HASH, vhost, request))
        {
            return Some(found);
        }
        self.default.as_ref().map(|target| RouteMatch {
            target,
            host: None,
            path: None,
            ssl_redirect: true,
        })
    }

    /// The virtual host for `name` in one host tier.
    fn host(&self, hosts: &Table<[Lengths; 2]>, hash: u64, name: &str) -> Option<Vhost> {
        let slot = hosts.get(hash, |at| self.keys.eq(at, name.as_bytes(), |_| true))?;
        let regexes = if slot.index & HAS_REGEXES != 0 {
            self.keys.tag(slot.key)
        } else {
            0
        };
        Some(Vhost {
            index: slot.index & !HAS_REGEXES,
            regexes,
            lengths: slot.extra,
        })
    }

    /// The route of the path rule `kind key` (hashed `hash`) of virtual host `vhost`: its one
    /// route, or the first of its group whose conditions hold.
    fn rule(
        &self,
        hash: u64,
        vhost: u32,
        kind: Kind,
        key: &str,
        request: &RequestParts<'_>,
    ) -> Option<RouteMatch<'_, T>> {
        let owner = rule_owner(vhost, kind);
        let slot = self.paths.get(hash, |at| {
            self.keys
                .eq(at, key.as_bytes(), |tag| (tag & !CONDITIONS) >> 1 == owner)
        })?;
        let record = self.keys.tag(slot.key);
        if record & CONDITIONS != 0 {
            return self.first_holding(slot.index as usize, vhost, request);
        }
        let route = &self.routes[slot.index as usize];
        Some(RouteMatch {
            target: &route.target,
            host: Some(&self.hosts[vhost as usize]),
            path: Some(&route.path),
            ssl_redirect: record & 1 != 0,
        })
    }

    /// The first route of the conditional group at `routes[first]` whose conditions hold.
    fn first_holding(
        &self,
        first: usize,
        vhost: u32,
        request: &RequestParts<'_>,
    ) -> Option<RouteMatch<'_, T>> {
        let group = self.routes[first].group as usize;
        self.routes[first..first + group]
            .iter()
            .find(|route| route.conditions.holds(request))
            .map(|route| self.matched(vhost, route))
    }

    /// The first regex route of `vhost` (which has some) that matches `path` and whose
    /// conditions hold.
    fn regex(
        &self,
        vhost: Vhost,
        path: &str,
        request: &RequestParts<'_>,
    ) -> Option<RouteMatch<'_, T>> {
        let regexes = &self.regexes[vhost.regexes as usize - 1];
        let route = regexes.first(path, |route, conditional| {
            !conditional || self.routes[route as usize].conditions.holds(request)
        })?;
        Some(self.matched(vhost.index, &self.routes[route as usize]))
    }

    fn matched<'t>(&'t self, vhost: u32, route: &'t Target<T>) -> RouteMatch<'t, T> {
        RouteMatch {
            target: &route.target,
            host: Some(&self.hosts[vhost as usize]),
            path: Some(&route.path),
            ssl_redirect: route.ssl_redirect,
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
