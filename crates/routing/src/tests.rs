//! Table-driven tests. Every route's declaring object has a readable label as its name, and the
//! table's target is that label, so a failing row names the winner it expected and the one it got.

use pingress_model::{ClusterId, ObjectRef, Route, VirtualHost};

use super::*;

/// `(rule, label)`, e.g. `("Prefix /foo", "foo")`.
type Rule<'a> = (&'a str, &'a str);

fn cluster() -> ClusterId {
    ClusterId::new(&ObjectRef::new("default", "web"), 80)
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

/// `"Exact /foo"` or `"Prefix /foo/"` (normalised like the translation does).
fn path_match(rule: &str) -> PathMatch {
    match rule.split_once(' ') {
        Some(("Exact", p)) => PathMatch::Exact(p.to_string()),
        Some(("Prefix", p)) => PathMatch::prefix(p),
        _ => panic!("bad rule {rule:?}"),
    }
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
                    .map(|(rule, label)| route(path_match(rule), label))
                    .collect(),
            })
            .collect(),
        default_backend: default.map(backend),
        ..Snapshot::default()
    }
}

fn table(snapshot: &Snapshot) -> RouteTable<String> {
    RouteTable::build(snapshot, |b| b.ingress.name.clone())
}

/// The label of the winner, or `None`; the same whether the lookup prefetches or not.
fn winner(table: &RouteTable<String>, host: &str, path: &str) -> Option<String> {
    let [lazy, eager] = [false, true].map(|prefetch| {
        table
            .find_with(host, path, prefetch)
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
    let table = table(&tiers(Some("default")));
    let m = table.find("bar.example.com", "/web/x").unwrap();
    assert_eq!(m.host, Some(&HostMatch::Wildcard("example.com".into())));
    assert_eq!(m.path, Some(&PathMatch::Prefix("/web".into())));
    assert_eq!(m.backend, &backend("wild-web"));

    let m = table.find("bar.example.com", "/nothing").unwrap();
    assert_eq!((m.host, m.path), (None, None));
    assert_eq!(m.backend, &backend("default"));
}

#[test]
fn empty_table() {
    let table = table(&Snapshot::default());
    assert!(table.is_empty());
    assert_eq!(table.len(), 0);
    assert!(table.find("example.com", "/").is_none());
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
