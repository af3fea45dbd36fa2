//! `spec.rules[].host`: lower-cased and validated as Kubernetes does (a DNS-1123 subdomain,
//! optionally with `*` as the whole first label, never an IP address).

use std::net::IpAddr;

use pingress_model::HostMatch;

use crate::diagnostic::Invalid;

const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// Parses a rule's host; `None` or empty means every host.
pub(crate) fn parse(host: Option<&str>) -> Result<HostMatch, Invalid> {
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return Ok(HostMatch::Any);
    };
    let lower = host.to_ascii_lowercase();
    let invalid =
        |reason: String| Invalid::new(".host", format!("invalid value {host:?}: {reason}"));
    if lower.len() > MAX_NAME {
        return Err(invalid(format!("longer than {MAX_NAME} characters")));
    }
    let (wildcard, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    for label in name.split('.') {
        check_label(label).map_err(invalid)?;
    }
    if wildcard {
        Ok(HostMatch::Wildcard(name.to_string()))
    } else if name.parse::<IpAddr>().is_ok() {
        Err(invalid(
            "an IP address is not allowed; use a DNS name".into(),
        ))
    } else {
        Ok(HostMatch::Exact(lower))
    }
}

/// One DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("empty DNS label".into());
    }
    if label.contains('*') {
        return Err("a wildcard must be the whole first label, as in \"*.example.com\"".into());
    }
    if label.len() > MAX_LABEL {
        return Err(format!(
            "DNS label {label:?} is longer than {MAX_LABEL} characters"
        ));
    }
    let alphanumeric = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = label.as_bytes();
    let valid = bytes.iter().all(|&c| alphanumeric(c) || c == b'-')
        && alphanumeric(bytes[0])
        && alphanumeric(bytes[bytes.len() - 1]);
    if valid {
        Ok(())
    } else {
        Err(format!(
            "DNS label {label:?} must consist of lower-case letters, digits and '-', \
             and start and end with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(h: &str) -> Result<HostMatch, Invalid> {
        Ok(HostMatch::Exact(h.into()))
    }

    fn wildcard(suffix: &str) -> Result<HostMatch, Invalid> {
        Ok(HostMatch::Wildcard(suffix.into()))
    }

    #[test]
    fn valid_hosts() {
        let cases = [
            (None, Ok(HostMatch::Any)),
            (Some(""), Ok(HostMatch::Any)),
            (Some("example.com"), exact("example.com")),
            (Some("Shop.Example.COM"), exact("shop.example.com")),
            (Some("localhost"), exact("localhost")),
            (Some("a-1.b2.example"), exact("a-1.b2.example")),
            (Some("1.example.com"), exact("1.example.com")),
            (Some("*.example.com"), wildcard("example.com")),
            (Some("*.Example.com"), wildcard("example.com")),
            (Some("*.com"), wildcard("com")),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input), expected, "host {input:?}");
        }
    }

    #[test]
    fn invalid_hosts() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = vec!["a".repeat(63); 4].join(".");
        let cases = [
            ("10.0.0.1", "an IP address is not allowed"),
            ("[::1]", "must consist of lower-case letters"),
            ("::1", "must consist of lower-case letters"),
            ("foo_bar.com", "DNS label \"foo_bar\" must consist"),
            ("-foo.com", "start and end with a letter or digit"),
            ("foo-.com", "start and end with a letter or digit"),
            ("example.com:8080", "must consist of lower-case letters"),
            ("example.com.", "empty DNS label"),
            ("a..b", "empty DNS label"),
            ("*", "wildcard must be the whole first label"),
            ("*example.com", "wildcard must be the whole first label"),
            ("foo.*.com", "wildcard must be the whole first label"),
            ("*.*.com", "wildcard must be the whole first label"),
            ("*.", "empty DNS label"),
            ("bücher.de", "must consist of lower-case letters"),
            (long_label.as_str(), "longer than 63 characters"),
            (long_name.as_str(), "longer than 253 characters"),
        ];
        for (input, reason) in cases {
            let err = parse(Some(input)).expect_err(input);
            assert_eq!(err.field, ".host");
            assert!(
                err.message
                    .starts_with(&format!("invalid value {input:?}: "))
                    && err.message.contains(reason),
                "host {input:?}: {}",
                err.message
            );
        }
    }
}
