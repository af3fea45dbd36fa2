//! The project's one grammar for durations and sizes, shared by annotations and command-line
//! flags (ingress-nginx writes timeouts as bare seconds, nginx writes sizes as `8m`).

use std::time::Duration;

pub const MS: Duration = Duration::from_millis(1);
pub const SECOND: Duration = Duration::from_secs(1);
pub const MINUTE: Duration = Duration::from_secs(60);
pub const HOUR: Duration = Duration::from_secs(3600);

/// `digits[k|m|g]`, as nginx's `client_max_body_size` (powers of 1024); `None` when malformed
/// or overflowing.
pub fn parse_size(s: &str) -> Option<u64> {
    let (digits, unit) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1 << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

/// A bare number of seconds (`60`, as ingress-nginx writes it), or numbers with units `ms`,
/// `s`, `m`, `h`, one or more (`500ms`, `5s`, `2m`, `1m30s`). Whole numbers only.
pub fn parse_duration(s: &str) -> Option<Duration> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok().map(Duration::from_secs);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => MS,
            "s" => SECOND,
            "m" => MINUTE,
            "h" => HOUR,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(unit.checked_mul(u32::try_from(number).ok()?)?)?;
    }
    Some(total).filter(|_| !s.is_empty())
}

/// A duration in the largest unit that divides it: `100ms`, `1s`, `1m`, `1h`.
pub fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let units = [(3_600_000, "h"), (60_000, "m"), (1000, "s")];
    match units.iter().find(|(size, _)| ms.is_multiple_of(*size)) {
        Some((size, unit)) if ms > 0 => format!("{}{unit}", ms / size),
        _ => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        #[rustfmt::skip]
        let rows = [
            ("60", Some(s(60))),
            ("0", Some(s(0))),
            ("500ms", Some(ms(500))),
            ("5s", Some(s(5))),
            ("2m", Some(s(120))),
            ("1h", Some(s(3600))),
            ("1m30s", Some(s(90))),
            ("1s500ms", Some(ms(1500))),
            ("", None),
            ("s", None),
            ("5", Some(s(5))),
            ("5 s", None),
            (" 5s", None),
            ("1.5s", None),
            ("-1", None),
            ("+1", None),
            ("5d", None),
            ("5S", None),
            ("99999999999999999999", None),
            ("18446744073709551615s", None),
        ];
        for (input, expected) in rows {
            assert_eq!(parse_duration(input), expected, "{input:?}");
        }
    }

    #[test]
    fn durations_show_in_their_largest_unit() {
        assert_eq!(show_duration(MS), "1ms");
        assert_eq!(show_duration(Duration::from_millis(100)), "100ms");
        assert_eq!(show_duration(SECOND), "1s");
        assert_eq!(show_duration(Duration::from_secs(90)), "90s");
        assert_eq!(show_duration(MINUTE), "1m");
        assert_eq!(show_duration(HOUR), "1h");
    }
}
