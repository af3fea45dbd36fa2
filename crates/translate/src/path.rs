//! `spec.rules[].http.paths[]`: `pathType` and `path`, validated as Kubernetes does.

use pingress_model::PathMatch;

use crate::diagnostic::Invalid;

/// Sequences Kubernetes rejects in `Exact` and `Prefix` paths: they are ambiguous once a path
/// is normalised.
const INVALID_SEQUENCES: [&str; 5] = ["//", "/./", "/../", "%2f", "%2F"];
const INVALID_SUFFIXES: [&str; 2] = ["/..", "/."];

/// Parses one path of a rule. `ImplementationSpecific` is matched exactly like `Prefix`, so it
/// is validated like `Prefix` too.
pub(crate) fn parse(path_type: &str, path: Option<&str>) -> Result<PathMatch, Invalid> {
    let make: fn(&str) -> PathMatch = match path_type {
        "Exact" => |p| PathMatch::Exact(p.to_string()),
        "Prefix" | "ImplementationSpecific" => PathMatch::prefix,
        "" => {
            return Err(Invalid::new(
                ".pathType",
                "required; expected Exact, Prefix or ImplementationSpecific",
            ))
        }
        other => {
            return Err(Invalid::new(
                ".pathType",
                format!(
                    "unsupported value {other:?}; expected Exact, Prefix or ImplementationSpecific"
                ),
            ))
        }
    };
    let path = path.filter(|p| !p.is_empty()).ok_or_else(|| {
        Invalid::new(
            ".path",
            "required; must be an absolute path starting with '/'",
        )
    })?;
    let invalid =
        |reason: String| Invalid::new(".path", format!("invalid value {path:?}: {reason}"));
    if !path.starts_with('/') {
        return Err(invalid("must start with '/'".into()));
    }
    if let Some(seq) = INVALID_SEQUENCES.iter().find(|s| path.contains(*s)) {
        return Err(invalid(format!("must not contain {seq:?}")));
    }
    if let Some(suffix) = INVALID_SUFFIXES.iter().find(|s| path.ends_with(*s)) {
        return Err(invalid(format!("must not end with {suffix:?}")));
    }
    Ok(make(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths() {
        let exact = |p: &str| PathMatch::Exact(p.into());
        let prefix = |p: &str| PathMatch::Prefix(p.into());
        let cases = [
            ("Exact", "/foo", exact("/foo")),
            ("Exact", "/foo/", exact("/foo/")),
            ("Exact", "/", exact("/")),
            ("Prefix", "/foo", prefix("/foo")),
            ("Prefix", "/foo/", prefix("/foo")),
            ("Prefix", "/", prefix("")),
            ("ImplementationSpecific", "/foo/", prefix("/foo")),
            ("ImplementationSpecific", "/", prefix("")),
            ("Prefix", "/a.b/..c/.d", prefix("/a.b/..c/.d")),
            ("Prefix", "/a%20b", prefix("/a%20b")),
        ];
        for (path_type, path, expected) in cases {
            assert_eq!(
                parse(path_type, Some(path)),
                Ok(expected),
                "{path_type} {path}"
            );
        }
    }

    #[test]
    fn invalid_paths() {
        let cases = [
            (
                "",
                Some("/"),
                ".pathType",
                "required; expected Exact, Prefix or ImplementationSpecific",
            ),
            (
                "prefix",
                Some("/"),
                ".pathType",
                "unsupported value \"prefix\"; expected Exact, Prefix or ImplementationSpecific",
            ),
            (
                "Exact",
                None,
                ".path",
                "required; must be an absolute path starting with '/'",
            ),
            (
                "ImplementationSpecific",
                Some(""),
                ".path",
                "required; must be an absolute path starting with '/'",
            ),
            (
                "Prefix",
                Some("foo"),
                ".path",
                "invalid value \"foo\": must start with '/'",
            ),
            (
                "Prefix",
                Some("/a//b"),
                ".path",
                "invalid value \"/a//b\": must not contain \"//\"",
            ),
            (
                "Exact",
                Some("/a/./b"),
                ".path",
                "invalid value \"/a/./b\": must not contain \"/./\"",
            ),
            (
                "Prefix",
                Some("/a/../b"),
                ".path",
                "invalid value \"/a/../b\": must not contain \"/../\"",
            ),
            (
                "Prefix",
                Some("/a%2fb"),
                ".path",
                "invalid value \"/a%2fb\": must not contain \"%2f\"",
            ),
            (
                "ImplementationSpecific",
                Some("/a%2Fb"),
                ".path",
                "invalid value \"/a%2Fb\": must not contain \"%2F\"",
            ),
            (
                "Exact",
                Some("/a/.."),
                ".path",
                "invalid value \"/a/..\": must not end with \"/..\"",
            ),
            (
                "Prefix",
                Some("/a/."),
                ".path",
                "invalid value \"/a/.\": must not end with \"/.\"",
            ),
        ];
        for (path_type, path, field, message) in cases {
            assert_eq!(
                parse(path_type, path),
                Err(Invalid::new(field, message)),
                "{path_type} {path:?}"
            );
        }
    }
}
