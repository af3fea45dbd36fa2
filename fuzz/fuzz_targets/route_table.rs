//! Fuzzes `pingress_routing::RouteTable`: builds one from an arbitrary `Snapshot` (virtual
//! hosts of every kind, Exact, Prefix and Regex rules, routes with Method and Header
//! conditions, repeats, maybe a default backend) and looks up arbitrary `Host` header values,
//! paths, methods and headers.
//!
//! Checks:
//! - neither `build` nor `find` panics;
//! - `find` agrees with a slow reference written from the documented semantics (host tiers
//!   Exact, then Wildcard (exactly one more label), then Any; in a tier the first Exact route,
//!   in Snapshot order, whose conditions hold, then the first such Regex route whose pattern
//!   matches at the start of the path, then the longest Prefix with such a route (the first
//!   of equal ones); then the default backend), and the match reports the virtual host, rule
//!   and `ssl_redirect` of the route that led to it. The reference matches each pattern alone
//!   (`compile_path_regex`), the table all of a virtual host's at once; routes whose pattern or
//!   conditions do not compile are left out of both;
//! - `target` is called once for every route the table holds;
//! - an Exact rule added for the looked-up host and path (a path starting with `/`) is what
//!   `find` returns.
//!
//! Input: text starting with `#` is a small script (the seed corpus uses it):
//! `host NAME` (`*.suffix` is a wildcard, `*` any host), then `exact PATH` / `prefix PATH` /
//! `regex PATTERN` / `iregex PATTERN` (case-insensitive) rules for it, each maybe followed by
//! ` if ` and conditions `method:POST` / `header:x-a=1` separated by spaces; `default` for a
//! default backend, and `find HOST PATH [METHOD [NAME:VALUE...]]` lookups (`-` for an empty
//! value). Anything else is decoded with `arbitrary`, from pools of look-alike hosts, path
//! segments, patterns and conditions so that rules and lookups collide often.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use pingress_model::{
    Backend, ClusterId, Condition, HostMatch, ObjectRef, PathMatch, RegexPath, Route, Snapshot,
    StringMatch, VirtualHost,
};
use pingress_routing::{
    compile_path_regex, http, normalize_host, Conditions, Declared, Host, RequestParts, RouteTable,
};

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

/// Path patterns: anchored or not at the end, classes, case, and some that do not compile.
const PATTERNS: &[&str] = &[
    "",
    "/",
    "/a",
    "/a/",
    "/a$",
    "/[ab]",
    "/a.*/b",
    "/api/v[0-9]",
    "/foo(bar)?$",
    "/A",
    "a",
    ".*",
    "/\\.",
    "(",
    "x)|(.*",
    "/(a?){1000}{1000}",
];

const METHODS: &[&str] = &["GET", "POST", "PUT"];

/// Header names and values of conditions and requests.
const HEADERS: &[&str] = &["x-a", "x-b"];
const VALUES: &[&str] = &["1", "2", ""];

/// A lookup: host, path, method, headers.
struct Lookup {
    host: String,
    path: String,
    method: http::Method,
    headers: http::HeaderMap,
}

struct Case {
    snapshot: Snapshot,
    lookups: Vec<Lookup>,
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
        ..Route::forward(
            path,
            cluster(n),
            ObjectRef::new("default", format!("ingress-{n}")),
        )
    }
}

/// What the table's target is: the name of the declaring object (unique per route).
fn label(declared: Declared<'_>) -> String {
    match declared {
        Declared::Route { route, .. } => route.origin.name.clone(),
        Declared::Default(backend) => backend.ingress.name.clone(),
    }
}

fn regex(pattern: &str, case_insensitive: bool) -> PathMatch {
    PathMatch::Regex(RegexPath {
        pattern: pattern.to_string(),
        case_insensitive,
    })
}

/// `method:POST` or `header:x-a=1`.
fn condition(text: &str) -> Option<Condition> {
    let (kind, rest) = text.split_once(':')?;
    match kind {
        "method" => Some(Condition::Method(rest.to_string())),
        "header" => {
            let (name, value) = rest.split_once('=')?;
            Some(Condition::Header {
                name: name.to_string(),
                value: StringMatch::Exact(value.to_string()),
            })
        }
        _ => None,
    }
}

