//! The request key consistent hashing hashes: a header, a cookie or the client address.

use std::sync::OnceLock;

use pingress_model::HashKey;

/// What consistent hashing may hash, taken from the request.
#[derive(Debug, Default)]
pub struct RequestKey<'a> {
    pub headers: Option<&'a http::HeaderMap>,
    pub client_ip: Option<std::net::IpAddr>,
    /// Scratch space for the client IP bytes.
    ip_bytes: OnceLock<Vec<u8>>,
}

impl<'a> RequestKey<'a> {
    pub fn new(headers: &'a http::HeaderMap, client_ip: Option<std::net::IpAddr>) -> Self {
        RequestKey {
            headers: Some(headers),
            client_ip,
            ip_bytes: OnceLock::new(),
        }
    }

    /// The bytes `key` hashes for this request; `None` when the request has none (it is then
    /// spread round robin).
    pub(super) fn hash_input(&self, key: &HashKey) -> Option<&[u8]> {
        match key {
            HashKey::Header(name) => Some(self.headers?.get(name.as_str())?.as_bytes()),
            HashKey::Cookie(name) => self
                .headers?
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    (k == name).then_some(v.as_bytes())
                }),
            HashKey::ClientIp => {
                let ip = self.client_ip?;
                Some(self.ip_bytes.get_or_init(|| match ip {
                    std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                    std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_client_ips_are_hash_keys() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            "a=1; session=xyz; b=2".parse().unwrap(),
        );
        let key = RequestKey::new(&headers, Some("10.0.0.7".parse().unwrap()));
        assert_eq!(
            key.hash_input(&HashKey::Cookie("session".into())),
            Some(&b"xyz"[..])
        );
        assert_eq!(key.hash_input(&HashKey::Cookie("none".into())), None);
        assert_eq!(key.hash_input(&HashKey::ClientIp), Some(&[10, 0, 0, 7][..]));
    }
}
