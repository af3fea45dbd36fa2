//! Request ids: the client's `X-Request-Id` when it sent a sane one, else a new unique id.
//! The id is passed upstream and logged, so one request can be followed across systems.

use std::sync::atomic::{AtomicU64, Ordering};

use pingora::http::RequestHeader;

use crate::headers::REQUEST_ID;

/// Longest client-supplied id accepted; longer ones are replaced.
const MAX_CLIENT_ID: usize = 200;

/// Generates ids: a random per-process prefix and a counter, 32 hex digits in all. Unique
/// without a random draw per request.
pub struct RequestIds {
    prefix: u64,
    counter: AtomicU64,
}

impl RequestIds {
    pub fn new() -> Self {
        let mut seed = [0u8; 8];
        // Without randomness (never seen in practice) ids are still unique within the process.
        let _ = openssl::rand::rand_bytes(&mut seed);
        RequestIds {
            prefix: u64::from_le_bytes(seed),
            counter: AtomicU64::new(0),
        }
    }

    /// The id of `req`: its `X-Request-Id` if printable ASCII and not too long, else a new one.
    pub fn of(&self, req: &RequestHeader) -> String {
        let supplied = req
            .headers
            .get(REQUEST_ID)
            .map(|v| v.as_bytes())
            .filter(|v| !v.is_empty() && v.len() <= MAX_CLIENT_ID)
            .filter(|v| v.iter().all(|b| b.is_ascii_graphic()));
        match supplied {
            Some(id) => String::from_utf8_lossy(id).into_owned(),
            None => format!(
                "{:016x}{:016x}",
                self.prefix,
                self.counter.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_kept_when_sane_and_generated_otherwise() {
        let ids = RequestIds::new();
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        let (a, b) = (ids.of(&req), ids.of(&req));
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        req.insert_header(REQUEST_ID, "abc-123").unwrap();
        assert_eq!(ids.of(&req), "abc-123");
        req.insert_header(REQUEST_ID, "x".repeat(500)).unwrap();
        assert_eq!(ids.of(&req).len(), 32, "too long: replaced");
    }
}
