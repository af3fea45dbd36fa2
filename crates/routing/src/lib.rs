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
//! and per candidate path), never a scan over the rules, and do not allocate when the host is
//! already normal.
//!
//! Layout (benches/micro, docs/performance.md): a lookup at 100,000 rules is bound by cache
//! misses, not instructions, so the table is a few flat arrays rather than maps of maps:
//!
//! ```text
//! exact, wildcard   host slots  [hash | key | vhost | rule lengths]    32 bytes, 1 per vhost
//! paths             rule slots  [hash | key | route]                   16 bytes, 1 per rule
//! keys              one arena   [tag | len | bytes] ...                every host and path
//! hosts, routes     Vecs        what find() returns references into; it does not load them
//! ```
//!
//! The slot tables are open-addressing with linear probing, at most half full, and keep each
//! key's whole 64-bit hash, so a probe rejects a mismatch without touching the key's bytes.
//! There is ONE path table for all virtual hosts: a rule's hash combines its path's hash with
//! its virtual host's hash and its kind, and its key record's tag names the virtual host (and
//! holds `ssl_redirect`). So a lookup can compute the slot of every candidate rule from the
//! request alone, before it knows whether the host exists: on a table too big for the cache it
//! hashes the host and the candidate paths up front and prefetches all their slots, and the
//! misses overlap instead of following one another (host slot and path slots, then the host's
//! key and the rule's key). On a small table it hashes candidates one by one until one hits.
//!
//! The hash is foldhash, not SipHash (the keys are configuration, not attacker input: a request
//! only looks up, so it cannot fill a bucket; the seed is random per table). Each host slot
//! keeps the set of its rule lengths, and the table their union, so a path segment no rule is
//! that long is neither hashed nor probed: `/team7/service/v1/items/42` under
//! `Prefix /team7/service` probes one prefix, not four.

use std::borrow::Cow;
use std::collections::HashMap as StdHashMap;
use std::hash::{BuildHasher, Hasher};

use pingress_model::{Backend, HostMatch, PathMatch, RoutePolicy, Snapshot};

mod path;
pub use path::{normalize_path, EncodedSlashes, PathError};

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
enum Kind {
    Prefix = 0,
    Exact = 1,
}

/// `a * b` folded to 64 bits (the high half xor the low half): foldhash's mixing step.
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
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

/// Hints the CPU to load the cache line at `ptr`: the probes of one lookup are independent, so
/// their cache misses can overlap instead of following one another.
#[inline(always)]
fn prefetch<S>(ptr: *const S) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, even on an invalid address, and SSE
    // is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// One slot of an open-addressing [`Table`]: the key's full 64-bit hash (top bit set; 0 marks
/// an empty slot), where the key's bytes are in the key arena, an index (the virtual host or the
/// route) and whatever else the table keeps next to it.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct Slot<V> {
    tag: u64,
    key: u32,
    index: u32,
    extra: V,
}

/// The stored form of a hash: the top bit set, so no key's tag is the empty slot's 0.
#[inline]
fn tag(hash: u64) -> u64 {
    hash | 1 << 63
}

/// A fixed-size open-addressing hash table with linear probing, sized at build time to at most
/// half full. A probe compares the slot's 64-bit hash first, so a miss (or a collision in the
/// index bits) is rejected without touching the key's bytes.
#[derive(Debug)]
struct Table<V> {
    slots: Box<[Slot<V>]>,
    mask: usize,
}

