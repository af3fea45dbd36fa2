//! End-to-end Kubernetes mode: the real binary (`run --kubernetes`) talks to a fake API server
//! over real HTTP on 127.0.0.1 with the real kube client; real backends answer the traffic.

use std::time::Duration;

use pingress_testkit::gateway::GatewayProcess;
use pingress_testkit::kube_api::{collection, object, FakeApiServer};
use pingress_testkit::{wait_until, Backend, Behaviour};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_pingress");
const NET: &str = "networking.k8s.io/v1";

fn slice(name: &str, service: &str, backend: &Backend) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": backend.addr().port()}],
        "endpoints": [{"addresses": [backend.addr().ip().to_string()], "conditions": {"ready": true}}]
    })
}

fn ingress(name: &str, host: &str, service: &str) -> Value {
    json!({
        "apiVersion": NET, "kind": "Ingress", "metadata": {"name": name},
        "spec": {"ingressClassName": "pingress", "rules": [{"host": host, "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}
    })
}

/// IngressClass `pingress`, Service `web` (port 80 named http), its EndpointSlice on
/// `backend`, and Ingress `web` routing `web.test` to it.
fn seed(api: &FakeApiServer, backend: &Backend) {
    api.create(
        &collection(NET, "ingressclasses", None),
        json!({"apiVersion": NET, "kind": "IngressClass", "metadata": {"name": "pingress"},
               "spec": {"controller": "pingress.io/ingress-controller"}}),
    );
    api.create(
        &collection("v1", "services", Some("default")),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"ports": [{"name": "http", "port": 80}]}}),
    );
    api.create(
        &collection("discovery.k8s.io/v1", "endpointslices", Some("default")),
        slice("web-1", "web", backend),
    );
    api.create(
        &collection(NET, "ingresses", Some("default")),
        ingress("web", "web.test", "web"),
    );
}

fn status_ips(api: &FakeApiServer, name: &str) -> Vec<String> {
    api.get(&object(NET, "ingresses", Some("default"), name))
        .and_then(|i| i["status"]["loadBalancer"]["ingress"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["ip"].as_str().map(str::to_string))
        .collect()
}

fn controller_args<'a>(pod: &'a str, address: &'a str) -> [&'a str; 8] {
    [
        "--pod-name",
        pod,
        "--publish-address",
        address,
        "--leader-election-namespace",
        "pingress",
        "--leader-lease-duration",
        "2s",
    ]
}

#[test]
fn traffic_follows_the_api_and_the_leader_writes_status_and_events() {
    let blue = Backend::start("blue", "127.0.0.2", Behaviour::Echo).unwrap();
    let green = Backend::start("green", "127.0.0.3", Behaviour::Echo).unwrap();
    let api = FakeApiServer::start();
    seed(&api, &blue);
    let gw =
        GatewayProcess::start_kubernetes(BIN, &api.url(), &controller_args("pod-a", "192.0.2.10"));
    assert_eq!(gw.get("web.test", "/").backend(), Some("blue"));

    // An endpoint change is followed (well within a second; the wait is bounded generously).
    api.replace(
        &object(
            "discovery.k8s.io/v1",
            "endpointslices",
            Some("default"),
            "web-1",
        ),
        slice("web-1", "web", &green),
    );
    assert!(wait_until(Duration::from_secs(5), || gw
        .get("web.test", "/")
        .backend()
        == Some("green")));

    // The leader writes the status (a merge patch), and an Event for a broken Ingress.
    assert!(
        wait_until(Duration::from_secs(10), || status_ips(&api, "web")
            == ["192.0.2.10"]),
        "status not written; log:\n{}",
        gw.log_text()
    );
    let lease = api
        .get(&object(
            "coordination.k8s.io/v1",
            "leases",
            Some("pingress"),
            "pingress-leader",
        ))
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "pod-a");
    api.create(
        &collection(NET, "ingresses", Some("default")),
        ingress("broken", "broken.test", "missing"),
    );
    let events = || {
        api.get(&collection("events.k8s.io/v1", "events", Some("default")))
            .and_then(|l| l["items"].as_array().cloned())
            .unwrap_or_default()
    };
    assert!(
        wait_until(Duration::from_secs(10), || events().iter().any(|e| e
            ["regarding"]["name"]
            == "broken"
            && e["reason"] == "InvalidIngress"
            && e["note"]
                .as_str()
                .is_some_and(|n| n.contains("backend.service.name")))),
        "no Event; events: {:?}\nlog:\n{}",
        events(),
        gw.log_text()
    );
    assert_eq!(gw.get("broken.test", "/").status, 503);

    // The API server fails: the last configuration keeps serving, and changes made after it
    // recovers are picked up.
    api.fail_next(500, 30);
    for _ in 0..20 {
        assert_eq!(gw.get("web.test", "/").backend(), Some("green"));
    }
    api.delete(&object(NET, "ingresses", Some("default"), "web"));
    assert!(
        wait_until(Duration::from_secs(20), || gw.get("web.test", "/").status
            == 404),
        "the deletion was not picked up after the API recovered; log:\n{}",
        gw.log_text()
    );

    // Every call the controller made is allowed by the ClusterRole and Role in deploy/.
    let denied: Vec<Value> = api
        .requests()
        .into_iter()
        .filter(|r| r["code"].as_u64() != Some(500))
        .filter(|r| !rbac::allows(r))
        .collect();
    assert!(
        denied.is_empty(),
        "calls the deploy/ RBAC does not allow: {denied:#?}"
    );
}

