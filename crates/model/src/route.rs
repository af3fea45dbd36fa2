//! The route model: what a request must look like (host, path, conditions), what is done with
//! it (forward, redirect, respond), and the filters it passes on the way. Ingress with its
//! annotations and Gateway API both translate into these types; their precedence rules are the
//! translations' business and reach the gateway as the order of routes.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cluster::ClusterId;
use crate::object::ObjectRef;

/// Which request hosts a virtual host serves. Names are lower-case and carry no port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HostMatch {
    /// Exactly this name, e.g. `shop.example.com`.
    Exact(String),
    /// `*.` + this suffix: any name with exactly one more DNS label, e.g. suffix `example.com`
    /// matches `a.example.com` but neither `example.com` nor `a.b.example.com`.
    Wildcard(String),
    /// Every host (an Ingress rule without `host`).
    Any,
}

impl fmt::Display for HostMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostMatch::Exact(h) => f.write_str(h),
            HostMatch::Wildcard(suffix) => write!(f, "*.{suffix}"),
            HostMatch::Any => f.write_str("*"),
        }
    }
}

/// The routes of one host match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualHost {
    pub host: HostMatch,
    /// In precedence order where precedence is not the path's own: routes with an equal
    /// [`PathMatch`] are tried in this order (the first whose conditions hold wins), and so are
    /// `Regex` routes among themselves.
    pub routes: Vec<Route>,
}

/// How a route matches the request path. The query string never takes part.
///
/// Within a virtual host an `Exact` match wins, then the first `Regex` route (in Snapshot
/// order) whose pattern matches, then the longest `Prefix` (nginx's location order, which
/// ingress-nginx's regex mode relies on).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PathMatch {
    /// The whole path, case-sensitive.
    Exact(String),
    /// Element-wise prefix on `/`. Stored without a trailing `/`; the root prefix `/` is stored
    /// as the empty string and matches every path.
    Prefix(String),
    /// A regular expression anchored at the start of the path only.
    Regex(RegexPath),
}

/// A path regular expression, validated by the translation (the `regex` crate's syntax, its
/// size bounded).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RegexPath {
    pub pattern: String,
    /// Letters match either case (nginx's `~*`, which ingress-nginx uses).
    pub case_insensitive: bool,
}

impl PathMatch {
    /// A prefix match, normalised: any trailing `/` is dropped (`/foo/` and `/foo` are the same
    /// rule, `/` becomes the empty prefix).
    pub fn prefix(path: &str) -> Self {
        PathMatch::Prefix(path.trim_end_matches('/').to_string())
    }

    /// The length used for "longest match wins" (a regex's pattern length, which no
    /// precedence uses).
    pub fn len(&self) -> usize {
        match self {
            PathMatch::Exact(p) | PathMatch::Prefix(p) => p.len(),
            PathMatch::Regex(r) => r.pattern.len(),
        }
    }

    /// True for the root prefix, which matches every path.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for PathMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathMatch::Exact(p) => write!(f, "Exact {p}"),
            PathMatch::Prefix(p) if p.is_empty() => f.write_str("Prefix /"),
            PathMatch::Prefix(p) => write!(f, "Prefix {p}"),
            PathMatch::Regex(r) if r.case_insensitive => write!(f, "Regex (?i){}", r.pattern),
            PathMatch::Regex(r) => write!(f, "Regex {}", r.pattern),
        }
    }
}

/// A condition on the request beyond its host and path. A route's conditions must all hold.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Condition {
    /// A request header (lower-case name; the first value when it is repeated).
    Header { name: String, value: StringMatch },
    /// A query parameter (case-sensitive name; the first occurrence), compared undecoded.
    Query { name: String, value: StringMatch },
    /// The request method, upper-case (`GET`).
    Method(String),
    /// A cookie of the `Cookie` header (case-sensitive name).
    Cookie { name: String, value: StringMatch },
}

/// How a condition compares a value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StringMatch {
    /// Byte for byte.
    Exact(String),
    /// A regular expression that may match anywhere in the value (anchor it with `^` and `$`
    /// for a whole-value match).
    Regex(String),
}

