//! Value grammars of ingress-nginx settings that an annotation and a ConfigMap key share:
//! `proxy-next-upstream` tokens and lists of statuses (`custom-http-errors`).

use std::ops::RangeInclusive;

use pingress_model::RetryOn;

/// A comma-separated list of statuses within `range` (spaces allowed), sorted and distinct;
/// the first item that is not one is the error.
pub(crate) fn parse_codes(value: &str, range: RangeInclusive<u16>) -> Result<Vec<u16>, String> {
    let mut codes = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let code = Some(item)
            .filter(|i| i.len() == 3 && i.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|i| i.parse::<u16>().ok())
            .filter(|c| range.contains(c))
            .ok_or_else(|| item.to_string())?;
        codes.push(code);
    }
    codes.sort_unstable();
    codes.dedup();
    Ok(codes)
}

/// Space-separated `proxy-next-upstream` tokens; `off` anywhere means nothing is retried (as
/// in nginx). The first unknown token is the error.
pub(crate) fn parse_next_upstream(value: &str) -> Result<RetryOn, String> {
    let mut on = RetryOn::off();
    let mut off = false;
    let mut any = false;
    for token in value.split_whitespace() {
        any = true;
        if token == "off" {
            off = true;
            continue;
        }
        on = on.with(RetryOn::token(token).ok_or_else(|| token.to_string())?);
    }
    if !any {
        return Err(String::new());
    }
    Ok(if off { RetryOn::off() } else { on })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_upstream_tokens() {
        // (value, parsed) — the tokens of ingress-nginx's validator (annotations/proxy/main.go).
        let rows: [(&str, Result<&str, &str>); 8] = [
            ("error timeout", Ok("error timeout")),
            ("error timeout http_502", Ok("error timeout http_502")),
            ("timeout http_502", Ok("timeout http_502")),
            ("non_idempotent error", Ok("error non_idempotent")),
            (
                "http_404 http_429 http_403",
                Ok("http_403 http_404 http_429"),
            ),
            ("off", Ok("off")),
            ("error off", Ok("off")),
            ("error http_418", Err("http_418")),
        ];
        for (value, expected) in rows {
            let got = parse_next_upstream(value).map(|on| on.to_string());
            let expected = expected.map(String::from).map_err(String::from);
            assert_eq!(got, expected, "{value}");
        }
        assert_eq!(parse_next_upstream("  "), Err(String::new()));
    }

    #[test]
    fn status_lists() {
        // (value, range, parsed) — the annotation's validator `^(?:[4,5]\d{2},?)*$` after spaces
        // are removed (customhttperrors/main.go); the ConfigMap keeps 300..=599 (filterErrors).
        let rows: [(&str, Result<Vec<u16>, &str>); 6] = [
            ("404,500", Ok(vec![404, 500])),
            ("404, 503", Ok(vec![404, 503])),
            ("503,404,503", Ok(vec![404, 503])),
            (",", Ok(vec![])),
            ("404,600", Err("600")),
            ("404,5xx", Err("5xx")),
        ];
        for (value, expected) in rows {
            let expected = expected.map_err(str::to_string);
            assert_eq!(parse_codes(value, 400..=599), expected, "{value}");
        }
        assert_eq!(parse_codes("302", 400..=599), Err("302".to_string()));
        assert_eq!(parse_codes("302", 300..=599), Ok(vec![302]));
    }
}
