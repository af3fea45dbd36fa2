//! Fuzzes `pingress_routing::RouteTable`: builds one from an arbitrary `Snapshot` (virtual
//! hosts of every kind, Exact and Prefix rules, repeats, maybe a default backend) and looks up
//! arbitrary `Host` header values and paths.
//!
//! Checks:
//! - neither `build` nor `find` panics;
//! - `find` agrees with a slow reference written from the documented semantics (host tiers
//!   Exact, then Wildcard (exactly one more label), then Any; in a tier the longest matching
//!   rule, Exact before Prefix on equal length, the first of repeated rules; then the default
//!   backend), and the match reports the virtual host and rule that led to it;
//! - an Exact rule added for the looked-up host and path (a path starting with `/`) is what
//!   `find` returns.
//!
//! Input: text starting with `#` is a small script (the seed corpus uses it):
//! `host NAME` (`*.suffix` is a wildcard, `*` any host), then `exact PATH` / `prefix PATH`
//! rules for it, `default` for a default backend, and `find HOST PATH` lookups (`-` for an
//! empty value). Anything else is decoded with `arbitrary`, from pools of look-alike hosts and
//! path segments so that rules and lookups collide often.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use pingress_model::{
    Backend, ClusterId, HostMatch, ObjectRef, PathMatch, Route, Snapshot, VirtualHost,
};
use pingress_routing::{normalize_host, RouteTable};

const MAX: usize = 24;

const HOSTS: &[&str] = &[
    "example.com",
    "shop.example.com",
    "a.shop.example.com",
    "Shop.Example.COM",
    "shop.example.com.",
    "shop.example.com:8080",
    "[::1]:443",
    "::1",
    "localhost",
    ".example.com",
    "",
];

const SEGMENTS: &[&str] = &[
    "", "a", "b", "api", "v1", "foo", "foobar", ".", "..", "%2e", "A",
];

struct Case {
    snapshot: Snapshot,
    lookups: Vec<(String, String)>,
}

fn backend(n: usize) -> Backend {
    Backend {
        cluster: cluster(n),
        ingress: ObjectRef::new("default", format!("ingress-{n}")),
    }
}

fn cluster(n: usize) -> ClusterId {
    format!("default/svc-{n}:80").parse().expect("a cluster id")
}

fn route(path: PathMatch, n: usize) -> Route {
    Route {
        ssl_redirect: n.is_multiple_of(2),
        ..Route::forward(path, cluster(n), ObjectRef::new("default", format!("ingress-{n}")))
    }
}

/// The backend a route forwards to, as the table reports it.
fn backend_of(route: &Route) -> Backend {
    let set = route.action.backends().expect("a forwarding route");
    Backend {
        cluster: set.backends[0].cluster.clone(),
        ingress: route.origin.clone(),
    }
}

fn host_match(name: &str) -> HostMatch {
    match name {
        "*" => HostMatch::Any,
        _ => match name.strip_prefix("*.") {
            Some(suffix) => HostMatch::Wildcard(suffix.to_string()),
            None => HostMatch::Exact(name.to_string()),
        },
    }
}

/// `-` stands for the empty string in the script.
fn word(s: &str) -> String {
    if s == "-" {
        String::new()
    } else {
        s.to_string()
    }
}

fn script(text: &str) -> Case {
    let mut snapshot = Snapshot::default();
    let mut lookups = Vec::new();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        n += 1;
        match verb {
            "host" => snapshot.virtual_hosts.push(VirtualHost {
                host: host_match(&word(rest)),
                routes: Vec::new(),
            }),
            "exact" | "prefix" => {
                let path = match verb {
                    "exact" => PathMatch::Exact(word(rest)),
                    _ => PathMatch::prefix(&word(rest)),
                };
                if let Some(vhost) = snapshot.virtual_hosts.last_mut() {
                    vhost.routes.push(route(path, n));
                }
            }
            "default" => snapshot.default_backend = Some(backend(n)),
            "find" => {
                let (host, path) = rest.split_once(' ').unwrap_or((rest, ""));
                lookups.push((word(host), word(path)));
            }
            _ => {}
        }
    }
    Case { snapshot, lookups }
}

fn host(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0u8..=3)? {
        0..=2 => u.choose(HOSTS)?.to_string(),
        _ => u.arbitrary()?,
    })
}

fn path(u: &mut Unstructured) -> Result<String> {
    if u.ratio(1u8, 8)? {
        return u.arbitrary();
    }
    let mut path = String::new();
    for _ in 0..u.int_in_range(0u8..=4)? {
        path.push('/');
        path.push_str(u.choose(SEGMENTS)?);
    }
    Ok(path)
}

fn structured(data: &[u8]) -> Result<Case> {
    let mut u = Unstructured::new(data);
    let mut snapshot = Snapshot::default();
    let mut n = 0;
    for _ in 0..u.int_in_range(0..=MAX / 4)? {
        let host = match u.int_in_range(0u8..=5)? {
            0..=2 => HostMatch::Exact(normalize_host(&host(&mut u)?).into_owned()),
            3 => HostMatch::Exact(host(&mut u)?),
            4 => HostMatch::Wildcard(host(&mut u)?),
            _ => HostMatch::Any,
        };
        let mut routes = Vec::new();
        for _ in 0..u.int_in_range(0..=MAX / 4)? {
            n += 1;
            let path = match u.int_in_range(0u8..=4)? {
                0 | 1 => PathMatch::Exact(path(&mut u)?),
                2 | 3 => PathMatch::prefix(&path(&mut u)?),
                _ => PathMatch::Prefix(path(&mut u)?),
            };
            routes.push(route(path, n));
        }
        snapshot.virtual_hosts.push(VirtualHost { host, routes });
    }
    if u.arbitrary()? {
        snapshot.default_backend = Some(backend(0));
    }
    let mut lookups = Vec::new();
    for _ in 0..u.int_in_range(1..=MAX / 2)? {
        lookups.push((host(&mut u)?, path(&mut u)?));
    }
    Ok(Case { snapshot, lookups })
}

