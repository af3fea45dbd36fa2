//! Table-driven tests. Every route's declaring object has a readable label as its name, and the
//! table's target is that label, so a failing row names the winner it expected and the one it got.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use pingress_model::{
    Action, Backend, ClusterId, Condition, HostMatch, ObjectRef, PathMatch, RegexPath, Respond,
    Route, Snapshot, StringMatch, VirtualHost,
};

use crate::host::{is_normal_host, normalize_host_slow};
use crate::table::{candidates, Kind};
use crate::*;

/// `(rule, label)`, e.g. `("Prefix /foo", "foo")`; see [`route_of`] for the rule syntax.
type Rule<'a> = (&'a str, &'a str);

fn cluster() -> ClusterId {
    ClusterId::new(&ObjectRef::new("default", "web"), 80).unwrap()
}

/// The label is the name of the declaring object (it may contain `/`, which a cluster id may
/// not).
fn backend(label: &str) -> Backend {
    Backend {
        cluster: cluster(),
        ingress: ObjectRef::new("default", label),
    }
}

/// A route for `path` declared by the object labelled `label`.
fn route(path: PathMatch, label: &str) -> Route {
    Route::forward(path, cluster(), ObjectRef::new("default", label))
}

/// `"Exact /foo"` or `"Prefix /foo/"` (normalised like the translation does), `"Regex /v[0-9]"`
/// or `"RegexI /v[0-9]"` (case-insensitive).
fn path_match(rule: &str) -> PathMatch {
    let regex = |pattern: &str, case_insensitive| {
        PathMatch::Regex(RegexPath {
            pattern: pattern.to_string(),
            case_insensitive,
        })
    };
    match rule.split_once(' ') {
        Some(("Exact", p)) => PathMatch::Exact(p.to_string()),
        Some(("Prefix", p)) => PathMatch::prefix(p),
        Some(("Regex", p)) => regex(p, false),
        Some(("RegexI", p)) => regex(p, true),
        _ => panic!("bad rule {rule:?}"),
    }
}

/// `"header:x-a=1"`, `"query:v~^[0-9]+$"`, `"cookie:c=yes"`, `"method:POST"`: `=` compares
/// exactly, `~` with a regex.
fn condition(text: &str) -> Condition {
    let (what, rest) = text.split_once(':').expect("kind:condition");
    if what == "method" {
        return Condition::Method(rest.to_string());
    }
    let at = rest.find(['=', '~']).expect("= or ~");
    let (name, value) = (rest[..at].to_string(), &rest[at + 1..]);
    let value = match &rest[at..at + 1] {
        "=" => StringMatch::Exact(value.to_string()),
        _ => StringMatch::Regex(value.to_string()),
    };
    match what {
        "header" => Condition::Header { name, value },
        "query" => Condition::Query { name, value },
        "cookie" => Condition::Cookie { name, value },
        _ => panic!("bad condition {text:?}"),
    }
}

/// A route from a rule: its path match (see [`path_match`]), then maybe `if` and conditions
/// joined by `and` (see [`condition`]): `"Prefix /api if header:x-canary=yes and method:GET"`.
fn route_of(rule: &str, label: &str) -> Route {
    let (path, conditions) = rule.split_once(" if ").unwrap_or((rule, ""));
    let mut route = route(path_match(path), label);
    route.conditions = conditions
        .split(" and ")
        .filter(|c| !c.is_empty())
        .map(condition)
        .collect();
    route
}

/// `"shop.example.com"`, `"*.example.com"`, or `"*"` for a rule without host.
fn host_match(host: &str) -> HostMatch {
    match host {
        "*" => HostMatch::Any,
        _ => match host.strip_prefix("*.") {
            Some(suffix) => HostMatch::Wildcard(suffix.to_string()),
            None => HostMatch::Exact(host.to_string()),
        },
    }
}

/// A snapshot from `(host, [(rule, label)])` rows and an optional default backend label.
fn snapshot(vhosts: &[(&str, &[Rule])], default: Option<&str>) -> Snapshot {
    Snapshot {
        virtual_hosts: vhosts
            .iter()
            .map(|(host, routes)| VirtualHost {
                host: host_match(host),
                routes: routes
                    .iter()
                    .map(|(rule, label)| route_of(rule, label))
                    .collect(),
            })
            .collect(),
        default_backend: default.map(backend),
        ..Snapshot::default()
    }
}

/// The label of what was declared: the route's object, or the default backend's.
fn label(declared: Declared<'_>) -> String {
    match declared {
        Declared::Route { route, .. } => route.origin.name.clone(),
        Declared::Default(backend) => backend.ingress.name.clone(),
    }
}

fn table(snapshot: &Snapshot) -> RouteTable<String> {
    RouteTable::build(snapshot, label)
}

/// What conditions look at: method, headers, query.
struct Request {
    method: Method,
    headers: HeaderMap,
    query: Option<String>,
}

impl Request {
    /// A `GET` without headers or query.
    fn get() -> Self {
        Request::parse("GET")
    }