impl<V: Copy + Default> Table<V> {
    fn with_capacity(keys: usize) -> Self {
        let len = (keys * 2).next_power_of_two().max(8);
        Table {
            slots: vec![Slot::default(); len].into_boxed_slice(),
            mask: len - 1,
        }
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    fn prefetch(&self, hash: u64) {
        prefetch(&self.slots[self.home(hash)]);
    }

    /// The slot of the key with this hash for which `eq(slot.key)` holds, or the empty slot
    /// where it would go.
    fn probe(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> usize {
        let tag = tag(hash);
        let mut i = self.home(hash);
        loop {
            let slot = &self.slots[i];
            if slot.tag == 0 || (slot.tag == tag && eq(slot.key)) {
                return i;
            }
            i = (i + 1) & self.mask;
        }
    }

    fn get(&self, hash: u64, eq: impl FnMut(u32) -> bool) -> Option<&Slot<V>> {
        let slot = &self.slots[self.probe(hash, eq)];
        (slot.tag != 0).then_some(slot)
    }
}

/// The key arena: every key's bytes, each record `[tag: u32][len: u32][bytes]`, in one
/// allocation. A host's tag is 0; a path rule's is `vhost << 2 | kind << 1 | ssl_redirect`.
#[derive(Debug, Default)]
struct Keys(Vec<u8>);

impl Keys {
    fn push(&mut self, tag: u32, key: &str) -> u32 {
        let at = u32::try_from(self.0.len()).expect("route keys exceed 4 GiB");
        let len = u32::try_from(key.len()).expect("route key exceeds 4 GiB");
        self.0.extend_from_slice(&tag.to_le_bytes());
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(key.as_bytes());
        at
    }

    #[inline]
    fn tag(&self, at: u32) -> u32 {
        let at = at as usize;
        u32::from_le_bytes(self.0[at..at + 4].try_into().expect("4 bytes"))
    }

    /// Whether the record at `at` is `key` with a tag for which `tag_ok` holds.
    #[inline]
    fn eq(&self, at: u32, key: &[u8], tag_ok: impl FnOnce(u32) -> bool) -> bool {
        let at = at as usize;
        let header = &self.0[at..at + 8];
        let len = u32::from_le_bytes(header[4..].try_into().expect("4 bytes")) as usize;
        len == key.len() && tag_ok(self.tag(at as u32)) && &self.0[at + 8..at + 8 + len] == key
    }
}

/// A path rule's record tag (see [`Keys`]) without its `ssl_redirect` bit.
#[inline]
fn rule_owner(vhost: u32, kind: Kind) -> u32 {
    vhost << 1 | kind as u32
}

/// Compiled, immutable lookup table built from a [`Snapshot`].
///
/// `T` is whatever the caller attaches to each backend (e.g. an `Arc` to a runtime cluster).
#[derive(Debug)]
pub struct RouteTable<T> {
    state: foldhash::fast::RandomState,
    /// Exact hosts; a slot keeps its virtual host's rule lengths (`[Prefix, Exact]`).
    exact: Table<[Lengths; 2]>,
    /// Wildcard hosts, keyed by the suffix after `*.`.
    wildcard: Table<[Lengths; 2]>,
    /// The host-less virtual host and its rule lengths.
    any: Option<(u32, [Lengths; 2])>,
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
    prefetch: bool,
    hosts: Vec<HostMatch>,
    routes: Vec<Target<T>>,
    default: Option<DefaultTarget<T>>,
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

/// A route's destination. `find` only takes references into it (its `ssl_redirect` lives in
/// the key arena), so a lookup does not load it.
#[derive(Debug)]
struct Target<T> {
    path: PathMatch,
    backend: Backend,
    policy: RoutePolicy,
    target: T,
}

/// The snapshot's default backend.
#[derive(Debug)]
struct DefaultTarget<T> {
    backend: Backend,
    policy: RoutePolicy,
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

    /// The best rule of one virtual host among the candidates: they come best first, so the
    /// first hit wins. Those beyond `keys` are hashed as they are tried.
    fn rule<'t, T>(
        &self,
        table: &'t RouteTable<T>,
        vhost_hash: u64,
        (vhost, lengths): (u32, [Lengths; 2]),
    ) -> Option<RouteMatch<'t, T>> {
        let path = self.path;
        let probe = |kind: Kind, key: &str, hash: u64| {
            table.rule(path_hash(vhost_hash, kind, hash), vhost, kind, key)
        };
        for (&(kind, len), &hash) in self.keys[..self.n].iter().zip(&self.hashes) {
            if !lengths[kind as usize].may_contain(len as usize) {
                continue;
            }
            if let Some(found) = probe(kind, &path[..len as usize], hash) {
                return Some(found);
            }
        }
        let skip = self.rest?;
        candidates(self.path)
            .skip(skip)
            .filter(|(kind, key)| lengths[*kind as usize].may_contain(key.len()))
            .find_map(|(kind, key)| probe(kind, key, table.hash(key.as_bytes())))
    }
}

/// The suffix a `*.suffix` vhost would need to match `host`: `host` minus its first label.
/// A host with no `.`, or with an empty first label (`.example.com`), has none.
#[inline]
fn wildcard_suffix(host: &str) -> Option<&str> {
    match host.split_once('.') {
        Some((label, suffix)) if !label.is_empty() => Some(suffix),
        _ => None,
    }
}

/// A key's hash under a table's seed.
#[inline]
fn hash_bytes(state: &foldhash::fast::RandomState, bytes: &[u8]) -> u64 {
    let mut hasher = state.build_hasher();
    hasher.write(bytes);
    hasher.finish()
}

impl<T> RouteTable<T> {
    fn hash(&self, bytes: &[u8]) -> u64 {
        hash_bytes(&self.state, bytes)
    }

