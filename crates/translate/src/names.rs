//! Kubernetes object and port names, validated as the API server validates them. Objects read
//! from the API are valid already; manifest files are not checked by anyone else, and a name
//! with a `/` or `:` would make the Snapshot's `namespace/name` and `namespace/service:port`
//! keys ambiguous.

/// A DNS-1123 label (namespaces, Service names): at most 63 lower-case letters, digits and
/// `-`, starting and ending with a letter or digit.
pub(crate) fn check_label(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    ok.then_some(()).ok_or_else(|| {
        format!("invalid name {name:?}: expected at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit")
    })
}

/// A DNS-1123 subdomain (most object names): at most 253 characters, dot-separated labels.
pub(crate) fn check_subdomain(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| check_label(label).is_ok());
    ok.then_some(()).ok_or_else(|| {
        format!("invalid name {name:?}: expected a DNS subdomain (lower-case letters, digits, '-' and '.', at most 253 characters)")
    })
}

/// An IANA service name (a Service port's name): at most 15 lower-case letters, digits and
/// `-`, with at least one letter, no `-` at either end and no `--`.
pub(crate) fn check_port_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    ok.then_some(()).ok_or_else(|| {
        format!("invalid port name {name:?}: expected at most 15 lower-case letters, digits and '-', with a letter")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_api_servers_rules() {
        // (name, label, subdomain, port name)
        #[rustfmt::skip]
        let rows = [
            ("web", true, true, true),
            ("web-1", true, true, true),
            ("a.b", false, true, false),
            ("Web", false, false, false),
            ("-web", false, false, false),
            ("web-", false, false, false),
            ("", false, false, false),
            ("a/b", false, false, false),
            ("default/green:8http", false, false, false),
            ("http--alt", true, true, false),
            ("8080", true, true, false),
            ("sixteen-chars-xx", true, true, false),
        ];
        for (name, label, subdomain, port) in rows {
            assert_eq!(check_label(name).is_ok(), label, "label {name:?}");
            assert_eq!(
                check_subdomain(name).is_ok(),
                subdomain,
                "subdomain {name:?}"
            );
            assert_eq!(check_port_name(name).is_ok(), port, "port name {name:?}");
        }
        assert!(check_label(&"a".repeat(64)).is_err());
    }
}