    /// `"POST x-a:1 cookie:c=1;d=2 ?v=2"`: a method, then headers `name:value` and a query
    /// `?...`, separated by spaces.
    fn parse(text: &str) -> Self {
        let mut words = text.split(' ');
        let method = Method::from_bytes(words.next().unwrap().as_bytes()).unwrap();
        let mut request = Request {
            method,
            headers: HeaderMap::new(),
            query: None,
        };
        for word in words {
            if let Some(query) = word.strip_prefix('?') {
                request.query = Some(query.to_string());
            } else {
                let (name, value) = word.split_once(':').expect("name:value");
                request.headers.append(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
        }
        request
    }

    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            headers: &self.headers,
            query: self.query.as_deref(),
        }
    }
}

/// `table.find` for a raw Host header value and a `GET` without headers.
fn find<'t, T>(table: &'t RouteTable<T>, host: &str, path: &str) -> Option<RouteMatch<'t, T>> {
    table.find(&Host::new(host), path, &Request::get().parts())
}

/// The label of the winner, or `None`; the same whether the lookup prefetches or not.
fn winner(table: &RouteTable<String>, host: &str, path: &str) -> Option<String> {
    winner_for(table, host, path, &Request::get())
}

/// [`winner`] for a request with headers, a query or another method.
fn winner_for(
    table: &RouteTable<String>,
    host: &str,
    path: &str,
    request: &Request,
) -> Option<String> {
    let host = Host::new(host);
    let [lazy, eager] = [false, true].map(|prefetch| {
        table
            .find_with(&host, path, &request.parts(), prefetch)
            .map(|m| m.target.clone())
    });
    assert_eq!(
        lazy, eager,
        "{host:?} {path:?} with and without prefetching"
    );
    lazy
}

#[test]
fn kubernetes_path_matching_examples() {
    // (rules of one vhost, request path, expected winner); "default" = no rule matched.
    #[rustfmt::skip]
    let rows: &[(&[Rule], &str, &str)] = &[
        (&[("Prefix /", "root")], "/", "root"),
        (&[("Prefix /", "root")], "/anything/at/all", "root"),
        (&[("Exact /foo", "foo")], "/foo", "foo"),
        (&[("Exact /foo", "foo")], "/bar", "default"),
        (&[("Exact /foo", "foo")], "/foo/", "default"),
        (&[("Exact /foo/", "foo/")], "/foo", "default"),
        (&[("Exact /foo/", "foo/")], "/foo/", "foo/"),
        (&[("Prefix /foo", "foo")], "/foo", "foo"),
        (&[("Prefix /foo", "foo")], "/foo/", "foo"),
        (&[("Prefix /foo/", "foo/")], "/foo", "foo/"),
        (&[("Prefix /foo/", "foo/")], "/foo/", "foo/"),
        (&[("Prefix /aaa/bb", "bb")], "/aaa/bbb", "default"),
        (&[("Prefix /aaa/bbb", "bbb")], "/aaa/bbb", "bbb"),
        (&[("Prefix /aaa/bbb/", "bbb/")], "/aaa/bbb", "bbb/"), // ignores trailing slash
        (&[("Prefix /aaa/bbb", "bbb")], "/aaa/bbb/", "bbb"), // matches trailing slash
        (&[("Prefix /aaa/bbb", "bbb")], "/aaa/bbb/ccc", "bbb"), // matches subpath
        (&[("Prefix /aaa/bbb", "bbb")], "/aaa/bbbxyz", "default"), // not a string prefix
        (&[("Prefix /", "root"), ("Prefix /aaa", "aaa")], "/aaa/ccc", "aaa"), // longest prefix
        (&[("Prefix /", "root"), ("Prefix /aaa", "aaa"), ("Prefix /aaa/bbb", "bbb")], "/aaa/bbb", "bbb"),
        (&[("Prefix /", "root"), ("Prefix /aaa", "aaa"), ("Prefix /aaa/bbb", "bbb")], "/ccc", "root"),
        (&[("Prefix /aaa", "aaa")], "/ccc", "default"),
        (&[("Prefix /foo", "prefix"), ("Exact /foo", "exact")], "/foo", "exact"), // Exact wins a tie
        (&[("Prefix /foo", "prefix"), ("Exact /foo", "exact")], "/foo/", "prefix"),
        (&[("Prefix /foo", "prefix"), ("Exact /foo/bar", "exact")], "/foo/bar/", "prefix"),
        // Beyond the docs table.
        (&[("Exact /foo", "foo")], "/FOO", "default"), // paths are case-sensitive
        (&[("Prefix /Foo", "Foo")], "/foo/bar", "default"),
        (&[("Prefix /foo", "foo")], "/foo//bar", "foo"), // empty element: still under /foo
        (&[("Prefix /foo/bar", "bar")], "/foo//bar", "default"),
        (&[("Prefix /", "root"), ("Prefix /foo", "foo")], "*", "root"), // OPTIONS *: root prefix only
        (&[("Prefix /foo", "foo")], "*", "default"),
        (&[("Prefix /", "root")], "", "root"),
        (&[("Exact /foo", "foo")], "/foo?a=b", "default"), // find() wants the query stripped
    ];
    for (rules, path, want) in rows {
        let table = table(&snapshot(&[("*", rules)], Some("default")));
        let got = winner(&table, "example.com", path);
        assert_eq!(
            got.as_deref(),
            Some(*want),
            "rules {rules:?}, path {path:?}"
        );
    }
}

