//! The request's host as the route table matches it. A `Host` header (or HTTP/2 `:authority`)
//! comes in any case, maybe with a port, a trailing dot or IPv6 brackets; the model's host
//! matches are lower-case names without any of these. [`Host`] is the normalised form, made
//! once per request, so that the route table, the certificate store and the redirect all see
//! the same name and none of them normalises it again.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

/// A request host, normalised by [`normalize_host`]: lower-case, without port or trailing dot.
/// Borrows the raw header value when it is already normal (most requests).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Host<'a>(Cow<'a, str>);

impl<'a> Host<'a> {
    /// Normalises a raw `Host` header value (see [`normalize_host`]; an empty value is the
    /// empty host, which only the host-less virtual host serves).
    #[inline]
    pub fn new(raw: &'a str) -> Self {
        Host(normalize_host(raw))
    }

    /// The normalised name.
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Host<'_> {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Host<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The suffix a `*.suffix` vhost would need to match `host`: `host` minus its first label.
/// A host with no `.`, or with an empty first label (`.example.com`), has none.
#[inline]
pub(crate) fn wildcard_suffix(host: &str) -> Option<&str> {
    match host.split_once('.') {
        Some((label, suffix)) if !label.is_empty() => Some(suffix),
        _ => None,
    }
}

/// Normalises a `Host` header value to the form the model uses: lower-case, the port stripped
/// (`example.com:8080` -> `example.com`, `[::1]:80` -> `::1`), trailing dots stripped.
/// Borrows when nothing needs lower-casing. Idempotent: a malformed bracketed host (no `]`, or
/// not an IPv6 address inside) is kept whole, so it matches no virtual host.
#[inline]
pub fn normalize_host(raw: &str) -> Cow<'_, str> {
    if is_normal_host(raw.as_bytes()) {
        Cow::Borrowed(raw)
    } else {
        normalize_host_slow(raw)
    }
}

/// True for a host that [`normalize_host`] returns unchanged because there is nothing to do:
/// no `:`, no upper-case or non-ASCII byte, no `[` first and no `.` last (most `Host` headers).
/// Checks eight bytes at a time (a byte loop was a fifth of a lookup's instructions).
#[inline]
pub(crate) fn is_normal_host(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    // The high bit of each byte of the result: set for a byte that is not ASCII, is upper-case
    // (0x41..=0x5a) or is ':'. Every sum stays within its byte, as `low` bytes are < 0x80.
    fn special(word: u64) -> u64 {
        let low = word & !HIGH;
        let upper = (low + ONES * (0x80 - 0x41)) & !(low + ONES * (0x80 - 0x5b));
        let colon = !((low ^ (ONES * u64::from(b':'))) + ONES * 0x7f);
        (word | upper | colon) & HIGH
    }
    let word = |chunk: &[u8]| {
        chunk
            .iter()
            .rev()
            .fold(0u64, |word, &b| word << 8 | u64::from(b))
    };
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return true;
    };
    if first == b'[' || last == b'.' {
        return false;
    }
    let mut any = 0;
    if bytes.len() < 8 {
        any |= special(word(bytes));
    } else {
        let chunks = bytes.chunks_exact(8);
        // The last eight bytes, overlapping the last whole chunk: the check is per byte.
        any |= special(word(&bytes[bytes.len() - 8..]));
        for chunk in chunks {
            any |= special(word(chunk));
        }
    }
    any == 0
}

/// [`normalize_host`] for a host that is not already normal.
pub(crate) fn normalize_host_slow(raw: &str) -> Cow<'_, str> {
    let name = if let Some(bracketed) = raw.strip_prefix('[') {
        match bracketed.split_once(']') {
            // An IPv6 literal has at least two colons; anything else is not one.
            Some((addr, _port)) if addr.matches(':').count() >= 2 && !addr.contains('[') => addr,
            _ => raw,
        }
    } else {
        // Counting with a loop the compiler vectorises instead of `rsplit_once` and
        // `contains` (a third of a lookup's cost, benches/micro/examples/lookup.rs).
        let bytes = raw.as_bytes();
        match bytes.iter().filter(|&&b| b == b':').count() {
            // `name:port`; a second ':' means an unbracketed IPv6 address, not a port.
            1 => bytes
                .iter()
                .rposition(|&b| b == b':')
                .map_or(raw, |i| &raw[..i]),
            _ => raw,
        }
    };
    let name = if name.starts_with('[') {
        name
    } else {
        name.trim_end_matches('.')
    };
    // `fold`, not `any`: no early exit, so the scan vectorises.
    if name
        .bytes()
        .fold(false, |upper, b| upper | b.is_ascii_uppercase())
    {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}