/// One path rule of a virtual host: its match, its action and its filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub path: PathMatch,
    /// Further conditions on the request, all of which must hold; empty: none.
    pub conditions: Vec<Condition>,
    pub action: Action,
    /// Run in order, each in the proxy phase that owns it; empty for most routes, which then
    /// pay nothing for them.
    pub filters: Vec<Filter>,
    /// Whether plain-HTTP requests for a TLS host that match this route are redirected to HTTPS
    /// (the declaring Ingress's `ssl-redirect` annotation; `true` unless switched off).
    pub ssl_redirect: bool,
    /// How that redirect is made, and whether it is made for hosts without TLS too.
    pub https_redirect: HttpsRedirect,
    /// Timeouts, retries, the body limit and the fallbacks.
    pub policy: RoutePolicy,
    /// The object that declared the route (for logs, metrics and status).
    pub origin: ObjectRef,
}

impl Route {
    /// A route of `origin` that forwards every request matching `path` to one cluster, with the
    /// default policy and filters: the shape of a plain Ingress path.
    pub fn forward(path: PathMatch, cluster: ClusterId, origin: ObjectRef) -> Self {
        Route {
            path,
            conditions: Vec::new(),
            action: Action::Forward(BackendSet::single(cluster)),
            filters: Vec::new(),
            ssl_redirect: true,
            https_redirect: HttpsRedirect::default(),
            policy: RoutePolicy::default(),
            origin,
        }
    }
}

/// The redirect of plain-HTTP requests to HTTPS, beyond `ssl_redirect`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpsRedirect {
    /// Redirect even when the host has no TLS certificate (`force-ssl-redirect`).
    pub force: bool,
    /// Keep a trailing `/` of the request URI; ingress-nginx removes one
    /// (`preserve-trailing-slash`).
    pub preserve_trailing_slash: bool,
    /// Always name the HTTPS port in the `Location`, 443 included (`use-port-in-redirects`);
    /// otherwise it is named only when it is not 443.
    pub use_port: bool,
}

/// What a route does with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Proxy it to one of a set of clusters.
    Forward(BackendSet),
    /// Answer with a redirect.
    Redirect(Redirect),
    /// Answer it directly.
    Respond(Respond),
}

impl Action {
    /// The backend set, for a forwarding route.
    pub fn backends(&self) -> Option<&BackendSet> {
        match self {
            Action::Forward(set) => Some(set),
            Action::Redirect(_) | Action::Respond(_) => None,
        }
    }
}

/// The clusters a forwarding route may send a request to.
///
/// The alternatives are decided first, in order: the first whose conditions all hold chooses
/// among its own backends. Otherwise the request goes to one of `backends`, each chosen in
/// proportion to its weight over many requests. A set whose weights are all 0 has no backend
/// to offer (the gateway answers `500`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendSet {
    pub backends: Vec<WeightedBackend>,
    pub alternatives: Vec<Alternative>,
}

impl BackendSet {
    /// All traffic to one cluster.
    pub fn single(cluster: ClusterId) -> Self {
        BackendSet {
            backends: vec![WeightedBackend { cluster, weight: 1 }],
            alternatives: Vec::new(),
        }
    }

    /// Every cluster the set can choose, alternatives included.
    pub fn clusters(&self) -> impl Iterator<Item = &ClusterId> {
        self.backends
            .iter()
            .chain(self.alternatives.iter().flat_map(|a| &a.backends))
            .map(|b| &b.cluster)
    }
}

/// A cluster and its share of a [`BackendSet`]'s traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedBackend {
    pub cluster: ClusterId,
    /// Relative to the other backends of the same list; 0: none.
    pub weight: u32,
}

/// Backends chosen instead of a set's own when all of `when` hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternative {
    pub when: Vec<Condition>,
    pub backends: Vec<WeightedBackend>,
}

/// A redirect the gateway answers itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    /// `301`, `302`, `303`, `307` or `308`.
    pub code: u16,
    pub location: Location,
}

