//! `spec.tls`: which hosts are served over HTTPS, with which certificate.
//!
//! Each `spec.tls[i]` names a `kubernetes.io/tls` Secret in the Ingress's own namespace and the
//! hosts it serves. A Secret is checked once (PEM parses, the key matches the leaf certificate,
//! the certificate has not expired) and each host against the certificate's names. A host whose
//! Secret is missing or unusable still counts as a TLS host, but gets the default certificate,
//! and a diagnostic names the Ingress, the Secret and the problem. When two Ingresses list the
//! same host, the oldest wins, as for paths.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::Resource;
use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::X509;
use pingress_model::{Certificate, HostMatch, ObjectRef, Tls, TlsHost};

use crate::diagnostic::Diagnostics;
use crate::host;
use crate::names;
use crate::object::object_ref;

/// The Secret type that carries a certificate and its key.
pub(crate) const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

/// One Ingress's claim on a TLS host.
#[derive(Debug)]
struct TlsClaim {
    ingress: ObjectRef,
    /// `spec.tls[i]`.
    field: String,
    /// `spec.tls[i].hosts[j]`.
    host_field: String,
    /// `None` when `secretName` is omitted: the default certificate.
    secret: Option<ObjectRef>,
}

/// The winning TLS claims. Ingresses must be added oldest first.
#[derive(Debug, Default)]
pub(crate) struct TlsTable {
    hosts: BTreeMap<HostMatch, TlsClaim>,
}