/// Hosts at every tier, with paths chosen to show each fall-through.
fn tiers(default: Option<&str>) -> Snapshot {
    snapshot(
        &[
            (
                "foo.example.com",
                &[("Prefix /api", "foo-api"), ("Prefix /shared", "foo-shared")],
            ),
            (
                "*.example.com",
                &[
                    ("Prefix /web", "wild-web"),
                    ("Prefix /shared", "wild-shared"),
                    ("Prefix /api/v2", "wild-api-v2"),
                ],
            ),
            (
                "*",
                &[("Prefix /static", "any-static"), ("Exact /web", "any-web")],
            ),
        ],
        default,
    )
}

#[test]
fn host_tiers_and_fall_through() {
    // (Host header, path, expected winner)
    #[rustfmt::skip]
    let rows = [
        ("foo.example.com", "/api/users", "foo-api"),
        ("FOO.Example.COM", "/api", "foo-api"), // host is case-insensitive
        ("foo.example.com:8080", "/api", "foo-api"), // port ignored
        ("foo.example.com.", "/api", "foo-api"), // trailing dot
        ("foo.example.com.:443", "/api", "foo-api"),
        ("foo.example.com", "/shared", "foo-shared"), // exact host beats wildcard
        ("foo.example.com", "/api/v2", "foo-api"), // an earlier tier beats a longer path
        ("foo.example.com", "/web", "wild-web"), // exact vhost has no match -> wildcard
        ("foo.example.com", "/static", "any-static"), // ... -> any
        ("foo.example.com", "/nothing", "default"), // ... -> default backend
        ("bar.example.com", "/shared", "wild-shared"),
        ("BAR.Example.com:80", "/web/x", "wild-web"),
        ("bar.example.com", "/api/v2/x", "wild-api-v2"),
        ("bar.example.com", "/static", "any-static"),
        ("example.com", "/web", "any-web"), // wildcard needs one more label
        ("example.com", "/web/x", "default"),
        ("a.b.example.com", "/web/x", "default"), // ... exactly one
        (".example.com", "/web/x", "default"), // ... and not an empty one
        ("fooexample.com", "/web/x", "default"),
        ("other.test", "/static/app.js", "any-static"),
        ("", "/static", "any-static"), // no Host: only the Any tier applies
        ("", "/api", "default"),
        ("[::1]:8080", "/static", "any-static"),
        ("10.0.0.1:80", "/static", "any-static"),
    ];
    let table = table(&tiers(Some("default")));
    for (host, path, want) in rows {
        let got = winner(&table, host, path);
        assert_eq!(got.as_deref(), Some(want), "host {host:?}, path {path:?}");
    }
}

#[test]
fn no_default_backend_means_none() {
    let table = table(&tiers(None));
    assert_eq!(
        winner(&table, "foo.example.com", "/api").as_deref(),
        Some("foo-api")
    );
    for (host, path) in [("foo.example.com", "/nothing"), ("", "/"), ("x", "*")] {
        assert_eq!(
            winner(&table, host, path),
            None,
            "host {host:?}, path {path:?}"
        );
    }
}

#[test]
fn match_reports_host_and_path_or_none_for_default() {
    // The target is the declared backend: its cluster and its object.
    let table = RouteTable::build(&tiers(Some("default")), |declared| match declared {
        Declared::Route { route, .. } => Backend {
            cluster: route.action.backends().unwrap().backends[0].cluster.clone(),
            ingress: route.origin.clone(),
        },
        Declared::Default(backend) => backend.clone(),
    });
    let m = find(&table, "bar.example.com", "/web/x").unwrap();
    assert_eq!(m.host, Some(&HostMatch::Wildcard("example.com".into())));
    assert_eq!(m.path, Some(&PathMatch::Prefix("/web".into())));
    assert_eq!(m.target, &backend("wild-web"));

    let m = find(&table, "bar.example.com", "/nothing").unwrap();
    assert_eq!((m.host, m.path), (None, None));
    assert_eq!(m.target, &backend("default"));
}

#[test]
fn empty_table() {
    let table = table(&Snapshot::default());
    assert!(table.is_empty());
    assert_eq!(table.len(), 0);
    assert!(find(&table, "example.com", "/").is_none());
}

#[test]
fn target_is_called_once_per_route_and_default() {
    let snapshot = tiers(Some("default"));
    let mut calls = 0;
    let table = RouteTable::build(&snapshot, |_| calls += 1);
    assert_eq!(calls, snapshot.route_count() + 1);
    assert_eq!(table.len(), calls);
    assert!(!table.is_empty());
}

