//! Kubernetes object metadata as the model names objects.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use pingress_model::ObjectRef;

/// The object's namespace/name; no namespace means `default`, as `kubectl apply` does.
pub fn object_ref(meta: &ObjectMeta) -> ObjectRef {
    ObjectRef::new(
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or_default(),
    )
}
