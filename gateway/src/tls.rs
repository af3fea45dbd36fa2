//! TLS termination: the SNI certificate callback Pingora calls during every handshake (it
//! reads the live generation's [`CertStore`](crate::config::CertStore)), and the HTTPS
//! listener's protocol policy.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use openssl::ssl::{NameType, SslVersion};
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use pingress_routing::normalize_host;

use crate::config::LiveConfig;
use crate::metrics::Metrics;

/// TLS 1.2 cipher suites offered, strongest first: forward-secret ECDHE with AEAD ciphers only
/// (Mozilla's "intermediate" list without the DHE suites). TLS 1.3 uses OpenSSL's defaults,
/// which are all AEAD.
pub const TLS12_CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/// The SNI name of a TLS connection, recorded when its handshake completes.
pub struct Sni(pub String);

/// Pingora's TLS callbacks: pick the certificate by SNI from the live generation, and count
/// handshakes.
pub struct CertSelector {
    pub live: Arc<LiveConfig>,
    pub metrics: Arc<Metrics>,
}

fn sni(ssl: &TlsRef) -> Option<String> {
    ssl.servername(NameType::HOST_NAME)
        .map(|n| normalize_host(n).into_owned())
}

#[async_trait]
impl TlsAccept for CertSelector {
    async fn certificate_callback(&self, ssl: &mut TlsRef) {
        self.metrics.tls_handshakes_started.inc();
        let name = sni(ssl);
        let generation = self.live.load();
        let cert = generation.tls.select(name.as_deref());
        if let Err(e) = cert.install(ssl) {
            tracing::error!(sni = ?name, "cannot use the selected certificate: {e}");
        }
    }

    async fn handshake_complete_callback(
        &self,
        ssl: &TlsRef,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        self.metrics.observe_tls_handshake(ssl.version_str());
        Some(Arc::new(Sni(sni(ssl)?)))
    }
}

/// The HTTPS listener's settings: certificates by SNI, TLS 1.2 and 1.3 only, AEAD ciphers,
/// ALPN `h2` then `http/1.1`.
pub fn listener_settings(
    live: Arc<LiveConfig>,
    metrics: Arc<Metrics>,
) -> pingora::Result<TlsSettings> {
    use pingora::{ErrorType, OrErr};
    let mut settings = TlsSettings::with_callbacks(Box::new(CertSelector { live, metrics }))?;
    settings
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .or_err(ErrorType::InternalError, "TLS minimum version")?;
    settings
        .set_max_proto_version(Some(SslVersion::TLS1_3))
        .or_err(ErrorType::InternalError, "TLS maximum version")?;
    settings
        .set_cipher_list(TLS12_CIPHERS)
        .or_err(ErrorType::InternalError, "TLS 1.2 cipher list")?;
    settings.enable_h2();
    Ok(settings)
}