#[test]
fn normalize_host_examples() {
    #[rustfmt::skip]
    let rows = [
        ("example.com", "example.com", true),
        ("Example.COM", "example.com", false),
        ("example.com:8080", "example.com", true),
        ("example.com.", "example.com", true),
        ("EXAMPLE.com.:443", "example.com", false),
        ("[::1]:80", "::1", true),
        ("[::1]", "::1", true),
        ("[FE80::1]:443", "fe80::1", false),
        ("::1", "::1", true), // unbracketed IPv6: no port to strip
        ("10.0.0.1:80", "10.0.0.1", true),
        ("", "", true),
        (":80", "", true),
        // Found by fuzz/ (host): each of these normalised differently a second time.
        ("a..", "a", true),
        ("A..:80", "a", false),
        ("[x:1", "[x:1", true),
        ("[[::1]:8443", "[[::1]:8443", true),
        ("[a:80]", "[a:80]", true),
    ];
    for (raw, want, borrowed) in rows {
        let got = normalize_host(raw);
        assert_eq!(got, want, "raw {raw:?}");
        assert_eq!(normalize_host(&got), got, "normalising {raw:?} twice");
        assert_eq!(
            matches!(got, Cow::Borrowed(_)),
            borrowed,
            "raw {raw:?} allocation"
        );
    }
}

#[test]
fn candidates_come_in_descending_precedence() {
    for path in ["/", "/a", "/aaa/bbb/", "/a//b/c", "*", ""] {
        let ranked: Vec<_> = candidates(path)
            .map(|(kind, key)| (key.len(), kind))
            .collect();
        assert!(
            ranked.windows(2).all(|w| w[0] > w[1]),
            "{path:?}: {ranked:?}"
        );
        assert_eq!(
            ranked.last(),
            Some(&(0, Kind::Prefix)),
            "{path:?} ends at the root"
        );
    }
    let keys: Vec<_> = candidates("/aaa/bbb/").collect();
    use Kind::*;
    assert_eq!(
        keys,
        [
            (Exact, "/aaa/bbb/"),
            (Prefix, "/aaa/bbb/"),
            (Prefix, "/aaa/bbb"),
            (Prefix, "/aaa"),
            (Prefix, "")
        ]
    );
}

#[test]
fn a_hundred_thousand_routes() {
    // 1,000 exact hosts x 100 routes (50 Prefix, 50 Exact), plus wildcard and any vhosts.
    let mut snapshot = Snapshot::default();
    for h in 0..1_000 {
        let routes = (0..50)
            .flat_map(|r| {
                [
                    route(
                        PathMatch::Prefix(format!("/svc{r}")),
                        &format!("h{h}-prefix{r}"),
                    ),
                    route(
                        PathMatch::Exact(format!("/svc{r}/health")),
                        &format!("h{h}-exact{r}"),
                    ),
                ]
            })
            .collect();
        snapshot.virtual_hosts.push(VirtualHost {
            host: HostMatch::Exact(format!("h{h}.example.com")),
            routes,
        });
    }
    snapshot.virtual_hosts.extend([
        VirtualHost {
            host: HostMatch::Wildcard("example.com".into()),
            routes: vec![route(PathMatch::prefix("/"), "wild-root")],
        },
        VirtualHost {
            host: HostMatch::Any,
            routes: vec![route(PathMatch::prefix("/any"), "any")],
        },
    ]);
    assert_eq!(snapshot.route_count(), 100_002);
    let table = table(&snapshot);
    assert_eq!(table.len(), 100_002);

    let rows = [
        ("h0.example.com", "/svc0", "h0-prefix0"),
        ("h999.example.com", "/svc49/health", "h999-exact49"),
        ("H500.example.com:443", "/svc7/health/deep", "h500-prefix7"),
        ("h500.example.com", "/svc7/healthz", "h500-prefix7"),
        ("h500.example.com", "/svc70", "wild-root"), // no such route on h500 -> wildcard
        ("h1000.example.com", "/svc1", "wild-root"), // no such host -> wildcard
        ("h1.other.test", "/any/x", "any"),
    ];
    for (host, path, want) in rows {
        assert_eq!(
            winner(&table, host, path).as_deref(),
            Some(want),
            "host {host:?}, path {path:?}"
        );
    }
    assert_eq!(winner(&table, "h1.other.test", "/svc1"), None);
}

#[test]
fn deep_paths_try_every_candidate() {
    // More `/` than the candidates a lookup hashes up front: the rest are still tried.
    let deep = "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q";
    let table = table(&snapshot(
        &[(
            "shop.example.com",
            &[
                ("Prefix /a", "a"),
                ("Prefix /a/b/c/d/e/f/g/h/i/j/k/l/m/n", "n"),
                ("Exact /a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", "q"),
            ],
        )],
        None,
    ));
    assert_eq!(
        winner(&table, "shop.example.com", deep).as_deref(),
        Some("q")
    );
    assert_eq!(
        winner(&table, "shop.example.com", &format!("{deep}/r/s")).as_deref(),
        Some("n")
    );
    assert_eq!(
        winner(
            &table,
            "shop.example.com",
            "/a/x/y/z/1/2/3/4/5/6/7/8/9/10/11/12/13/14"
        )
        .as_deref(),
        Some("a")
    );
    assert_eq!(
        winner(
            &table,
            "shop.example.com",
            "/b/x/y/z/1/2/3/4/5/6/7/8/9/10/11/12/13/14"
        ),
        None
    );
}

