//! A fixed number of route lookups on one of the benchmark tables, for a profiler:
//!
//! ```sh
//! cargo build --release -p pingress-micro --example lookup
//! valgrind --tool=callgrind --toggle-collect=lookup::lookups \
//!     target/release/examples/lookup exact_hosts 100000 200000
//! ```
//!
//! Arguments: shape (`exact_hosts`, `wildcard_hosts`, `prefix_paths`, or the regex cases
//! `regex_hit_last`, `regex_miss`), rules (for the regex cases: patterns), lookups. The
//! lookups run in [`lookups`], so that `--toggle-collect` counts them without building the
//! table: its Ir divided by the lookups is the instructions per lookup.

use std::hint::black_box;
use std::time::Instant;

use pingress_micro::{lookup_table, regex_table, BareRequest, RegexCase, Shape, KEYS};
use pingress_routing::{Host, RouteTable};

#[inline(never)]
fn lookups(table: &RouteTable<()>, keys: &[(String, String)], lookups: usize) -> usize {
    let request = BareRequest::new();
    let request = request.parts();
    let mut hits = 0usize;
    for i in 0..lookups {
        let (host, path) = &keys[i & (KEYS - 1)];
        let host = Host::new(black_box(host));
        hits += usize::from(table.find(&host, black_box(path), &request).is_some());
    }
    hits
}

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "exact_hosts".into());
    let rules: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
    let n: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let (snapshot, keys) = match Shape::ALL.into_iter().find(|s| s.name() == shape) {
        Some(shape) => lookup_table(shape, rules),
        None => {
            let case = RegexCase::ALL
                .into_iter()
                .find(|c| c.name() == shape)
                .expect(
                "shape: exact_hosts, wildcard_hosts, prefix_paths, regex_hit_last or regex_miss",
            );
            regex_table(case, rules)
        }
    };
    let table = RouteTable::build(&snapshot, |_| ());
    let started = Instant::now();
    let hits = lookups(&table, &keys, n);
    let elapsed = started.elapsed();
    println!(
        "{shape} {rules} rules: {n} lookups, {hits} hits, {:.1} ns each",
        elapsed.as_secs_f64() * 1e9 / n as f64
    );
}
