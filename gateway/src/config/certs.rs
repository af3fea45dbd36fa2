//! The certificates of a generation: every certificate of a Snapshot parsed once, and the
//! store that answers "which certificate for this SNI name?" during a handshake.
//!
//! ```text
//! CertStore::select(SNI)  1. exact TLS host   2. wildcard TLS host (one label)   3. default
//! ```
//!
//! The store lives in the [`Generation`](super::Generation), so a rotated Secret is served on
//! the next handshake after the swap; established connections keep the certificate they
//! negotiated. Parsed certificates are reused across generations when their PEM did not
//! change. The Pingora callback that reads the live store is `crate::tls`.

use std::collections::HashMap;
use std::sync::Arc;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509Name, X509};
use pingora::protocols::tls::TlsRef;
use pingora::tls::ext;
use pingress_model::{Certificate, CertificateId, HostMatch, Tls};

/// A certificate chain with its key, ready for a handshake.
pub struct CertifiedKey {
    /// The Secret it came from; `None` for the gateway's self-signed certificate.
    pub id: Option<CertificateId>,
    chain: Vec<X509>,
    key: PKey<Private>,
    /// The PEM it was parsed from, to reuse it when a new Snapshot carries the same.
    source: Option<Certificate>,
}

impl CertifiedKey {
    fn parse(id: &CertificateId, cert: &Certificate) -> Result<Self, openssl::error::ErrorStack> {
        let chain = X509::stack_from_pem(cert.chain_pem.as_bytes())?;
        let key = PKey::private_key_from_pem(cert.key_pem.as_bytes())?;
        if chain.is_empty() {
            return Err(openssl::error::ErrorStack::get());
        }
        Ok(CertifiedKey {
            id: Some(id.clone()),
            chain,
            key,
            source: Some(cert.clone()),
        })
    }

    /// A self-signed ECDSA certificate for `Pingress Default Certificate`, like ingress-nginx's
    /// "fake certificate": served when nothing better fits, never another tenant's.
    pub fn self_signed() -> Result<Self, openssl::error::ErrorStack> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
        let mut name = X509Name::builder()?;
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "Pingress")?;
        name.append_entry_by_nid(Nid::COMMONNAME, "Pingress Default Certificate")?;
        let name = name.build();
        let mut serial = BigNum::new()?;
        serial.rand(128, MsbOption::MAYBE_ZERO, false)?;
        let mut builder = X509::builder()?;
        builder.set_version(2)?;
        let serial = serial.to_asn1_integer()?;
        let (not_before, not_after) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(365)?);
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&key)?;
        builder.set_not_before(&not_before)?;
        builder.set_not_after(&not_after)?;
        builder.sign(&key, MessageDigest::sha256())?;
        Ok(CertifiedKey {
            id: None,
            chain: vec![builder.build()],
            key,
            source: None,
        })
    }

    /// Puts the chain and key on a handshake in progress.
    pub fn install(&self, ssl: &mut TlsRef) -> Result<(), openssl::error::ErrorStack> {
        ext::ssl_use_certificate(ssl, &self.chain[0])?;
        ext::ssl_use_private_key(ssl, &self.key)?;
        for intermediate in &self.chain[1..] {
            ext::ssl_add_chain_cert(ssl, intermediate)?;
        }
        Ok(())
    }
}

