//! A fake Kubernetes API server for tests: `tests/support/fake_apiserver.py` (Python standard
//! library only) started on a free 127.0.0.1 port, killed by PID when the handle drops.
//!
//! A real `kube::Client` talks to it over plain HTTP:
//!
//! ```ignore
//! let api = pingress_testkit::kube_api::FakeApiServer::start();
//! let client = kube::Client::try_from(kube::Config::new(api.url().parse()?))?;
//! api.create(
//!     "/apis/networking.k8s.io/v1/namespaces/default/ingresses",
//!     serde_json::json!({"metadata": {"name": "web"}, "spec": {}}),
//! );
//! ```
//!
//! The methods here are blocking, for test set-up and checks. Their requests carry
//! `X-Fake-Control: 1`, so they are neither recorded in [`FakeApiServer::requests`] nor eaten
//! by injected faults. They panic when the server answers something unexpected; use
//! [`FakeApiServer::request`] to look at an error answer instead.
//!
//! The script's docstring says what the server supports; in short: get, list, watch (with
//! bookmarks, resumption, 410 after [`FakeApiServer::compact`]), create, update (409 on a stale
//! `resourceVersion`), patch (merge, JSON, strategic as merge, apply as merge), delete, the
//! `status` subresource, label and field selectors, and paging, for services, secrets, nodes,
//! namespaces, events, ingresses, ingressclasses, endpointslices and leases.
//!
//! Like Kubernetes, creating an Ingress or a Service drops its `.status`: set it afterwards
//! with [`FakeApiServer::patch_merge`] on the object's `/status` path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use crate::{wait_until, ChildGuard, Connection, Response};

/// Where the server script lives.
pub const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/support/fake_apiserver.py"
);

/// The header that marks a request as the test's own (not logged, not faulted).
const CONTROL_HEADER: (&str, &str) = ("x-fake-control", "1");

/// A running fake API server; the process is killed (by PID) and its directory removed on drop.
pub struct FakeApiServer {
    child: ChildGuard,
    addr: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
}

impl FakeApiServer {
    /// Starts the server on a free port and waits until it listens.
    pub fn start() -> FakeApiServer {
        Self::start_with(&[])
    }

