//! Reading Kubernetes objects out of YAML manifest files.
//!
//! A path is a file or a directory of `*.yaml`/`*.yml` files (not recursive, like
//! `kubectl apply -f DIR`). A file may hold several documents separated by `---`, and a
//! document may be a `v1` `List`. Secrets are read for their TLS certificates, ConfigMaps for
//! the ingress-nginx ConfigMap of `--configmap`. Kinds the gateway does not use (Deployments,
//! ...) are skipped
//! so that users can point Pingress at the same directory they `kubectl apply`. Every error
//! names the file, the document, the object and the field at fault.

use std::fmt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// One object the translation understands.
#[derive(Debug, Clone)]
pub enum Object {
    /// `networking.k8s.io/v1` Ingress.
    Ingress(Box<Ingress>),
    /// `networking.k8s.io/v1` IngressClass.
    IngressClass(Box<IngressClass>),
    /// `v1` Service.
    Service(Box<Service>),
    /// `discovery.k8s.io/v1` EndpointSlice.
    EndpointSlice(Box<EndpointSlice>),
    /// `v1` Secret (TLS certificates).
    Secret(Box<Secret>),
    /// `v1` ConfigMap (the ingress-nginx ConfigMap of global settings).
    ConfigMap(Box<ConfigMap>),
}

impl Object {
    /// `(kind, namespace, name)`, the identity used to spot the same object in two files.
    pub fn key(&self) -> (&'static str, String, String) {
        let (kind, meta) = match self {
            Object::Ingress(o) => ("Ingress", &o.metadata),
            Object::IngressClass(o) => ("IngressClass", &o.metadata),
            Object::Service(o) => ("Service", &o.metadata),
            Object::EndpointSlice(o) => ("EndpointSlice", &o.metadata),
            Object::Secret(o) => ("Secret", &o.metadata),
            Object::ConfigMap(o) => ("ConfigMap", &o.metadata),
        };
        // IngressClass is cluster-scoped: its namespace is always empty.
        let namespace = match self {
            Object::IngressClass(_) => String::new(),
            _ => meta.namespace.clone().unwrap_or_else(|| "default".into()),
        };
        (kind, namespace, meta.name.clone().unwrap_or_default())
    }
}

/// Why a manifest file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// A document of the file is not YAML, or not a valid object of its kind.
    #[error("{path}: document {document}: {message}")]
    Document {
        /// The file.
        path: PathBuf,
        /// 1-based index of the `---`-separated document.
        document: usize,
        /// What is wrong, naming the object and the field.
        message: String,
    },
}

/// The manifest files a path stands for, sorted: the file itself, or the directory's
/// `*.yaml`/`*.yml` files.
pub fn files_of(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let file = entry?.path();
        let is_yaml = file.extension().is_some_and(|e| e == "yaml" || e == "yml");
        let hidden = file
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if is_yaml && !hidden && file.is_file() {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads and parses one manifest file. Either every document parses, or the file is an error:
/// a half-read file would silently drop the objects after a typo.
pub fn load_file(path: &Path) -> Result<Vec<Object>, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|(document, message)| ManifestError::Document {
        path: path.to_path_buf(),
        document,
        message,
    })
}

/// Parses multi-document YAML; an error is `(document number, message)`.
pub fn parse(text: &str) -> Result<Vec<Object>, (usize, String)> {
    let mut objects = Vec::new();
    for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(document).map_err(|e| (i + 1, e.to_string()))?;
        collect(value, &mut objects).map_err(|e| (i + 1, e))?;
    }
    Ok(objects)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<NameMeta>,
}

#[derive(Deserialize)]
struct NameMeta {
    name: Option<String>,
    namespace: Option<String>,
}

impl fmt::Display for TypeMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind.as_deref().unwrap_or("object");
        let meta = self.metadata.as_ref();
        let name = meta.and_then(|m| m.name.as_deref()).unwrap_or("<unnamed>");
        match meta.and_then(|m| m.namespace.as_deref()) {
            Some(ns) => write!(f, "{kind} {ns}/{name}"),
            None => write!(f, "{kind} {name}"),
        }
    }
}

