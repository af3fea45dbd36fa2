//! Table-driven tests: these Kubernetes objects in, this snapshot and these diagnostics out.
//!
//! Fixtures are YAML manifests (`apiVersion` may be left out). Results are rendered one line per
//! route, default backend, cluster and diagnostic (see [`render`]) so that each test reads as
//! input and expected output side by side.

mod common;

use common::objects;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use pingress_model::{
    Action, BackendSet, Cluster, ClusterId, ClusterPolicy, Endpoint, HostMatch, ObjectRef,
    PathMatch, Route, RoutePolicy, Snapshot, VirtualHost, WeightedBackend, SCHEMA_VERSION,
};
use pingress_translate::{
    translate, Diagnostic, Objects, Options, Severity, Translation, DEFAULT_CONTROLLER_NAME,
};
use serde_json::json;

/// Our IngressClass `pingress`, marked default, and Service `default/web` (port `http` 80 →
/// 8080) with one ready endpoint.
const BASE: &str = r#"
kind: IngressClass
metadata:
  name: pingress
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: pingress.io/ingress-controller}
---
kind: Service
metadata: {name: web}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.0.0.1]}]
"#;

/// One line per route (`host path -> cluster (ingress)`), then the default backend, the clusters
/// and the diagnostics, all in the translation's own order.
fn render(t: &Translation) -> Vec<String> {
    let snapshot = &t.snapshot;
    let routes = snapshot.virtual_hosts.iter().flat_map(|vh| {
        vh.routes.iter().map(move |r| {
            let clusters: Vec<String> = r
                .action
                .backends()
                .into_iter()
                .flat_map(|set| set.clusters())
                .map(ToString::to_string)
                .collect();
            let clusters = clusters.join(", ");
            format!("{} {} -> {clusters} ({})", vh.host, r.path, r.origin)
        })
    });
    let default = snapshot
        .default_backend
        .iter()
        .map(|b| format!("default -> {} ({})", b.cluster, b.ingress));
    let clusters = snapshot.clusters.iter().map(|(id, c)| {
        let endpoints: Vec<String> = c.endpoints.iter().map(|e| e.addr.to_string()).collect();
        format!("cluster {id} = [{}]", endpoints.join(", "))
    });
    let diagnostics = t.diagnostics.iter().map(|d| format!("{}: {d}", d.severity));
    routes
        .chain(default)
        .chain(clusters)
        .chain(diagnostics)
        .collect()
}

/// Translates [`BASE`] plus `yaml` with the default options and compares the rendering.
#[track_caller]
fn check(yaml: &str, expected: &[&str]) {
    let t = translate(
        &objects(&format!("{BASE}\n---\n{yaml}")),
        &Options::default(),
    );
    assert_eq!(render(&t), expected);
}

fn refs(names: &[&str]) -> Vec<ObjectRef> {
    names
        .iter()
        .map(|n| n.parse().expect("namespace/name"))
        .collect()
}

// --- Ingress class -------------------------------------------------------------------------

fn class(name: &str, controller: &str, default: bool) -> IngressClass {
    let annotations = if default {
        json!({"ingressclass.kubernetes.io/is-default-class": "true"})
    } else {
        json!({})
    };
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"controller": controller},
    }))
    .unwrap()
}

fn classed_ingress(annotation: Option<&str>, class_name: Option<&str>) -> Ingress {
    let annotations = match annotation {
        Some(a) => json!({"kubernetes.io/ingress.class": a}),
        None => json!({}),
    };
    serde_json::from_value(json!({
        "metadata": {"name": "ing", "annotations": annotations},
        "spec": {
            "ingressClassName": class_name,
            "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
        },
    }))
    .unwrap()
}

