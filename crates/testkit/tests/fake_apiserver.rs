//! The fake API server (`tests/support/fake_apiserver.py`) driven by the real `kube::Client`
//! and kube-runtime's `watcher`, over real HTTP on 127.0.0.1.
//!
//! Blocking calls to the fake (set-up, checks) run on the test's own thread; kube's tasks run on
//! the runtime's worker threads, so they keep going meanwhile. Every wait is bounded.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Client, ResourceExt};
use pingress_testkit::kube_api::{collection, object, FakeApiServer};
use pingress_testkit::wait_until;
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// The bound on every single wait.
const WAIT: Duration = Duration::from_secs(5);

type Item<K> = Result<Event<K>, watcher::Error>;

fn client(api: &FakeApiServer) -> Client {
    let config = kube::Config::new(api.url().parse().expect("url"));
    Client::try_from(config).expect("kube client")
}

fn ingresses(namespace: &str) -> String {
    collection("networking.k8s.io/v1", "ingresses", Some(namespace))
}

fn ingress_path(namespace: &str, name: &str) -> String {
    object("networking.k8s.io/v1", "ingresses", Some(namespace), name)
}

fn ingress(name: &str) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"rules": [{"host": format!("{name}.example.test")}]},
    })
}

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {WAIT:?}"))
}

/// The status code of an API error (panics on any other error).
fn api_code(err: &kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(status) => (status.code, status.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn describe_client_error(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => status.code.to_string(),
        other => other.to_string(),
    }
}

/// `Init`, `InitApply(a)`, `InitDone`, `Apply(a)`, `Delete(a)`, or the error kind and code.
fn describe<K: ResourceExt>(item: &Item<K>) -> String {
    match item {
        Ok(event) => event.to_string(),
        Err(watcher::Error::InitialListFailed(e)) => {
            format!("InitialListFailed({})", describe_client_error(e))
        }
        Err(watcher::Error::WatchStartFailed(e)) => {
            format!("WatchStartFailed({})", describe_client_error(e))
        }
        Err(watcher::Error::WatchError(status)) => format!("WatchError({})", status.code),
        Err(watcher::Error::WatchFailed(e)) => format!("WatchFailed({e})"),
        Err(watcher::Error::NoResourceVersion) => "NoResourceVersion".into(),
    }
}

/// Drives a watcher stream on the runtime and hands its items over a channel.
fn spawn_watcher<K: Send + 'static>(
    stream: impl Stream<Item = Item<K>> + Send + 'static,
) -> UnboundedReceiver<Item<K>> {
    let (tx, rx) = unbounded_channel();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if tx.send(item).is_err() {
                break;
            }
        }
    });
    rx
}

async fn next<K>(rx: &mut UnboundedReceiver<Item<K>>) -> Item<K> {
    within("watcher event", rx.recv())
        .await
        .expect("the watcher stream ended")
}

/// The next items, described, must be exactly `expected`.
async fn expect_events<K: ResourceExt>(rx: &mut UnboundedReceiver<Item<K>>, expected: &[&str]) {
    let mut seen = Vec::new();
    for _ in expected {
        seen.push(describe(&next(rx).await));
    }
    assert_eq!(seen, expected);
}

fn requests_with_verb(api: &FakeApiServer, verb: &str) -> Vec<Value> {
    api.requests()
        .into_iter()
        .filter(|r| r["verb"] == verb)
        .collect()
}