/// The certificates of one generation, by SNI name.
pub struct CertStore {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the suffix after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl CertStore {
    /// Compiles the TLS section of a Snapshot. `fallback` is the self-signed certificate, used
    /// as the default when the Snapshot names none.
    pub fn compile(tls: &Tls, fallback: &Arc<CertifiedKey>, previous: Option<&CertStore>) -> Self {
        let reusable: HashMap<&CertificateId, &Arc<CertifiedKey>> = previous
            .into_iter()
            .flat_map(|p| {
                p.exact
                    .values()
                    .chain(p.wildcard.values())
                    .chain([&p.default])
            })
            .filter_map(|c| Some((c.id.as_ref()?, c)))
            .collect();
        let parsed: HashMap<&CertificateId, Arc<CertifiedKey>> = tls
            .certificates
            .iter()
            .filter_map(|(id, cert)| {
                if let Some(same) = reusable
                    .get(id)
                    .filter(|c| c.source.as_ref() == Some(cert))
                {
                    return Some((id, Arc::clone(same)));
                }
                match CertifiedKey::parse(id, cert) {
                    Ok(parsed) => Some((id, Arc::new(parsed))),
                    Err(e) => {
                        tracing::error!(secret = %id, "unusable certificate, serving the default instead: {e}");
                        None
                    }
                }
            })
            .collect();
        let default = tls
            .default_certificate
            .as_ref()
            .and_then(|id| parsed.get(id))
            .unwrap_or(fallback)
            .clone();
        let mut store = CertStore {
            exact: HashMap::new(),
            wildcard: HashMap::new(),
            default,
        };
        for host in &tls.hosts {
            let cert = host
                .certificate
                .as_ref()
                .and_then(|id| parsed.get(id))
                .unwrap_or(&store.default)
                .clone();
            match &host.host {
                HostMatch::Exact(name) => store.exact.insert(name.clone(), cert),
                HostMatch::Wildcard(suffix) => store.wildcard.insert(suffix.clone(), cert),
                HostMatch::Any => None,
            };
        }
        store
    }

    fn find(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        self.exact.get(name).or_else(|| {
            let (label, suffix) = name.split_once('.')?;
            (!label.is_empty()).then(|| self.wildcard.get(suffix))?
        })
    }

    /// The certificate for an SNI name (normalised: lower-case, no trailing dot), or the default
    /// for no name or an unknown one.
    pub fn select(&self, name: Option<&str>) -> &Arc<CertifiedKey> {
        name.and_then(|n| self.find(n)).unwrap_or(&self.default)
    }

    /// True when `host` (normalised) is listed under some Ingress's `spec.tls`.
    pub fn is_tls_host(&self, host: &str) -> bool {
        self.find(host).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingress_model::{ObjectRef, TlsHost};

    fn fake(id: &str) -> Arc<CertifiedKey> {
        let mut cert = CertifiedKey::self_signed().unwrap();
        cert.id = Some(ObjectRef::new("default", id));
        Arc::new(cert)
    }

    #[test]
    fn selection_prefers_exact_then_wildcard_then_default() {
        let fallback = Arc::new(CertifiedKey::self_signed().unwrap());
        let mut store = CertStore::compile(&Tls::default(), &fallback, None);
        let (shop, wild) = (fake("shop"), fake("wild"));
        store.exact.insert("shop.example.com".into(), shop.clone());
        store.wildcard.insert("example.com".into(), wild.clone());
        let rows = [
            (Some("shop.example.com"), &shop),
            (Some("blog.example.com"), &wild),
            (Some("a.blog.example.com"), &fallback),
            (Some("example.com"), &fallback),
            (Some("other.test"), &fallback),
            (None, &fallback),
        ];
        for (name, expected) in rows {
            assert!(Arc::ptr_eq(store.select(name), expected), "{name:?}");
        }
        assert!(store.is_tls_host("blog.example.com"));
        assert!(!store.is_tls_host("example.com"));
    }

    #[test]
    fn hosts_without_a_usable_certificate_get_the_default_but_stay_tls_hosts() {
        let fallback = Arc::new(CertifiedKey::self_signed().unwrap());
        let tls = Tls {
            hosts: vec![TlsHost {
                host: HostMatch::Exact("broken.test".into()),
                certificate: None,
            }],
            ..Tls::default()
        };
        let store = CertStore::compile(&tls, &fallback, None);
        assert!(Arc::ptr_eq(store.select(Some("broken.test")), &fallback));
        assert!(store.is_tls_host("broken.test"));
    }
}