#[test]
fn class_selection() {
    let ours = |name, default| class(name, DEFAULT_CONTROLLER_NAME, default);
    let theirs = |name, default| class(name, "example.com/other", default);
    #[rustfmt::skip]
    let cases = [
        ("annotation equals our class", vec![], Some("pingress"), None, true),
        ("annotation names another class", vec![ours("pingress", true)], Some("nginx"), None, false),
        ("annotation beats the field (ours)", vec![theirs("nginx", false)], Some("pingress"), Some("nginx"), true),
        ("annotation beats the field (theirs)", vec![ours("pingress", false)], Some("nginx"), Some("pingress"), false),
        ("field names a class object of ours", vec![ours("edge", false)], None, Some("edge"), true),
        ("field names another controller's class", vec![theirs("nginx", false), ours("pingress", true)], None, Some("nginx"), false),
        ("field equals our class name, no class object", vec![], None, Some("pingress"), true),
        ("field equals our class name, but that class is another controller's", vec![theirs("pingress", false)], None, Some("pingress"), false),
        ("field names an unknown class", vec![ours("pingress", true)], None, Some("unknown"), false),
        ("no class, our class is the default", vec![theirs("nginx", false), ours("edge", true)], None, None, true),
        ("no class, the default class is another controller's", vec![ours("pingress", false), theirs("nginx", true)], None, None, false),
        ("no class and no default class", vec![ours("pingress", false)], None, None, false),
        ("no class and no class objects", vec![], None, None, false),
    ];
    for (name, ingress_classes, annotation, class_name, served) in cases {
        let objects = Objects {
            ingresses: vec![classed_ingress(annotation, class_name)],
            ingress_classes,
            ..Objects::default()
        };
        let t = translate(&objects, &Options::default());
        let expected = if served {
            refs(&["default/ing"])
        } else {
            vec![]
        };
        assert_eq!(t.ingresses, expected, "{name}");
        assert_eq!(t.snapshot.default_backend.is_some(), served, "{name}");
    }
}

#[test]
fn options_choose_class_and_controller() {
    let options = Options {
        ingress_class: "edge".into(),
        controller_name: "example.com/edge".into(),
        ..Options::default()
    };
    let objects = Objects {
        ingresses: vec![
            classed_ingress(Some("edge"), None),
            classed_ingress(Some("pingress"), None),
        ],
        ..Objects::default()
    };
    let t = translate(&objects, &options);
    assert_eq!(t.ingresses, refs(&["default/ing"]));
    assert_eq!(
        t.snapshot.default_backend.unwrap().ingress,
        refs(&["default/ing"])[0]
    );

    let objects = Objects {
        ingresses: vec![classed_ingress(None, Some("mine"))],
        ingress_classes: vec![class("mine", "example.com/edge", false)],
        ..Objects::default()
    };
    assert_eq!(
        translate(&objects, &options).ingresses,
        refs(&["default/ing"])
    );
    assert!(translate(&objects, &Options::default())
        .ingresses
        .is_empty());
}

#[test]
fn ingresses_of_other_classes_are_ignored_silently() {
    check(
        r#"
kind: Ingress
metadata:
  name: theirs
  annotations: {kubernetes.io/ingress.class: nginx}
spec:
  defaultBackend: {resource: {kind: Bucket, name: b}}
  rules:
  - host: Not_A_Host
    http:
      paths:
      - {path: relative, pathType: Foo, backend: {service: {name: gone, port: {number: 80}}}}
"#,
        &[],
    );
}

// --- Backends and endpoints ------------------------------------------------------------------

#[test]
fn service_port_by_number_and_by_name() {
    check(
        r#"
kind: Service
metadata: {name: app}
spec:
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: admin, port: 9000, targetPort: metrics}
---
kind: EndpointSlice
metadata: {name: app-1, labels: {kubernetes.io/service-name: app}}
addressType: IPv4
ports: [{name: admin, port: 9090}, {name: http, port: 8080}]
endpoints: [{addresses: [10.0.0.5]}]
---
kind: Ingress
metadata: {name: app}
spec:
  rules:
  - host: app.example.com
    http:
      paths:
      - {path: /by-number, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}
      - {path: /by-name, pathType: Prefix, backend: {service: {name: app, port: {name: http}}}}
      - {path: /admin, pathType: Prefix, backend: {service: {name: app, port: {number: 9000}}}}
"#,
        &[
            "app.example.com Prefix /admin -> default/app:9000 (default/app)",
            "app.example.com Prefix /by-name -> default/app:http (default/app)",
            "app.example.com Prefix /by-number -> default/app:80 (default/app)",
            // The slice port is found by the Service port's name, whatever the targetPort says.
            "cluster default/app:80 = [10.0.0.5:8080]",
            "cluster default/app:9000 = [10.0.0.5:9090]",
            "cluster default/app:http = [10.0.0.5:8080]",
        ],
    );
}

