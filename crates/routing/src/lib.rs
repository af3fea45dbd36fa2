//! The compiled host/path matcher: turns a [`Snapshot`](pingress_model::Snapshot) into a
//! [`RouteTable`] that answers "which route serves this request?" with the Kubernetes Ingress
//! v1 semantics, extended with nginx's regex locations and per-route conditions.
//!
//! ```text
//! find(host, path, request)
//!  |  host: a Host, normalised once per request (lower-case, no port, no trailing dot)
//!  |
//!  |-- 1. Exact vhost      shop.example.com
//!  |-- 2. Wildcard vhost   *.example.com   exactly one more label: a.example.com, not
//!  |                                       example.com, not a.b.example.com
//!  |-- 3. Any vhost        rules without a host
//!  |       in each tier, the best matching route; none -> fall through to the next tier
//!  |        |-- a. Exact   path == rule (case-sensitive)
//!  |        |-- b. Regex   the first, in Snapshot order, matching at the start of the path
//!  |        `-- c. Prefix  the longest, element-wise on '/': /foo matches /foo, /foo/,
//!  |                       /foo/bar, not /foobar; / matches every path
//!  |       (nginx's location order: `=`, then `~` / `~*` in order, then the longest prefix)
//!  |-- 4. the snapshot's default backend
//!  `-- 5. None (the gateway answers 404)
//! ```
//!
//! A route may carry conditions on the request (header, query parameter, method, cookie:
//! [`Conditions`]). Routes that share a virtual host and a path match are tried in Snapshot
//! order, and the first whose conditions all hold wins; when none holds, the lookup goes on as
//! if that path rule did not exist: to the virtual host's regexes, its shorter prefixes, the
//! next tier. A route without conditions always holds, so a route after it with the same path
//! match is unreachable (and left out of the table). Regex routes are tried the same way: a
//! matching one whose conditions fail is passed over for the next.
//!
//! The table is immutable and lock-free; lookups are a handful of hash probes (one per host tier
//! and per candidate path), never a scan over the rules. A virtual host's regexes run as one
//! automaton over the path ([`crate::compile_path_regex`] for the engine). A lookup does not
//! allocate, except for the list of matching patterns when one of a virtual host's regexes
//! matches (the host was normalised before: [`Host::new`] allocates only to lower-case it).
//!
//! Layout (benches/micro, docs/performance.md): a lookup at 100,000 rules is bound by cache
//! misses, not instructions, so the table is a few flat arrays rather than maps of maps:
//!
//! ```text
//! exact, wildcard   host slots  [hash | key | vhost | rule lengths]    32 bytes, 1 per vhost
//! paths             rule slots  [hash | key | route]                   16 bytes, 1 per rule
//! keys              one arena   [tag | len | bytes] ...                every host and path
//! hosts, routes     Vecs        what find() returns references into; it loads a route only
//!                               to evaluate its conditions
//! regexes           Vec         one regex set per virtual host that has regex routes
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
//! What the Ingress v1 rules alone need costs what it cost before regexes and conditions: a
//! bit of the host slot's vhost index says "this virtual host has regex routes" (then its key
//! record's tag names its regex set), and a bit of the path rule's key record tag says "this
//! rule's routes carry conditions" (then they are `routes[index..]`, contiguous). Both are read
//! from memory the lookup loads anyway; without them, nothing more is loaded.
//!
//! The hash is foldhash, not SipHash (the keys are configuration, not attacker input: a request
//! only looks up, so it cannot fill a bucket; the seed is random per table). Each host slot
//! keeps the set of its rule lengths, and the table their union, so a path segment no rule is
//! that long is neither hashed nor probed: `/team7/service/v1/items/42` under
//! `Prefix /team7/service` probes one prefix, not four.

mod conditions;
mod host;
mod path;
mod patterns;
mod slots;
mod table;

pub use conditions::{ConditionError, Conditions, RequestParts};
pub use host::{normalize_host, Host};
pub use path::{normalize_path, EncodedSlashes, PathError};
pub use patterns::{compile_path_regex, REGEX_DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT};
pub use table::{Declared, RouteMatch, RouteTable};

/// The `http` crate of [`RequestParts`]' types, for callers that have no other use for it.
pub use http;

#[cfg(test)]
mod tests;
