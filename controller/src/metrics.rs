//! The controller's metrics: what the sources saw and what the translation rejected.

use pingress_translate::{Diagnostic, Severity};
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Object kinds diagnostics are reported on, each with its own series.
const KINDS: [&str; 5] = ["Ingress", "EndpointSlice", "Secret", "Service", "ConfigMap"];

/// The controller's series, registered once and shared by the source and the publisher.
#[derive(Clone)]
pub struct ControllerMetrics {
    /// Source events (file changes) that triggered a reload.
    pub source_events: IntCounter,
    /// Source errors: manifest files that could not be read or parsed, watch errors.
    pub source_errors: IntCounter,
    /// Configurations published on the config channel.
    pub published: IntCounter,
    /// 1 while this process holds the leader Lease.
    pub leader: IntGauge,
    diagnostics: IntGaugeVec,
    ignored_annotations: IntGaugeVec,
}

impl ControllerMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        let source = IntCounterVec::new(
            Opts::new(
                "pingress_controller_source_events_total",
                "Changes seen by the controller's source (manifest file events), by result",
            ),
            &["result"],
        )
        .expect("valid metric");
        let metrics = ControllerMetrics {
            source_events: source.with_label_values(&["event"]),
            source_errors: source.with_label_values(&["error"]),
            published: counter(
                "pingress_controller_published_total",
                "Configurations published to the gateway (each a new generation)",
            ),
            leader: IntGauge::new(
                "pingress_controller_leader",
                "1 while this process holds the leader Lease and writes Ingress status and Events (Kubernetes mode)",
            )
            .expect("valid metric"),
            diagnostics: IntGaugeVec::new(
                Opts::new(
                    "pingress_config_diagnostics",
                    "Problems found in the objects of the current configuration, by object kind and severity (error: the offending part is left out or answers 503; warning: ignored on purpose, e.g. a lost conflict)",
                ),
                &["kind", "severity"],
            )
            .expect("valid metric"),
            ignored_annotations: IntGaugeVec::new(
                Opts::new(
                    "pingress_config_ignored_annotations",
                    "Served Ingresses that set an ingress-nginx annotation Pingress does not honour, by annotation (its name after the prefix; unknown: not an ingress-nginx annotation); each is reported on its Ingress (docs/annotations.md)",
                ),
                &["annotation"],
            )
            .expect("valid metric"),
        };
        registry
            .register(Box::new(source))
            .expect("unique metric names");
        registry
            .register(Box::new(metrics.published.clone()))
            .expect("unique metric names");
        registry
            .register(Box::new(metrics.leader.clone()))
            .expect("unique metric names");
        registry
            .register(Box::new(metrics.diagnostics.clone()))
            .expect("unique metric names");
        registry
            .register(Box::new(metrics.ignored_annotations.clone()))
            .expect("unique metric names");
        metrics
    }

    /// Sets the diagnostics gauges to the counts in `diagnostics`.
    pub fn observe_diagnostics(&self, diagnostics: &[Diagnostic]) {
        for kind in KINDS {
            for severity in [Severity::Error, Severity::Warning] {
                let count = diagnostics
                    .iter()
                    .filter(|d| d.kind == kind && d.severity == severity)
                    .count();
                self.diagnostics
                    .with_label_values(&[kind, &severity.to_string()])
                    .set(count as i64);
            }
        }
    }

    /// Sets `pingress_config_ignored_annotations` to the counts of the last translation (the
    /// names are bounded: the catalog's, and `unknown`, which is always there so that the
    /// family is too).
    pub fn observe_ignored_annotations(&self, counts: &std::collections::BTreeMap<String, usize>) {
        self.ignored_annotations.reset();
        self.ignored_annotations
            .with_label_values(&["unknown"])
            .set(0);
        for (name, count) in counts {
            self.ignored_annotations
                .with_label_values(&[name])
                .set(*count as i64);
        }
    }
}
