//! Ingress annotations, parsed into typed values, one file per family. A setting has a
//! `pingress.io/` name and, where ingress-nginx has it, its twin under the annotations prefix
//! (`--annotations-prefix`, default `nginx.ingress.kubernetes.io`); the `pingress.io/` one wins
//! when both are set. An invalid value is reported (an error on the field
//! `metadata.annotations["NAME"]`) and the default applies. Every ingress-nginx annotation
//! Pingress does not honour is reported with the reason [`catalog`] gives. The operator's view
//! is `docs/annotations.md`, whose compatibility table is rendered from the catalog.

mod balance;
pub mod catalog;
mod fallback;
mod policy;
mod redirect;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::Resource;
use pingress_model::{
    Action, ClusterPolicy, HttpsRedirect, ObjectRef, Respond, Route, RoutePolicy,
};

use crate::configmap::IngressDefaults;
use crate::diagnostic::Diagnostics;
use crate::units::{parse_duration, parse_size, show_duration};
use catalog::Support;
pub(crate) use fallback::FallbackAnnotations;

/// Pingress's own annotation prefix.
pub const PINGRESS_PREFIX: &str = "pingress.io";

/// ingress-nginx's annotation prefix, the default of `--annotations-prefix`.
pub const NGINX_PREFIX: &str = "nginx.ingress.kubernetes.io";

/// Longest annotation value read: every value here is short, and a longer one is refused
/// before any parsing.
pub const MAX_VALUE_LEN: usize = 256;

/// An annotation: the name after `pingress.io/` and, where ingress-nginx has the setting, the
/// name after the annotations prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name {
    pub pingress: Option<&'static str>,
    pub nginx: Option<&'static str>,
}

impl Name {
    /// A Pingress annotation without an ingress-nginx twin.
    pub const fn own(pingress: &'static str) -> Self {
        Name {
            pingress: Some(pingress),
            nginx: None,
        }
    }

    /// A Pingress annotation and its ingress-nginx twin.
    pub const fn twin(pingress: &'static str, nginx: &'static str) -> Self {
        Name {
            pingress: Some(pingress),
            nginx: Some(nginx),
        }
    }
}

/// Every annotation the parsers read: a `pingress.io/` annotation not in it is reported as
/// unknown (a typo would otherwise be ignored silently), an ingress-nginx one by its catalog
/// entry; the catalog must call exactly these honoured, and the docs must list them all.
pub(crate) fn read_names() -> impl Iterator<Item = Name> {
    [
        policy::NAMES.as_slice(),
        balance::NAMES.as_slice(),
        redirect::NAMES.as_slice(),
        fallback::NAMES.as_slice(),
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// Everything an Ingress's annotations say, parsed once per Ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IngressAnnotations {
    /// Redirect plain HTTP to HTTPS on TLS hosts (default `true`).
    pub ssl_redirect: bool,
    /// How that redirect is made.
    pub https_redirect: HttpsRedirect,
    /// Timeouts, retries and the body limit of every route the Ingress declares.
    pub route: RoutePolicy,
    /// Load balancing and health checks of every cluster the Ingress uses (if it is the
    /// oldest Ingress using it).
    pub cluster: ClusterPolicy,
    /// `default-backend` and `custom-http-errors`, resolved into each route's
    /// [`pingress_model::Fallback`] with the backends.
    pub fallback: FallbackAnnotations,
    /// `service-upstream`: the clusters the Ingress uses (if it is the oldest Ingress using
    /// them) are their Services' cluster IPs.
    pub service_upstream: bool,
    /// Annotations whose protection Pingress cannot give ([`Support::Blocked`]): when any is
    /// set, every route of the Ingress answers `503` rather than serve without it.
    pub blocked: Vec<String>,
    /// The ingress-nginx annotations set and not honoured, by catalog name (`unknown` for one
    /// the catalog does not know): what `pingress_config_ignored_annotations` counts.
    pub ignored: Vec<&'static str>,
}

impl IngressAnnotations {
    /// Parses the Ingress's annotations under `prefix` (the ingress-nginx annotations prefix),
    /// with `defaults` for what they leave unset; each invalid value is reported to
    /// `diagnostics` and its default applies.
    pub fn parse(
        ingress: &Ingress,
        id: &ObjectRef,
        prefix: &str,
        defaults: &IngressDefaults,
        diagnostics: &mut Diagnostics,
    ) -> Self {
        let mut a = Reader::new(ingress, id, prefix, diagnostics);
        let (blocked, ignored) = a.report_unread();
        let (ssl_redirect, https_redirect) = redirect::parse(&mut a, defaults);
        let mut route = policy::parse(&mut a, defaults);
        route.retry = fallback::retry(&mut a, defaults);
        IngressAnnotations {
            ssl_redirect,
            https_redirect,
            route,
            cluster: balance::parse(&mut a),
            fallback: fallback::parse(&mut a, defaults),
            service_upstream: fallback::service_upstream(&mut a, defaults),
            blocked,
            ignored,
        }
    }
}

impl IngressAnnotations {
    /// Puts what the annotations say into one of the Ingress's routes (a plain forwarding
    /// route to its backend when called). The caller sets its `policy.fallback` afterwards,
    /// once the Services `fallback` names are resolved.
    pub fn apply(&self, route: &mut Route) {
        route.ssl_redirect = self.ssl_redirect;
        route.https_redirect = self.https_redirect;
        route.policy = self.route.clone();
        if !self.blocked.is_empty() {
            route.action = Action::Respond(Respond {
                status: 503,
                body: None,
            });
        }
    }
}

/// One annotation of an Ingress, as found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found<'a> {
    /// The annotation's key as written (for messages).
    pub key: &'a str,
    pub value: &'a str,
    /// Whether the `pingress.io/` spelling set it (rather than the ingress-nginx twin).
    pub own: bool,
}

