//! The Kubernetes API source: kube-rs reflectors keep a current view of the cluster; every
//! change (debounced by [`crate::source::run_source`]) turns one consistent read of all stores
//! into one complete Snapshot.
//!
//! ```text
//! watcher(Ingress | IngressClass | Service | EndpointSlice | Secret type=kubernetes.io/tls
//!         | ConfigMap)
//!   -> reflector -> Store            (one per kind, and per namespace with --watch-namespace)
//!   -> "something changed" -> debounce -> read all stores -> translate -> Publisher
//! ```
//!
//! Nothing is published until every store has finished its first list, so a (re)start never
//! publishes an empty or partial table; a re-list after a lost watch is applied by the store
//! atomically. When the API server is down or failing, the watchers retry with backoff, the
//! last published Snapshot stays live, and errors are logged and counted.

use std::pin::Pin;

use futures::stream::{BoxStream, SelectAll};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use pingress_translate::Objects;
use serde::de::DeserializeOwned;

use crate::source::Source;

/// The stores of one kind (one per watched namespace).
struct Stores<K: Resource + 'static>(Vec<Store<K>>)
where
    K::DynamicType: std::hash::Hash + Eq + Clone;

impl<K> Stores<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    fn objects(&self) -> Vec<K> {
        self.0
            .iter()
            .flat_map(|s| s.state())
            .map(|o| K::clone(&o))
            .collect()
    }

    async fn ready(&self) {
        for store in &self.0 {
            let _ = store.wait_until_ready().await;
        }
    }
}

type Changes = SelectAll<BoxStream<'static, Result<(), watcher::Error>>>;

/// Adds reflectors for `K` over `apis` with `config`; their change signals go into `changes`.
fn watch<K>(apis: Vec<Api<K>>, config: watcher::Config, changes: &mut Changes) -> Stores<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Default,
{
    let mut stores = Vec::new();
    for api in apis {
        let (store, writer) = reflector::store();
        let stream = reflector::reflector(writer, watcher(api, config.clone()).default_backoff())
            .map(|event| event.map(|_| ()));
        changes.push(stream.boxed());
        stores.push(store);
    }
    Stores(stores)
}

fn apis<K>(client: &Client, namespaces: &[String]) -> Vec<Api<K>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    }
}

/// The reflectors over everything the translation reads.
pub struct ClusterView {
    ingresses: Stores<Ingress>,
    classes: Stores<IngressClass>,
    services: Stores<Service>,
    slices: Stores<EndpointSlice>,
    secrets: Stores<Secret>,
    config_maps: Stores<ConfigMap>,
    changes: Pin<Box<Changes>>,
    /// Counts watch errors (`pingress_controller_source_events_total{result="error"}`).
    errors: prometheus::IntCounter,
}

impl ClusterView {
    /// Starts watching. Secrets are watched only if they are of type `kubernetes.io/tls`,
    /// which keeps memory and RBAC small.
    pub fn start(client: &Client, namespaces: &[String], errors: prometheus::IntCounter) -> Self {
        let mut changes = SelectAll::new();
        let all = watcher::Config::default();
        ClusterView {
            ingresses: watch(apis(client, namespaces), all.clone(), &mut changes),
            classes: watch(vec![Api::all(client.clone())], all.clone(), &mut changes),
            services: watch(apis(client, namespaces), all.clone(), &mut changes),
            slices: watch(apis(client, namespaces), all.clone(), &mut changes),
            secrets: watch(
                apis(client, namespaces),
                all.clone().fields("type=kubernetes.io/tls"),
                &mut changes,
            ),
            config_maps: watch(apis(client, namespaces), all.clone(), &mut changes),
            changes: Box::pin(changes),
            errors,
        }
    }

    fn report(&self, event: Option<Result<(), watcher::Error>>) {
        if let Some(Err(e)) = event {
            self.errors.inc();
            tracing::warn!("watching the Kubernetes API: {e}; retrying with backoff, the last configuration keeps serving");
        }
    }
}

impl Source for ClusterView {
    /// Waits until every store has its first complete list (while driving the watchers).
    async fn ready(&mut self) {
        let ready = async {
            self.ingresses.ready().await;
            self.classes.ready().await;
            self.services.ready().await;
            self.slices.ready().await;
            self.secrets.ready().await;
            self.config_maps.ready().await;
        };
        tokio::pin!(ready);
        loop {
            tokio::select! {
                _ = &mut ready => return,
                event = self.changes.next() => self.report(event),
            }
        }
    }

    /// Waits for the next change; errors are reported and waited past.
    async fn changed(&mut self) -> bool {
        loop {
            match self.changes.next().await {
                Some(Ok(())) => return true,
                None => return false,
                error => self.report(error),
            }
        }
    }

    /// Drains the changes that are already waiting, reporting the errors among them.
    fn drain(&mut self) {
        while let Some(Some(event)) = futures::FutureExt::now_or_never(self.changes.next()) {
            if event.is_err() {
                self.report(Some(event));
            }
        }
    }

    /// One consistent read of all stores.
    fn objects(&mut self) -> Objects {
        Objects {
            ingresses: self.ingresses.objects(),
            ingress_classes: self.classes.objects(),
            services: self.services.objects(),
            endpoint_slices: self.slices.objects(),
            secrets: self.secrets.objects(),
            config_maps: self.config_maps.objects(),
        }
    }
}
