//! Backends: the Service port an Ingress points at, and its ready endpoints.
//!
//! Resolution follows the cluster's own wiring: Ingress port (number or name) → the Service's
//! port → that port's name → the same-named port of the Service's EndpointSlices → the ready
//! addresses of those slices with that slice port. With `service-upstream` the one endpoint is
//! the Service's cluster IP and port instead (kube-proxy then spreads the connections).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint as SliceEndpoint, EndpointSlice};
use k8s_openapi::api::networking::v1::IngressBackend;
use k8s_openapi::Resource;
use pingress_model::{Cluster, ClusterId, Endpoint, ObjectRef};

use crate::diagnostic::{Diagnostics, Invalid};
use crate::names;
use crate::object::object_ref;

/// The label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A Service port as an Ingress backend names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortRef {
    Number(u16),
    Name(String),
}

impl PortRef {
    fn matches(&self, port: &ServicePort) -> bool {
        match self {
            PortRef::Number(n) => port.port == i32::from(*n),
            PortRef::Name(name) => port.name.as_deref() == Some(name.as_str()),
        }
    }
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(name) => f.write_str(name),
        }
    }
}

/// A well-formed service backend: a Service in the Ingress's namespace and one of its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceRef {
    pub service: ObjectRef,
    pub port: PortRef,
}

impl ServiceRef {
    /// Validates the shape of an Ingress backend; `namespace` is the Ingress's. Field paths in
    /// the error are relative to the backend.
    pub fn parse(backend: &IngressBackend, namespace: &str) -> Result<Self, Invalid> {
        if backend.resource.is_some() {
            return Err(Invalid::new(
                ".resource",
                "resource backends are not supported",
            ));
        }
        let Some(service) = &backend.service else {
            return Err(Invalid::new(".service", "required"));
        };
        if service.name.is_empty() {
            return Err(Invalid::new(".service.name", "required"));
        }
        names::check_label(&service.name).map_err(|e| Invalid::new(".service.name", e))?;
        let port = service.port.as_ref();
        let number = port.and_then(|p| p.number);
        let name = port
            .and_then(|p| p.name.as_deref())
            .filter(|n| !n.is_empty());
        let port = match (number, name) {
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    ".service.port",
                    "set either number or name, not both",
                ))
            }
            (None, None) => {
                return Err(Invalid::new(
                    ".service.port",
                    "required; set number or name",
                ))
            }
            (Some(n), None) => match u16::try_from(n) {
                Ok(n) if n != 0 => PortRef::Number(n),
                _ => {
                    return Err(Invalid::new(
                        ".service.port.number",
                        format!("invalid value {n}: must be between 1 and 65535"),
                    ))
                }
            },
            (None, Some(name)) => {
                names::check_port_name(name).map_err(|e| Invalid::new(".service.port.name", e))?;
                PortRef::Name(name.to_string())
            }
        };
        Ok(ServiceRef {
            service: ObjectRef::new(namespace, &service.name),
            port,
        })
    }

    /// `namespace/service:port`, the port as the Ingress wrote it.
    pub fn cluster_id(&self) -> ClusterId {
        ClusterId::new(&self.service, &self.port)
            .expect("parse validated the namespace, the Service name and the port")
    }
}

/// Services and EndpointSlices indexed for resolving backends.
#[derive(Debug)]
pub(crate) struct Resolver<'a> {
    services: BTreeMap<ObjectRef, &'a Service>,
    /// EndpointSlices by the Service they belong to.
    slices: BTreeMap<ObjectRef, Vec<&'a EndpointSlice>>,
}

