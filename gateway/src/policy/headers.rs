//! Header changes of a route (the model's `HeaderChanges`): names and values parsed once,
//! applied as remove, then set, then add.

use http::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingress_model::HeaderChanges;

/// A header name or value in the configuration that is not one (the translation validates
/// them; a Snapshot from elsewhere could still carry one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid header {what} {text:?}")]
pub struct InvalidHeader {
    what: &'static str,
    text: String,
}

fn name(text: &str) -> Result<HeaderName, InvalidHeader> {
    HeaderName::from_bytes(text.as_bytes()).map_err(|_| InvalidHeader {
        what: "name",
        text: text.to_string(),
    })
}

fn value(text: &str) -> Result<HeaderValue, InvalidHeader> {
    HeaderValue::from_str(text).map_err(|_| InvalidHeader {
        what: "value",
        text: text.to_string(),
    })
}

fn pairs(list: &[(String, String)]) -> Result<Box<[(HeaderName, HeaderValue)]>, InvalidHeader> {
    list.iter()
        .map(|(n, v)| Ok((name(n)?, value(v)?)))
        .collect()
}

/// One `HeaderChanges`, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderEdits {
    remove: Box<[HeaderName]>,
    set: Box<[(HeaderName, HeaderValue)]>,
    add: Box<[(HeaderName, HeaderValue)]>,
}

impl HeaderEdits {
    pub fn compile(changes: &HeaderChanges) -> Result<Self, InvalidHeader> {
        Ok(HeaderEdits {
            remove: changes
                .remove
                .iter()
                .map(|n| name(n))
                .collect::<Result<_, _>>()?,
            set: pairs(&changes.set)?,
            add: pairs(&changes.add)?,
        })
    }

    /// Applies the edits to a request or response header.
    pub fn apply(&self, headers: &mut impl Headers) -> pingora::Result<()> {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name, value.clone())?;
        }
        for (name, value) in &self.add {
            headers.append(name, value.clone())?;
        }
        Ok(())
    }
}

/// What [`HeaderEdits::apply`] needs of Pingora's request and response headers (which share
/// these methods but no trait).
pub trait Headers {
    fn remove(&mut self, name: &HeaderName);
    fn insert(&mut self, name: &HeaderName, value: HeaderValue) -> pingora::Result<()>;
    fn append(&mut self, name: &HeaderName, value: HeaderValue) -> pingora::Result<()>;
}

/// Pingora's two header types, which have the same methods.
macro_rules! headers_of_pingora {
    ($($header:ty),*) => {$(
        impl Headers for $header {
            fn remove(&mut self, name: &HeaderName) {
                self.remove_header(name);
            }
            fn insert(&mut self, name: &HeaderName, value: HeaderValue) -> pingora::Result<()> {
                self.insert_header(name, value)
            }
            fn append(&mut self, name: &HeaderName, value: HeaderValue) -> pingora::Result<()> {
                self.append_header(name, value).map(|_| ())
            }
        }
    )*};
}

headers_of_pingora!(RequestHeader, ResponseHeader);

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(set: &[(&str, &str)], add: &[(&str, &str)], remove: &[&str]) -> HeaderChanges {
        let own = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        HeaderChanges {
            set: own(set),
            add: own(add),
            remove: remove.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn values(req: &RequestHeader, name: &str) -> Vec<String> {
        req.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn edits_remove_then_set_then_add() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header("x-a", "1").unwrap();
        req.append_header("x-a", "2").unwrap();
        req.append_header("x-gone", "1").unwrap();
        req.append_header("x-list", "old").unwrap();
        let edits = HeaderEdits::compile(&changes(
            &[("x-a", "set"), ("x-gone", "back")],
            &[("x-list", "new")],
            &["x-gone"],
        ))
        .unwrap();
        edits.apply(&mut req).unwrap();
        // (header, values after, why)
        let rows: [(&str, &[&str], &str); 3] = [
            ("x-a", &["set"], "set replaces every value"),
            ("x-gone", &["back"], "removed first, then set"),
            ("x-list", &["old", "new"], "add keeps what was there"),
        ];
        for (name, expected, why) in rows {
            assert_eq!(values(&req, name), expected, "{why}");
        }
    }

    #[test]
    fn response_headers_take_the_same_edits() {
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.append_header("server", "upstream").unwrap();
        let edits =
            HeaderEdits::compile(&changes(&[("x-frame-options", "DENY")], &[], &["server"]))
                .unwrap();
        edits.apply(&mut resp).unwrap();
        assert!(resp.headers.get("server").is_none());
        assert_eq!(resp.headers["x-frame-options"], "DENY");
    }

    #[test]
    fn names_and_values_that_are_not_headers_do_not_compile() {
        let rows = [
            (changes(&[("bad name", "v")], &[], &[]), "name"),
            (changes(&[], &[("x-a", "line\r\nbreak")], &[]), "value"),
            (changes(&[], &[], &["(x)"]), "name"),
        ];
        for (changes, what) in rows {
            let error = HeaderEdits::compile(&changes).unwrap_err();
            assert_eq!(error.what, what, "{changes:?}");
        }
    }
}