#[test]
fn the_same_path_under_other_hosts_and_kinds_is_another_rule() {
    let table = table(&snapshot(
        &[
            ("a.example.com", &[("Exact /x", "a-exact")]),
            ("*.example.com", &[("Prefix /x", "wild-prefix")]),
            (
                "b.example.com",
                &[("Prefix /x", "b-prefix"), ("Exact /x", "b-exact")],
            ),
        ],
        None,
    ));
    for (host, path, want) in [
        ("a.example.com", "/x", "a-exact"),
        ("a.example.com", "/x/y", "wild-prefix"),
        ("b.example.com", "/x", "b-exact"),
        ("b.example.com", "/x/y", "b-prefix"),
        ("c.example.com", "/x", "wild-prefix"),
    ] {
        assert_eq!(
            winner(&table, host, path).as_deref(),
            Some(want),
            "{host}{path}"
        );
    }
}

#[test]
fn the_normal_host_shortcut_agrees_with_the_full_normalisation() {
    let alphabet = [
        "a", "Z", ":", ".", "[", "]", "1", "-", "\u{e9}", "xyzw", "ABCDEFGH",
    ];
    let mut hosts = vec![String::new()];
    for _ in 0..4 {
        let longer: Vec<String> = hosts
            .iter()
            .flat_map(|h| alphabet.iter().map(move |c| format!("{h}{c}")))
            .collect();
        hosts.extend(longer);
        hosts.dedup();
    }
    for host in &hosts {
        assert_eq!(normalize_host(host), normalize_host_slow(host), "{host:?}");
        if is_normal_host(host.as_bytes()) {
            assert!(
                matches!(normalize_host_slow(host), Cow::Borrowed(h) if h == host),
                "{host:?}"
            );
        }
    }
}

#[test]
fn regex_precedence_within_a_virtual_host() {
    // (what it proves, rules of shop.example.com, request path, expected winner); "default" =
    // no rule matched. Patterns are anchored at the start by the table, not by the rule.
    #[rustfmt::skip]
    let rows: &[(&str, &[Rule], &str, &str)] = &[
        ("a regex matches at the start", &[("Regex /api/v[0-9]+", "re")], "/api/v2/users", "re"),
        ("... not anywhere", &[("Regex /api", "re")], "/x/api", "default"),
        ("... from its first byte", &[("Regex api", "re")], "/api", "default"),
        ("... and is not end-anchored", &[("Regex /api/v[0-9]", "re")], "/api/v2x/y", "re"),
        ("'$' anchors the end", &[("Regex /api$", "re")], "/api/x", "default"),
        ("case-sensitive by default", &[("Regex /api", "re")], "/API", "default"),
        ("RegexI folds case", &[("RegexI /api", "re")], "/API/x", "re"),
        ("RegexI folds ASCII only", &[("RegexI /caf\u{e9}", "re")], "/CAF\u{c9}", "default"),
        ("exact beats regex", &[("Regex /foo", "re"), ("Exact /foo", "exact")], "/foo", "exact"),
        ("regex beats a longer prefix", &[("Prefix /foo/bar", "long"), ("Regex /foo", "re")], "/foo/bar/baz", "re"),
        ("regex beats an equal prefix", &[("Prefix /foo", "prefix"), ("Regex /foo", "re")], "/foo", "re"),
        ("the first regex in order wins", &[("Regex /foo/b", "first"), ("Regex /foo", "second")], "/foo/bar", "first"),
        ("... whichever is longer", &[("Regex /foo", "first"), ("Regex /foo/b", "second")], "/foo/bar", "first"),
        ("a regex that misses falls to the prefix", &[("Regex /api", "re"), ("Prefix /", "root")], "/web", "root"),
        ("a regex that misses falls to the longest prefix", &[("Regex /api", "re"), ("Prefix /", "root"), ("Prefix /web", "web")], "/web/x", "web"),
        ("exact before regex even when the exact one is further down", &[("Regex /", "re"), ("Prefix /", "root"), ("Exact /e", "exact")], "/e", "exact"),
        ("a non-absolute path is the empty path to regexes too", &[("Regex \\*", "star"), ("Regex $", "empty")], "*", "empty"),
        ("a regex that does not compile is left out", &[("Regex (", "bad"), ("Prefix /", "root")], "/(", "root"),
        ("a pattern that would escape the anchor is left out", &[("Regex x)|(.*", "bad"), ("Prefix /", "root")], "/ax", "root"),
        ("a pattern over the size limit is left out", &[("Regex /(a?){1000}{1000}", "big"), ("Regex /a", "small")], "/aa", "small"),
    ];
    for (what, rules, path, want) in rows {
        let table = table(&snapshot(&[("shop.example.com", rules)], Some("default")));
        let got = winner(&table, "shop.example.com", path);
        assert_eq!(got.as_deref(), Some(*want), "{what}: {rules:?}, {path:?}");
    }
}

