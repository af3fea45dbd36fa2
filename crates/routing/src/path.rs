//! Request-path normalisation before matching: the path a request is matched with is the path
//! it is forwarded with, so `/public/../admin` can never be matched as `/public` and reach the
//! upstream as `/admin`.
//!
//! ```text
//! /a/%2e%2E/b//c/./%7Euser/%c3%a9%2f
//!  1. percent-decode unreserved bytes (A-Z a-z 0-9 - . _ ~), upper-case the hex of the rest
//!  2. encoded '/' (%2F), encoded '\' (%5C) and a raw '\' follow the EncodedSlashes policy
//!  3. split on '/', drop empty segments (// -> /) and '.', '..' removes the previous segment
//! /b/c/~user/%C3%A9%2F          (with EncodedSlashes::Keep)
//! ```
//!
//! Rejected (the gateway answers `400`): a path not starting with `/`, a `%` not followed by two
//! hex digits, an encoded NUL (`%00`), a `..` that climbs above the root (as nginx does), and
//! encoded slashes under [`EncodedSlashes::Reject`].

use std::borrow::Cow;
use std::fmt;

/// What to do with `%2F`, `%5C` and a raw `\` in a request path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EncodedSlashes {
    /// Keep them as data, never as separators: `%2F` and `%5C` stay encoded (a raw `\` becomes
    /// `%5C`). `/public%2F..%2Fadmin` is one segment, so it matches only rules covering `/`.
    #[default]
    Keep,
    /// Turn them into `/` before dot-segment removal (what a backend that decodes them sees).
    Decode,
    /// Refuse the request.
    Reject,
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (e.g. `OPTIONS *`).
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// `%00`.
    EncodedNul,
    /// `..` above the root.
    AboveRoot,
    /// `%2F`, `%5C` or `\` under [`EncodedSlashes::Reject`].
    EncodedSlash,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path does not start with '/'",
            PathError::BadEscape => "'%' not followed by two hex digits",
            PathError::EncodedNul => "an encoded NUL byte (%00)",
            PathError::AboveRoot => "a '..' segment above the root",
            PathError::EncodedSlash => "an encoded '/' or '\\' (refused by --encoded-slashes)",
        })
    }
}

impl std::error::Error for PathError {}

/// Normalises a request path (without its query) as the module comment describes. Borrows when
/// the path is already normal, which is the common case and costs one scan.
pub fn normalize_path(raw: &str, slashes: EncodedSlashes) -> Result<Cow<'_, str>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    let decoded = decode(raw, slashes)?;
    remove_dot_segments(&decoded).map(Cow::Owned)
}

/// Already normal: no escapes, no backslash, no empty, `.` or `..` segment (a trailing `/` is
/// fine).
fn is_normal(raw: &str) -> bool {
    if raw.bytes().any(|b| b == b'%' || b == b'\\') {
        return false;
    }
    let mut segments = raw[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment == "." || segment == ".." || (segment.is_empty() && !last) {
            return false;
        }
    }
    true
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Step 1 and 2: decodes unreserved escapes, applies the slash policy, upper-cases the hex of
/// the escapes it keeps.
fn decode(raw: &str, slashes: EncodedSlashes) -> Result<String, PathError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let (byte, escaped) = match bytes[i] {
            b'%' => {
                let high = bytes.get(i + 1).copied().and_then(hex_value);
                let low = bytes.get(i + 2).copied().and_then(hex_value);
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(PathError::BadEscape);
                };
                i += 3;
                (high << 4 | low, true)
            }
            b => {
                i += 1;
                (b, false)
            }
        };
        match byte {
            0 if escaped => return Err(PathError::EncodedNul),
            b'/' | b'\\' if escaped || byte == b'\\' => match slashes {
                EncodedSlashes::Keep => {
                    out.extend_from_slice(if byte == b'/' { b"%2F" } else { b"%5C" })
                }
                EncodedSlashes::Decode => out.push(b'/'),
                EncodedSlashes::Reject => return Err(PathError::EncodedSlash),
            },
            b if escaped && !is_unreserved(b) => {
                out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
            }
            b => out.push(b),
        }
    }
    // Only ASCII escapes were decoded; every other byte was copied from a `str`.
    Ok(String::from_utf8(out).expect("decoding keeps UTF-8"))
}