    /// Compiles `snapshot`. `target` is called once per route and once for the default backend.
    ///
    /// The snapshot promises one virtual host per host match and one route per path match;
    /// should it repeat one anyway, the first wins and the repeat is skipped (without calling
    /// `target`).
    pub fn build(snapshot: &Snapshot, mut target: impl FnMut(&Backend) -> T) -> Self {
        let count = |tier: fn(&HostMatch) -> bool| {
            snapshot
                .virtual_hosts
                .iter()
                .filter(|vh| tier(&vh.host))
                .count()
        };
        let rules: usize = snapshot
            .virtual_hosts
            .iter()
            .map(|vh| vh.routes.len())
            .sum();
        let exact_hosts = count(|h| matches!(h, HostMatch::Exact(_)));
        let wildcard_hosts = count(|h| matches!(h, HostMatch::Wildcard(_)));
        let mut table = RouteTable {
            state: foldhash::fast::RandomState::default(),
            exact: Table::with_capacity(exact_hosts),
            wildcard: Table::with_capacity(wildcard_hosts),
            any: None,
            paths: Table::with_capacity(rules),
            keys: Keys::default(),
            lengths: [Lengths::default(); 2],
            has_exact: exact_hosts > 0,
            has_wildcard: wildcard_hosts > 0,
            prefetch: false,
            hosts: Vec::new(),
            routes: Vec::new(),
            default: None,
            len: 0,
        };
        // Virtual host index and hash by host match, for the repeats.
        let mut seen: StdHashMap<&HostMatch, (u32, u64)> = StdHashMap::new();
        // Rule lengths by virtual host, written into the host slots at the end.
        let mut lengths: Vec<[Lengths; 2]> = Vec::new();
        for vh in &snapshot.virtual_hosts {
            let (vhost, vhost_hash) = *seen.entry(&vh.host).or_insert_with(|| {
                let index = u32::try_from(table.hosts.len())
                    .ok()
                    .filter(|&i| i < 1 << 29)
                    .expect("too many virtual hosts");
                table.hosts.push(vh.host.clone());
                lengths.push([Lengths::default(); 2]);
                let (hosts, name) = match &vh.host {
                    HostMatch::Exact(name) => (&mut table.exact, name),
                    HostMatch::Wildcard(suffix) => (&mut table.wildcard, suffix),
                    HostMatch::Any => {
                        table.any = Some((index, [Lengths::default(); 2]));
                        return (index, ANY_HOST_HASH);
                    }
                };
                let hash = hash_bytes(&table.state, name.as_bytes());
                let key = table.keys.push(0, name);
                let at = hosts.probe(hash, |_| false);
                hosts.slots[at] = Slot {
                    tag: tag(hash),
                    key,
                    index,
                    extra: [Lengths::default(); 2],
                };
                (index, hash)
            });
            for route in &vh.routes {
                let (kind, key) = match &route.path {
                    PathMatch::Exact(p) => (Kind::Exact, p),
                    PathMatch::Prefix(p) => (Kind::Prefix, p),
                    PathMatch::Regex(_) => continue,
                };
                let Some(backend) = route
                    .action
                    .backends()
                    .and_then(|set| set.backends.first())
                    .map(|b| Backend {
                        cluster: b.cluster.clone(),
                        ingress: route.origin.clone(),
                    })
                else {
                    continue;
                };
                let hash = path_hash(vhost_hash, kind, table.hash(key.as_bytes()));
                let owner = rule_owner(vhost, kind);
                let keys = &table.keys;
                let at = table.paths.probe(hash, |at| {
                    keys.eq(at, key.as_bytes(), |tag| tag >> 1 == owner)
                });
                if table.paths.slots[at].tag != 0 {
                    continue; // a repeat
                }
                let index = u32::try_from(table.routes.len()).expect("too many routes");
                let ssl = u32::from(route.ssl_redirect);
                table.paths.slots[at] = Slot {
                    tag: tag(hash),
                    key: table.keys.push(owner << 1 | ssl, key),
                    index,
                    extra: (),
                };
                table.routes.push(Target {
                    path: route.path.clone(),
                    target: target(&backend),
                    backend,
                    policy: route.policy.clone(),
                });
                lengths[vhost as usize][kind as usize].add(key.len());
                table.lengths[kind as usize].add(key.len());
                table.len += 1;
            }
        }
        for hosts in [&mut table.exact, &mut table.wildcard] {
            for slot in hosts.slots.iter_mut().filter(|slot| slot.tag != 0) {
                slot.extra = lengths[slot.index as usize];
            }
        }
        if let Some((index, any)) = &mut table.any {
            *any = lengths[*index as usize];
        }
        table.prefetch = table.paths.slots.len() > PREFETCH_SLOTS;
        table.default = snapshot
            .default_backend
            .as_ref()
            .map(|backend| DefaultTarget {
                backend: backend.clone(),
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
        self.find_with(host, path, self.prefetch)
    }

    /// [`Self::find`], hashing and prefetching the candidates up front or not (the tests try
    /// both on every table).
    #[inline]
    fn find_with(&self, host: &str, path: &str, prefetch: bool) -> Option<RouteMatch<'_, T>> {
        let host = normalize_host(host);
        let host: &str = &host;
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
            if let Some(found) = vhost.and_then(|vhost| candidates.rule(self, hash, vhost)) {
                return Some(found);
            }
        }
        if let Some(found) = self
            .any
            .and_then(|vhost| candidates.rule(self, ANY_HOST_HASH, vhost))
        {
            return Some(found);
        }
        self.default.as_ref().map(|default| RouteMatch {
            target: &default.target,
            backend: &default.backend,
            host: None,
            path: None,
            ssl_redirect: true,
            policy: &default.policy,
        })
    }