#[test]
fn regexes_stay_in_their_virtual_host_and_tier() {
    let table = table(&snapshot(
        &[
            (
                "a.example.com",
                &[("Regex /x", "a-re"), ("Exact /only-a", "a-exact")],
            ),
            ("b.example.com", &[("Prefix /b", "b-prefix")]),
            ("*.example.com", &[("Regex /w", "wild-re")]),
            ("*", &[("Regex /x/y", "any-re"), ("Prefix /", "any-root")]),
        ],
        Some("default"),
    ));
    // (what it proves, host, path, expected winner)
    #[rustfmt::skip]
    let rows = [
        ("the vhost's own regex", "a.example.com", "/x/z", "a-re"),
        ("another vhost's regex never applies", "b.example.com", "/x/z", "any-root"),
        ("an exact host's regex beats the next tier's longer regex", "a.example.com", "/x/y", "a-re"),
        ("no regex and no prefix of the vhost: next tier", "a.example.com", "/w", "wild-re"),
        ("... and the one after", "a.example.com", "/q", "any-root"),
        ("a wildcard vhost's regex", "c.example.com", "/w/1", "wild-re"),
        ("the host-less vhost's regex", "other.test", "/x/y/z", "any-re"),
        ("... is tried before its prefixes", "c.example.com", "/x/y", "any-re"),
    ];
    for (what, host, path, want) in rows {
        let got = winner(&table, host, path);
        assert_eq!(got.as_deref(), Some(want), "{what}: {host}{path}");
    }
}

#[test]
fn conditions_pick_among_routes_and_fall_through() {
    // (what it proves, rules of shop.example.com, request (see `Request::parse`), path,
    // expected winner)
    #[rustfmt::skip]
    let rows: &[(&str, &[Rule], &str, &str, &str)] = &[
        ("header exact holds", &[("Prefix /api if header:x-canary=always", "canary"), ("Prefix /api", "stable")], "GET x-canary:always", "/api/x", "canary"),
        ("header exact fails: the next route", &[("Prefix /api if header:x-canary=always", "canary"), ("Prefix /api", "stable")], "GET x-canary:never", "/api/x", "stable"),
        ("header absent", &[("Prefix /api if header:x-canary=always", "canary"), ("Prefix /api", "stable")], "GET", "/api", "stable"),
        ("header regex", &[("Prefix / if header:user-agent~(?i)mobile", "mobile"), ("Prefix /", "desktop")], "GET user-agent:Foo-MOBILE-1", "/", "mobile"),
        ("two routes, same path, other headers: the second", &[("Exact /v if header:x-v=1", "v1"), ("Exact /v if header:x-v=2", "v2")], "GET x-v:2", "/v", "v2"),
        ("... neither holds: as if the path did not exist", &[("Exact /v if header:x-v=1", "v1"), ("Exact /v if header:x-v=2", "v2")], "GET x-v:3", "/v", "default"),
        ("in Snapshot order: both hold, the first wins", &[("Exact /v if header:x-v~.", "any-v"), ("Exact /v if header:x-v=2", "v2")], "GET x-v:2", "/v", "any-v"),
        ("query exact", &[("Exact /q if query:debug=1", "debug"), ("Exact /q", "plain")], "GET ?a=b&debug=1", "/q", "debug"),
        ("query regex", &[("Exact /q if query:v~^[0-9]+$", "numeric"), ("Exact /q", "plain")], "GET ?v=12", "/q", "numeric"),
        ("query absent", &[("Exact /q if query:debug=1", "debug"), ("Exact /q", "plain")], "GET", "/q", "plain"),
        ("method", &[("Prefix /api/v1 if method:POST", "post"), ("Prefix /api", "api")], "POST", "/api/v1/x", "post"),
        ("method fails: a shorter prefix", &[("Prefix /api/v1 if method:POST", "post"), ("Prefix /api", "api")], "GET", "/api/v1/x", "api"),
        ("cookie exact", &[("Prefix / if cookie:canary=always", "canary"), ("Prefix /", "stable")], "GET cookie:a=1;canary=always", "/", "canary"),
        ("cookie regex", &[("Prefix / if cookie:canary~^(always|yes)$", "canary"), ("Prefix /", "stable")], "GET cookie:canary=yes", "/", "canary"),
        ("cookie regex fails", &[("Prefix / if cookie:canary~^(always|yes)$", "canary"), ("Prefix /", "stable")], "GET cookie:canary=never", "/", "stable"),
        ("all conditions of a route must hold", &[("Prefix / if method:POST and header:x-a=1", "both"), ("Prefix /", "root")], "POST", "/", "root"),
        ("... and then it wins", &[("Prefix / if method:POST and header:x-a=1", "both"), ("Prefix /", "root")], "POST x-a:1", "/", "both"),
        ("a route without conditions after one with them", &[("Exact /x if query:debug=1", "debug"), ("Exact /x", "plain")], "GET ?debug=0", "/x", "plain"),
        ("a route with conditions after one without is unreachable", &[("Exact /x", "plain"), ("Exact /x if query:debug=1", "debug")], "GET ?debug=1", "/x", "plain"),
        ("failing exact falls to the regexes", &[("Exact /x if method:POST", "post"), ("Regex /x", "re")], "GET", "/x", "re"),
        ("failing regex falls to the next regex", &[("Regex /x if header:x-a=1", "re-a"), ("Regex /x", "re"), ("Prefix /x", "prefix")], "GET", "/x", "re"),
        ("... or holds", &[("Regex /x if header:x-a=1", "re-a"), ("Regex /x", "re"), ("Prefix /x", "prefix")], "GET x-a:1", "/x", "re-a"),
        ("failing regexes fall to the prefixes", &[("Regex /x if header:x-a=1", "re-a"), ("Prefix /x", "prefix")], "GET", "/x/y", "prefix"),
        ("a condition that does not compile leaves its route out", &[("Prefix / if header:x-a~(", "bad"), ("Prefix /", "root")], "GET x-a:(", "/", "root"),
    ];
    for (what, rules, request, path, want) in rows {
        let table = table(&snapshot(&[("shop.example.com", rules)], Some("default")));
        let got = winner_for(&table, "shop.example.com", path, &Request::parse(request));
        assert_eq!(
            got.as_deref(),
            Some(*want),
            "{what}: {rules:?}, {request:?} {path:?}"
        );
    }
}

