//! Fixture parsing shared by the table tests.

use pingress_translate::Objects;
use serde::Deserialize;

/// Parses multi-document YAML into [`Objects`], by `kind` (`apiVersion` may be left out).
pub fn objects(yaml: &str) -> Objects {
    let mut objects = Objects::default();
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let value = serde_yaml::Value::deserialize(document).expect("valid YAML");
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().expect("kind").to_string();
        let parsed = |what: &str| format!("a valid {what}: {value:?}");
        match kind.as_str() {
            "Ingress" => objects
                .ingresses
                .push(serde_yaml::from_value(value.clone()).expect(&parsed("Ingress"))),
            "IngressClass" => objects
                .ingress_classes
                .push(serde_yaml::from_value(value.clone()).expect(&parsed("IngressClass"))),
            "Service" => objects
                .services
                .push(serde_yaml::from_value(value.clone()).expect(&parsed("Service"))),
            "EndpointSlice" => objects
                .endpoint_slices
                .push(serde_yaml::from_value(value.clone()).expect(&parsed("EndpointSlice"))),
            "Secret" => objects
                .secrets
                .push(serde_yaml::from_value(value.clone()).expect(&parsed("Secret"))),
            other => panic!("unexpected kind {other}"),
        }
    }
    objects
}