/// A lookup from its parts; a header that is not valid is dropped.
fn lookup(host: String, path: String, method: &str, headers: &[(&str, &str)]) -> Lookup {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    Lookup {
        host,
        path,
        method: http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::GET),
        headers: map,
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
            "exact" | "prefix" | "regex" | "iregex" => {
                let (rule, conditions) = rest.split_once(" if ").unwrap_or((rest, ""));
                let rule = word(rule);
                let path = match verb {
                    "exact" => PathMatch::Exact(rule),
                    "prefix" => PathMatch::prefix(&rule),
                    _ => regex(&rule, verb == "iregex"),
                };
                let mut route = route(path, n);
                route.conditions = conditions.split(' ').filter_map(condition).collect();
                if let Some(vhost) = snapshot.virtual_hosts.last_mut() {
                    vhost.routes.push(route);
                }
            }
            "default" => snapshot.default_backend = Some(backend(n)),
            "find" => {
                let mut words = rest.split(' ');
                let host = word(words.next().unwrap_or(""));
                let path = word(words.next().unwrap_or(""));
                let method = words.next().unwrap_or("GET");
                let headers: Vec<_> = words.filter_map(|w| w.split_once(':')).collect();
                lookups.push(lookup(host, path, method, &headers));
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
            let path = match u.int_in_range(0u8..=6)? {
                0 | 1 => PathMatch::Exact(path(&mut u)?),
                2 | 3 => PathMatch::prefix(&path(&mut u)?),
                4 => PathMatch::Prefix(path(&mut u)?),
                _ => regex(u.choose(PATTERNS)?, u.arbitrary()?),
            };
            let mut route = route(path, n);
            for _ in 0..u.int_in_range(0u8..=2)? {
                route.conditions.push(if u.arbitrary()? {
                    Condition::Method(u.choose(METHODS)?.to_string())
                } else {
                    Condition::Header {
                        name: u.choose(HEADERS)?.to_string(),
                        value: StringMatch::Exact(u.choose(VALUES)?.to_string()),
                    }
                });
            }
            routes.push(route);
        }
        snapshot.virtual_hosts.push(VirtualHost { host, routes });
    }
    if u.arbitrary()? {
        snapshot.default_backend = Some(backend(0));
    }
    let mut lookups = Vec::new();
    for _ in 0..u.int_in_range(1..=MAX / 2)? {
        let (host, path) = (host(&mut u)?, path(&mut u)?);
        let method = u.choose(METHODS)?;
        let mut headers = Vec::new();
        for _ in 0..u.int_in_range(0u8..=2)? {
            headers.push((*u.choose(HEADERS)?, *u.choose(VALUES)?));
        }
        lookups.push(lookup(host, path, method, &headers));
    }
    Ok(Case { snapshot, lookups })
}

/// What the reference answers: the route (with its virtual host) or the default backend.
#[derive(Debug, PartialEq)]
enum Answer<'a> {
    Route(&'a HostMatch, &'a Route),
    Default(&'a Backend),
}

/// Whether the route's conditions hold, written from the model's documentation.
fn holds(route: &Route, request: &Lookup) -> bool {
    route.conditions.iter().all(|c| match c {
        Condition::Method(m) => request.method.as_str() == m,
        Condition::Header {
            name,
            value: StringMatch::Exact(v),
        } => request
            .headers
            .get(name.as_str())
            .is_some_and(|h| h.as_bytes() == v.as_bytes()),
        _ => unreachable!("only Method and Header Exact conditions in these cases"),
    })
}

/// Whether the table keeps the route at all: its pattern and conditions compile.
fn compiles(route: &Route) -> bool {
    let pattern_ok = match &route.path {
        PathMatch::Regex(r) => compile_path_regex(r).is_ok(),
        _ => true,
    };
    pattern_ok && Conditions::compile(&route.conditions).is_ok()
}

