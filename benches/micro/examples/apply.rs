//! One cold compile and one recompile of the 10,000-Ingress Snapshot, timed once each: a
//! quick check of the apply cost, and a fixed workload to run under a profiler:
//!
//! ```sh
//! cargo run --release -p pingress-micro --example apply
//! valgrind --tool=callgrind target/release/examples/apply
//! ```

use std::sync::Arc;
use std::time::Instant;

use pingress_micro::{cluster_objects, Compiler};
use pingress_translate::{translate, Options};

fn main() {
    let ingresses = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let objects = cluster_objects(ingresses, 5);
    let snapshot = Arc::new(translate(&objects, &Options::default()).snapshot);
    let compiler = Compiler::new();

    let started = Instant::now();
    let first = compiler.compile(snapshot.clone(), None);
    let cold = started.elapsed();

    let started = Instant::now();
    let second = compiler.compile(snapshot.clone(), Some(&first));
    let warm = started.elapsed();

    let started = Instant::now();
    drop(first);
    let dropped = started.elapsed();
    println!(
        "{ingresses} Ingresses: compile {:.1} ms, recompile {:.1} ms, drop {:.1} ms ({} routes)",
        cold.as_secs_f64() * 1e3,
        warm.as_secs_f64() * 1e3,
        dropped.as_secs_f64() * 1e3,
        second.routes.len()
    );
}
