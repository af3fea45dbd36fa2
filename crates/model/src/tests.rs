use std::collections::BTreeMap;

use super::*;

#[test]
fn prefix_is_normalised_without_trailing_slash() {
    assert_eq!(PathMatch::prefix("/foo/"), PathMatch::Prefix("/foo".into()));
    assert_eq!(PathMatch::prefix("/foo"), PathMatch::Prefix("/foo".into()));
    assert_eq!(PathMatch::prefix("/"), PathMatch::Prefix(String::new()));
    assert!(PathMatch::prefix("/").is_empty());
    assert_eq!(PathMatch::prefix("/").to_string(), "Prefix /");
}

#[test]
fn cluster_ids_name_service_and_port() {
    let id = ClusterId::new(&ObjectRef::new("shop", "web"), "http").unwrap();
    assert_eq!(id.as_str(), "shop/web:http");
    assert_eq!((id.service(), id.port()), ("web", "http"));
    assert_eq!(id.namespace(), "shop");
}

/// `(namespace, service, port)`.
type Parts<'a> = (&'a str, &'a str, &'a str);

#[test]
fn cluster_ids_parse_once_and_order_as_their_text() {
    #[rustfmt::skip]
    let rows: [(&str, Option<Parts>); 8] = [
        ("default/web:80", Some(("default", "web", "80"))),
        ("default/web:http", Some(("default", "web", "http"))),
        // Kubernetes names hold neither `/` nor `:`: a second one is refused, not guessed at.
        ("a/b:c:1", None),
        ("default/web", None),
        ("/web:80", None),
        ("default/:80", None),
        ("default/web:", None),
        ("a/b/c:1", None),
    ];
    for (text, parts) in rows {
        let parsed = text.parse::<ClusterId>().ok();
        let got = parsed
            .as_ref()
            .map(|id| (id.namespace(), id.service(), id.port()));
        assert_eq!(got, parts, "{text}");
    }
    let mut ids: Vec<ClusterId> = ["default/web:80", "default/web2:80", "default/web:http"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    ids.sort();
    let texts: Vec<&str> = ids.iter().map(ClusterId::as_str).collect();
    let mut sorted = texts.clone();
    sorted.sort();
    assert_eq!(texts, sorted, "ordered as strings are");
}

#[test]
fn object_refs_parse_namespace_slash_name_only() {
    let rows = [
        ("default/tls", Some(ObjectRef::new("default", "tls"))),
        ("tls", None),
        ("/tls", None),
        ("default/", None),
        ("a/b/c", None),
    ];
    for (text, expected) in rows {
        assert_eq!(text.parse::<ObjectRef>().ok(), expected, "{text}");
    }
}

#[test]
fn snapshot_round_trips_through_json() {
    let mut clusters = BTreeMap::new();
    let id = ClusterId::new(&ObjectRef::new("default", "web"), 80).unwrap();
    assert!(ClusterId::new(&ObjectRef::new("default", "web"), "a/b:c").is_err());
    clusters.insert(
        id.clone(),
        Cluster {
            endpoints: vec![Endpoint {
                addr: "10.0.0.1:8080".parse().unwrap(),
            }],
            policy: ClusterPolicy::default(),
        },
    );
    let mut route = Route::forward(
        PathMatch::Exact("/a".into()),
        id,
        ObjectRef::new("default", "ing"),
    );
    route.conditions = vec![Condition::Header {
        name: "x-canary".into(),
        value: StringMatch::Regex("^on$".into()),
    }];
    route.filters = vec![Filter::ResponseHeaders(HeaderChanges {
        set: vec![("x-frame-options".into(), "DENY".into())],
        ..HeaderChanges::default()
    })];
    let snapshot = Snapshot {
        generation: 7,
        virtual_hosts: vec![VirtualHost {
            host: HostMatch::Wildcard("example.com".into()),
            routes: vec![route],
        }],
        default_backend: None,
        clusters,
        tls: Tls {
            hosts: vec![TlsHost {
                host: HostMatch::Exact("shop.test".into()),
                certificate: Some(ObjectRef::new("default", "shop-tls")),
            }],
            certificates: [(
                ObjectRef::new("default", "shop-tls"),
                Certificate {
                    chain_pem: "chain".into(),
                    key_pem: "key".into(),
                },
            )]
            .into(),
            default_certificate: None,
        },
        ..Snapshot::default()
    };
    let json = serde_json::to_string(&snapshot).unwrap();
    assert!(
        json.contains(r#""default/shop-tls":"#),
        "maps keyed by object: {json}"
    );
    assert!(
        json.starts_with(&format!(r#"{{"schema":{SCHEMA_VERSION},"#)),
        "the schema comes first: {json}"
    );
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);
    assert_eq!(back.route_count(), 1);
}

#[test]
fn certificate_debug_never_shows_the_key() {
    let cert = Certificate {
        chain_pem: "-----BEGIN CERTIFICATE-----".into(),
        key_pem: "-----BEGIN PRIVATE KEY----- secret".into(),
    };
    let debug = format!("{cert:?}");
    assert!(
        !debug.contains("secret") && debug.contains("redacted"),
        "{debug}"
    );
}

#[test]
fn retry_tokens_serialize_as_ingress_nginx_spells_them() {
    let on = RetryOn::token("http_502")
        .unwrap()
        .with(RetryOn::NON_IDEMPOTENT)
        .with(RetryOn::ERROR);
    let json = serde_json::to_string(&on).unwrap();
    assert_eq!(json, r#"["error","http_502","non_idempotent"]"#);
    assert_eq!(serde_json::from_str::<RetryOn>(&json).unwrap(), on);
    assert_eq!(on.to_string(), "error http_502 non_idempotent");
    assert_eq!(RetryOn::off().to_string(), "off");
    assert!(serde_json::from_str::<RetryOn>(r#"["sometimes"]"#).is_err());
    // (status, retried)
    for (status, retried) in [(502, true), (503, false), (500, false), (200, false)] {
        assert_eq!(on.status(status), retried, "{status}");
    }
    assert!(on.any_status() && !RetryOn::ERROR.any_status());
    assert!(
        !RetryOn::off().contains(RetryOn::off()),
        "nothing is in off"
    );
    let default = Retry::default();
    assert_eq!(
        (default.on.to_string(), default.tries, default.timeout),
        ("error timeout".to_string(), 3, None),
        "ingress-nginx's defaults (config.go NewDefault)"
    );
}