/// Where a [`Redirect`] points. Every string is validated by the translation (no control
/// characters; a URL has an `http` or `https` scheme).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Location {
    /// This absolute URL, as is.
    Url(String),
    /// This absolute path on the request's scheme and host. `host_port`: the host as the
    /// client wrote it, port included (nginx's `$http_host`); otherwise without its port
    /// (nginx's absolute redirects).
    Path { path: String, host_port: bool },
    /// The request's path and query on this host, with the request's scheme and the
    /// listener's port always named, less one trailing `/` (ingress-nginx's
    /// `from-to-www-redirect`).
    Host(String),
}

/// A response the gateway answers itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Respond {
    pub status: u16,
    /// A plain-text body; `None`: the gateway's own text for the status.
    pub body: Option<String>,
}

/// A step a request or its response passes through on a route. Each is validated at
/// translation time and compiled once per Generation; nothing in it ever becomes
/// configuration text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Filter {
    /// Changes to the request headers sent upstream (after the gateway's own forwarding
    /// headers, so it can override them).
    RequestHeaders(HeaderChanges),
    /// Changes to the response headers sent to the client.
    ResponseHeaders(HeaderChanges),
}

/// Header edits, applied in the order `remove`, `set`, `add`. Names are lower-case, values
/// valid header values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderChanges {
    /// Replace every value of the header with this one.
    pub set: Vec<(String, String)>,
    /// Append a value, keeping those already there.
    pub add: Vec<(String, String)>,
    /// Remove the header.
    pub remove: Vec<String>,
}

/// Most retries `pingress.io/retries` may ask for.
pub const MAX_RETRIES: u8 = 5;

/// How requests on a route talk to upstreams. `None` means the gateway's default (its flags).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePolicy {
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub send_timeout: Option<Duration>,
    /// When a failed attempt is tried again on another endpoint, and how often.
    pub retry: Retry,
    /// Largest request body accepted, in bytes (`413` beyond it); `Some(0)` means no limit.
    pub max_body_size: Option<u64>,
    /// Who answers when the backend cannot: a stand-in while it has no ready endpoint, and the
    /// backend that replaces error responses.
    pub fallback: Fallback,
}

/// ingress-nginx's `proxy_next_upstream`, `_tries` and `_timeout`: which failures of an attempt
/// are tried again on another endpoint, how many attempts a request makes, and for how long.
/// The default is ingress-nginx's: `error timeout`, 3 tries, no time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    pub on: RetryOn,
    /// Attempts in all, the first included; `0`: no limit but the endpoints.
    pub tries: u32,
    /// No attempt starts this long after the first one did; `None`: no limit.
    pub timeout: Option<Duration>,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            on: RetryOn::ERROR.with(RetryOn::TIMEOUT),
            tries: 3,
            timeout: None,
        }
    }
}

/// The failures a retry is made for: a set of ingress-nginx's `proxy-next-upstream` tokens.
/// Empty is `off`: nothing is retried, not even a refused connection.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "Vec<String>", try_from = "Vec<String>")]
pub struct RetryOn(u16);

