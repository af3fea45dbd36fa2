//! What a route leads to at run time: the compiled form of one route of the model, built once
//! per Generation (and kept while the routes and their upstreams are).
//!
//! ```text
//! RouteTarget
//! |-- action: Forward { backends: [RouteBackend { upstream, info }],
//! |                     primary: WeightedChoice, alternatives: [(Conditions, WeightedChoice)] }
//! |           | Redirect { code, location } | Respond { status, body }
//! |-- filters: policy::Filters (by phase)
//! |-- policy: timeouts, retries, body limit
//! |-- fallback: None, or { no_endpoints: upstream, errors: { codes, upstream, intercept } }
//! `-- origin, and the route's own metrics for answers without a backend
//! ```
//!
//! Metrics and log labels (a route's [`RouteInfo`]) are built on the first request that needs
//! them, per backend, so that a compile of 10,000 routes formats no label and no request does.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::HeaderValue;
use pingress_model::{
    self as model, ClusterId, HostMatch, HttpsRedirect, ObjectRef, PathMatch, RoutePolicy,
};
use pingress_routing::{Conditions, Declared, RequestParts};

use super::choice::WeightedChoice;
use super::settings::GatewaySettings;
use crate::metrics::{Metrics, RouteCounters};
use crate::policy::Filters;
use crate::upstream::Upstream;

/// What a route leads to at run time.
pub struct RouteTarget {
    pub action: Action,
    pub filters: Filters,
    pub policy: RoutePolicy,
    /// How plain-HTTP requests are redirected to HTTPS.
    pub https_redirect: HttpsRedirect,
    /// The gateway-wide settings of the generation (shared by all its routes).
    pub settings: Arc<GatewaySettings>,
    /// Who answers when the backend cannot (`default-backend`, `custom-http-errors`); `None`
    /// for most routes.
    pub fallback: Option<Box<Fallback>>,
    /// The declaring object.
    origin: ObjectRef,
    /// The route's bookkeeping when it answers without a backend.
    own: OnceLock<RouteInfo>,
}

/// A route's action, compiled.
pub enum Action {
    Forward(Forward),
    Redirect { code: u16, location: Location },
    Respond { status: u16, body: Option<Bytes> },
}

/// Where a redirect points: fixed, or made from the request.
pub enum Location {
    /// This URL.
    Url(HeaderValue),
    /// This path on the request's scheme and host (`host_port`: the host as sent, port
    /// included).
    Path { path: String, host_port: bool },
    /// The request's path and query on this host, with the listener's port, less one
    /// trailing `/`.
    Host(String),
}

/// The backends of a forwarding route and how one is chosen per request.
pub struct Forward {
    /// The primary backends first, then each alternative's.
    backends: Box<[RouteBackend]>,
    /// Over the first backends.
    primary: WeightedChoice,
    alternatives: Box<[Alternative]>,
}

/// Backends chosen instead of the primary ones when the conditions hold.
struct Alternative {
    when: Conditions,
    choice: WeightedChoice,
    /// Where its backends start in [`Forward::backends`].
    first: usize,
}

/// Who answers for a route's backend when it cannot ([`model::Fallback`]), compiled.
pub struct Fallback {
    /// Serves while the chosen backend has no ready endpoint.
    pub no_endpoints: Option<Arc<Upstream>>,
    /// Statuses replaced by an error backend's answer.
    pub errors: Option<ErrorPages>,
}

/// [`model::ErrorPages`], compiled.
pub struct ErrorPages {
    /// Sorted.
    codes: Box<[u16]>,
    /// Where the replacement request goes; `None`: the gateway answers `404`.
    pub backend: Option<Arc<Upstream>>,
    /// Upstream responses are replaced, not only the gateway's own errors.
    pub intercept: bool,
}

impl ErrorPages {
    /// Whether `status` is replaced.
    pub fn covers(&self, status: u16) -> bool {
        self.codes.binary_search(&status).is_ok()
    }
}

