//! One cold compile, one recompile and one small change of the 10,000-Ingress Snapshot, timed
//! once each: a quick check of the apply cost, and a fixed workload to run under a profiler:
//!
//! ```sh
//! cargo run --release -p pingress-micro --example apply
//! valgrind --tool=callgrind target/release/examples/apply
//! ```
//!
//! Each step is its own function, so `callgrind_annotate --inclusive=yes` shows each one's
//! instructions (`apply::cold`, `apply::recompile`, `apply::one_changed`, `apply::register`,
//! `apply::retire`). A compile is what precedes the swap; registering the new health views
//! (`register`, timed after each compile) is what follows it.
//!
//! - cold: compile with no previous generation;
//! - recompile: an equal Snapshot (a fresh copy with the next generation number, as a swap
//!   receives it), against the cold generation;
//! - one changed: a copy in which one cluster lost an endpoint and one Ingress gained a path,
//!   against the recompiled generation (the common case: one object changes, the rest not);
//! - drop: dropping the cold generation once the others hold what they share with it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pingress_gateway::config::Generation;
use pingress_micro::{cluster_objects, Compiler};
use pingress_model::{PathMatch, Snapshot};
use pingress_translate::{translate, Options};

#[inline(never)]
fn cold(compiler: &Compiler, snapshot: Arc<Snapshot>) -> Generation {
    compiler.compile_only(snapshot, None)
}

#[inline(never)]
fn recompile(compiler: &Compiler, snapshot: Arc<Snapshot>, previous: &Generation) -> Generation {
    // Not the same code as `one_changed`, so that the linker keeps two functions to profile.
    std::hint::black_box(1);
    compiler.compile_only(snapshot, Some(previous))
}

#[inline(never)]
fn one_changed(compiler: &Compiler, snapshot: Arc<Snapshot>, previous: &Generation) -> Generation {
    std::hint::black_box(2);
    compiler.compile_only(snapshot, Some(previous))
}

#[inline(never)]
fn register(compiler: &Compiler) -> usize {
    compiler.register_health_checks()
}

#[inline(never)]
fn retire(generation: Generation) {
    drop(generation);
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = f();
    (out, started.elapsed())
}

fn main() {
    let ingresses = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let objects = cluster_objects(ingresses, 5);
    let snapshot = translate(&objects, &Options::default()).snapshot;
    let mut same = snapshot.clone();
    same.generation += 1;
    let mut changed = same.clone();
    changed.generation += 1;
    if let Some(cluster) = changed.clusters.values_mut().nth(ingresses / 2) {
        cluster.endpoints.pop();
    }
    if let Some(vhost) = changed.virtual_hosts.get_mut(ingresses / 3) {
        let mut route = vhost.routes[0].clone();
        route.path = PathMatch::prefix("/new");
        vhost.routes.push(route);
    }
    let compiler = Compiler::new();

    let (first, cold_t) = timed(|| cold(&compiler, Arc::new(snapshot)));
    let (cold_n, cold_r) = timed(|| register(&compiler));
    let (second, warm_t) = timed(|| recompile(&compiler, Arc::new(same), &first));
    let (warm_n, warm_r) = timed(|| register(&compiler));
    let (third, changed_t) = timed(|| one_changed(&compiler, Arc::new(changed), &second));
    let (changed_n, changed_r) = timed(|| register(&compiler));
    let ((), dropped) = timed(|| retire(first));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{ingresses} Ingresses ({} routes), compile + health-check registration after the swap:",
        third.routes.len()
    );
    println!(
        "  cold {:.1} + {:.1} ms ({cold_n} endpoints), recompile {:.1} + {:.1} ms ({warm_n}), \
         one changed {:.1} + {:.1} ms ({changed_n}); drop {:.1} ms",
        ms(cold_t),
        ms(cold_r),
        ms(warm_t),
        ms(warm_r),
        ms(changed_t),
        ms(changed_r),
        ms(dropped),
    );
    drop(second);
}
