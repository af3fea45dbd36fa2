//! Redirects to HTTPS: `ssl-redirect` (plain HTTP on a TLS host), `force-ssl-redirect` (on any
//! host), and how the `Location` is written (`preserve-trailing-slash`,
//! `use-port-in-redirects`). The ConfigMap sets their defaults; the status is the ConfigMap's
//! `http-redirect-code` (a gateway-wide setting).

use pingress_model::HttpsRedirect;

use super::{Name, Reader};
use crate::configmap::IngressDefaults;

/// Redirect plain HTTP to HTTPS for this Ingress's routes on TLS hosts (default `true`).
const SSL_REDIRECT: Name = Name::twin("ssl-redirect", "ssl-redirect");
const FORCE_SSL_REDIRECT: Name = Name::twin("force-ssl-redirect", "force-ssl-redirect");
const PRESERVE_TRAILING_SLASH: Name =
    Name::twin("preserve-trailing-slash", "preserve-trailing-slash");
const USE_PORT_IN_REDIRECTS: Name = Name::twin("use-port-in-redirects", "use-port-in-redirects");

pub(super) const NAMES: [Name; 4] = [
    SSL_REDIRECT,
    FORCE_SSL_REDIRECT,
    PRESERVE_TRAILING_SLASH,
    USE_PORT_IN_REDIRECTS,
];

/// `ssl_redirect` and how redirects to HTTPS are made, for every route of the Ingress.
pub(super) fn parse(a: &mut Reader, defaults: &IngressDefaults) -> (bool, HttpsRedirect) {
    let d = &defaults.https;
    let ssl_redirect = a.boolean(SSL_REDIRECT, defaults.ssl_redirect);
    let https = HttpsRedirect {
        force: a.boolean(FORCE_SSL_REDIRECT, d.force),
        preserve_trailing_slash: a.boolean(PRESERVE_TRAILING_SLASH, d.preserve_trailing_slash),
        use_port: a.boolean(USE_PORT_IN_REDIRECTS, d.use_port),
    };
    (ssl_redirect, https)
}