impl<'a> Resolver<'a> {
    pub fn new(services: &'a [Service], slices: &'a [EndpointSlice]) -> Self {
        let mut by_service: BTreeMap<ObjectRef, Vec<&EndpointSlice>> = BTreeMap::new();
        for slice in slices {
            let service = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL));
            if let Some(service) = service {
                let namespace = object_ref(&slice.metadata).namespace;
                by_service
                    .entry(ObjectRef::new(namespace, service))
                    .or_default()
                    .push(slice);
            }
        }
        Resolver {
            services: services
                .iter()
                .map(|s| (object_ref(&s.metadata), s))
                .collect(),
            slices: by_service,
        }
    }

    /// The first port of Service `name`, by number: the backend of a `default-backend`
    /// annotation (as ingress-nginx takes it). `None` when the Service or its ports are
    /// missing.
    pub fn first_port(&self, name: &ObjectRef) -> Option<ServiceRef> {
        let service = self.services.get(name)?;
        let port = service.spec.as_ref()?.ports.as_deref()?.first()?;
        let number = u16::try_from(port.port).ok().filter(|&p| p != 0)?;
        Some(ServiceRef {
            service: name.clone(),
            port: PortRef::Number(number),
        })
    }

    /// The ready endpoints of a backend; with `service_upstream`, its Service's cluster IP and
    /// port instead (a headless Service has none: its endpoints are used, with a warning). An
    /// error (field relative to the backend) means the backend cannot be resolved at all; no
    /// ready endpoints is not an error. Problems with individual EndpointSlices are reported to
    /// `diagnostics` and the slice is skipped.
    pub fn resolve(
        &self,
        backend: &ServiceRef,
        service_upstream: bool,
        diagnostics: &mut Diagnostics,
    ) -> Result<Cluster, Invalid> {
        let name = &backend.service;
        let Some(service) = self.services.get(name) else {
            return Err(Invalid::new(
                ".service.name",
                format!("Service {name} not found"),
            ));
        };
        let spec = service.spec.as_ref();
        if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
            return Err(Invalid::new(
                ".service.name",
                format!("Service {name} is of type ExternalName, which is not supported"),
            ));
        }
        let port = spec
            .and_then(|s| s.ports.as_deref())
            .unwrap_or_default()
            .iter()
            .find(|p| backend.port.matches(p))
            .ok_or_else(|| {
                let port = match &backend.port {
                    PortRef::Number(n) => format!("port {n}"),
                    PortRef::Name(n) => format!("port named {n:?}"),
                };
                Invalid::new(".service.port", format!("Service {name} has no {port}"))
            })?;
        if service_upstream {
            if let Some(endpoint) = cluster_endpoint(service, port) {
                return Ok(Cluster {
                    endpoints: vec![endpoint],
                    policy: Default::default(),
                });
            }
            diagnostics.warning(
                Service::KIND,
                name,
                "spec.clusterIP",
                "service-upstream asked for, but the Service has no cluster IP (headless); its endpoints are used",
            );
        }
        let port_name = port.name.as_deref().unwrap_or_default();

        let mut endpoints = BTreeSet::new();
        for slice in self.slices.get(name).into_iter().flatten() {
            endpoints.extend(slice_endpoints(slice, port_name, diagnostics));
        }
        // The policy comes from the Ingresses' annotations, set by the caller.
        Ok(Cluster {
            endpoints: endpoints.into_iter().collect(),
            policy: Default::default(),
        })
    }
}

/// The Service's cluster IP with the Service port; `None` for a headless Service (`None`) or
/// one without an address.
fn cluster_endpoint(service: &Service, port: &ServicePort) -> Option<Endpoint> {
    let ip: IpAddr = service.spec.as_ref()?.cluster_ip.as_deref()?.parse().ok()?;
    let port = u16::try_from(port.port).ok().filter(|&p| p != 0)?;
    Some(Endpoint {
        addr: SocketAddr::new(ip, port),
    })
}

/// The ready endpoints of one EndpointSlice for the slice port named `port_name` (`""` for an
/// unnamed port).
fn slice_endpoints(
    slice: &EndpointSlice,
    port_name: &str,
    diagnostics: &mut Diagnostics,
) -> Vec<Endpoint> {
    let slice_ref = object_ref(&slice.metadata);
    if slice.address_type == "FQDN" {
        diagnostics.warning(
            EndpointSlice::KIND,
            &slice_ref,
            "addressType",
            "FQDN endpoints are not supported; this EndpointSlice is ignored",
        );
        return Vec::new();
    }
    let port = slice
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref().unwrap_or_default() == port_name)
        .and_then(|p| p.port)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|&p| p != 0);
    let Some(port) = port else {
        return Vec::new();
    };
    let mut endpoints = Vec::new();
    for (i, endpoint) in slice.endpoints.iter().flatten().enumerate() {
        if !is_ready(endpoint) {
            continue;
        }
        for (j, address) in endpoint.addresses.iter().enumerate() {
            match address.parse::<IpAddr>() {
                Ok(ip) => endpoints.push(Endpoint {
                    addr: SocketAddr::new(ip, port),
                }),
                Err(_) => diagnostics.warning(
                    EndpointSlice::KIND,
                    &slice_ref,
                    format!("endpoints[{i}].addresses[{j}]"),
                    format!("invalid value {address:?}: not an IP address; ignored"),
                ),
            }
        }
    }
    endpoints
}

/// Absent conditions, or an absent `ready`, mean ready (as the EndpointSlice API specifies).
fn is_ready(endpoint: &SliceEndpoint) -> bool {
    endpoint
        .conditions
        .as_ref()
        .and_then(|c| c.ready)
        .unwrap_or(true)
}
