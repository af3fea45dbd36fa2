//! The HTTPS side of the configuration: which hosts are served over TLS, with which
//! certificates.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::object::ObjectRef;
use crate::route::HostMatch;

/// The HTTPS side of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tls {
    /// The hosts listed under Ingresses' `spec.tls`, at most one entry per host match.
    pub hosts: Vec<TlsHost>,
    /// Every certificate a host or the default refers to, all validated by the translation.
    pub certificates: BTreeMap<CertificateId, Certificate>,
    /// The certificate for clients without SNI or with an unknown name; `None` means the
    /// gateway's own self-signed certificate.
    pub default_certificate: Option<CertificateId>,
}

/// A host name served over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsHost {
    /// `Exact` or `Wildcard`; never `Any`.
    pub host: HostMatch,
    /// The certificate for this host; `None` when its Secret was unusable (the default
    /// certificate is served instead, and a diagnostic says why).
    pub certificate: Option<CertificateId>,
}

/// Names a certificate: the `kubernetes.io/tls` Secret it came from.
pub type CertificateId = ObjectRef;

/// A certificate chain and its private key, PEM-encoded, as validated by the translation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The leaf certificate first, then intermediates.
    pub chain_pem: String,
    /// The private key (PKCS#1, PKCS#8 or SEC1 PEM).
    pub key_pem: String,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("chain_pem", &format_args!("{} bytes", self.chain_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}
