//! Route lookup (`RouteTable::find`) at 10, 1,000 and 100,000 rules, for exact hosts,
//! wildcard hosts and prefix-heavy paths; and on one host with 100 regex paths, the last one
//! hitting, or none (the prefix fallback). Each iteration is one lookup of the next of 4,096
//! pseudo-random requests spread over the table, so large tables pay their cache misses.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use pingress_micro::{lookup_table, regex_table, settings, BareRequest, RegexCase, Shape, KEYS};
use pingress_model::Snapshot;
use pingress_routing::{Host, RouteTable};

/// Regex routes on the one host of the regex cases.
const REGEXES: usize = 100;

fn lookup(c: &mut Criterion) {
    let sizes: &[usize] = if settings::bench_mode() {
        &[10, 1_000, 100_000]
    } else {
        &[10, 1_000]
    };
    let mut group = c.benchmark_group("lookup");
    group
        .warm_up_time(settings::warm_up_time())
        .measurement_time(settings::measurement_time())
        .sample_size(50)
        .throughput(Throughput::Elements(1));
    let request = BareRequest::new();
    let request = request.parts();
    let mut bench =
        |name: &str, size: usize, (snapshot, keys): (Snapshot, Vec<(String, String)>)| {
            let table = RouteTable::build(&snapshot, |_| ());
            group.bench_with_input(BenchmarkId::new(name, size), &keys, |b, keys| {
                let mut i = 0usize;
                b.iter(|| {
                    let (host, path) = &keys[i & (KEYS - 1)];
                    i = i.wrapping_add(1);
                    let host = Host::new(black_box(host));
                    black_box(table.find(&host, black_box(path), &request).is_some())
                })
            });
        };
    for shape in Shape::ALL {
        for &rules in sizes {
            bench(shape.name(), rules, lookup_table(shape, rules));
        }
    }
    for case in RegexCase::ALL {
        bench(case.name(), REGEXES, regex_table(case, REGEXES));
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    lookup(&mut criterion);
    criterion.final_summary();
}