    /// The virtual host (index and rule lengths) for `name` in one host tier.
    fn host(
        &self,
        hosts: &Table<[Lengths; 2]>,
        hash: u64,
        name: &str,
    ) -> Option<(u32, [Lengths; 2])> {
        let slot = hosts.get(hash, |at| self.keys.eq(at, name.as_bytes(), |_| true))?;
        Some((slot.index, slot.extra))
    }

    /// The path rule `kind key` (hashed `hash`) of virtual host `vhost`.
    fn rule(&self, hash: u64, vhost: u32, kind: Kind, key: &str) -> Option<RouteMatch<'_, T>> {
        let owner = rule_owner(vhost, kind);
        let slot = self.paths.get(hash, |at| {
            self.keys.eq(at, key.as_bytes(), |tag| tag >> 1 == owner)
        })?;
        let route = &self.routes[slot.index as usize];
        Some(RouteMatch {
            target: &route.target,
            backend: &route.backend,
            host: Some(&self.hosts[vhost as usize]),
            path: Some(&route.path),
            ssl_redirect: self.keys.tag(slot.key) & 1 != 0,
            policy: &route.policy,
        })
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
#[inline]
pub fn normalize_host(raw: &str) -> Cow<'_, str> {
    if is_normal_host(raw.as_bytes()) {
        Cow::Borrowed(raw)
    } else {
        normalize_host_slow(raw)
    }
}

/// True for a host that [`normalize_host`] returns unchanged because there is nothing to do:
/// no `:`, no upper-case or non-ASCII byte, no `[` first and no `.` last (most `Host` headers).
/// Checks eight bytes at a time (a byte loop was a fifth of a lookup's instructions).
#[inline]
fn is_normal_host(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    // The high bit of each byte of the result: set for a byte that is not ASCII, is upper-case
    // (0x41..=0x5a) or is ':'. Every sum stays within its byte, as `low` bytes are < 0x80.
    fn special(word: u64) -> u64 {
        let low = word & !HIGH;
        let upper = (low + ONES * (0x80 - 0x41)) & !(low + ONES * (0x80 - 0x5b));
        let colon = !((low ^ (ONES * u64::from(b':'))) + ONES * 0x7f);
        (word | upper | colon) & HIGH
    }
    let word = |chunk: &[u8]| {
        chunk
            .iter()
            .rev()
            .fold(0u64, |word, &b| word << 8 | u64::from(b))
    };
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return true;
    };
    if first == b'[' || last == b'.' {
        return false;
    }
    let mut any = 0;
    if bytes.len() < 8 {
        any |= special(word(bytes));
    } else {
        let chunks = bytes.chunks_exact(8);
        // The last eight bytes, overlapping the last whole chunk: the check is per byte.
        any |= special(word(&bytes[bytes.len() - 8..]));
        for chunk in chunks {
            any |= special(word(chunk));
        }
    }
    any == 0
}

/// [`normalize_host`] for a host that is not already normal.
fn normalize_host_slow(raw: &str) -> Cow<'_, str> {
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