#[test]
fn one_leader_writes_status_and_another_takes_over_when_it_stops() {
    let blue = Backend::start("blue", "127.0.0.2", Behaviour::Echo).unwrap();
    let api = FakeApiServer::start();
    seed(&api, &blue);
    let a =
        GatewayProcess::start_kubernetes(BIN, &api.url(), &controller_args("pod-a", "192.0.2.1"));
    assert!(wait_until(Duration::from_secs(10), || status_ips(
        &api, "web"
    ) == ["192.0.2.1"]));
    let b =
        GatewayProcess::start_kubernetes(BIN, &api.url(), &controller_args("pod-b", "192.0.2.2"));
    // Both serve; only one leads.
    assert_eq!(b.get("web.test", "/").backend(), Some("blue"));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(a.metric("pingress_controller_leader"), Some(1.0));
    assert_eq!(b.metric("pingress_controller_leader"), Some(0.0));
    assert_eq!(
        status_ips(&api, "web"),
        ["192.0.2.1"],
        "the follower never writes status"
    );

    drop(a); // the leader stops without releasing the Lease
    assert!(
        wait_until(Duration::from_secs(15), || status_ips(&api, "web")
            == ["192.0.2.2"]),
        "no takeover; log:\n{}",
        b.log_text()
    );
    assert_eq!(b.metric("pingress_controller_leader"), Some(1.0));
    let lease = api
        .get(&object(
            "coordination.k8s.io/v1",
            "leases",
            Some("pingress"),
            "pingress-leader",
        ))
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "pod-b");
}

/// The RBAC rules of `deploy/`, checked against the fake API server's request log.
mod rbac {
    use serde_json::Value;

    struct Rule {
        namespace: Option<String>,
        groups: Vec<String>,
        resources: Vec<String>,
        verbs: Vec<String>,
        names: Vec<String>,
    }

    fn strings(v: &serde_yaml::Value) -> Vec<String> {
        v.as_sequence()
            .map(|s| {
                s.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn rules() -> Vec<Rule> {
        let mut rules = Vec::new();
        for text in [
            include_str!("../deploy/02-rbac-cluster.yaml"),
            include_str!("../deploy/03-rbac-leader-election.yaml"),
        ] {
            for doc in serde_yaml::Deserializer::from_str(text) {
                let doc = <serde_yaml::Value as serde::Deserialize>::deserialize(doc).unwrap();
                let kind = doc["kind"].as_str().unwrap_or_default();
                if kind != "ClusterRole" && kind != "Role" {
                    continue;
                }
                let namespace = (kind == "Role")
                    .then(|| doc["metadata"]["namespace"].as_str().unwrap().to_string());
                for rule in doc["rules"].as_sequence().unwrap() {
                    rules.push(Rule {
                        namespace: namespace.clone(),
                        groups: strings(&rule["apiGroups"]),
                        resources: strings(&rule["resources"]),
                        verbs: strings(&rule["verbs"]),
                        names: strings(&rule["resourceNames"]),
                    });
                }
            }
        }
        rules
    }

    pub fn allows(request: &Value) -> bool {
        let field = |k: &str| request[k].as_str().unwrap_or_default().to_string();
        let resource = match field("subresource").as_str() {
            "" => field("resource"),
            sub => format!("{}/{sub}", field("resource")),
        };
        let (group, verb, name, namespace) = (
            field("group"),
            field("verb"),
            field("name"),
            field("namespace"),
        );
        rules().iter().any(|r| {
            r.groups.contains(&group)
                && r.resources.contains(&resource)
                && r.verbs.contains(&verb)
                && (r.names.is_empty() || r.names.contains(&name))
                && r.namespace.as_ref().is_none_or(|ns| *ns == namespace)
        })
    }
}

#[test]
fn status_lists_every_node_running_pingress() {
    let blue = Backend::start("blue", "127.0.0.2", Behaviour::Echo).unwrap();
    let api = FakeApiServer::start();
    seed(&api, &blue);
    for (node, ip) in [("node-a", "198.51.100.1"), ("node-b", "198.51.100.2")] {
        api.create(
            &collection("v1", "nodes", None),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
                   "status": {"addresses": [{"type": "InternalIP", "address": ip},
                                            {"type": "Hostname", "address": node}]}}),
        );
    }
    let args = |pod: &'static str, node: &'static str| {
        [
            "--pod-name",
            pod,
            "--node-name",
            node,
            "--leader-election-namespace",
            "pingress",
            "--leader-lease-duration",
            "2s",
        ]
    };
    let a = GatewayProcess::start_kubernetes(BIN, &api.url(), &args("pod-a", "node-a"));
    let b = GatewayProcess::start_kubernetes(BIN, &api.url(), &args("pod-b", "node-b"));
    assert!(
        wait_until(Duration::from_secs(15), || status_ips(&api, "web")
            == ["198.51.100.1", "198.51.100.2"]),
        "status: {:?}; logs:\n{}\n{}",
        status_ips(&api, "web"),
        a.log_text(),
        b.log_text()
    );
    drop(a);
    assert!(
        wait_until(Duration::from_secs(15), || status_ips(&api, "web")
            == ["198.51.100.2"]),
        "the stopped node stays in the status: {:?}",
        status_ips(&api, "web")
    );
    let denied: Vec<Value> = api
        .requests()
        .into_iter()
        .filter(|r| !rbac::allows(r))
        .collect();
    assert!(
        denied.is_empty(),
        "calls the deploy/ RBAC does not allow: {denied:#?}"
    );
}