/// Reads one Ingress's annotations and reports their problems.
pub(crate) struct Reader<'a> {
    /// `pingress.io/` annotations and those under the ingress-nginx prefix, by the name after
    /// the prefix: `(own, name) -> (key, value)`.
    set: BTreeMap<(bool, &'a str), (&'a str, &'a str)>,
    /// The ingress-nginx annotations prefix.
    pub prefix: &'a str,
    id: &'a ObjectRef,
    diagnostics: &'a mut Diagnostics,
}

impl<'a> Reader<'a> {
    fn new(
        ingress: &'a Ingress,
        id: &'a ObjectRef,
        prefix: &'a str,
        diagnostics: &'a mut Diagnostics,
    ) -> Self {
        let mut set = BTreeMap::new();
        for (key, value) in ingress.metadata.annotations.iter().flatten() {
            let Some((namespace, name)) = key.split_once('/') else {
                continue;
            };
            let own = match namespace {
                PINGRESS_PREFIX => true,
                n if n == prefix => false,
                _ => continue,
            };
            set.insert((own, name), (key.as_str(), value.as_str()));
        }
        Reader {
            set,
            prefix,
            id,
            diagnostics,
        }
    }

    /// Reports what no parser reads: an unknown `pingress.io/` annotation, and each
    /// ingress-nginx one Pingress does not honour, with its catalog entry's reason. Returns the
    /// keys of the blocked ones, and the catalog names of all the ingress-nginx ones.
    fn report_unread(&mut self) -> (Vec<String>, Vec<&'static str>) {
        let mut blocked = Vec::new();
        let mut ignored = Vec::new();
        let read: Vec<Name> = read_names().collect();
        let unread: Vec<(bool, &'a str, &'a str)> = self
            .set
            .iter()
            .filter(|((own, name), _)| {
                !read.iter().any(|n| {
                    let spelling = if *own { n.pingress } else { n.nginx };
                    spelling == Some(name)
                })
            })
            .map(|((own, name), (key, _))| (*own, *name, *key))
            .collect();
        for (own, name, key) in unread {
            if own {
                let message =
                    "unknown pingress.io annotation, ignored (docs/annotations.md lists them all)";
                self.warning(key, message.to_string());
                continue;
            }
            ignored.push(catalog::lookup(name).map_or("unknown", |e| e.name));
            match catalog::lookup(name).map(|e| e.support) {
                Some(Support::Refused(why)) => self.error(key, format!("refused: {why}")),
                Some(Support::Blocked(why)) => {
                    self.error(
                        key,
                        format!("not supported by Pingress: {why}; every route of this Ingress answers 503 rather than serve without it"),
                    );
                    blocked.push(key.to_string());
                }
                Some(Support::Unsupported(why)) => self.warning(
                    key,
                    format!("this ingress-nginx annotation is not supported by Pingress and is ignored: {why} (docs/annotations.md)"),
                ),
                Some(Support::Removed(version)) => self.warning(
                    key,
                    format!("ignored: ingress-nginx removed this annotation in {version}; it does nothing there either"),
                ),
                Some(Support::Exact | Support::Differs(_)) => self.warning(
                    key,
                    "ignored: Pingress does not read this annotation yet (docs/annotations.md)".to_string(),
                ),
                None if catalog::is_configmap_key(name) => self.warning(
                    key,
                    "ignored: this is a ConfigMap key, not an annotation; it does nothing as an annotation on ingress-nginx either (set it in the --configmap ConfigMap)".to_string(),
                ),
                None => self.warning(
                    key,
                    "ignored: not an ingress-nginx annotation (docs/annotations.md lists them all)".to_string(),
                ),
            }
        }
        (blocked, ignored)
    }