impl Fallback {
    /// `None` when the route has no fallback.
    fn compile(
        fallback: &model::Fallback,
        upstream: &mut impl FnMut(&ClusterId) -> Arc<Upstream>,
    ) -> Option<Box<Self>> {
        let no_endpoints = fallback.no_endpoints.as_ref().map(&mut *upstream);
        let errors = fallback.errors.as_ref().map(|e| {
            let mut codes = e.codes.clone();
            codes.sort_unstable();
            ErrorPages {
                codes: codes.into(),
                backend: e.backend.as_ref().map(&mut *upstream),
                intercept: e.intercept,
            }
        });
        (no_endpoints.is_some() || errors.is_some()).then(|| {
            Box::new(Fallback {
                no_endpoints,
                errors,
            })
        })
    }
}

/// One backend of a route.
pub struct RouteBackend {
    pub upstream: Arc<Upstream>,
    info: OnceLock<RouteInfo>,
}

/// A route's per-request bookkeeping, built once on its first request so that no request
/// formats labels or names.
pub struct RouteInfo {
    pub counters: RouteCounters,
    /// `host path` of the rule (`default backend` for it), for the access log.
    pub rule: String,
    /// `namespace/name` of the declaring object.
    pub ingress: String,
}

impl RouteTarget {
    /// Compiles a route (or the default backend) of the table; `upstream` gives the upstream
    /// of a cluster. A part that does not compile (the translation validates everything, so
    /// this takes a Snapshot from elsewhere) is logged, and the route answers `500` rather than
    /// run without it.
    pub fn compile(
        declared: Declared<'_>,
        settings: &Arc<GatewaySettings>,
        mut upstream: impl FnMut(&ClusterId) -> Arc<Upstream>,
    ) -> Self {
        let (route, origin) = match declared {
            Declared::Route { route, .. } => (route, route.origin.clone()),
            Declared::Default(backend) => {
                return RouteTarget {
                    action: Action::Forward(Forward::compile(
                        &model::BackendSet::single(backend.cluster.clone()),
                        &mut upstream,
                    )),
                    filters: Filters::default(),
                    policy: RoutePolicy::default(),
                    https_redirect: HttpsRedirect::default(),
                    settings: settings.clone(),
                    fallback: None,
                    origin: backend.ingress.clone(),
                    own: OnceLock::new(),
                };
            }
        };
        let broken = |what: String| {
            tracing::error!(route = %route.path, origin = %origin, "{what}; the route answers 500");
            Action::Respond {
                status: 500,
                body: None,
            }
        };
        let filters = Filters::compile(&route.filters);
        let fallback = Fallback::compile(&route.policy.fallback, &mut upstream);
        let action = match (&route.action, &filters) {
            (_, Err(e)) => broken(format!("a filter does not compile: {e}")),
            (model::Action::Forward(set), _) => {
                Action::Forward(Forward::compile(set, &mut upstream))
            }
            (model::Action::Redirect(r), _) => match Location::compile(&r.location) {
                Some(location) => Action::Redirect {
                    code: r.code,
                    location,
                },
                None => broken(format!(
                    "redirect location {:?} is not a header value",
                    r.location
                )),
            },
            (model::Action::Respond(r), _) => Action::Respond {
                status: r.status,
                body: r.body.clone().map(Bytes::from),
            },
        };
        RouteTarget {
            action,
            filters: filters.unwrap_or_default(),
            policy: route.policy.clone(),
            https_redirect: route.https_redirect,
            settings: settings.clone(),
            fallback,
            origin,
            own: OnceLock::new(),
        }
    }

    /// The object that declared the route.
    pub fn origin(&self) -> &ObjectRef {
        &self.origin
    }

    /// The backend `index` of a forwarding route.
    pub fn backend(&self, index: usize) -> Option<&RouteBackend> {
        match &self.action {
            Action::Forward(forward) => forward.backends.get(index),
            _ => None,
        }
    }

    /// The bookkeeping of the route as matched at `host` and `path` (both `None` for the
    /// default backend), for its backend `backend` (`None` when it answers itself), built on
    /// first use.
    pub fn resolve(
        &self,
        backend: Option<usize>,
        host: Option<&HostMatch>,
        path: Option<&PathMatch>,
        metrics: &Metrics,
    ) -> &RouteInfo {
        let upstream = backend.and_then(|b| self.backend(b));
        let slot = upstream.map_or(&self.own, |b| &b.info);
        slot.get_or_init(|| RouteInfo {
            counters: metrics.route_counters(
                &self.origin,
                upstream.map(|b| &b.upstream.id),
                host,
                path,
            ),
            rule: match (host, path) {
                (Some(host), Some(path)) => format!("{host} {path}"),
                _ => "default backend".to_string(),
            },
            ingress: self.origin.to_string(),
        })
    }

