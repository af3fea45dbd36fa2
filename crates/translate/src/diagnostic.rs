//! Problems found while translating, reported against the object and field that caused them.

use std::fmt;

use pingress_model::ObjectRef;

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Something was ignored on purpose (a conflict lost, an unsupported EndpointSlice); the rest
    /// of the object is served.
    Warning,
    /// Something is wrong: the offending part was skipped, or routed to an empty cluster.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem with one field of one Kubernetes object.
///
/// Displays as `Ingress default/shop: spec.rules[0].host: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The object's kind: `"Ingress"`, `"EndpointSlice"` or `"Secret"`.
    pub kind: &'static str,
    pub object: ObjectRef,
    /// Path of the offending field in the object, e.g. `spec.rules[0].http.paths[1].pathType`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}: {}",
            self.kind, self.object, self.field, self.message
        )
    }
}

/// A field that failed validation: `field` is relative to the element that was validated
/// (e.g. `.pathType` within a path, `.service.port` within a backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Invalid {
            field,
            message: message.into(),
        }
    }
}

/// Collects diagnostics during a translation.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    fn push(
        &mut self,
        severity: Severity,
        kind: &'static str,
        object: &ObjectRef,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(Diagnostic {
            severity,
            kind,
            object: object.clone(),
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn warning(
        &mut self,
        kind: &'static str,
        object: &ObjectRef,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(Severity::Warning, kind, object, field, message);
    }

    pub fn error(
        &mut self,
        kind: &'static str,
        object: &ObjectRef,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(Severity::Error, kind, object, field, message);
    }

    /// An [`Severity::Error`] on `prefix` + `invalid.field`.
    pub fn invalid(
        &mut self,
        kind: &'static str,
        object: &ObjectRef,
        prefix: &str,
        invalid: Invalid,
    ) {
        self.push(
            Severity::Error,
            kind,
            object,
            format!("{prefix}{}", invalid.field),
            invalid.message,
        );
    }

    /// The diagnostics sorted by kind, object, field, severity and message, without duplicates
    /// (an EndpointSlice consulted for several clusters reports its problem once).
    pub fn into_sorted(self) -> Vec<Diagnostic> {
        let mut all = self.0;
        all.sort_by(|a, b| {
            (a.kind, &a.object, &a.field, a.severity, &a.message)
                .cmp(&(b.kind, &b.object, &b.field, b.severity, &b.message))
        });
        all.dedup();
        all
    }
}