fn collect(value: serde_yaml::Value, out: &mut Vec<Object>) -> Result<(), String> {
    if value.is_null() {
        return Ok(()); // an empty document, e.g. a trailing `---`
    }
    let meta: TypeMeta = serde_yaml::from_value(value.clone())
        .map_err(|e| format!("not a Kubernetes object: {e}"))?;
    let (Some(api_version), Some(kind)) = (meta.api_version.as_deref(), meta.kind.as_deref())
    else {
        return Err(format!("{meta}: apiVersion and kind are required"));
    };
    let object = match (api_version, kind) {
        ("networking.k8s.io/v1", "Ingress") => Object::Ingress(typed(value, &meta)?),
        ("networking.k8s.io/v1", "IngressClass") => Object::IngressClass(typed(value, &meta)?),
        ("v1", "Service") => Object::Service(typed(value, &meta)?),
        ("discovery.k8s.io/v1", "EndpointSlice") => Object::EndpointSlice(typed(value, &meta)?),
        ("v1", "Secret") => Object::Secret(typed(value, &meta)?),
        ("v1", "ConfigMap") => Object::ConfigMap(typed(value, &meta)?),
        ("v1", "List") => {
            let items = match value.get("items") {
                Some(serde_yaml::Value::Sequence(items)) => items.clone(),
                None | Some(serde_yaml::Value::Null) => Vec::new(),
                Some(_) => return Err("List: items: expected a sequence".into()),
            };
            for (i, item) in items.into_iter().enumerate() {
                collect(item, out).map_err(|e| format!("List: items[{i}]: {e}"))?;
            }
            return Ok(());
        }
        (_, "Ingress" | "IngressClass" | "Service" | "EndpointSlice" | "Secret" | "ConfigMap") => {
            return Err(format!(
                "{meta}: apiVersion {api_version:?} is not supported; expected {}",
                match kind {
                    "Ingress" | "IngressClass" => "networking.k8s.io/v1",
                    "Service" | "Secret" | "ConfigMap" => "v1",
                    _ => "discovery.k8s.io/v1",
                }
            ));
        }
        _ => {
            tracing::debug!(%api_version, %kind, "skipping a kind Pingress does not use");
            return Ok(());
        }
    };
    out.push(object);
    Ok(())
}

/// Deserialises into a k8s-openapi type, naming the field path on error.
fn typed<T: DeserializeOwned>(value: serde_yaml::Value, meta: &TypeMeta) -> Result<Box<T>, String> {
    serde_path_to_error::deserialize(value)
        .map(Box::new)
        .map_err(|e| format!("{meta}: {}: {}", e.path(), e.inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_files_with_lists_and_foreign_kinds() {
        let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: Ingress
  metadata: {name: shop, namespace: prod}
  spec: {ingressClassName: pingress}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-1}
  addressType: IPv4
  endpoints: []
"#;
        let objects = parse(yaml).unwrap();
        let keys: Vec<_> = objects.iter().map(Object::key).collect();
        assert_eq!(
            keys,
            vec![
                ("Service", "default".into(), "web".into()),
                ("Ingress", "prod".into(), "shop".into()),
                ("EndpointSlice", "default".into(), "web-1".into()),
            ]
        );
    }

    #[test]
    fn errors_name_the_document_object_and_field() {
        let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: ok}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: prod}
spec:
  rules:
  - http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: "eighty"}}}
"#;
        let (document, message) = parse(yaml).unwrap_err();
        assert_eq!(document, 2);
        assert!(message.starts_with("Ingress prod/shop: "), "{message}");
        assert!(
            message.contains("spec.rules[0].http.paths[0].backend.service.port.number"),
            "{message}"
        );
    }

    #[test]
    fn old_api_versions_and_syntax_errors_are_errors() {
        let old = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: a}\n";
        let (_, message) = parse(old).unwrap_err();
        assert!(message.contains("networking.k8s.io/v1"), "{message}");

        let (document, message) = parse("a: [unclosed\n").unwrap_err();
        assert_eq!(document, 1);
        assert!(!message.is_empty());

        let (_, message) = parse("kind: Service\n").unwrap_err();
        assert!(
            message.contains("apiVersion and kind are required"),
            "{message}"
        );
    }
}