#[test]
fn failing_conditions_fall_through_to_the_next_tier() {
    let table = table(&snapshot(
        &[
            (
                "a.example.com",
                &[("Prefix / if header:x-tenant=a", "a-root")],
            ),
            (
                "*.example.com",
                &[("Prefix /api if method:PUT", "wild-put")],
            ),
            ("*", &[("Prefix /api if method:GET", "any-get")]),
        ],
        Some("default"),
    ));
    #[rustfmt::skip]
    let rows = [
        ("the exact host's route holds", "GET x-tenant:a", "/api", "a-root"),
        ("... fails: the wildcard tier", "PUT", "/api", "wild-put"),
        ("... fails too: the host-less tier", "GET", "/api", "any-get"),
        ("nothing holds: the default backend", "POST", "/api", "default"),
    ];
    for (what, request, path, want) in rows {
        let got = winner_for(&table, "a.example.com", path, &Request::parse(request));
        assert_eq!(got.as_deref(), Some(want), "{what}: {request:?} {path:?}");
    }
}

#[test]
fn routes_that_could_never_win_are_left_out() {
    // (what it proves, rules, routes in the table)
    #[rustfmt::skip]
    let rows: &[(&str, &[Rule], usize)] = &[
        ("an exact repeat", &[("Prefix /a", "first"), ("Prefix /a/", "second")], 1),
        ("a repeat with the same conditions", &[("Prefix /a if method:GET", "first"), ("Prefix /a if method:GET", "second")], 1),
        ("other conditions are another route", &[("Prefix /a if method:GET", "first"), ("Prefix /a if method:PUT", "second")], 2),
        ("anything after a route without conditions", &[("Prefix /a", "first"), ("Prefix /a if method:GET", "second")], 1),
        ("a repeated regex", &[("Regex /a", "first"), ("Regex /a", "second"), ("RegexI /a", "other")], 2),
        ("a route whose regex does not compile", &[("Regex (", "bad"), ("Exact /a if header:x~)", "bad too")], 0),
        ("the same path under another kind is another rule", &[("Prefix /a", "prefix"), ("Exact /a", "exact"), ("Regex /a", "re")], 3),
    ];
    for (what, rules, want) in rows {
        let snapshot = snapshot(&[("shop.example.com", rules)], None);
        let mut called = Vec::new();
        let table = RouteTable::build(&snapshot, |declared| called.push(label(declared)));
        assert_eq!(table.len(), *want, "{what}");
        assert_eq!(called.len(), *want, "{what}: target called for {called:?}");
    }
    let table = table(&snapshot(
        &[(
            "shop.example.com",
            &[("Prefix /a", "first"), ("Prefix /a/", "second")],
        )],
        None,
    ));
    assert_eq!(
        winner(&table, "shop.example.com", "/a").as_deref(),
        Some("first")
    );
}

#[test]
fn every_action_is_declared_and_routed_alike() {
    let mut respond = route(PathMatch::prefix("/gone"), "gone");
    respond.action = Action::Respond(Respond {
        status: 410,
        body: None,
    });
    let snapshot = Snapshot {
        virtual_hosts: vec![VirtualHost {
            host: HostMatch::Any,
            routes: vec![respond.clone(), route(PathMatch::prefix("/"), "root")],
        }],
        ..Snapshot::default()
    };
    let mut declared = Vec::new();
    let table = RouteTable::build(&snapshot, |d| {
        if let Declared::Route { host, route } = d {
            declared.push((host.clone(), route.clone()));
        }
    });
    assert_eq!(declared[0], (HostMatch::Any, respond), "handed as declared");
    assert_eq!(table.len(), 2);
    let m = find(&table, "x", "/gone/x").unwrap();
    assert_eq!(m.path, Some(&PathMatch::Prefix("/gone".into())));
}