    /// The bookkeeping, once [`RouteTarget::resolve`] built it.
    pub fn resolved(&self, backend: Option<usize>) -> Option<&RouteInfo> {
        match backend.and_then(|b| self.backend(b)) {
            Some(b) => b.info.get(),
            None => self.own.get(),
        }
    }
}

impl Location {
    /// `None` when a part is not usable in a header.
    fn compile(location: &model::Location) -> Option<Self> {
        let usable = |s: &str| HeaderValue::from_str(s).is_ok();
        match location {
            model::Location::Url(url) => HeaderValue::from_str(url).ok().map(Location::Url),
            model::Location::Path { path, host_port } => usable(path).then(|| Location::Path {
                path: path.clone(),
                host_port: *host_port,
            }),
            model::Location::Host(host) => usable(host).then(|| Location::Host(host.clone())),
        }
    }
}

impl Forward {
    fn compile(
        set: &model::BackendSet,
        upstream: &mut impl FnMut(&ClusterId) -> Arc<Upstream>,
    ) -> Self {
        let mut backends = Vec::new();
        let mut add = |list: &[model::WeightedBackend]| {
            let first = backends.len();
            backends.extend(list.iter().map(|b| RouteBackend {
                upstream: upstream(&b.cluster),
                info: OnceLock::new(),
            }));
            (first, WeightedChoice::new(list.iter().map(|b| b.weight)))
        };
        let (_, primary) = add(&set.backends);
        let alternatives = set
            .alternatives
            .iter()
            .filter_map(|alternative| match Conditions::compile(&alternative.when) {
                Ok(when) => {
                    let (first, choice) = add(&alternative.backends);
                    Some(Alternative {
                        when,
                        choice,
                        first,
                    })
                }
                Err(e) => {
                    tracing::error!("an alternative's conditions do not compile, left out: {e}");
                    None
                }
            })
            .collect();
        Forward {
            backends: backends.into(),
            primary,
            alternatives,
        }
    }