#[test]
fn unnamed_service_port_maps_to_unnamed_slice_port() {
    check(
        r#"
kind: Service
metadata: {name: solo}
spec:
  ports: [{port: 80, targetPort: 3000}]
---
kind: EndpointSlice
metadata: {name: solo-1, labels: {kubernetes.io/service-name: solo}}
addressType: IPv4
ports: [{port: 3000}]
endpoints: [{addresses: [10.0.0.7]}]
---
kind: Service
metadata: {name: mismatch}
spec:
  ports: [{name: http, port: 80}]
---
kind: EndpointSlice
metadata: {name: mismatch-1, labels: {kubernetes.io/service-name: mismatch}}
addressType: IPv4
ports: [{port: 3000}]
endpoints: [{addresses: [10.0.0.8]}]
---
kind: Ingress
metadata: {name: ports}
spec:
  rules:
  - http:
      paths:
      - {path: /solo, pathType: Prefix, backend: {service: {name: solo, port: {number: 80}}}}
      - {path: /mismatch, pathType: Prefix, backend: {service: {name: mismatch, port: {number: 80}}}}
"#,
        &[
            "* Prefix /mismatch -> default/mismatch:80 (default/ports)",
            "* Prefix /solo -> default/solo:80 (default/ports)",
            // The slice has no port named "http": nothing to send to, but not an error.
            "cluster default/mismatch:80 = []",
            "cluster default/solo:80 = [10.0.0.7:3000]",
        ],
    );
}

#[test]
fn only_ready_endpoints_are_used() {
    check(
        r#"
kind: EndpointSlice
metadata: {name: web-2, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.0.1.1], conditions: {ready: true}}
- {addresses: [10.0.1.2], conditions: {ready: false, serving: true}}
- {addresses: [10.0.1.3], conditions: {}}
- {addresses: [10.0.1.4]}
- {addresses: [10.0.1.5], conditions: {ready: false, serving: true, terminating: true}}
---
kind: Ingress
metadata: {name: shop}
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
"#,
        &[
            "default -> default/web:80 (default/shop)",
            "cluster default/web:80 = [10.0.0.1:8080, 10.0.1.1:8080, 10.0.1.3:8080, 10.0.1.4:8080]",
        ],
    );
}

#[test]
fn slices_of_a_service_are_merged_and_others_ignored() {
    check(
        r#"
kind: EndpointSlice
metadata: {name: web-2, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.0.0.2]}, {addresses: [10.0.0.1]}]
---
kind: EndpointSlice
metadata: {name: web-v6, labels: {kubernetes.io/service-name: web}}
addressType: IPv6
ports: [{name: http, port: 8080}]
endpoints: [{addresses: ["fd00::1"]}]
---
kind: EndpointSlice
metadata: {name: other-1, labels: {kubernetes.io/service-name: other}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.9.9.9]}]
---
kind: EndpointSlice
metadata: {name: web-1, namespace: staging, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.8.8.8]}]
---
kind: EndpointSlice
metadata: {name: unlabelled}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.7.7.7]}]
---
kind: Ingress
metadata: {name: shop}
spec:
  defaultBackend: {service: {name: web, port: {name: http}}}
"#,
        &[
            "default -> default/web:http (default/shop)",
            "cluster default/web:http = [10.0.0.1:8080, 10.0.0.2:8080, [fd00::1]:8080]",
        ],
    );
}

#[test]
fn fqdn_slices_are_skipped_with_a_warning() {
    check(
        r#"
kind: EndpointSlice
metadata: {name: web-fqdn, labels: {kubernetes.io/service-name: web}}
addressType: FQDN
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [db.example.com]}]
---
kind: Ingress
metadata: {name: shop}
spec:
  rules:
  - http:
      paths:
      - {path: /a, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /b, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
"#,
        &[
            "* Prefix /a -> default/web:80 (default/shop)",
            "* Prefix /b -> default/web:http (default/shop)",
            "cluster default/web:80 = [10.0.0.1:8080]",
            "cluster default/web:http = [10.0.0.1:8080]",
            // Consulted for two clusters, reported once.
            "warning: EndpointSlice default/web-fqdn: addressType: FQDN endpoints are not supported; this EndpointSlice is ignored",
        ],
    );
}

#[test]
fn services_are_looked_up_in_the_ingress_namespace() {
    check(
        r#"
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 80}]
---
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8000}]
endpoints: [{addresses: [10.1.0.1]}]
---
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
kind: Ingress
metadata: {name: blog}
spec:
  rules:
  - host: blog.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"#,
        &[
            "blog.example.com Prefix / -> default/web:80 (default/blog)",
            "shop.example.com Prefix / -> shop/web:80 (shop/shop)",
            "cluster default/web:80 = [10.0.0.1:8080]",
            "cluster shop/web:80 = [10.1.0.1:8000]",
        ],
    );
}

