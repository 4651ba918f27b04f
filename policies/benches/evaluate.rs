//! Evaluation speed of a typical endorsement policy (target: median ≤ 1 µs).

use std::hint::black_box;

use criterion::Criterion;
use weft_policy::{Policy, Role, Signers};

const POLICY: &str = "AND('A.peer', OR('B.peer','C.peer'), OutOf(2,'D.peer','E.peer','F.peer'))";
const ORGS: [&str; 6] = ["A", "B", "C", "D", "E", "F"];

fn bench(c: &mut Criterion) {
    let parsed = Policy::parse(POLICY).expect("benchmark policy parses");
    let resolved = parsed.resolve(&ORGS).expect("benchmark policy resolves");
    let signers: Signers = ORGS.iter().map(|org| (*org, Role::Peer)).collect();
    let partial: Signers = [("A", Role::Peer), ("D", Role::Peer)].into_iter().collect();

    c.bench_function("is_satisfied", |b| {
        b.iter(|| black_box(&resolved).is_satisfied(black_box(&signers)))
    });
    c.bench_function("evaluate", |b| {
        b.iter(|| black_box(&resolved).evaluate(black_box(&signers)))
    });
    c.bench_function("evaluate_not_satisfied", |b| {
        b.iter(|| black_box(&resolved).evaluate(black_box(&partial)))
    });
    c.bench_function("parse", |b| b.iter(|| Policy::parse(black_box(POLICY))));
    c.bench_function("resolve", |b| {
        b.iter(|| black_box(&parsed).resolve(black_box(&ORGS)))
    });
}

// Written out instead of `criterion_group!`/`criterion_main!`, whose generated
// public function has no doc comment and trips the workspace's missing_docs lint.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