/// Step 3 (RFC 3986 §5.2.4, plus merging `//`): `raw` starts with `/`.
fn remove_dot_segments(raw: &str) -> Result<String, PathError> {
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in raw[1..].split('/') {
        trailing_slash = true;
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop().ok_or(PathError::AboveRoot)?;
            }
            segment => {
                kept.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(raw.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || kept.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use EncodedSlashes::{Decode, Keep, Reject};

    fn norm(raw: &str) -> Result<Cow<'_, str>, PathError> {
        normalize_path(raw, Keep)
    }

    #[test]
    fn normal_paths_are_borrowed() {
        for path in [
            "/",
            "/a",
            "/a/",
            "/a/b.c/d",
            "/~user/.well-known/x",
            "/a..b/c",
        ] {
            assert!(
                matches!(norm(path), Ok(Cow::Borrowed(p)) if p == path),
                "{path}"
            );
        }
    }

    #[test]
    fn dot_segments_are_removed() {
        let cases = [
            ("/public/../admin", "/admin"),
            ("/a/./b", "/a/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/..", "/"),
            ("/..a/b", "/..a/b"),
            ("/a/%2e%2E/b", "/b"),
            ("/a/.%2e/b", "/b"),
            ("/a/%2e/b", "/a/b"),
        ];
        for (raw, want) in cases {
            assert_eq!(norm(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn slashes_merge() {
        assert_eq!(norm("//a///b//").unwrap(), "/a/b/");
        assert_eq!(norm("//").unwrap(), "/");
    }

    #[test]
    fn unreserved_escapes_are_decoded_others_upper_cased() {
        assert_eq!(norm("/%61dmin").unwrap(), "/admin");
        assert_eq!(norm("/%7euser/%2d%5f").unwrap(), "/~user/-_");
        assert_eq!(norm("/caf%c3%a9?").unwrap(), "/caf%C3%A9?");
        assert_eq!(norm("/a%20b").unwrap(), "/a%20b");
        assert_eq!(norm("/100%25").unwrap(), "/100%25");
    }

    #[test]
    fn encoded_slashes_follow_the_policy() {
        let raw = "/public%2F..%2fadmin";
        assert_eq!(normalize_path(raw, Keep).unwrap(), "/public%2F..%2Fadmin");
        assert_eq!(normalize_path(raw, Decode).unwrap(), "/admin");
        assert_eq!(normalize_path(raw, Reject), Err(PathError::EncodedSlash));
        assert_eq!(normalize_path("/a\\..\\b", Keep).unwrap(), "/a%5C..%5Cb");
        assert_eq!(normalize_path("/a\\..\\b", Decode).unwrap(), "/b");
        assert_eq!(
            normalize_path("/a%5c", Reject),
            Err(PathError::EncodedSlash)
        );
    }

    #[test]
    fn bad_paths_are_refused() {
        assert_eq!(norm("*"), Err(PathError::NotAbsolute));
        assert_eq!(norm(""), Err(PathError::NotAbsolute));
        assert_eq!(norm("/a%2"), Err(PathError::BadEscape));
        assert_eq!(norm("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(norm("/a%00b"), Err(PathError::EncodedNul));
        assert_eq!(norm("/.."), Err(PathError::AboveRoot));
        assert_eq!(norm("/a/../../b"), Err(PathError::AboveRoot));
        assert_eq!(norm("/%2e%2e/etc/passwd"), Err(PathError::AboveRoot));
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for raw in [
            "/a/%2e%2E/b//c/./%7Euser/%c3%a9%2f",
            "/x%5c/../y",
            "/a/b/../",
        ] {
            for policy in [Keep, Decode] {
                let once = normalize_path(raw, policy).unwrap().into_owned();
                assert_eq!(normalize_path(&once, policy).unwrap(), once, "{raw}");
            }
        }
    }
}
