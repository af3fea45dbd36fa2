//! Prometheus metrics of the gateway (the foundation set; see docs/metrics.md).
//!
//! Every counter the request path touches is resolved once, at start-up, into a plain
//! `IntCounter`: no label lookup or string formatting per request.

use prometheus::{
    Encoder, Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Status classes in label order; index 0 is "no response was sent".
const STATUS_CLASSES: [&str; 6] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];

pub struct Metrics {
    registry: Registry,
    requests: [IntCounter; 6],
    /// Generation number of the live configuration.
    pub config_generation: IntGauge,
    /// Unix time of the last configuration applied.
    pub config_last_apply: Gauge,
    /// Routes in the live configuration.
    pub config_routes: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests_vec = IntCounterVec::new(
            Opts::new(
                "pingress_requests_total",
                "Requests answered by the gateway, by status class (none: no response was sent)",
            ),
            &["status_class"],
        )
        .expect("valid metric");
        let requests = STATUS_CLASSES.map(|class| requests_vec.with_label_values(&[class]));
        let config_generation = IntGauge::new(
            "pingress_config_generation",
            "Generation number of the configuration the gateway serves (0: none yet)",
        )
        .expect("valid metric");
        let config_last_apply = Gauge::new(
            "pingress_config_last_apply_timestamp_seconds",
            "Unix time at which the live configuration was applied",
        )
        .expect("valid metric");
        let config_routes = IntGauge::new(
            "pingress_config_routes",
            "Routes (host and path rules, plus the default backend) in the live configuration",
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests_vec) as Box<dyn prometheus::core::Collector>,
            Box::new(config_generation.clone()),
            Box::new(config_last_apply.clone()),
            Box::new(config_routes.clone()),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        Metrics {
            registry,
            requests,
            config_generation,
            config_last_apply,
            config_routes,
        }
    }

    /// Counts one finished request; `status` is `None` when no response was sent.
    pub fn observe_request(&self, status: Option<u16>) {
        let index = match status {
            Some(code @ 100..=599) => usize::from(code / 100),
            _ => 0,
        };
        self.requests[index].inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_status_class() {
        let metrics = Metrics::new();
        metrics.observe_request(Some(200));
        metrics.observe_request(Some(204));
        metrics.observe_request(Some(503));
        metrics.observe_request(None);
        let text = String::from_utf8(metrics.render()).unwrap();
        assert!(
            text.contains("pingress_requests_total{status_class=\"2xx\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("pingress_requests_total{status_class=\"5xx\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("pingress_requests_total{status_class=\"none\"} 1"),
            "{text}"
        );
        assert!(text.contains("pingress_config_generation 0"), "{text}");
    }
}