impl RetryOn {
    /// The connection failed: while connecting, sending the request or reading the response
    /// header.
    pub const ERROR: RetryOn = RetryOn(1);
    /// Connecting, sending or waiting for the response header timed out.
    pub const TIMEOUT: RetryOn = RetryOn(1 << 1);
    /// The endpoint answered something that is not an HTTP response header.
    pub const INVALID_HEADER: RetryOn = RetryOn(1 << 2);
    /// Also requests with a method that is not idempotent (`POST`, `PATCH`, `LOCK`) once they
    /// were sent; without it they are retried only when nothing was sent.
    pub const NON_IDEMPOTENT: RetryOn = RetryOn(1 << 3);
    /// The statuses that may be retried (`http_500`, ...), each with its own bit.
    pub const STATUSES: [u16; 7] = [500, 502, 503, 504, 403, 404, 429];
    /// Every token, in ingress-nginx's spelling.
    const TOKENS: [(&'static str, RetryOn); 11] = [
        ("error", RetryOn::ERROR),
        ("timeout", RetryOn::TIMEOUT),
        ("invalid_header", RetryOn::INVALID_HEADER),
        ("http_500", RetryOn::status_bit(0)),
        ("http_502", RetryOn::status_bit(1)),
        ("http_503", RetryOn::status_bit(2)),
        ("http_504", RetryOn::status_bit(3)),
        ("http_403", RetryOn::status_bit(4)),
        ("http_404", RetryOn::status_bit(5)),
        ("http_429", RetryOn::status_bit(6)),
        ("non_idempotent", RetryOn::NON_IDEMPOTENT),
    ];
    const STATUS_MASK: u16 = 0x7f << 4;

    const fn status_bit(index: usize) -> RetryOn {
        RetryOn(1 << (4 + index))
    }

    /// `off`: nothing.
    pub const fn off() -> RetryOn {
        RetryOn(0)
    }

    /// This set and `other`.
    pub const fn with(self, other: RetryOn) -> RetryOn {
        RetryOn(self.0 | other.0)
    }

    /// Whether every failure of `other` is in this set.
    pub const fn contains(self, other: RetryOn) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The token's failure: `error`, `http_502`, `non_idempotent`, ...; `None` for another
    /// word (`off` is no failure but the empty set, see [`RetryOn::off`]).
    pub fn token(token: &str) -> Option<RetryOn> {
        Self::TOKENS
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, on)| *on)
    }

    /// Whether a response with `status` is retried.
    #[inline]
    pub fn status(self, status: u16) -> bool {
        self.0 & Self::STATUS_MASK != 0
            && Self::STATUSES
                .iter()
                .position(|s| *s == status)
                .is_some_and(|i| self.contains(Self::status_bit(i)))
    }

    /// Whether any status is retried.
    pub const fn any_status(self) -> bool {
        self.0 & Self::STATUS_MASK != 0
    }
}

impl fmt::Display for RetryOn {
    /// The tokens, space-separated, `non_idempotent` last (as ingress-nginx writes them);
    /// `off` for none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tokens: Vec<&str> = Vec::from(*self).into_iter().collect();
        if tokens.is_empty() {
            return f.write_str("off");
        }
        f.write_str(&tokens.join(" "))
    }
}

impl fmt::Debug for RetryOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RetryOn({self})")
    }
}

impl From<RetryOn> for Vec<&'static str> {
    fn from(on: RetryOn) -> Self {
        RetryOn::TOKENS
            .iter()
            .filter(|(_, bit)| on.contains(*bit))
            .map(|(token, _)| *token)
            .collect()
    }
}

impl From<RetryOn> for Vec<String> {
    fn from(on: RetryOn) -> Self {
        Vec::<&str>::from(on)
            .into_iter()
            .map(String::from)
            .collect()
    }
}

impl TryFrom<Vec<String>> for RetryOn {
    type Error = String;

    fn try_from(tokens: Vec<String>) -> Result<Self, Self::Error> {
        tokens.iter().try_fold(RetryOn::off(), |on, token| {
            RetryOn::token(token)
                .map(|bit| on.with(bit))
                .ok_or_else(|| format!("{token:?} is not a proxy-next-upstream token"))
        })
    }
}

/// Who answers for a route's backend when it cannot: ingress-nginx's `default-backend` and
/// `custom-http-errors` (with `disable-proxy-intercept-errors`). Both empty for most routes,
/// which then pay nothing for them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fallback {
    /// Serves the route's requests (path unchanged, `X-Code: 503` and the route's identity
    /// added) while the chosen backend has no ready endpoint.
    pub no_endpoints: Option<ClusterId>,
    /// Responses replaced by an error backend's answer.
    pub errors: Option<ErrorPages>,
}

/// The statuses replaced by another backend's answer (nginx's `error_page` with
/// `proxy_intercept_errors`): that backend gets the request with path `/`, `X-Code` and the
/// route's identity, and the client gets its answer instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorPages {
    /// Sorted and distinct, each from 300 to 599.
    pub codes: Vec<u16>,
    /// Where the replacement request goes; `None`: there is no error backend, and the gateway
    /// answers `404` (as ingress-nginx's built-in default backend does).
    pub backend: Option<ClusterId>,
    /// Upstream responses with these statuses are replaced; otherwise only the gateway's own
    /// (`502`, `503`, `504`) are.
    pub intercept: bool,
}

/// A destination declared by an object: the Snapshot's default backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    pub cluster: ClusterId,
    /// The Ingress that declared it (for logs and metrics).
    pub ingress: ObjectRef,
}