    /// The first set spelling of `name`, and its value; a value over [`MAX_VALUE_LEN`] bytes
    /// is reported and treated as unset.
    pub fn get(&mut self, name: Name) -> Option<Found<'a>> {
        let found = [(true, name.pingress), (false, name.nginx)]
            .into_iter()
            .find_map(|(own, n)| {
                let (key, value) = self.set.get(&(own, n?))?;
                Some(Found { key, value, own })
            })?;
        if found.value.len() > MAX_VALUE_LEN {
            let message = format!(
                "value of {} bytes is longer than the {MAX_VALUE_LEN} allowed; ignored",
                found.value.len()
            );
            self.error(found.key, message);
            return None;
        }
        Some(found)
    }

    /// The spellings of `name` for messages: `pingress.io/a or PREFIX/b`.
    pub fn spelled(&self, name: Name) -> String {
        let own = name.pingress.map(|n| format!("{PINGRESS_PREFIX}/{n}"));
        let nginx = name.nginx.map(|n| format!("{}/{n}", self.prefix));
        match (own, nginx) {
            (Some(own), Some(nginx)) => format!("{own} or {nginx}"),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => String::new(),
        }
    }

    fn field(key: &str) -> String {
        format!("metadata.annotations[{key:?}]")
    }

    pub fn error(&mut self, key: &str, message: String) {
        let field = Self::field(key);
        self.diagnostics
            .error(Ingress::KIND, self.id, field, message);
    }

    pub fn warning(&mut self, key: &str, message: String) {
        let field = Self::field(key);
        self.diagnostics
            .warning(Ingress::KIND, self.id, field, message);
    }

    /// Reports `value` of `key` as invalid: "invalid value V: expected E; using F".
    pub fn invalid(&mut self, key: &str, value: &str, expected: &str, fallback: &str) {
        self.error(
            key,
            format!("invalid value {value:?}: expected {expected}; using {fallback}"),
        );
    }

    /// A boolean, in the spellings Go's `strconv.ParseBool` accepts (as ingress-nginx reads
    /// them); `default` when unset or invalid.
    pub fn boolean(&mut self, name: Name, default: bool) -> bool {
        let Some(Found { key, value, .. }) = self.get(name) else {
            return default;
        };
        match value {
            "true" | "True" | "TRUE" | "t" | "T" | "1" => true,
            "false" | "False" | "FALSE" | "f" | "F" | "0" => false,
            other => {
                let fallback = format!("the default {default}");
                self.invalid(key, other, "\"true\" or \"false\"", &fallback);
                default
            }
        }
    }

    /// A duration within `range` (the grammar of [`parse_duration`]); `None` when unset or
    /// invalid, and `fallback` names what applies then.
    pub fn duration(
        &mut self,
        name: Name,
        range: RangeInclusive<Duration>,
        fallback: &str,
    ) -> Option<Duration> {
        let Found { key, value, .. } = self.get(name)?;
        match parse_duration(value).filter(|d| range.contains(d)) {
            Some(duration) => Some(duration),
            None => {
                let expected = format!(
                    "a duration from {} to {}, e.g. \"60\" (seconds), \"500ms\", \"5s\" or \"2m\"",
                    show_duration(*range.start()),
                    show_duration(*range.end()),
                );
                self.invalid(key, value, &expected, fallback);
                None
            }
        }
    }

    /// A decimal integer within `range`; `None` when unset or invalid (never clamped).
    pub fn integer<T>(&mut self, name: Name, range: RangeInclusive<T>, fallback: &str) -> Option<T>
    where
        T: FromStr + PartialOrd + fmt::Display,
    {
        let Found { key, value, .. } = self.get(name)?;
        let parsed = Some(value)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<T>().ok())
            .filter(|n| range.contains(n));
        if parsed.is_none() {
            let expected = format!("an integer from {} to {}", range.start(), range.end());
            self.invalid(key, value, &expected, fallback);
        }
        parsed
    }

    /// A size in bytes, as nginx writes it: digits with an optional `k`, `m` or `g` suffix
    /// (either case, powers of 1024); `0` means no limit.
    pub fn size(&mut self, name: Name, fallback: &str) -> Option<u64> {
        let Found { key, value, .. } = self.get(name)?;
        let parsed = parse_size(value);
        if parsed.is_none() {
            let expected = "a size such as \"8m\", \"512k\" or \"1048576\" (0: no limit)";
            self.invalid(key, value, expected, fallback);
        }
        parsed
    }

    /// A URL path for an HTTP check: `/`, then printable ASCII without spaces.
    pub fn path(&mut self, name: Name, fallback: &str) -> Option<String> {
        let Found { key, value, .. } = self.get(name)?;
        let valid = value.starts_with('/') && value.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            let expected = "a path starting with \"/\", printable ASCII without spaces";
            self.invalid(key, value, expected, fallback);
            return None;
        }
        Some(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_annotation_is_documented() {
        let docs = include_str!("../../../../docs/annotations.md");
        for name in read_names() {
            let spellings = [
                name.pingress.map(|n| format!("{PINGRESS_PREFIX}/{n}")),
                name.nginx.map(|n| format!("{NGINX_PREFIX}/{n}")),
            ];
            for spelling in spellings.into_iter().flatten() {
                assert!(
                    docs.contains(&format!("`{spelling}`")),
                    "{spelling} not in docs"
                );
            }
        }
    }
}