#[test]
fn the_matching_route_reports_its_own_ssl_redirect() {
    let mut snapshot = snapshot(
        &[(
            "shop.example.com",
            &[
                ("Exact /c if method:POST", "c-post"),
                ("Exact /c", "c"),
                ("Regex /r", "r"),
                ("Prefix /p", "p"),
            ],
        )],
        Some("default"),
    );
    // Every other route redirects plain HTTP.
    for (i, route) in snapshot.virtual_hosts[0].routes.iter_mut().enumerate() {
        route.ssl_redirect = i % 2 == 1;
    }
    let table = table(&snapshot);
    #[rustfmt::skip]
    let rows = [
        ("conditional group, first route", "POST", "/c", false),
        ("conditional group, second route", "GET", "/c", true),
        ("regex route", "GET", "/r", false),
        ("plain route (from the key record)", "GET", "/p", true),
        ("default backend", "GET", "/nothing", true),
    ];
    for (what, method, path, want) in rows {
        let request = Request::parse(method);
        for prefetch in [false, true] {
            let m = table
                .find_with(
                    &Host::new("shop.example.com"),
                    path,
                    &request.parts(),
                    prefetch,
                )
                .unwrap();
            assert_eq!(m.ssl_redirect, want, "{what}");
        }
    }
}

#[test]
fn path_regexes_compile_with_the_table_limits() {
    // (pattern, case-insensitive, path, matches)
    #[rustfmt::skip]
    let rows = [
        ("/api/v[0-9]+", false, "/api/v12/x", true),
        ("/api", false, "/x/api", false),
        ("/API", true, "/api", true),
        ("/caf\u{e9}", true, "/CAF\u{e9}", true), // a non-ASCII literal is its UTF-8 bytes
        ("/(a?){1000}", false, "/aa", true), // what the size limit refuses below, smaller
        ("/\\d+$", false, "/123", true),
        ("/\\w+", false, "/\u{e9}", false), // ASCII classes
        ("/.", false, "/\u{e9}", true), // `.` is a byte
        ("", false, "/anything", true),
    ];
    for (pattern, case_insensitive, path, want) in rows {
        let regex = compile_path_regex(&RegexPath {
            pattern: pattern.into(),
            case_insensitive,
        })
        .unwrap();
        assert_eq!(
            regex.is_match(path.as_bytes()),
            want,
            "{pattern:?} {path:?}"
        );
    }
    for pattern in ["(", "a)|(b", "(a?){1000}{1000}", "[\u{e9}]"] {
        let compiled = compile_path_regex(&RegexPath {
            pattern: pattern.into(),
            case_insensitive: false,
        });
        assert!(compiled.is_err(), "{pattern:?} compiled");
    }
}

#[test]
fn a_host_is_normalised_once() {
    #[rustfmt::skip]
    let rows = [
        ("Shop.Example.com:8443", "shop.example.com"),
        ("shop.example.com", "shop.example.com"),
        ("[::1]:80", "::1"),
    ];
    for (raw, want) in rows {
        let host = Host::new(raw);
        assert_eq!(host.as_str(), want, "{raw:?}");
        assert_eq!(&*host, want, "{raw:?} through Deref");
        assert_eq!(host.to_string(), want, "{raw:?} displayed");
    }
}

#[test]
fn many_regexes_on_one_host() {
    // 100 regex routes and a prefix fallback on one host, next to a large table of plain
    // hosts (prefetching lookups): the plain hosts are untouched, the regexes tried in order.
    let mut snapshot = Snapshot::default();
    for h in 0..3_000 {
        snapshot.virtual_hosts.push(VirtualHost {
            host: HostMatch::Exact(format!("h{h}.example.com")),
            routes: vec![route(PathMatch::prefix("/svc"), &format!("h{h}"))],
        });
    }
    let mut routes: Vec<Route> = (0..100)
        .map(|i| {
            route_of(
                &format!("Regex /team{i}/service/v[0-9]+/"),
                &format!("re{i}"),
            )
        })
        .collect();
    routes.push(route_of("Regex /team[0-9]+/", "catch-all-re"));
    routes.push(route(PathMatch::prefix("/"), "root"));
    snapshot.virtual_hosts.push(VirtualHost {
        host: HostMatch::Exact("regex.example.com".into()),
        routes,
    });
    let table = table(&snapshot);
    assert!(table.prefetch, "a table that prefetches");
    #[rustfmt::skip]
    let rows = [
        ("regex.example.com", "/team99/service/v1/items/42", "re99"),
        ("regex.example.com", "/team0/service/v2/", "re0"),
        ("regex.example.com", "/team7/service/vx/", "catch-all-re"),
        ("regex.example.com", "/other/thing", "root"),
        ("h17.example.com", "/svc/x", "h17"),
    ];
    for (host, path, want) in rows {
        assert_eq!(
            winner(&table, host, path).as_deref(),
            Some(want),
            "{host}{path}"
        );
    }
    assert_eq!(
        winner(&table, "h17.example.com", "/team1/service/v1/"),
        None
    );
}