#[test]
fn unresolvable_backends_keep_their_route_with_an_empty_cluster() {
    check(
        r#"
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: db.example.com, ports: [{port: 80}]}
---
kind: Ingress
metadata: {name: broken}
spec:
  defaultBackend: {service: {name: gone, port: {number: 80}}}
  rules:
  - host: broken.example.com
    http:
      paths:
      - {path: /gone, pathType: Prefix, backend: {service: {name: gone, port: {number: 80}}}}
      - {path: /no-port, pathType: Prefix, backend: {service: {name: web, port: {number: 81}}}}
      - {path: /no-name, pathType: Prefix, backend: {service: {name: web, port: {name: grpc}}}}
      - {path: /external, pathType: Prefix, backend: {service: {name: ext, port: {number: 80}}}}
"#,
        &[
            "broken.example.com Prefix /external -> default/ext:80 (default/broken)",
            "broken.example.com Prefix /gone -> default/gone:80 (default/broken)",
            "broken.example.com Prefix /no-name -> default/web:grpc (default/broken)",
            "broken.example.com Prefix /no-port -> default/web:81 (default/broken)",
            "default -> default/gone:80 (default/broken)",
            "cluster default/ext:80 = []",
            "cluster default/gone:80 = []",
            "cluster default/web:81 = []",
            "cluster default/web:grpc = []",
            "error: Ingress default/broken: spec.defaultBackend.service.name: Service default/gone not found",
            "error: Ingress default/broken: spec.rules[0].http.paths[0].backend.service.name: Service default/gone not found",
            "error: Ingress default/broken: spec.rules[0].http.paths[1].backend.service.port: Service default/web has no port 81",
            "error: Ingress default/broken: spec.rules[0].http.paths[2].backend.service.port: Service default/web has no port named \"grpc\"",
            "error: Ingress default/broken: spec.rules[0].http.paths[3].backend.service.name: Service default/ext is of type ExternalName, which is not supported",
        ],
    );
}

#[test]
fn no_ready_endpoints_is_not_an_error() {
    check(
        r#"
kind: Service
metadata: {name: idle}
spec:
  ports: [{port: 80}]
---
kind: EndpointSlice
metadata: {name: idle-1, labels: {kubernetes.io/service-name: idle}}
addressType: IPv4
ports: [{port: 80}]
endpoints: [{addresses: [10.0.2.1], conditions: {ready: false}}]
---
kind: Service
metadata: {name: zero}
spec:
  ports: [{port: 80}]
---
kind: Ingress
metadata: {name: quiet}
spec:
  rules:
  - http:
      paths:
      - {path: /idle, pathType: Prefix, backend: {service: {name: idle, port: {number: 80}}}}
      - {path: /zero, pathType: Prefix, backend: {service: {name: zero, port: {number: 80}}}}
"#,
        &[
            "* Prefix /idle -> default/idle:80 (default/quiet)",
            "* Prefix /zero -> default/zero:80 (default/quiet)",
            "cluster default/idle:80 = []",
            "cluster default/zero:80 = []",
        ],
    );
}