/// `find` written as a scan over the snapshot, from the documented semantics.
fn reference<'a>(snapshot: &'a Snapshot, request: &Lookup) -> Option<Answer<'a>> {
    let host = normalize_host(&request.host);
    // A path that is not a sequence of `/`-elements (`*`, empty) is the empty path.
    let path = if request.path.starts_with('/') {
        request.path.as_str()
    } else {
        ""
    };
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
    let prefix_matches = |p: &str| {
        p.is_empty() || path == p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/'))
    };
    for in_tier in tiers {
        // The tier's routes that can be chosen, in Snapshot order.
        let routes: Vec<(&HostMatch, &Route)> = snapshot
            .virtual_hosts
            .iter()
            .filter(|vh| in_tier(&vh.host))
            .flat_map(|vh| vh.routes.iter().map(move |r| (&vh.host, r)))
            .filter(|(_, r)| compiles(r) && holds(r, request))
            .collect();
        let exact = routes
            .iter()
            .find(|(_, r)| matches!(&r.path, PathMatch::Exact(e) if e == path));
        let regex = || {
            routes.iter().find(|(_, r)| match &r.path {
                PathMatch::Regex(re) => compile_path_regex(re)
                    .expect("compiles")
                    .is_match(path.as_bytes()),
                _ => false,
            })
        };
        let prefix = || {
            let mut best: Option<&(&HostMatch, &Route)> = None;
            for candidate in &routes {
                if let PathMatch::Prefix(p) = &candidate.1.path {
                    // Strictly longer only: the first of equal rules wins.
                    if prefix_matches(p) && best.is_none_or(|(_, b)| p.len() > b.path.len()) {
                        best = Some(candidate);
                    }
                }
            }
            best
        };
        if let Some(&(h, r)) = exact.or_else(regex).or_else(prefix) {
            return Some(Answer::Route(h, r));
        }
    }
    snapshot.default_backend.as_ref().map(Answer::Default)
}

fn parts(request: &Lookup) -> RequestParts<'_> {
    RequestParts {
        method: &request.method,
        headers: &request.headers,
        query: None,
    }
}

fn check(case: &Case) {
    let mut targets = 0;
    let table = RouteTable::build(&case.snapshot, |d| {
        targets += 1;
        label(d)
    });
    assert_eq!(table.len(), targets, "len() is the targets made");
    for request in &case.lookups {
        let (host, path) = (&request.host, &request.path);
        let what = format!(
            "find({host:?}, {path:?}, {} {:?})",
            request.method, request.headers
        );
        let found = table.find(&Host::new(host), path, &parts(request));
        let expected = reference(&case.snapshot, request);
        match (&found, &expected) {
            (None, None) => {}
            (Some(m), Some(Answer::Default(b))) => {
                assert_eq!(*m.target, b.ingress.name, "{what}: wrong default");
                assert!(m.host.is_none() && m.path.is_none());
                assert!(m.ssl_redirect);
            }
            (Some(m), Some(Answer::Route(h, r))) => {
                assert_eq!(m.path, Some(&r.path), "{what}: wrong rule");
                assert_eq!(m.host, Some(*h), "{what}: wrong virtual host");
                assert_eq!(*m.target, r.origin.name, "{what}: wrong route");
                assert_eq!(m.ssl_redirect, r.ssl_redirect, "{what}: wrong ssl_redirect");
            }
            _ => panic!(
                "{what} = {:?}, the reference says {expected:?}",
                found.map(|m| (m.host, m.path, m.target))
            ),
        }
    }
}

/// Puts an Exact rule for each lookup's host and path first, and expects `find` to return it.
fn check_added_rules(case: &Case) {
    for request in case.lookups.iter().filter(|l| l.path.starts_with('/')) {
        let (host, path) = (&request.host, &request.path);
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
        let table = RouteTable::build(&snapshot, label);
        let found = table.find(&Host::new(host), path, &parts(request));
        assert!(
            found.is_some_and(|m| *m.target == "probe" && m.path == Some(&probe.path)),
            "find({host:?}, {path:?}) missed an Exact rule for that host and path: {:?}",
            found.map(|m| (m.host, m.path, m.target))
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
