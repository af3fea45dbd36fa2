//! A fixed number of route lookups on one of the benchmark tables, for a profiler:
//!
//! ```sh
//! cargo build --release -p pingress-micro --example lookup
//! valgrind --tool=callgrind target/release/examples/lookup exact_hosts 100000 1000000
//! ```
//!
//! Arguments: shape (`exact_hosts`, `wildcard_hosts`, `prefix_paths`), rules, lookups.

use std::hint::black_box;
use std::time::Instant;

use pingress_micro::{lookup_table, BareRequest, Shape, KEYS};
use pingress_routing::{Host, RouteTable};

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "exact_hosts".into());
    let shape = Shape::ALL
        .into_iter()
        .find(|s| s.name() == shape)
        .expect("shape: exact_hosts, wildcard_hosts or prefix_paths");
    let rules: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
    let lookups: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let (snapshot, keys) = lookup_table(shape, rules);
    let table = RouteTable::build(&snapshot, |_| ());
    let request = BareRequest::new();
    let request = request.parts();
    let started = Instant::now();
    let mut hits = 0usize;
    for i in 0..lookups {
        let (host, path) = &keys[i & (KEYS - 1)];
        let host = Host::new(black_box(host));
        hits += usize::from(table.find(&host, black_box(path), &request).is_some());
    }
    let elapsed = started.elapsed();
    println!(
        "{} {rules} rules: {lookups} lookups, {hits} hits, {:.1} ns each",
        shape.name(),
        elapsed.as_secs_f64() * 1e9 / lookups as f64
    );
}