#[test]
fn malformed_backends_skip_the_path() {
    check(
        r#"
kind: Ingress
metadata: {name: odd}
spec:
  rules:
  - http:
      paths:
      - {path: /bucket, pathType: Prefix, backend: {resource: {apiGroup: k8s.example.com, kind: Bucket, name: assets}}}
      - {path: /both, pathType: Prefix, backend: {service: {name: web, port: {number: 80, name: http}}}}
      - {path: /neither, pathType: Prefix, backend: {service: {name: web}}}
      - {path: /range, pathType: Prefix, backend: {service: {name: web, port: {number: 70000}}}}
      - {path: /empty, pathType: Prefix, backend: {}}
      - {path: relative, pathType: Prefix, backend: {resource: {kind: Bucket, name: assets}}}
      - {path: /ok, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"#,
        &[
            "* Prefix /ok -> default/web:80 (default/odd)",
            "cluster default/web:80 = [10.0.0.1:8080]",
            "error: Ingress default/odd: spec.rules[0].http.paths[0].backend.resource: resource backends are not supported",
            "error: Ingress default/odd: spec.rules[0].http.paths[1].backend.service.port: set either number or name, not both",
            "error: Ingress default/odd: spec.rules[0].http.paths[2].backend.service.port: required; set number or name",
            "error: Ingress default/odd: spec.rules[0].http.paths[3].backend.service.port.number: invalid value 70000: must be between 1 and 65535",
            "error: Ingress default/odd: spec.rules[0].http.paths[4].backend.service: required",
            "error: Ingress default/odd: spec.rules[0].http.paths[5].backend.resource: resource backends are not supported",
            "error: Ingress default/odd: spec.rules[0].http.paths[5].path: invalid value \"relative\": must start with '/'",
        ],
    );
}

/// Names the API server would refuse, from a manifest file: they would make the Snapshot's
/// `namespace/service:port` ids ambiguous (found by fuzz/manifests).
#[test]
fn names_the_api_server_refuses_are_reported_not_trusted() {
    check(
        r#"
kind: Ingress
metadata: {name: names}
spec:
  rules:
  - http:
      paths:
      - {path: /port, pathType: Prefix, backend: {service: {name: web, port: {name: "default/green:8http"}}}}
      - {path: /service, pathType: Prefix, backend: {service: {name: "a/b", port: {number: 80}}}}
      - {path: /ok, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
---
kind: Ingress
metadata: {name: "bad/name", namespace: "a:b"}
spec:
  rules:
  - http:
      paths:
      - {path: /other, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"#,
        &[
            "* Prefix /ok -> default/web:http (default/names)",
            "cluster default/web:http = [10.0.0.1:8080]",
            "error: Ingress a:b/bad/name: metadata.name: invalid name \"bad/name\": expected a DNS subdomain (lower-case letters, digits, '-' and '.', at most 253 characters); the Ingress is ignored",
            "error: Ingress a:b/bad/name: metadata.namespace: invalid name \"a:b\": expected at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit; the Ingress is ignored",
            "error: Ingress default/names: spec.rules[0].http.paths[0].backend.service.port.name: invalid port name \"default/green:8http\": expected at most 15 lower-case letters, digits and '-', with a letter",
            "error: Ingress default/names: spec.rules[0].http.paths[1].backend.service.name: invalid name \"a/b\": expected at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit",
        ],
    );
}

// --- Hosts and paths -------------------------------------------------------------------------

#[test]
fn hosts_are_lowercased_validated_and_grouped() {
    check(
        r#"
kind: Ingress
metadata: {name: hosts}
spec:
  rules:
  - host: Shop.Example.COM
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: "*.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: 10.0.0.1
    http:
      paths:
      - {path: /ip, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: bad_label.example.com
    http:
      paths:
      - {path: /bad, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: foo.*.example.com
    http:
      paths:
      - {path: /star, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: nothing-to-route.example.com
  - host: shop.example.com
    http:
      paths:
      - {path: /more, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"#,
        &[
            "shop.example.com Prefix / -> default/web:80 (default/hosts)",
            "shop.example.com Prefix /more -> default/web:80 (default/hosts)",
            "*.example.com Prefix / -> default/web:80 (default/hosts)",
            "* Prefix / -> default/web:80 (default/hosts)",
            "cluster default/web:80 = [10.0.0.1:8080]",
            "error: Ingress default/hosts: spec.rules[3].host: invalid value \"10.0.0.1\": an IP address is not allowed; use a DNS name",
            "error: Ingress default/hosts: spec.rules[4].host: invalid value \"bad_label.example.com\": DNS label \"bad_label\" must consist of lower-case letters, digits and '-', and start and end with a letter or digit",
            "error: Ingress default/hosts: spec.rules[5].host: invalid value \"foo.*.example.com\": a wildcard must be the whole first label, as in \"*.example.com\"",
        ],
    );
}

#[test]
fn path_types() {
    check(
        r#"
kind: Ingress
metadata: {name: paths}
spec:
  rules:
  - http:
      paths:
      - {path: /exact/, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /prefix/, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /impl/, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /foo, pathType: Foo, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /missing, backend: {service: {name: web, port: {number: 80}}}}
"#,
        &[
            "* Exact /exact/ -> default/web:80 (default/paths)",
            "* Prefix / -> default/web:80 (default/paths)",
            "* Prefix /impl -> default/web:80 (default/paths)",
            "* Prefix /prefix -> default/web:80 (default/paths)",
            "cluster default/web:80 = [10.0.0.1:8080]",
            "error: Ingress default/paths: spec.rules[0].http.paths[4].pathType: unsupported value \"Foo\"; expected Exact, Prefix or ImplementationSpecific",
            "error: Ingress default/paths: spec.rules[0].http.paths[5].pathType: required; expected Exact, Prefix or ImplementationSpecific",
        ],
    );
}

#[test]
fn paths_kubernetes_rejects_are_skipped() {
    check(
        r#"
kind: Ingress
metadata: {name: paths}
spec:
  rules:
  - http:
      paths:
      - {pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: api, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /a//b, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /a/../b, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /a%2Fb, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /static/., pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /.well-known/acme, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"#,
        &[
            "* Prefix /.well-known/acme -> default/web:80 (default/paths)",
            "cluster default/web:80 = [10.0.0.1:8080]",
            "error: Ingress default/paths: spec.rules[0].http.paths[0].path: required; must be an absolute path starting with '/'",
            "error: Ingress default/paths: spec.rules[0].http.paths[1].path: invalid value \"api\": must start with '/'",
            "error: Ingress default/paths: spec.rules[0].http.paths[2].path: invalid value \"/a//b\": must not contain \"//\"",
            "error: Ingress default/paths: spec.rules[0].http.paths[3].path: invalid value \"/a/../b\": must not contain \"/../\"",
            "error: Ingress default/paths: spec.rules[0].http.paths[4].path: invalid value \"/a%2Fb\": must not contain \"%2F\"",
            "error: Ingress default/paths: spec.rules[0].http.paths[5].path: invalid value \"/static/.\": must not end with \"/.\"",
        ],
    );
}

// --- Conflicts and default backends ---------------------------------------------------------

#[test]
fn conflicting_paths_go_to_the_oldest_ingress() {
    check(
        r#"
kind: Ingress
metadata: {name: new, creationTimestamp: "2024-06-01T00:00:00Z"}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: legacy, port: {number: 80}}}}
      - {path: /api, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /only-new, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: blog.example.com
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
kind: Ingress
metadata: {name: old, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /api/, pathType: ImplementationSpecific, backend: {service: {name: web, port: {name: http}}}}
"#,
        &[
            "blog.example.com Prefix /api -> default/web:80 (default/new)",
            "shop.example.com Exact /api -> default/web:80 (default/new)",
            "shop.example.com Prefix /api -> default/web:http (default/old)",
            "shop.example.com Prefix /only-new -> default/web:80 (default/new)",
            // The loser's backend is not resolved: no cluster for default/legacy:80, no error.
            "cluster default/web:80 = [10.0.0.1:8080]",
            "cluster default/web:http = [10.0.0.1:8080]",
            "warning: Ingress default/new: spec.rules[0].http.paths[0]: ignored: Prefix /api for host \"shop.example.com\" is already routed by Ingress default/old (oldest Ingress wins)",
        ],
    );
}

fn aged_ingress(namespace: &str, name: &str, created: Option<&str>) -> Ingress {
    serde_json::from_value(json!({
        "metadata": {"namespace": namespace, "name": name, "creationTimestamp": created},
        "spec": {
            "ingressClassName": "pingress",
            "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
            "rules": [{"http": {"paths": [{
                "path": "/",
                "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}},
            }]}}],
        },
    }))
    .unwrap()
}

#[test]
fn conflict_precedence() {
    const JAN: Option<&str> = Some("2024-01-01T00:00:00Z");
    const JUN: Option<&str> = Some("2024-06-01T00:00:00Z");
    #[rustfmt::skip]
    let cases = [
        ("older wins", ("default", "a", JUN), ("default", "b", JAN), "default/b"),
        ("same age: name decides", ("default", "b", JAN), ("default", "a", JAN), "default/a"),
        ("same age: namespace decides before name", ("beta", "a", JAN), ("alpha", "z", JAN), "alpha/z"),
        ("no timestamp counts as newest", ("default", "a", None), ("default", "z", JUN), "default/z"),
        ("no timestamps: name decides", ("default", "b", None), ("default", "a", None), "default/a"),
    ];
    for (name, (ns1, n1, t1), (ns2, n2, t2), winner) in cases {
        let first = aged_ingress(ns1, n1, t1);
        let second = aged_ingress(ns2, n2, t2);
        let winner = &refs(&[winner])[0];
        let loser = if winner == &ObjectRef::new(ns1, n1) {
            ObjectRef::new(ns2, n2)
        } else {
            ObjectRef::new(ns1, n1)
        };
        for ingresses in [
            vec![first.clone(), second.clone()],
            vec![second.clone(), first.clone()],
        ] {
            let objects = Objects {
                ingresses,
                ..Objects::default()
            };
            let t = translate(&objects, &Options::default());
            assert_eq!(
                t.snapshot.virtual_hosts[0].routes[0].origin, *winner,
                "{name}"
            );
            assert_eq!(
                t.snapshot.default_backend.as_ref().unwrap().ingress,
                *winner,
                "{name}"
            );
            let warnings: Vec<String> = t
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Warning)
                .map(|d| format!("{} {}: {}", d.object, d.field, d.message))
                .collect();
            assert_eq!(
                warnings,
                [
                    format!("{loser} spec.defaultBackend: ignored: the default backend of Ingress {winner} is used (oldest Ingress wins)"),
                    format!("{loser} spec.rules[0].http.paths[0]: ignored: Prefix / for any host is already routed by Ingress {winner} (oldest Ingress wins)"),
                ],
                "{name}"
            );
        }
    }
}

#[test]
fn duplicate_paths_within_one_ingress_first_wins() {
    check(
        r#"
kind: Ingress
metadata: {name: dup}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /x, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /x/, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
  - host: SHOP.example.com
    http:
      paths:
      - {path: /x, pathType: ImplementationSpecific, backend: {service: {name: web, port: {name: http}}}}
"#,
        &[
            "shop.example.com Prefix /x -> default/web:80 (default/dup)",
            "cluster default/web:80 = [10.0.0.1:8080]",
            "warning: Ingress default/dup: spec.rules[0].http.paths[1]: ignored: Prefix /x for host \"shop.example.com\" is already routed by spec.rules[0].http.paths[0] of this Ingress",
            "warning: Ingress default/dup: spec.rules[1].http.paths[0]: ignored: Prefix /x for host \"shop.example.com\" is already routed by spec.rules[0].http.paths[0] of this Ingress",
        ],
    );
}

#[test]
fn oldest_valid_default_backend_is_the_global_one() {
    check(
        r#"
kind: Ingress
metadata: {name: broken, creationTimestamp: "2023-01-01T00:00:00Z"}
spec:
  defaultBackend: {resource: {kind: Bucket, name: b}}
---
kind: Ingress
metadata: {name: new, creationTimestamp: "2024-06-01T00:00:00Z"}
spec:
  defaultBackend: {service: {name: web, port: {name: http}}}
---
kind: Ingress
metadata: {name: old, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"#,
        &[
            "shop.example.com Prefix / -> default/web:80 (default/old)",
            "default -> default/web:80 (default/old)",
            "cluster default/web:80 = [10.0.0.1:8080]",
            "error: Ingress default/broken: spec.defaultBackend.resource: resource backends are not supported",
            "warning: Ingress default/new: spec.defaultBackend: ignored: the default backend of Ingress default/old is used (oldest Ingress wins)",
        ],
    );
}

// --- Output shape ----------------------------------------------------------------------------

#[test]
fn snapshot_structure() {
    let objects = objects(&format!(
        "{BASE}\n---\n{}",
        r#"
kind: Ingress
metadata: {name: shop, namespace: default}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /cart/, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"#
    ));
    let cluster: ClusterId = "default/web:80".parse().unwrap();
    let expected = Translation {
        snapshot: Snapshot {
            schema: SCHEMA_VERSION,
            generation: 0,
            virtual_hosts: vec![VirtualHost {
                host: HostMatch::Exact("shop.example.com".into()),
                routes: vec![Route {
                    path: PathMatch::Prefix("/cart".into()),
                    conditions: vec![],
                    action: Action::Forward(BackendSet {
                        backends: vec![WeightedBackend {
                            cluster: cluster.clone(),
                            weight: 1,
                        }],
                        alternatives: vec![],
                    }),
                    filters: vec![],
                    ssl_redirect: true,
                    https_redirect: Default::default(),
                    policy: RoutePolicy::default(),
                    origin: ObjectRef::new("default", "shop"),
                }],
            }],
            tls: Default::default(),
            settings: Default::default(),
            default_backend: None,
            clusters: [(
                cluster,
                Cluster {
                    endpoints: vec![Endpoint {
                        addr: "10.0.0.1:8080".parse().unwrap(),
                    }],
                    policy: ClusterPolicy::default(),
                },
            )]
            .into(),
        },
        diagnostics: vec![],
        ignored_annotations: Default::default(),
        ingresses: refs(&["default/shop"]),
    };
    assert_eq!(translate(&objects, &Options::default()), expected);
}

#[test]
fn diagnostic_display() {
    let t = translate(
        &objects(&format!(
            "{BASE}\n---\n{}",
            r#"
kind: Ingress
metadata: {name: shop}
spec:
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /x, pathType: Foo, backend: {service: {name: web, port: {number: 80}}}}
"#
        )),
        &Options::default(),
    );
    assert_eq!(
        t.diagnostics,
        [Diagnostic {
            severity: Severity::Error,
            kind: "Ingress",
            object: ObjectRef::new("default", "shop"),
            field: "spec.rules[0].http.paths[1].pathType".into(),
            message: "unsupported value \"Foo\"; expected Exact, Prefix or ImplementationSpecific"
                .into(),
        }]
    );
    assert_eq!(
        t.diagnostics[0].to_string(),
        "Ingress default/shop: spec.rules[0].http.paths[1].pathType: unsupported value \"Foo\"; expected Exact, Prefix or ImplementationSpecific"
    );
}

#[test]
fn served_ingresses_include_those_with_errors() {
    let t = translate(
        &objects(&format!(
            "{BASE}\n---\n{}",
            r#"
kind: Ingress
metadata: {name: z-fine, namespace: a}
spec: {}
---
kind: Ingress
metadata: {name: broken}
spec:
  rules: [{host: "-bad-"}]
---
kind: Ingress
metadata: {name: theirs, annotations: {kubernetes.io/ingress.class: other}}
"#
        )),
        &Options::default(),
    );
    assert_eq!(t.ingresses, refs(&["a/z-fine", "default/broken"]));
    assert_eq!(t.snapshot, Snapshot::default());
    assert_eq!(t.diagnostics.len(), 1);
    assert_eq!(t.diagnostics[0].field, "spec.rules[0].host");
}

#[test]
fn output_does_not_depend_on_input_order() {
    let objects = objects(&format!(
        "{BASE}\n---\n{}",
        r#"
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
kind: Service
metadata: {name: api}
spec:
  ports: [{name: grpc, port: 9000}, {name: http, port: 80}]
---
kind: EndpointSlice
metadata: {name: api-2, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{name: http, port: 8000}, {name: grpc, port: 9090}]
endpoints: [{addresses: [10.0.3.2, 10.0.3.1]}, {addresses: [10.0.3.9], conditions: {ready: false}}]
---
kind: EndpointSlice
metadata: {name: api-1, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{name: http, port: 8000}]
endpoints: [{addresses: [10.0.3.3]}, {addresses: [10.0.3.1]}]
---
kind: EndpointSlice
metadata: {name: api-fqdn, labels: {kubernetes.io/service-name: api}}
addressType: FQDN
ports: [{name: http, port: 8000}]
endpoints: [{addresses: [api.example.com]}]
---
kind: Ingress
metadata: {name: b, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  defaultBackend: {service: {name: api, port: {name: http}}}
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {name: http}}}}
---
kind: Ingress
metadata: {name: a, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
  rules:
  - host: "*.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}
  - host: shop.example.com
    http:
      paths:
      - {path: /api/, pathType: Prefix, backend: {service: {name: gone, port: {number: 80}}}}
      - {path: /bad, pathType: Foo, backend: {service: {name: web, port: {number: 80}}}}
---
kind: Ingress
metadata: {name: c, namespace: other}
spec:
  ingressClassName: pingress
  rules:
  - http:
      paths:
      - {path: /, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
---
kind: Ingress
metadata: {name: nginx-only}
spec:
  ingressClassName: nginx
  rules:
  - http:
      paths:
      - {path: /, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
"#
    ));
    let options = Options::default();
    let expected = translate(&objects, &options);
    assert_eq!(
        expected.ingresses,
        refs(&["default/a", "default/b", "other/c"])
    );
    assert_eq!(expected.snapshot.route_count(), 4);
    assert_eq!(expected.diagnostics.len(), 6, "{:#?}", expected.diagnostics);

    fn permute<T: Clone>(items: &[T], k: usize) -> Vec<T> {
        let mut items = items.to_vec();
        if k % 2 == 1 {
            items.reverse();
        }
        let len = items.len().max(1);
        items.rotate_left(k % len);
        items
    }
    for k in 1..12 {
        let shuffled = Objects {
            ingresses: permute(&objects.ingresses, k),
            ingress_classes: permute(&objects.ingress_classes, k),
            services: permute(&objects.services, k + 1),
            endpoint_slices: permute(&objects.endpoint_slices, k + 2),
            secrets: permute(&objects.secrets, k + 3),
            config_maps: permute(&objects.config_maps, k + 4),
        };
        assert_eq!(translate(&shuffled, &options), expected, "permutation {k}");
    }
}
