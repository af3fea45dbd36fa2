//! Fixture parsing shared by the table tests.

use pingress_translate::Objects;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Parses multi-document YAML into [`Objects`], by `kind` (`apiVersion` may be left out).
pub fn objects(yaml: &str) -> Objects {
    let mut objects = Objects::default();
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let value = serde_yaml::Value::deserialize(document).expect("valid YAML");
        if value.is_null() {
            continue;
        }
        match value["kind"].as_str().expect("kind") {
            "Ingress" => objects.ingresses.push(typed(value)),
            "IngressClass" => objects.ingress_classes.push(typed(value)),
            "Service" => objects.services.push(typed(value)),
            "EndpointSlice" => objects.endpoint_slices.push(typed(value)),
            "Secret" => objects.secrets.push(typed(value)),
            "ConfigMap" => objects.config_maps.push(typed(value)),
            other => panic!("unexpected kind {other}"),
        }
    }
    objects
}

fn typed<T: DeserializeOwned>(value: serde_yaml::Value) -> T {
    serde_yaml::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value:?}"))
}
