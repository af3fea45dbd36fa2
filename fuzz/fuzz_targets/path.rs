//! Fuzzes `pingress_routing::normalize_path`, which every request path goes through before it
//! is matched and forwarded. The input is the raw path (bytes that are not UTF-8 are
//! replaced), normalised under each `EncodedSlashes` policy.
//!
//! Checks, for each policy:
//! - it never panics;
//! - an `Ok` path starts with `/`, has no empty, `.` or `..` segment (so no `//`, `/./` or
//!   `/../`, and no trailing `/.` or `/..`), no raw `\`, and only escapes that are `%` and two
//!   upper-case hex digits of a byte that is not unreserved (those are decoded);
//! - it is idempotent: normalising an `Ok` path again gives it back unchanged;
//! - a borrowed result is the input itself;
//! - `Decode` and `Reject` leave no encoded slash (`%2F`, `%5C`); where `Reject` accepts the
//!   path, all three policies agree.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use pingress_routing::{normalize_path, EncodedSlashes};

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn check(raw: &str, policy: EncodedSlashes) -> Option<String> {
    let once = normalize_path(raw, policy).ok()?;
    let what = format!("normalize_path({raw:?}, {policy:?}) = {once:?}");
    if let Cow::Borrowed(b) = once {
        assert_eq!(b, raw, "{what}: borrowed something else than the input");
    }
    assert!(once.starts_with('/'), "{what}: not absolute");
    let mut segments = once[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        assert!(
            segment != "." && segment != ".." && (!segment.is_empty() || last),
            "{what}: keeps the segment {segment:?}"
        );
    }
    assert!(!once.contains('\\'), "{what}: keeps a raw backslash");
    let bytes = once.as_bytes();
    for (i, _) in once.match_indices('%') {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        let byte = hex
            .filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            })
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        assert!(
            byte.is_some_and(|b| !is_unreserved(b)),
            "{what}: bad escape at {i}"
        );
    }
    if policy != EncodedSlashes::Keep {
        assert!(
            !once.contains("%2F") && !once.contains("%5C"),
            "{what}: keeps an encoded slash"
        );
    }
    let twice = normalize_path(&once, policy);
    assert!(
        twice.as_deref() == Ok(&*once),
        "{what}: normalising it again gives {twice:?}"
    );
    Some(once.into_owned())
}

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let keep = check(&raw, EncodedSlashes::Keep);
    let decode = check(&raw, EncodedSlashes::Decode);
    if let Some(reject) = check(&raw, EncodedSlashes::Reject) {
        assert_eq!(
            keep.as_ref(),
            Some(&reject),
            "Keep and Reject differ on {raw:?}"
        );
        assert_eq!(
            decode.as_ref(),
            Some(&reject),
            "Decode and Reject differ on {raw:?}"
        );
    }
});
