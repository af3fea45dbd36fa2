//! Fuzzes `pingress_routing::normalize_host`, which every request's `Host` header goes through.
//!
//! The input is the raw header value (bytes that are not UTF-8 are replaced, as a header
//! would have to be decoded first). Checks:
//! - it never panics;
//! - it is idempotent: `normalize(normalize(x)) == normalize(x)`;
//! - the result has no ASCII upper-case letter;
//! - a host without a port, brackets or a trailing dot (`[a-z0-9.-]`, not ending in `.`) is
//!   left as it is, and borrowed rather than copied.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use pingress_routing::normalize_host;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let once = normalize_host(&raw);
    let twice = normalize_host(&once);
    assert_eq!(
        once, twice,
        "normalize_host is not idempotent on {raw:?}: {once:?} then {twice:?}"
    );
    assert!(
        !once.bytes().any(|b| b.is_ascii_uppercase()),
        "normalize_host({raw:?}) = {once:?} keeps an upper-case letter"
    );
    let plain = !raw.ends_with('.')
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if plain {
        assert_eq!(once, raw, "normalize_host changed the plain host {raw:?}");
        assert!(
            matches!(once, Cow::Borrowed(_)),
            "normalize_host copied the plain host {raw:?}"
        );
    }
});
