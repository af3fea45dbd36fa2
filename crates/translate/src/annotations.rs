//! Ingress annotations, parsed into typed values. Each setting has a `pingress.io/` name and,
//! where ingress-nginx has one, its `nginx.ingress.kubernetes.io/` twin; the `pingress.io/` one
//! wins when both are set. An invalid value is reported and the default applies.

use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::Resource;
use pingress_model::ObjectRef;

use crate::diagnostic::Diagnostics;

/// Redirect plain HTTP to HTTPS for this Ingress's routes on TLS hosts (default `true`).
pub(crate) const SSL_REDIRECT: [&str; 2] = [
    "pingress.io/ssl-redirect",
    "nginx.ingress.kubernetes.io/ssl-redirect",
];

/// The boolean annotation `names` (first set one wins), or `default`.
pub(crate) fn boolean(
    ingress: &Ingress,
    id: &ObjectRef,
    names: [&str; 2],
    default: bool,
    diagnostics: &mut Diagnostics,
) -> bool {
    let annotations = ingress.metadata.annotations.as_ref();
    let Some((name, value)) = names.iter().find_map(|n| Some((*n, annotations?.get(*n)?))) else {
        return default;
    };
    // The spellings Go's strconv.ParseBool accepts, as ingress-nginx reads them.
    match value.as_str() {
        "true" | "True" | "TRUE" | "t" | "T" | "1" => true,
        "false" | "False" | "FALSE" | "f" | "F" | "0" => false,
        other => {
            diagnostics.error(
                Ingress::KIND,
                id,
                format!("metadata.annotations[{name:?}]"),
                format!("invalid value {other:?}: expected \"true\" or \"false\"; using the default {default}"),
            );
            default
        }
    }
}