fn names<K: ResourceExt>(items: &[K]) -> Vec<String> {
    items.iter().map(|o| o.name_any()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_get_select_and_page_ingresses() {
    let api = FakeApiServer::start();
    api.create(&ingresses("a"), ingress("one"));
    api.create(&ingresses("b"), ingress("two"));
    api.create(
        &ingresses("b"),
        json!({"metadata": {"name": "three", "labels": {"app": "other"}}, "spec": {}}),
    );
    let client = client(&api);
    let all: Api<Ingress> = Api::all(client.clone());

    let list = within("list", all.list(&ListParams::default()))
        .await
        .unwrap();
    assert_eq!(names(&list.items), ["one", "three", "two"]);
    assert_eq!(
        list.metadata.resource_version,
        Some(api.resource_version().to_string())
    );
    for item in &list.items {
        assert!(item.metadata.resource_version.is_some());
        assert!(item.metadata.uid.is_some());
        assert!(item.metadata.creation_timestamp.is_some());
        assert_eq!(item.metadata.generation, Some(1));
        assert!(item.metadata.namespace.is_some());
    }

    let web = within("list", all.list(&ListParams::default().labels("app=web")))
        .await
        .unwrap();
    assert_eq!(names(&web.items), ["one", "two"]);
    let not_web = within(
        "list",
        all.list(&ListParams::default().labels("app notin (web)")),
    )
    .await
    .unwrap();
    assert_eq!(names(&not_web.items), ["three"]);
    let in_b = within(
        "list",
        all.list(&ListParams::default().fields("metadata.namespace=b")),
    )
    .await
    .unwrap();
    assert_eq!(names(&in_b.items), ["three", "two"]);
    let bad_field = within("list", all.list(&ListParams::default().fields("spec.x=1")))
        .await
        .unwrap_err();
    assert_eq!(api_code(&bad_field), (400, "BadRequest".into()));

    let b: Api<Ingress> = Api::namespaced(client.clone(), "b");
    assert_eq!(
        names(
            &within("list", b.list(&ListParams::default()))
                .await
                .unwrap()
                .items
        ),
        ["three", "two"]
    );
    let two = within("get", b.get("two")).await.unwrap();
    let host = two.spec.unwrap().rules.unwrap()[0].host.clone();
    assert_eq!(host.as_deref(), Some("two.example.test"));
    let missing = within("get", b.get("nope")).await.unwrap_err();
    assert_eq!(api_code(&missing), (404, "NotFound".into()));

    // Real paging: two, then the rest with the continue token.
    let page1 = within("list", all.list(&ListParams::default().limit(2)))
        .await
        .unwrap();
    assert_eq!(names(&page1.items), ["one", "three"]);
    let token = page1.metadata.continue_.clone().expect("a continue token");
    let page2 = within(
        "list",
        all.list(&ListParams::default().limit(2).continue_token(&token)),
    )
    .await
    .unwrap();
    assert_eq!(names(&page2.items), ["two"]);
    assert!(page2.metadata.continue_.is_none());

    let version = within("version", client.apiserver_version()).await.unwrap();
    assert_eq!(version.git_version, "v1.33.0-fake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_lists_then_streams_applies_and_deletes() {
    let api = FakeApiServer::start();
    api.create(&ingresses("default"), ingress("a"));
    let ings: Api<Ingress> = Api::all(client(&api));
    let mut rx = spawn_watcher(watcher::watcher(ings, watcher::Config::default()));
    expect_events(&mut rx, &["Init", "InitApply(a)", "InitDone"]).await;

    api.create(&ingresses("other"), ingress("b"));
    expect_events(&mut rx, &["Apply(b)"]).await;
    api.patch_merge(
        &ingress_path("other", "b"),
        json!({"metadata": {"annotations": {"x": "y"}}}),
    );
    match next(&mut rx).await {
        Ok(Event::Apply(b)) => assert_eq!(b.annotations().get("x").map(String::as_str), Some("y")),
        other => panic!("expected Apply(b), got {}", describe(&other)),
    }
    api.delete(&ingress_path("other", "b"));
    expect_events(&mut rx, &["Delete(b)"]).await;

    // One list, then one watch from the list's resourceVersion, with bookmarks.
    let requests = api.requests();
    let verbs: Vec<&str> = requests.iter().filter_map(|r| r["verb"].as_str()).collect();
    assert_eq!(verbs, ["list", "watch"], "{requests:#?}");
    let (list, watch) = (&requests[0], &requests[1]);
    assert_eq!(list["path"], "/apis/networking.k8s.io/v1/ingresses");
    assert_eq!(list["query"]["limit"], "500");
    assert_eq!(watch["query"]["allowWatchBookmarks"], "true");
    assert_eq!(watch["query"]["timeoutSeconds"], "290");
    assert_eq!(watch["query"]["resourceVersion"], "2", "the list's version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_label_selector_sees_objects_enter_and_leave() {
    let api = FakeApiServer::start();
    let ings: Api<Ingress> = Api::namespaced(client(&api), "default");
    let config = watcher::Config::default().labels("app=web");
    let mut rx = spawn_watcher(watcher::watcher(ings, config));
    expect_events(&mut rx, &["Init", "InitDone"]).await;

    let path = ingress_path("default", "c");
    api.create(
        &ingresses("default"),
        json!({"metadata": {"name": "c", "labels": {"app": "other"}}, "spec": {}}),
    );
    api.create(&ingresses("elsewhere"), ingress("d"));
    api.patch_merge(&path, json!({"metadata": {"labels": {"app": "web"}}}));
    // Neither the non-matching create nor the other namespace shows: the first event is the
    // object entering the selection, the next one it leaving.
    expect_events(&mut rx, &["Apply(c)"]).await;
    api.patch_merge(&path, json!({"metadata": {"labels": {"app": "gone"}}}));
    expect_events(&mut rx, &["Delete(c)"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_resumes_after_the_server_ends_the_watch() {
    let api = FakeApiServer::start();
    let ings: Api<Ingress> = Api::all(client(&api));
    // timeoutSeconds=1: the server ends each watch after a second.
    let mut rx = spawn_watcher(watcher::watcher(
        ings,
        watcher::Config::default().timeout(1),
    ));
    expect_events(&mut rx, &["Init", "InitDone"]).await;
    assert!(
        wait_until(WAIT, || requests_with_verb(&api, "watch").len() >= 3),
        "the watcher did not re-watch: {:#?}",
        api.requests()
    );
    api.create(&ingresses("default"), ingress("a"));
    // No Init (no re-list): the watch was resumed from its resourceVersion.
    expect_events(&mut rx, &["Apply(a)"]).await;
    assert_eq!(requests_with_verb(&api, "list").len(), 1);
    for watch in requests_with_verb(&api, "watch") {
        assert_eq!(watch["query"]["timeoutSeconds"], "1");
        let rv = watch["query"]["resourceVersion"].as_str().unwrap();
        assert_ne!(rv, "0", "a resumed watch names its resourceVersion");
    }

    // The same when the connection is closed under it (an apiserver restart).
    api.close_watches();
    assert!(wait_until(WAIT, || api.open_watches() >= 1));
    api.patch_merge(
        &ingress_path("default", "a"),
        json!({"metadata": {"labels": {"v": "2"}}}),
    );
    expect_events(&mut rx, &["Apply(a)"]).await;
    assert_eq!(requests_with_verb(&api, "list").len(), 1);

    // And when the connection drops mid-stream.
    api.drop_watches();
    api.patch_merge(
        &ingress_path("default", "a"),
        json!({"metadata": {"labels": {"v": "3"}}}),
    );
    let mut seen = Vec::new();
    loop {
        let item = next(&mut rx).await;
        seen.push(describe(&item));
        if item.is_ok() {
            break;
        }
    }
    // kube reads the cut-off chunked body as a resumable end of stream (no error so far; a
    // read error would show as WatchFailed before the watcher resumes).
    let (last, errors) = seen.split_last().unwrap();
    assert_eq!(last, "Apply(a)");
    assert!(
        errors.iter().all(|e| e.starts_with("WatchFailed(")),
        "{seen:?}"
    );
    assert_eq!(requests_with_verb(&api, "list").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_relists_after_compaction_expires_its_resource_version() {
    let api = FakeApiServer::start();
    api.create(&ingresses("default"), ingress("a"));
    let client = client(&api);
    let ings: Api<Ingress> = Api::all(client.clone());
    let mut rx = spawn_watcher(watcher::watcher(ings.clone(), watcher::Config::default()));
    expect_events(&mut rx, &["Init", "InitApply(a)", "InitDone"]).await;
    assert!(wait_until(WAIT, || api.open_watches() == 1));
    let old_rv = api.resource_version().to_string();

    api.compact();
    // The watch ends; resuming from the old resourceVersion gets 410 Expired; kube re-lists.
    expect_events(
        &mut rx,
        &["WatchError(410)", "Init", "InitApply(a)", "InitDone"],
    )
    .await;
    api.create(&ingresses("default"), ingress("b"));
    expect_events(&mut rx, &["Apply(b)"]).await;
    assert_eq!(requests_with_verb(&api, "list").len(), 2);

    // A plain watch from a compacted-away version: one ERROR event, then the end.
    let stream = within("watch", ings.watch(&WatchParams::default(), &old_rv))
        .await
        .unwrap();
    let events: Vec<_> = within("watch end", stream.collect::<Vec<_>>()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    match &events[0] {
        Ok(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_replace_with_a_stale_resource_version_conflicts() {
    let api = FakeApiServer::start();
    let leases: Api<Lease> = Api::namespaced(client(&api), "kube-system");
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("pingress-leader".into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("pod-a".into()),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        }),
    };
    let created = within("create", leases.create(&PostParams::default(), &lease))
        .await
        .unwrap();
    let again = within("create", leases.create(&PostParams::default(), &lease))
        .await
        .unwrap_err();
    assert_eq!(api_code(&again), (409, "AlreadyExists".into()));

    // pod-b takes the lease with the current resourceVersion...
    let mut taken = created.clone();
    taken.spec.as_mut().unwrap().holder_identity = Some("pod-b".into());
    let replaced = within(
        "replace",
        leases.replace("pingress-leader", &PostParams::default(), &taken),
    )
    .await
    .unwrap();
    assert_ne!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );
    // ...so pod-a's renewal, based on what it read before, is refused.
    let mut renewal = created.clone();
    renewal.spec.as_mut().unwrap().lease_transitions = Some(1);
    let err = within(
        "replace",
        leases.replace("pingress-leader", &PostParams::default(), &renewal),
    )
    .await
    .unwrap_err();
    assert_eq!(api_code(&err), (409, "Conflict".into()));
    let now = within("get", leases.get("pingress-leader")).await.unwrap();
    assert_eq!(now.spec.unwrap().holder_identity.as_deref(), Some("pod-b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_status_changes_only_status() {
    let api = FakeApiServer::start();
    api.create(&ingresses("default"), ingress("a"));
    let ings: Api<Ingress> = Api::namespaced(client(&api), "default");
    let before = within("get", ings.get("a")).await.unwrap();

    let patch = json!({
        "spec": {"ingressClassName": "sneaky"},
        "metadata": {"labels": {"sneaky": "yes"}},
        "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.test"}]}},
    });
    let after = within(
        "patch_status",
        ings.patch_status("a", &PatchParams::default(), &Patch::Merge(&patch)),
    )
    .await
    .unwrap();
    let lb = after
        .status
        .clone()
        .unwrap()
        .load_balancer
        .unwrap()
        .ingress
        .unwrap();
    assert_eq!(lb[0].hostname.as_deref(), Some("lb.example.test"));
    assert_eq!(after.spec, before.spec);
    assert_eq!(after.metadata.labels, before.metadata.labels);
    assert_eq!(after.metadata.generation, before.metadata.generation);
    assert_ne!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );

    // A patch of the main resource cannot touch status; a spec change bumps generation.
    let main = json!({"spec": {"ingressClassName": "pingress"}, "status": null});
    let patched = within(
        "patch",
        ings.patch("a", &PatchParams::default(), &Patch::Merge(&main)),
    )
    .await
    .unwrap();
    assert_eq!(patched.status, after.status);
    assert_eq!(
        patched.spec.as_ref().unwrap().ingress_class_name.as_deref(),
        Some("pingress")
    );
    assert_eq!(patched.metadata.generation, Some(2));

    // Writing the same status again is a no-op: no new resourceVersion.
    let same = json!({"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.test"}]}}});
    let unchanged = within(
        "patch_status",
        ings.patch_status("a", &PatchParams::default(), &Patch::Merge(&same)),
    )
    .await
    .unwrap();
    assert_eq!(
        unchanged.metadata.resource_version,
        patched.metadata.resource_version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_failures_are_errors_and_the_watcher_recovers() {
    let api = FakeApiServer::start();
    let ings: Api<Ingress> = Api::all(client(&api));

    api.fail_next(500, 1);
    let err = within("list", ings.list(&ListParams::default()))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (500, "InternalError".into()));
    within("list", ings.list(&ListParams::default()))
        .await
        .unwrap();

    // 503 (and 429, 504) are retried inside kube's client: the caller never sees them.
    api.reset_requests();
    api.fail_next(503, 2);
    within("list", ings.list(&ListParams::default()))
        .await
        .unwrap();
    let codes: Vec<Value> = api.requests().iter().map(|r| r["code"].clone()).collect();
    assert_eq!(codes, [json!(503), json!(503), json!(200)]);

    // A hang delays the answer.
    api.hang_next(1.0, 1);
    let started = Instant::now();
    within("list", ings.list(&ListParams::default()))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));

    // The watcher's first two lists fail; with kube's default backoff it tries again and
    // recovers.
    api.create(&ingresses("default"), ingress("a"));
    api.fail_next(500, 2);
    let stream = watcher::watcher(ings.clone(), watcher::Config::default()).default_backoff();
    let mut rx = spawn_watcher(stream);
    expect_events(
        &mut rx,
        &[
            "Init",
            "InitialListFailed(500)",
            "Init",
            "InitialListFailed(500)",
            "Init",
            "InitApply(a)",
            "InitDone",
        ],
    )
    .await;

    // A watch that cannot be restarted once, after the connection dropped.
    assert!(wait_until(WAIT, || api.open_watches() == 1));
    api.inject(json!({"status": 500, "count": 1, "verb": "watch"}));
    api.close_watches();
    expect_events(&mut rx, &["WatchStartFailed(500)"]).await;
    api.create(&ingresses("default"), ingress("b"));
    expect_events(&mut rx, &["Apply(b)"]).await;
    assert_eq!(api.state()["faults"], json!([]), "every fault was used");
}

/// Rules of a ClusterRole: (API group, resource[/subresource], verbs).
const CLUSTER_ROLE: &[(&str, &str, &[&str])] = &[
    (
        "networking.k8s.io",
        "ingresses",
        &[
            "get", "list", "watch", "create", "update", "patch", "delete",
        ],
    ),
    (
        "networking.k8s.io",
        "ingresses/status",
        &["update", "patch"],
    ),
    (
        "coordination.k8s.io",
        "leases",
        &["get", "create", "update"],
    ),
];

fn allowed(rules: &[(&str, &str, &[&str])], request: &Value) -> bool {
    let resource = match request["subresource"].as_str() {
        Some(sub) => format!("{}/{sub}", request["resource"].as_str().unwrap_or("")),
        None => request["resource"].as_str().unwrap_or("").to_string(),
    };
    let (group, verb) = (
        request["group"].as_str().unwrap_or(""),
        request["verb"].as_str().unwrap_or(""),
    );
    rules
        .iter()
        .any(|(g, r, verbs)| *g == group && *r == resource && verbs.contains(&verb))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_log_records_rbac_verbs() {
    let api = FakeApiServer::start();
    let client = client(&api);
    let ings: Api<Ingress> = Api::namespaced(client.clone(), "default");
    let new: Ingress = serde_json::from_value(ingress("a")).unwrap();
    within("create", ings.create(&PostParams::default(), &new))
        .await
        .unwrap();
    let mut current = within("get", ings.get("a")).await.unwrap();
    within("list", ings.list(&ListParams::default()))
        .await
        .unwrap();
    let stream = within("watch", ings.watch(&WatchParams::default().timeout(1), "0"))
        .await
        .unwrap();
    let events: Vec<_> = within("watch end", stream.collect::<Vec<_>>()).await;
    assert!(
        matches!(events.first(), Some(Ok(WatchEvent::Added(a))) if a.name_any() == "a"),
        "a watch from 0 starts with the current objects: {events:?}"
    );
    current.labels_mut().insert("replaced".into(), "yes".into());
    within(
        "replace",
        ings.replace("a", &PostParams::default(), &current),
    )
    .await
    .unwrap();
    let merge = json!({"metadata": {"annotations": {"k": "v"}}});
    within(
        "patch",
        ings.patch("a", &PatchParams::default(), &Patch::Merge(&merge)),
    )
    .await
    .unwrap();
    let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}});
    within(
        "patch_status",
        ings.patch_status("a", &PatchParams::default(), &Patch::Merge(&status)),
    )
    .await
    .unwrap();
    within("delete", ings.delete("a", &DeleteParams::default()))
        .await
        .unwrap();
    let leases: Api<Lease> = Api::namespaced(client, "default");
    assert!(within("get_opt", leases.get_opt("x"))
        .await
        .unwrap()
        .is_none());

    let requests = api.requests();
    let seen: Vec<(String, String, String)> = requests
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or("-").to_string();
            (field("verb"), field("resource"), field("subresource"))
        })
        .collect();
    let expected = [
        ("create", "ingresses", "-"),
        ("get", "ingresses", "-"),
        ("list", "ingresses", "-"),
        ("watch", "ingresses", "-"),
        ("update", "ingresses", "-"),
        ("patch", "ingresses", "-"),
        ("patch", "ingresses", "status"),
        ("delete", "ingresses", "-"),
        ("get", "leases", "-"),
    ]
    .map(|(v, r, s)| (v.to_string(), r.to_string(), s.to_string()));
    assert_eq!(seen, expected);
    assert!(requests[..8]
        .iter()
        .all(|r| r["group"] == "networking.k8s.io" && r["namespace"] == "default"));
    assert_eq!(requests[1]["name"], "a");
    assert_eq!(requests[3]["query"]["watch"], "true");
    assert_eq!(requests[8]["code"], 404);

    // Every call is allowed by the ClusterRole; without `watch` the watch would not be.
    let denied: Vec<&Value> = requests
        .iter()
        .filter(|r| !allowed(CLUSTER_ROLE, r))
        .collect();
    assert!(denied.is_empty(), "not allowed: {denied:#?}");
    let no_watch: &[(&str, &str, &[&str])] = &[(
        "networking.k8s.io",
        "ingresses",
        &["get", "list", "create", "update", "patch", "delete"],
    )];
    assert!(!allowed(no_watch, &requests[3]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_list_watcher_uses_initial_events() {
    let api = FakeApiServer::start();
    api.create(&ingresses("default"), ingress("a"));
    let ings: Api<Ingress> = Api::all(client(&api));
    let config = watcher::Config::default().streaming_lists();
    let mut rx = spawn_watcher(watcher::watcher(ings, config));
    expect_events(&mut rx, &["Init", "InitApply(a)", "InitDone"]).await;
    api.create(&ingresses("default"), ingress("b"));
    expect_events(&mut rx, &["Apply(b)"]).await;
    let requests = api.requests();
    assert!(
        requests.iter().all(|r| r["verb"] == "watch"),
        "{requests:#?}"
    );
    assert_eq!(requests[0]["query"]["sendInitialEvents"], "true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resource_round_trips_through_typed_apis() {
    use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use k8s_openapi::api::networking::v1::IngressClass;

    let api = FakeApiServer::start();
    let client = client(&api);
    let pp = PostParams::default();
    let lp = ListParams::default();

    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "web"}})).unwrap();
    let ns = within("create", nss.create(&pp, &ns)).await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Active"));

    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1"},
        "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]},
    }))
    .unwrap();
    within("create", nodes.create(&pp, &node)).await.unwrap();
    let node = within("get", nodes.get("n1")).await.unwrap();
    assert_eq!(
        node.status.unwrap().addresses.unwrap()[0].address,
        "127.0.0.1"
    );

    let classes: Api<IngressClass> = Api::all(client.clone());
    let class: IngressClass = serde_json::from_value(json!({
        "metadata": {"name": "pingress"},
        "spec": {"controller": "pingress.dev/controller"},
    }))
    .unwrap();
    within("create", classes.create(&pp, &class)).await.unwrap();
    assert_eq!(
        names(&within("list", classes.list(&lp)).await.unwrap().items),
        ["pingress"]
    );

    let svcs: Api<Service> = Api::namespaced(client.clone(), "web");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "app"},
        "spec": {"ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}},
    }))
    .unwrap();
    let svc = within("create", svcs.create(&pp, &svc)).await.unwrap();
    assert_eq!(svc.status, None, "creating a Service drops its status");

    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "web");
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": "app-1", "labels": {"kubernetes.io/service-name": "app"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true}}],
        "ports": [{"port": 8080}],
    }))
    .unwrap();
    within("create", slices.create(&pp, &slice)).await.unwrap();
    let by_service = lp.clone().labels("kubernetes.io/service-name=app");
    let listed = within("list", slices.list(&by_service)).await.unwrap();
    let endpoints = listed.items[0].endpoints.clone().unwrap_or_default();
    assert_eq!(endpoints[0].addresses, ["127.0.0.1"]);

    let secrets: Api<Secret> = Api::all(client.clone());
    for (name, kind) in [("tls", "kubernetes.io/tls"), ("other", "Opaque")] {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name}, "type": kind, "data": {},
        }))
        .unwrap();
        let in_web: Api<Secret> = Api::namespaced(client.clone(), "web");
        within("create", in_web.create(&pp, &secret)).await.unwrap();
    }
    let tls = lp.clone().fields("type=kubernetes.io/tls");
    assert_eq!(
        names(&within("list", secrets.list(&tls)).await.unwrap().items),
        ["tls"]
    );

    // kube's event Recorder creates events.k8s.io Events, then merge-patches repeats.
    let events: Api<K8sEvent> = Api::namespaced(client, "web");
    let event: K8sEvent = serde_json::from_value(json!({
        "metadata": {"name": "app.1"},
        "eventTime": "2025-01-01T00:00:00.000000Z",
        "reason": "Invalid", "note": "bad rule", "type": "Warning", "action": "Sync",
        "reportingController": "pingress", "reportingInstance": "pod-a",
    }))
    .unwrap();
    within("create", events.create(&pp, &event)).await.unwrap();
    let series = json!({"series": {"count": 2, "lastObservedTime": "2025-01-01T00:00:10.000000Z"}});
    let patched = within(
        "patch",
        events.patch("app.1", &PatchParams::default(), &Patch::Merge(&series)),
    )
    .await
    .unwrap();
    assert_eq!(patched.series.unwrap().count, 2);
}