impl TlsTable {
    pub fn add(&mut self, ingress: &Ingress, diagnostics: &mut Diagnostics) {
        let id = object_ref(&ingress.metadata);
        let entries = ingress.spec.iter().flat_map(|s| s.tls.iter().flatten());
        for (i, tls) in entries.enumerate() {
            let field = format!("spec.tls[{i}]");
            let secret = match tls.secret_name.as_deref().filter(|s| !s.is_empty()) {
                None => None,
                Some(name) if name.contains('/') => {
                    diagnostics.error(
                        Ingress::KIND,
                        &id,
                        format!("{field}.secretName"),
                        format!("{name:?}: a Secret in another namespace is not usable; its hosts get the default certificate"),
                    );
                    None
                }
                Some(name) if names::check_subdomain(name).is_err() => {
                    let e = names::check_subdomain(name).unwrap_err();
                    diagnostics.error(
                        Ingress::KIND,
                        &id,
                        format!("{field}.secretName"),
                        format!("{e}; its hosts get the default certificate"),
                    );
                    None
                }
                Some(name) => Some(ObjectRef::new(&id.namespace, name)),
            };
            let hosts = tls.hosts.as_deref().unwrap_or_default();
            if hosts.is_empty() {
                diagnostics.warning(
                    Ingress::KIND,
                    &id,
                    format!("{field}.hosts"),
                    "no hosts listed: this entry serves nothing",
                );
            }
            for (j, name) in hosts.iter().enumerate() {
                let host_field = format!("{field}.hosts[{j}]");
                let host = match host::parse(Some(name)) {
                    Ok(HostMatch::Any) => continue, // empty string: not a host
                    Ok(host) => host,
                    Err(invalid) => {
                        diagnostics.error(Ingress::KIND, &id, host_field, invalid.message);
                        continue;
                    }
                };
                match self.hosts.entry(host) {
                    Entry::Vacant(entry) => {
                        entry.insert(TlsClaim {
                            ingress: id.clone(),
                            field: field.clone(),
                            host_field,
                            secret: secret.clone(),
                        });
                    }
                    Entry::Occupied(entry) => {
                        let winner = entry.get();
                        if winner.ingress != id && winner.secret != secret {
                            diagnostics.warning(
                                Ingress::KIND,
                                &id,
                                host_field,
                                format!(
                                    "ignored: TLS for host {:?} is configured by Ingress {} (oldest Ingress wins)",
                                    entry.key().to_string(),
                                    winner.ingress
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Checks the Secrets and builds the snapshot's TLS section.
    pub fn build(
        self,
        secrets: &[Secret],
        default_certificate: Option<&ObjectRef>,
        now: Option<SystemTime>,
        diagnostics: &mut Diagnostics,
    ) -> Tls {
        let by_ref: BTreeMap<ObjectRef, &Secret> = secrets
            .iter()
            .map(|s| (object_ref(&s.metadata), s))
            .collect();
        let mut loaded: BTreeMap<ObjectRef, Result<Loaded, String>> = BTreeMap::new();
        let mut load = |id: &ObjectRef| {
            loaded
                .entry(id.clone())
                .or_insert_with(|| match by_ref.get(id) {
                    None => Err(format!("Secret {id} does not exist")),
                    Some(secret) => {
                        load_secret(secret, now).map_err(|e| format!("Secret {id}: {e}"))
                    }
                })
                .clone()
        };

        let mut hosts = Vec::new();
        for (host, claim) in self.hosts {
            let certificate = claim.secret.as_ref().and_then(|id| match load(id) {
                Err(problem) => {
                    diagnostics.error(
                        Ingress::KIND,
                        &claim.ingress,
                        format!("{}.secretName", claim.field),
                        format!("{problem}; host {:?} gets the default certificate", host.to_string()),
                    );
                    None
                }
                Ok(loaded) if !loaded.covers(&host) => {
                    diagnostics.error(
                        Ingress::KIND,
                        &claim.ingress,
                        claim.host_field.clone(),
                        format!(
                            "the certificate of Secret {id} does not cover {:?} (it names {}); this host gets the default certificate",
                            host.to_string(),
                            loaded.names.join(", ")
                        ),
                    );
                    None
                }
                Ok(_) => Some(id.clone()),
            });
            hosts.push(TlsHost { host, certificate });
        }

        let default_certificate = default_certificate.and_then(|id| match load(id) {
            Ok(_) => Some(id.clone()),
            Err(problem) => {
                diagnostics.error(
                    Secret::KIND,
                    id,
                    "data",
                    format!("{problem}; the default certificate is the self-signed one"),
                );
                None
            }
        });

        let certificates = loaded
            .into_iter()
            .filter_map(|(id, loaded)| Some((id, loaded.ok()?.certificate)))
            .filter(|(id, _)| {
                Some(id) == default_certificate.as_ref()
                    || hosts.iter().any(|h| h.certificate.as_ref() == Some(id))
            })
            .collect();
        Tls {
            hosts,
            certificates,
            default_certificate,
        }
    }
}

/// A usable certificate and the DNS names it covers (lower-case).
#[derive(Debug, Clone)]
struct Loaded {
    certificate: Certificate,
    names: Vec<String>,
}

impl Loaded {
    fn covers(&self, host: &HostMatch) -> bool {
        self.names.iter().any(|name| match host {
            HostMatch::Exact(h) => {
                name == h
                    || name
                        .strip_prefix("*.")
                        .is_some_and(|suffix| wildcard_suffix(h) == Some(suffix))
            }
            HostMatch::Wildcard(suffix) => name.strip_prefix("*.") == Some(suffix.as_str()),
            HostMatch::Any => false,
        })
    }
}

fn wildcard_suffix(host: &str) -> Option<&str> {
    host.split_once('.')
        .filter(|(label, _)| !label.is_empty())
        .map(|(_, suffix)| suffix)
}

/// Reads and checks a `kubernetes.io/tls` Secret (`data`, or `stringData` as manifest files
/// may carry it).
fn load_secret(secret: &Secret, now: Option<SystemTime>) -> Result<Loaded, String> {
    let kind = secret.type_.as_deref().unwrap_or("Opaque");
    if kind != TLS_SECRET_TYPE {
        return Err(format!("type is {kind:?}; expected {TLS_SECRET_TYPE:?}"));
    }
    let field = |key: &str| -> Result<Vec<u8>, String> {
        secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|s| s.clone().into_bytes())
            .or_else(|| {
                secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|b| b.0.clone())
            })
            .filter(|b| !b.is_empty())
            .ok_or_else(|| format!("{key} is missing"))
    };
    let (crt, key) = (field("tls.crt")?, field("tls.key")?);
    let chain = X509::stack_from_pem(&crt)
        .map_err(|e| format!("tls.crt is not a PEM certificate chain: {e}"))?;
    let leaf = chain
        .first()
        .ok_or("tls.crt holds no PEM certificate".to_string())?;
    let private = PKey::private_key_from_pem(&key).map_err(|e| {
        format!(
            "tls.key is not a PEM private key (RSA, ECDSA or Ed25519; PKCS#1, SEC1 or PKCS#8): {e}"
        )
    })?;
    let public = leaf
        .public_key()
        .map_err(|e| format!("tls.crt: unreadable public key: {e}"))?;
    if !public.public_eq(&private) {
        return Err("tls.key does not match the certificate in tls.crt".into());
    }
    if let Some(now) = now {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let now = Asn1Time::from_unix(i64::try_from(secs).unwrap_or(i64::MAX))
            .map_err(|e| format!("clock: {e}"))?;
        if leaf.not_after() < now {
            return Err(format!("the certificate expired on {}", leaf.not_after()));
        }
    }
    let mut names: Vec<String> = leaf
        .subject_alt_names()
        .iter()
        .flatten()
        .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
        .collect();
    if names.is_empty() {
        // No SAN: fall back to the subject's common name, as older certificates rely on.
        names = leaf
            .subject_name()
            .entries_by_nid(Nid::COMMONNAME)
            .filter_map(|e| e.data().to_string().ok().map(|s| s.to_ascii_lowercase()))
            .collect();
    }
    Ok(Loaded {
        certificate: Certificate {
            chain_pem: String::from_utf8_lossy(&crt).into_owned(),
            key_pem: String::from_utf8_lossy(&key).into_owned(),
        },
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(names: &[&str]) -> Loaded {
        Loaded {
            certificate: Certificate {
                chain_pem: String::new(),
                key_pem: String::new(),
            },
            names: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn coverage_of_hosts_by_certificate_names() {
        let exact = |h: &str| HostMatch::Exact(h.into());
        let wild = |s: &str| HostMatch::Wildcard(s.into());
        let rows = [
            (&["shop.example.com"][..], exact("shop.example.com"), true),
            (&["shop.example.com"], exact("other.example.com"), false),
            (&["*.example.com"], exact("shop.example.com"), true),
            (&["*.example.com"], exact("a.shop.example.com"), false),
            (&["*.example.com"], exact("example.com"), false),
            (&["*.example.com"], wild("example.com"), true),
            (&["shop.example.com"], wild("example.com"), false),
            (&["a.test", "b.test"], exact("b.test"), true),
        ];
        for (names, host, expected) in rows {
            assert_eq!(loaded(names).covers(&host), expected, "{names:?} {host}");
        }
    }
}
