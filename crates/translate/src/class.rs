//! Which Ingresses are ours: the `kubernetes.io/ingress.class` annotation, `spec.ingressClassName`
//! and the default IngressClass.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

/// The legacy annotation that names an Ingress's class; it takes precedence over the field.
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// Marks an IngressClass as the one for Ingresses that name none.
const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// Decides whether an Ingress belongs to this controller.
#[derive(Debug)]
pub(crate) struct ClassFilter<'a> {
    ingress_class: &'a str,
    /// Every IngressClass by name: whether its `spec.controller` is ours.
    classes: BTreeMap<&'a str, bool>,
    /// Whether an IngressClass of ours is marked as the default class.
    default_is_ours: bool,
    /// Ingresses that name no class at all are ours (`--watch-ingress-without-class`).
    without_class: bool,
}

impl<'a> ClassFilter<'a> {
    /// `ingress_class` is the class name we answer to, `controller_name` the
    /// `spec.controller` of our IngressClasses; `without_class`: Ingresses naming no class
    /// are ours.
    pub fn new(
        classes: &'a [IngressClass],
        ingress_class: &'a str,
        controller_name: &str,
        without_class: bool,
    ) -> Self {
        let is_ours = |class: &IngressClass| {
            class.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(controller_name)
        };
        let is_default = |class: &IngressClass| {
            class
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                .is_some_and(|v| v == "true")
        };
        ClassFilter {
            ingress_class,
            classes: classes
                .iter()
                .filter_map(|c| Some((c.metadata.name.as_deref()?, is_ours(c))))
                .collect(),
            default_is_ours: classes.iter().any(|c| is_ours(c) && is_default(c)),
            without_class,
        }
    }

    pub fn is_ours(&self, ingress: &Ingress) -> bool {
        let annotation = ingress
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CLASS_ANNOTATION));
        if let Some(class) = annotation {
            return class == self.ingress_class;
        }
        let field = ingress
            .spec
            .as_ref()
            .and_then(|s| s.ingress_class_name.as_deref())
            .filter(|name| !name.is_empty());
        match field {
            // An IngressClass object decides; without one, the name alone must be ours.
            Some(name) => match self.classes.get(name) {
                Some(&ours) => ours,
                None => name == self.ingress_class,
            },
            None => self.default_is_ours || self.without_class,
        }
    }
}
