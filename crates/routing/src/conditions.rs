//! A route's conditions beyond host and path (the model's [`Condition`]), compiled once per
//! table: header names parsed, methods parsed, regexes built. Self-contained, so that the
//! gateway can compile a backend set's alternatives (ingress-nginx's canary by header or
//! cookie) with the same rules as the route table's.
//!
//! What each condition reads of the request, always undecoded and byte for byte:
//!
//! | condition | value compared |
//! |---|---|
//! | `Header { name }` | the first value of the header; none when it is absent |
//! | `Query { name }` | the first `name=value` of the raw query string (`name` alone: the empty value) |
//! | `Method` | the request method (equal, not matched) |
//! | `Cookie { name }` | the first cookie `name` of the `Cookie` header(s) |
//!
//! A condition whose value is absent does not hold, whatever it compares with (even a regex
//! that matches the empty string). [`StringMatch::Exact`] is byte equality,
//! [`StringMatch::Regex`] an unanchored match (see [`crate::compile_path_regex`] for the
//! engine and its limits).

use std::fmt;

use http::header::{HeaderName, COOKIE};
use http::{HeaderMap, Method};
use pingress_model::{Condition, StringMatch};
use regex::bytes::Regex;

use crate::patterns::compile_value_regex;

/// What conditions look at in a request (the table matches host and path itself).
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    /// The raw query string, without its `?`; `None` when the target has none.
    pub query: Option<&'a str>,
}

/// A compiled list of conditions, all of which must hold. An empty list always holds.
#[derive(Debug, Clone, Default)]
pub struct Conditions(Box<[Compiled]>);

/// One compiled [`Condition`].
#[derive(Debug, Clone)]
enum Compiled {
    Header(HeaderName, Value),
    Query(Box<str>, Value),
    Method(Method),
    Cookie(Box<str>, Value),
}

/// A compiled [`StringMatch`].
#[derive(Debug, Clone)]
enum Value {
    Exact(Box<[u8]>),
    Regex(Regex),
}

/// Why a condition did not compile (the translation validates them; a route whose conditions
/// do not compile is left out of the table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionError {
    /// Not a valid header name.
    HeaderName(String),
    /// Not a valid method token.
    Method(String),
    /// A value regex that does not compile, or exceeds the limits.
    Regex { pattern: String, error: String },
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConditionError::HeaderName(name) => write!(f, "invalid header name {name:?}"),
            ConditionError::Method(method) => write!(f, "invalid method {method:?}"),
            ConditionError::Regex { pattern, error } => {
                write!(f, "invalid regex {pattern:?}: {error}")
            }
        }
    }
}

impl std::error::Error for ConditionError {}

impl Value {
    fn compile(value: &StringMatch) -> Result<Self, ConditionError> {
        Ok(match value {
            StringMatch::Exact(s) => Value::Exact(s.as_bytes().into()),
            StringMatch::Regex(pattern) => Value::Regex(compile_value_regex(pattern).map_err(
                |e| ConditionError::Regex {
                    pattern: pattern.clone(),
                    error: e.to_string(),
                },
            )?),
        })
    }

    /// Whether a value that is present matches.
    fn matches(&self, value: &[u8]) -> bool {
        match self {
            Value::Exact(want) => **want == *value,
            Value::Regex(regex) => regex.is_match(value),
        }
    }
}

impl Conditions {
    /// Compiles `conditions`; the first that does not compile is the error.
    pub fn compile(conditions: &[Condition]) -> Result<Self, ConditionError> {
        conditions
            .iter()
            .map(|condition| {
                Ok(match condition {
                    Condition::Header { name, value } => Compiled::Header(
                        HeaderName::from_bytes(name.as_bytes())
                            .map_err(|_| ConditionError::HeaderName(name.clone()))?,
                        Value::compile(value)?,
                    ),
                    Condition::Query { name, value } => {
                        Compiled::Query(name.as_str().into(), Value::compile(value)?)
                    }
                    Condition::Method(method) => Compiled::Method(
                        Method::from_bytes(method.as_bytes())
                            .map_err(|_| ConditionError::Method(method.clone()))?,
                    ),
                    Condition::Cookie { name, value } => {
                        Compiled::Cookie(name.as_str().into(), Value::compile(value)?)
                    }
                })
            })
            .collect::<Result<_, _>>()
            .map(Conditions)
    }

    /// Whether every condition holds for `request`.
    pub fn holds(&self, request: &RequestParts<'_>) -> bool {
        self.0.iter().all(|condition| match condition {
            Compiled::Header(name, value) => request
                .headers
                .get(name)
                .is_some_and(|v| value.matches(v.as_bytes())),
            Compiled::Query(name, value) => request
                .query
                .and_then(|query| query_param(query, name))
                .is_some_and(|v| value.matches(v.as_bytes())),
            Compiled::Method(method) => request.method == method,
            Compiled::Cookie(name, value) => {
                cookie(request.headers, name).is_some_and(|v| value.matches(v))
            }
        })
    }

    /// True when there are no conditions: [`Conditions::holds`] is always true.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The value of the first parameter `name` of a raw query string (`a=1&b&c=`), undecoded.
fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// The value of the first cookie `name` in the `Cookie` headers (HTTP/2 may send several;
/// each `a=1; b=2`), undecoded, quotes and all.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    let trim = |s: &'h [u8]| s.trim_ascii();
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|header| header.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = trim(pair);
            let at = pair.iter().position(|&b| b == b'=')?;
            (trim(&pair[..at]) == name.as_bytes()).then(|| trim(&pair[at + 1..]))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn exact(s: &str) -> StringMatch {
        StringMatch::Exact(s.into())
    }

