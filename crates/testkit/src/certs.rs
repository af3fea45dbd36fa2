//! Certificates generated in the test: a private CA that issues leaf certificates for chosen
//! names, key types and validity, so TLS tests never depend on files or the network.

use std::sync::atomic::{AtomicU32, Ordering};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509Name, X509};

/// The key algorithm of an issued certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa2048,
    EcdsaP256,
    Ed25519,
}

/// A leaf certificate and its key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The leaf, then the CA (a full chain).
    pub chain_pem: String,
    /// PKCS#8 (`BEGIN PRIVATE KEY`).
    pub key_pem: String,
    /// The traditional form: PKCS#1 for RSA (`BEGIN RSA PRIVATE KEY`), SEC1 for ECDSA
    /// (`BEGIN EC PRIVATE KEY`); PKCS#8 for Ed25519, which has no other form.
    pub key_pem_traditional: String,
    /// The leaf's serial number in hex, to tell which certificate a server presented.
    pub serial: String,
}

/// A self-signed CA.
pub struct TestCa {
    cert: X509,
    key: PKey<Private>,
}

static SERIAL: AtomicU32 = AtomicU32::new(1);

fn serial() -> Asn1Integer {
    let n = SERIAL.fetch_add(1, Ordering::SeqCst) + std::process::id() % 10_000 * 100_000;
    BigNum::from_u32(n).unwrap().to_asn1_integer().unwrap()
}

fn name(cn: &str) -> X509Name {
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    name.build()
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = PKey::from_ec_key(
            EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
        )
        .unwrap();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&serial()).unwrap();
        b.set_subject_name(&name("Pingress Test CA")).unwrap();
        b.set_issuer_name(&name("Pingress Test CA")).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        TestCa {
            cert: b.build(),
            key,
        }
    }

    /// The CA certificate, for clients to trust.
    pub fn pem(&self) -> String {
        String::from_utf8(self.cert.to_pem().unwrap()).unwrap()
    }

    /// A leaf for `names` (SAN DNS entries; the first is also the CN), valid now.
    pub fn issue(&self, names: &[&str], key_type: KeyType) -> Issued {
        self.issue_valid(names, key_type, -1, 30)
    }

    /// A leaf valid from `from_days` to `to_days` relative to now (negative: in the past).
    pub fn issue_valid(
        &self,
        names: &[&str],
        key_type: KeyType,
        from_days: i64,
        to_days: i64,
    ) -> Issued {
        let (key, traditional) = match key_type {
            KeyType::Rsa2048 => {
                let rsa = Rsa::generate(2048).unwrap();
                let pem = rsa.private_key_to_pem().unwrap();
                (PKey::from_rsa(rsa).unwrap(), pem)
            }
            KeyType::EcdsaP256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
                let ec = EcKey::generate(&group).unwrap();
                let pem = ec.private_key_to_pem().unwrap();
                (PKey::from_ec_key(ec).unwrap(), pem)
            }
            KeyType::Ed25519 => {
                let key = PKey::generate_ed25519().unwrap();
                let pem = key.private_key_to_pem_pkcs8().unwrap();
                (key, pem)
            }
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let day = 86_400;
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        let serial = serial();
        b.set_serial_number(&serial).unwrap();
        b.set_subject_name(&name(names.first().copied().unwrap_or("leaf")))
            .unwrap();
        b.set_issuer_name(self.cert.subject_name()).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::from_unix(now + from_days * day).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::from_unix(now + to_days * day).unwrap())
            .unwrap();
        let mut san = SubjectAlternativeName::new();
        for n in names {
            san.dns(n);
        }
        let san = san
            .build(&b.x509v3_context(Some(&self.cert), None))
            .unwrap();
        b.append_extension(san).unwrap();
        b.sign(&self.key, MessageDigest::sha256()).unwrap();
        let leaf = b.build();
        let mut chain = leaf.to_pem().unwrap();
        chain.extend(self.cert.to_pem().unwrap());
        Issued {
            chain_pem: String::from_utf8(chain).unwrap(),
            key_pem: String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap(),
            key_pem_traditional: String::from_utf8(traditional).unwrap(),
            serial: serial.to_bn().unwrap().to_hex_str().unwrap().to_string(),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// A `kubernetes.io/tls` Secret manifest holding `chain_pem` and `key_pem` (base64 `data`, as
/// the API server stores it).
pub fn secret_yaml(name: &str, chain_pem: &str, key_pem: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n---\n",
        b64(chain_pem),
        b64(key_pem)
    )
}

fn b64(s: &str) -> String {
    openssl::base64::encode_block(s.as_bytes())
}

/// A TLS client connection to `addr` sending `sni` as the server name (`None`: no SNI
/// extension). The server's certificate is not verified: tests compare its serial number with
/// the one they issued, which also covers the self-signed default certificate.
pub fn tls_connect(
    addr: std::net::SocketAddr,
    sni: Option<&str>,
) -> std::io::Result<openssl::ssl::SslStream<std::net::TcpStream>> {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    let tcp = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut builder = SslConnector::builder(SslMethod::tls()).map_err(std::io::Error::other)?;
    builder.set_verify(SslVerifyMode::NONE);
    builder
        .set_alpn_protos(b"\x08http/1.1")
        .map_err(std::io::Error::other)?;
    let mut config = builder
        .build()
        .configure()
        .map_err(std::io::Error::other)?
        .use_server_name_indication(sni.is_some())
        .verify_hostname(false);
    config.set_verify(SslVerifyMode::NONE);
    config
        .connect(sni.unwrap_or("unused"), tcp)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// The serial number (hex) of the certificate the server presented.
pub fn peer_serial(stream: &openssl::ssl::SslStream<std::net::TcpStream>) -> Option<String> {
    let cert = stream.ssl().peer_certificate()?;
    Some(
        cert.serial_number()
            .to_bn()
            .ok()?
            .to_hex_str()
            .ok()?
            .to_string(),
    )
}