    /// Starts the server with extra command-line arguments, e.g.
    /// `["--bookmark-interval", "0.2"]` or `["--request-log", "/path"]`.
    pub fn start_with(extra_args: &[&str]) -> FakeApiServer {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pingress-fake-apiserver-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let port_file = dir.join("port");
        let log = dir.join("fake-apiserver.log");
        let mut command = Command::new("python3");
        command
            .arg(SCRIPT)
            .arg("--port-file")
            .arg(&port_file)
            .args(extra_args);
        let mut child = ChildGuard::spawn(command, &log)
            .unwrap_or_else(|e| panic!("cannot start python3 {SCRIPT}: {e}"));
        let mut port = None;
        let up = wait_until(Duration::from_secs(15), || {
            port = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse::<u16>().ok());
            port.is_some() || !child.is_running()
        });
        let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
        let port = match port {
            Some(port) if up => port,
            _ => panic!("the fake apiserver did not start; log:\n{}", log_text()),
        };
        FakeApiServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
            log,
        }
    }

    /// `http://127.0.0.1:PORT`, for `kube::Config::new(url.parse()?)`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// One request on a fresh connection, as the test (not logged, not faulted). `body` is
    /// sent as JSON with `content_type` (default `application/json`). Returns the status and
    /// the JSON body (`Value::Null` when it is empty or not JSON).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        content_type: Option<&str>,
    ) -> (u16, Value) {
        let response = self.raw(method, path, body, content_type);
        let value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
        (response.status, value)
    }

    fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        content_type: Option<&str>,
    ) -> Response {
        let mut conn = Connection::open(self.addr)
            .unwrap_or_else(|e| panic!("connect to the fake apiserver: {e}"));
        let host = self.addr.to_string();
        let mut headers = vec![("connection", "close"), ("accept", "application/json")];
        if !path.starts_with("/fake/") {
            headers.push(CONTROL_HEADER);
        }
        let result = match body {
            Some(body) => {
                headers.push(("content-type", content_type.unwrap_or("application/json")));
                let bytes = serde_json::to_vec(body).expect("serialize body");
                conn.request_with_body(method, &host, path, &headers, &bytes)
            }
            None => conn.request(method, &host, path, &headers),
        };
        result.unwrap_or_else(|e| {
            panic!(
                "{method} {path} to the fake apiserver failed: {e}; log:\n{}",
                self.log_text()
            )
        })
    }

    fn expect(&self, method: &str, path: &str, body: Option<&Value>, ctype: Option<&str>) -> Value {
        let (status, value) = self.request(method, path, body, ctype);
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {value}"
        );
        value
    }

    /// `POST` to a collection path, e.g. `/api/v1/namespaces/default/services`; returns the
    /// stored object (with `resourceVersion`, `uid`, ...). Panics unless it was created.
    pub fn create(&self, path_collection: &str, object: Value) -> Value {
        self.expect("POST", path_collection, Some(&object), None)
    }

    /// `PUT` to an object path (`.../NAME` or `.../NAME/status`). A `metadata.resourceVersion`
    /// in `object` must be the current one; leave it out for an unconditional replace.
    pub fn replace(&self, path_object: &str, object: Value) -> Value {
        self.expect("PUT", path_object, Some(&object), None)
    }

    /// An RFC 7386 merge patch of an object path (`.../NAME` or `.../NAME/status`).
    pub fn patch_merge(&self, path_object: &str, patch: Value) -> Value {
        self.expect(
            "PATCH",
            path_object,
            Some(&patch),
            Some("application/merge-patch+json"),
        )
    }

    /// `DELETE` of an object path; returns the deleted object (or, with finalizers, the object
    /// marked for deletion). Panics if it does not exist.
    pub fn delete(&self, path_object: &str) -> Value {
        self.expect("DELETE", path_object, None, None)
    }

    /// `GET` of any API path; `None` on 404.
    pub fn get(&self, path: &str) -> Option<Value> {
        let (status, value) = self.request("GET", path, None, None);
        match status {
            404 => None,
            200 => Some(value),
            _ => panic!("GET {path} answered {status}: {value}"),
        }
    }

    /// Adds a fault rule (see the script's docstring), e.g.
    /// `json!({"status": 500, "count": 1, "verb": "watch"})`.
    pub fn inject(&self, rule: Value) {
        self.expect("POST", "/fake/fail", Some(&rule), None);
    }

    /// The next `count` API requests (of the code under test) answer `status` with a `Status`.
    pub fn fail_next(&self, status: u16, count: u32) {
        self.inject(json!({"status": status, "count": count}));
    }

    /// The next `count` API requests wait `seconds` before they are served.
    pub fn hang_next(&self, seconds: f64, count: u32) {
        self.inject(json!({"hang_seconds": seconds, "count": count}));
    }

    /// Drops every fault rule not used up yet.
    pub fn clear_faults(&self) {
        self.expect("POST", "/fake/clear-faults", None, None);
    }

    /// Forgets the event history and ends every open watch: clients resuming from an older
    /// `resourceVersion` get `410 Expired` and must re-list.
    pub fn compact(&self) {
        self.expect("POST", "/fake/compact", None, None);
    }

    /// Ends every open watch stream cleanly, as a watch timeout does (clients resume from their
    /// last `resourceVersion`).
    pub fn close_watches(&self) {
        self.expect("POST", "/fake/close-watches", None, None);
    }

    /// Drops every open watch connection mid-stream, as a crashed apiserver or a broken network
    /// would.
    pub fn drop_watches(&self) {
        self.expect(
            "POST",
            "/fake/close-watches",
            Some(&json!({"abrupt": true})),
            None,
        );
    }

    /// The API requests of the code under test so far, oldest first: objects with `verb` (an
    /// RBAC verb), `path`, `query` (an object), `group`, `version`, `resource`, `namespace`,
    /// `name`, `subresource` and `code` (the HTTP status answered).
    pub fn requests(&self) -> Vec<Value> {
        match self.expect("GET", "/fake/requests", None, None) {
            Value::Array(entries) => entries,
            other => panic!("/fake/requests answered {other}"),
        }
    }

    /// Empties the request log.
    pub fn reset_requests(&self) {
        self.expect("POST", "/fake/reset-requests", None, None);
    }

    /// `{"resourceVersion", "historyStart", "openWatches", "faults"}`.
    pub fn state(&self) -> Value {
        self.expect("GET", "/fake/state", None, None)
    }

    /// How many watch streams are open right now.
    pub fn open_watches(&self) -> u64 {
        self.state()["openWatches"].as_u64().unwrap_or(0)
    }

    /// The current global `resourceVersion`.
    pub fn resource_version(&self) -> u64 {
        self.state()["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("resourceVersion in /fake/state")
    }

    /// What the server printed (its stderr and stdout).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The path of a collection: `collection("networking.k8s.io/v1", "ingresses", Some("default"))`
/// is `/apis/networking.k8s.io/v1/namespaces/default/ingresses`; `None` for cluster-scoped
/// resources or all namespaces.
pub fn collection(api_version: &str, plural: &str, namespace: Option<&str>) -> String {
    let root = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    match namespace {
        Some(ns) => format!("{root}/namespaces/{ns}/{plural}"),
        None => format!("{root}/{plural}"),
    }
}

/// The path of one object: `collection(...)` + `/NAME`.
pub fn object(api_version: &str, plural: &str, namespace: Option<&str>, name: &str) -> String {
    format!("{}/{name}", collection(api_version, plural, namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            collection("networking.k8s.io/v1", "ingresses", Some("default")),
            "/apis/networking.k8s.io/v1/namespaces/default/ingresses"
        );
        assert_eq!(collection("v1", "nodes", None), "/api/v1/nodes");
        assert_eq!(
            object("v1", "services", Some("a"), "web"),
            "/api/v1/namespaces/a/services/web"
        );
    }

    #[test]
    fn wrapper_round_trip_is_not_logged() {
        let api = FakeApiServer::start();
        let path = collection("v1", "services", Some("default"));
        let svc = api.create(&path, json!({"metadata": {"name": "web"}, "spec": {}}));
        assert_eq!(svc["metadata"]["namespace"], "default");
        assert_eq!(svc["kind"], "Service");
        let one = object("v1", "services", Some("default"), "web");
        assert_eq!(
            api.get(&one).unwrap()["metadata"]["uid"],
            svc["metadata"]["uid"]
        );
        let patched = api.patch_merge(&one, json!({"metadata": {"labels": {"a": "b"}}}));
        assert_ne!(
            patched["metadata"]["resourceVersion"],
            svc["metadata"]["resourceVersion"]
        );
        let (status, err) = api.request("PUT", &one, Some(&svc), None);
        assert_eq!((status, err["reason"].as_str()), (409, Some("Conflict")));
        api.delete(&one);
        assert!(api.get(&one).is_none());
        assert!(api.requests().is_empty(), "{:?}", api.requests());
    }
}