    fn regex(s: &str) -> StringMatch {
        StringMatch::Regex(s.into())
    }

    fn header(name: &str, value: StringMatch) -> Condition {
        Condition::Header {
            name: name.into(),
            value,
        }
    }

    fn query(name: &str, value: StringMatch) -> Condition {
        Condition::Query {
            name: name.into(),
            value,
        }
    }

    fn cookie_is(name: &str, value: StringMatch) -> Condition {
        Condition::Cookie {
            name: name.into(),
            value,
        }
    }

    /// A request: method, headers (repeats kept), query.
    struct Request {
        method: Method,
        headers: HeaderMap,
        query: Option<&'static str>,
    }

    fn request(method: &str, headers: &[(&str, &[u8])], query: Option<&'static str>) -> Request {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        Request {
            method: Method::from_bytes(method.as_bytes()).unwrap(),
            headers: map,
            query,
        }
    }

    #[test]
    fn each_condition_reads_its_part_of_the_request() {
        let plain = request(
            "GET",
            &[
                ("x-canary", b"always"),
                ("x-canary", b"never"),
                ("x-raw", b"caf\xe9"),
                ("cookie", b"a=1; session=abc; canary=\"yes\""),
                ("cookie", b"late=2;canary=second"),
            ],
            Some("a=1&flag&b=x%20y&a=2&empty="),
        );
        // (what it proves, conditions, holds for `plain`)
        #[rustfmt::skip]
        let rows: &[(&str, Vec<Condition>, bool)] = &[
            ("no conditions always hold", vec![], true),
            ("header exact", vec![header("x-canary", exact("always"))], true),
            ("header: only the first value counts", vec![header("x-canary", exact("never"))], false),
            ("header regex, unanchored", vec![header("x-canary", regex("way"))], true),
            ("header regex anchored by the pattern", vec![header("x-canary", regex("^way"))], false),
            ("header names are case-insensitive", vec![header("X-Canary", exact("always"))], true),
            ("absent header never holds, not even .*", vec![header("x-missing", regex(".*"))], false),
            ("header values need not be UTF-8", vec![header("x-raw", regex("^caf.$"))], true),
            ("query exact", vec![query("b", exact("x%20y"))], true),
            ("query: undecoded", vec![query("b", exact("x y"))], false),
            ("query: the first occurrence", vec![query("a", exact("2"))], false),
            ("query: a name alone is the empty value", vec![query("flag", exact(""))], true),
            ("query: `name=` is the empty value", vec![query("empty", exact(""))], true),
            ("query: names are case-sensitive", vec![query("A", exact("1"))], false),
            ("query: absent", vec![query("zzz", regex(""))], false),
            ("query regex", vec![query("a", regex("^[0-9]+$"))], true),
            ("method equal", vec![Condition::Method("GET".into())], true),
            ("method differs", vec![Condition::Method("POST".into())], false),
            ("cookie exact", vec![cookie_is("session", exact("abc"))], true),
            ("cookie: quotes are part of the value", vec![cookie_is("canary", exact("\"yes\""))], true),
            ("cookie of a second Cookie header", vec![cookie_is("late", exact("2"))], true),
            ("cookie regex", vec![cookie_is("session", regex("^a"))], true),
            ("cookie: names are case-sensitive", vec![cookie_is("Session", exact("abc"))], false),
            ("cookie absent", vec![cookie_is("none", regex(""))], false),
            ("all must hold", vec![Condition::Method("GET".into()), query("a", exact("9"))], false),
            ("all hold", vec![Condition::Method("GET".into()), cookie_is("a", exact("1"))], true),
        ];
        for (what, conditions, want) in rows {
            let compiled = Conditions::compile(conditions).unwrap();
            assert_eq!(compiled.is_empty(), conditions.is_empty(), "{what}");
            let parts = RequestParts {
                method: &plain.method,
                headers: &plain.headers,
                query: plain.query,
            };
            assert_eq!(compiled.holds(&parts), *want, "{what}");
        }
        let bare = request("GET", &[], None);
        let parts = RequestParts {
            method: &bare.method,
            headers: &bare.headers,
            query: bare.query,
        };
        let no_query = Conditions::compile(&[query("a", regex(""))]).unwrap();
        assert!(!no_query.holds(&parts), "no query string: no parameter");
    }

    #[test]
    fn bad_conditions_are_errors() {
        #[rustfmt::skip]
        let rows: &[(&str, Condition, ConditionError)] = &[
            ("header name with a space", header("x y", exact("")), ConditionError::HeaderName("x y".into())),
            ("method with a space", Condition::Method("GE T".into()), ConditionError::Method("GE T".into())),
        ];
        for (what, condition, want) in rows {
            let got = Conditions::compile(std::slice::from_ref(condition)).unwrap_err();
            assert_eq!(got, *want, "{what}");
        }
        for pattern in ["(", "a{1000}{1000}"] {
            let got = Conditions::compile(&[header("x", regex(pattern))]);
            assert!(
                matches!(got, Err(ConditionError::Regex { pattern: p, .. }) if p == pattern),
                "{pattern:?}"
            );
        }
    }
}