/// What the reference answers: the route (with its virtual host) or the default backend.
#[derive(Debug, PartialEq)]
enum Answer<'a> {
    Route(&'a HostMatch, &'a Route),
    Default(&'a Backend),
}

/// `find` written as a scan over the snapshot, from the documented semantics.
fn reference<'a>(snapshot: &'a Snapshot, host: &str, path: &str) -> Option<Answer<'a>> {
    let host = normalize_host(host);
    // A path that is not a sequence of `/`-elements (`*`, empty) is the empty path.
    let path = if path.starts_with('/') { path } else { "" };
    let one_more_label = |suffix: &str| {
        host.strip_suffix(suffix)
            .and_then(|h| h.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'))
    };
    let tiers: [&dyn Fn(&HostMatch) -> bool; 3] = [
        &|h| matches!(h, HostMatch::Exact(e) if *e == *host),
        &|h| matches!(h, HostMatch::Wildcard(s) if one_more_label(s)),
        &|h| matches!(h, HostMatch::Any),
    ];
    let rank = |p: &PathMatch| match p {
        PathMatch::Prefix(_) => (p.len(), 0),
        PathMatch::Exact(_) => (p.len(), 1),
        PathMatch::Regex(_) => unreachable!("no regex rules in these cases"),
    };
    let matches = |p: &PathMatch| match p {
        PathMatch::Exact(e) => e == path,
        PathMatch::Prefix(p) => {
            p.is_empty()
                || path == p
                || path
                    .strip_prefix(p.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        }
        PathMatch::Regex(_) => unreachable!("no regex rules in these cases"),
    };
    for in_tier in tiers {
        let mut best: Option<(&HostMatch, &Route)> = None;
        for vh in snapshot.virtual_hosts.iter().filter(|vh| in_tier(&vh.host)) {
            for r in vh.routes.iter().filter(|r| matches(&r.path)) {
                // Strictly better only: the first of equal rules wins.
                if best.is_none_or(|(_, b)| rank(&r.path) > rank(&b.path)) {
                    best = Some((&vh.host, r));
                }
            }
        }
        if let Some((h, r)) = best {
            return Some(Answer::Route(h, r));
        }
    }
    snapshot.default_backend.as_ref().map(Answer::Default)
}

fn check(case: &Case) {
    let table = RouteTable::build(&case.snapshot, |b| b.cluster.clone());
    for (host, path) in &case.lookups {
        let found = table.find(host, path);
        let expected = reference(&case.snapshot, host, path);
        match (&found, &expected) {
            (None, None) => {}
            (Some(m), Some(Answer::Default(b))) => {
                assert_eq!(m.backend, *b, "find({host:?}, {path:?}): wrong default");
                assert!(m.host.is_none() && m.path.is_none());
                assert_eq!(*m.target, b.cluster);
            }
            (Some(m), Some(Answer::Route(h, r))) => {
                let what = format!("find({host:?}, {path:?})");
                assert_eq!(m.path, Some(&r.path), "{what}: wrong rule");
                assert_eq!(m.host, Some(*h), "{what}: wrong virtual host");
                assert_eq!(*m.backend, backend_of(r), "{what}: wrong backend");
                assert_eq!(m.ssl_redirect, r.ssl_redirect, "{what}: wrong ssl_redirect");
                assert_eq!(*m.target, backend_of(r).cluster, "{what}: wrong target");
            }
            _ => panic!(
                "find({host:?}, {path:?}) = {:?}, the reference says {expected:?}",
                found.map(|m| (m.host, m.path, m.backend))
            ),
        }
    }
}

/// Puts an Exact rule for each lookup's host and path first, and expects `find` to return it.
fn check_added_rules(case: &Case) {
    for (host, path) in case.lookups.iter().filter(|(_, p)| p.starts_with('/')) {
        let mut snapshot = case.snapshot.clone();
        let probe = Route::forward(
            PathMatch::Exact(path.clone()),
            "probe/probe:80".parse::<ClusterId>().unwrap(),
            ObjectRef::new("probe", "probe"),
        );
        snapshot.virtual_hosts.insert(
            0,
            VirtualHost {
                host: HostMatch::Exact(normalize_host(host).into_owned()),
                routes: vec![probe.clone()],
            },
        );
        let table = RouteTable::build(&snapshot, |_| ());
        let found = table.find(host, path);
        assert!(
            found.is_some_and(|m| *m.backend == backend_of(&probe) && m.path == Some(&probe.path)),
            "find({host:?}, {path:?}) missed an Exact rule for that host and path: {:?}",
            found.map(|m| (m.host, m.path, m.backend))
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let case = if data.first() == Some(&b'#') {
        script(&String::from_utf8_lossy(data))
    } else {
        match structured(data) {
            Ok(case) => case,
            Err(_) => return,
        }
    };
    check(&case);
    check_added_rules(&case);
});