    /// The backend for a request: the first alternative whose conditions hold chooses among
    /// its backends, else the primary ones do, by weight. `None` when the choice has only
    /// zero weights (or no backends).
    #[inline]
    pub fn choose(&self, request: &RequestParts<'_>) -> Option<usize> {
        for alternative in &self.alternatives {
            if alternative.when.holds(request) {
                return alternative.choice.pick().map(|i| alternative.first + i);
            }
        }
        self.primary.pick()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::tests::defaults;
    use pingress_model::{Alternative as ModelAlternative, BackendSet, Condition, StringMatch};

    fn cluster(name: &str) -> ClusterId {
        ClusterId::new(&ObjectRef::new("default", name), 80).unwrap()
    }

    fn upstream(id: &ClusterId) -> Arc<Upstream> {
        Arc::new(Upstream::new(
            id.clone(),
            &[],
            &Default::default(),
            None,
            &std::collections::HashMap::<std::net::SocketAddr, _>::new(),
            defaults(),
        ))
    }

    fn weighted(name: &str, weight: u32) -> model::WeightedBackend {
        model::WeightedBackend {
            cluster: cluster(name),
            weight,
        }
    }

    /// Request headers, `(name, value)`.
    type Headers<'a> = &'a [(&'a str, &'a str)];

    /// The cluster a request with these headers is sent to.
    fn chosen(forward: &Forward, headers: Headers) -> Option<String> {
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let request = RequestParts {
            method: &http::Method::GET,
            headers: &map,
            query: None,
        };
        let index = forward.choose(&request)?;
        Some(forward.backends[index].upstream.id.service().to_string())
    }

    #[test]
    fn alternatives_are_decided_in_order_before_the_weights() {
        let header = |value: &str| Condition::Header {
            name: "x-canary".into(),
            value: StringMatch::Exact(value.into()),
        };
        let set = BackendSet {
            backends: vec![weighted("main", 1), weighted("canary", 0)],
            alternatives: vec![
                ModelAlternative {
                    when: vec![header("never")],
                    backends: vec![weighted("main", 1)],
                },
                ModelAlternative {
                    when: vec![header("always")],
                    backends: vec![weighted("canary", 1)],
                },
            ],
        };
        let forward = Forward::compile(&set, &mut upstream);
        // (request headers, chosen cluster, why)
        let rows: [(Headers, &str, &str); 3] = [
            (
                &[],
                "main",
                "no alternative holds: by weight, the canary has 0",
            ),
            (
                &[("x-canary", "always")],
                "canary",
                "the second alternative",
            ),
            (
                &[("x-canary", "never")],
                "main",
                "the first alternative ends the decision",
            ),
        ];
        for (headers, expected, why) in rows {
            assert_eq!(
                chosen(&forward, headers).as_deref(),
                Some(expected),
                "{why}"
            );
        }
    }

    #[test]
    fn a_set_of_zero_weights_has_no_backend_and_broken_conditions_are_left_out() {
        let set = BackendSet {
            backends: vec![weighted("main", 0)],
            alternatives: vec![ModelAlternative {
                when: vec![Condition::Header {
                    name: "x".into(),
                    value: StringMatch::Regex("(".into()),
                }],
                backends: vec![weighted("other", 1)],
            }],
        };
        let forward = Forward::compile(&set, &mut upstream);
        assert_eq!(forward.alternatives.len(), 0);
        assert_eq!(chosen(&forward, &[("x", "(")]), None);
    }

    #[test]
    fn fallbacks_compile_only_when_the_route_has_one() {
        let none = Fallback::compile(&model::Fallback::default(), &mut upstream);
        assert!(none.is_none(), "most routes pay nothing");
        let fallback = model::Fallback {
            no_endpoints: Some(cluster("echo")),
            errors: Some(model::ErrorPages {
                codes: vec![503, 404],
                backend: None,
                intercept: true,
            }),
        };
        let compiled = Fallback::compile(&fallback, &mut upstream).unwrap();
        let stand_in = compiled.no_endpoints.as_ref().unwrap();
        assert_eq!(stand_in.id.service(), "echo");
        let errors = compiled.errors.as_ref().unwrap();
        // (status, replaced)
        for (status, replaced) in [(404, true), (503, true), (500, false), (200, false)] {
            assert_eq!(errors.covers(status), replaced, "{status}");
        }
        assert!(errors.backend.is_none() && errors.intercept);
    }

    #[test]
    fn routes_compile_their_action_and_fall_back_to_500_when_a_part_does_not() {
        let origin = ObjectRef::new("default", "ing");
        let mut route = model::Route::forward(PathMatch::prefix("/"), cluster("web"), origin);
        let host = HostMatch::Any;
        let compile = |route: &model::Route| {
            let settings = Arc::new(GatewaySettings::compile(
                &Default::default(),
                &Default::default(),
            ));
            RouteTarget::compile(Declared::Route { host: &host, route }, &settings, upstream)
        };
        assert!(matches!(compile(&route).action, Action::Forward(_)));
        route.action = model::Action::Redirect(model::Redirect {
            code: 301,
            location: model::Location::Url("https://example.com/".into()),
        });
        assert!(matches!(
            compile(&route).action,
            Action::Redirect { code: 301, .. }
        ));
        route.action = model::Action::Redirect(model::Redirect {
            code: 301,
            location: model::Location::Url("https://example.com/\r\nSet-Cookie: x".into()),
        });
        assert!(matches!(
            compile(&route).action,
            Action::Respond { status: 500, .. }
        ));
        route.action = model::Action::Respond(model::Respond {
            status: 503,
            body: Some("down".into()),
        });
        assert!(matches!(
            compile(&route).action,
            Action::Respond { status: 503, .. }
        ));
        route.filters = vec![model::Filter::RequestHeaders(model::HeaderChanges {
            remove: vec!["bad name".into()],
            ..Default::default()
        })];
        assert!(matches!(
            compile(&route).action,
            Action::Respond { status: 500, .. }
        ));
    }
}
