//! The cost of a configuration change at scale: 10,000 Ingresses (five paths each, 50,000
//! routes) over 10,000 Services with 50,000 endpoints in all.
//!
//! - `translate`: Kubernetes objects -> Snapshot (`pingress_translate::translate`);
//! - `compile`: Snapshot -> the gateway's Generation (`Generation::compile`), cold;
//! - `recompile`: the same, against the previous Generation (what a config swap does when
//!   the endpoints did not change);
//! - `translate_compile`: both, the controller-to-gateway path of one change;
//! - `snapshot_json`: serializing the Snapshot with serde_json. Its size is printed as
//!   `PINGRESS_MICRO snapshot_json_bytes=...` before the benchmarks run.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use pingress_gateway::config::Generation;
use pingress_micro::{cluster_objects, settings, Compiler};
use pingress_model::Snapshot;
use pingress_translate::{translate, Options};

/// Ingresses and endpoints per Service under `cargo bench`.
const INGRESSES: usize = 10_000;
const ENDPOINTS_PER_SERVICE: usize = 5;

fn sizes() -> (usize, usize) {
    if settings::bench_mode() {
        (INGRESSES, ENDPOINTS_PER_SERVICE)
    } else {
        (100, ENDPOINTS_PER_SERVICE)
    }
}

fn translate_compile(c: &mut Criterion) {
    let (ingresses, per_service) = sizes();
    let objects = cluster_objects(ingresses, per_service);
    let options = Options::default();
    let snapshot = Arc::new(translate(&objects, &options).snapshot);
    let endpoints: usize = snapshot.clusters.values().map(|c| c.endpoints.len()).sum();
    let json = serde_json::to_vec(snapshot.as_ref()).expect("a Snapshot serializes");
    println!(
        "PINGRESS_MICRO ingresses={ingresses} routes={} clusters={} endpoints={endpoints} snapshot_json_bytes={}",
        snapshot.route_count(),
        snapshot.clusters.len(),
        json.len()
    );

    let compiler = Compiler::new();
    let compile = |snapshot: Arc<Snapshot>, previous: Option<&Generation>| {
        compiler.compile(snapshot, previous)
    };

    let mut group = c.benchmark_group("config_10k");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(if settings::quick() {
            200
        } else {
            1000
        }))
        .measurement_time(Duration::from_secs(if settings::quick() { 2 } else { 8 }));
    let mut group = Bounded(group);
    group.bench("translate", || translate(&objects, &options));
    // The first compile is timed once, and kept as the previous generation of `recompile`.
    let started = Instant::now();
    let previous = compile(snapshot.clone(), None);
    let once = started.elapsed();
    if group.fast_enough("compile", once) {
        group.bench("compile", || compile(snapshot.clone(), None));
    }
    group.bench("recompile", || compile(snapshot.clone(), Some(&previous)));
    // Both steps in one; when `compile` alone was too slow, the summary adds the two up.
    if once <= SLOW || !settings::bench_mode() {
        group.bench("translate_compile", || {
            compile(Arc::new(translate(&objects, &options).snapshot), None)
        });
    }
    group.bench("snapshot_json", || {
        serde_json::to_vec(snapshot.as_ref()).map(|v| v.len())
    });
    group.0.finish();
}

/// A benchmark group that keeps its run time bounded: criterion takes at least 10 iterations
/// per benchmark, so a routine whose one iteration takes longer than [`SLOW`] is timed once
/// instead, reported as `PINGRESS_MICRO once_NAME_ms=...` (a regression should make the run
/// say so, not take hours).
struct Bounded<'a>(BenchmarkGroup<'a, WallTime>);

const SLOW: Duration = Duration::from_secs(2);

impl Bounded<'_> {
    fn bench<O>(&mut self, name: &str, mut routine: impl FnMut() -> O) {
        let started = Instant::now();
        black_box(routine());
        if self.fast_enough(name, started.elapsed()) {
            self.0
                .bench_function(name, |b| b.iter(|| black_box(routine())));
        }
    }

    /// Whether one iteration that took `once` may be benchmarked; if not, reports it.
    fn fast_enough(&mut self, name: &str, once: Duration) -> bool {
        if once <= SLOW || !settings::bench_mode() {
            return true;
        }
        println!(
            "PINGRESS_MICRO once_{name}_ms={:.1}",
            once.as_secs_f64() * 1e3
        );
        false
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    translate_compile(&mut criterion);
    criterion.final_summary();
}
