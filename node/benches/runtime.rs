//! Benchmarks of the Wasm runtime: what every call pays before the guest
//! runs (a fresh store and instance), a trivial call end to end, and what
//! deploying a module costs once (validate, compile, link).
//!
//! `main` is written by hand: criterion's macros generate an undocumented
//! function that trips `missing_docs`.
#![allow(clippy::unwrap_used)]

#[path = "../tests/runtime/support.rs"]
mod support;

use criterion::Criterion;
use weft_node::runtime::validate_module;

use support::{MapHost, call, config, fixture, runtime};

fn instantiate(c: &mut Criterion) {
    let rt = runtime();
    let hash = rt.prepare(&fixture("echo")).unwrap().hash;
    c.bench_function("instantiate echo (fresh store + instance)", |b| {
        b.iter(|| {
            let (host, _) = MapHost::new();
            rt.instantiate_only(&hash, host).unwrap();
        });
    });
}

fn invoke(c: &mut Criterion) {
    let rt = runtime();
    let hash = rt.prepare(&fixture("echo")).unwrap().hash;
    let invocation = call("echo");
    c.bench_function("invoke echo (put, get, return)", |b| {
        b.iter(|| {
            let (host, _) = MapHost::new();
            rt.invoke(&hash, host, &invocation, rt.config().fuel_per_call)
                .unwrap()
        });
    });
}

fn compile(c: &mut Criterion) {
    let rt = runtime();
    let bytes = fixture("echo");
    c.bench_function("validate echo", |b| {
        b.iter(|| validate_module(&bytes, &config()).unwrap());
    });
    c.bench_function("prepare echo (validate + compile + link)", |b| {
        b.iter(|| {
            let prepared = rt.prepare(&bytes).unwrap();
            rt.evict(&prepared.hash);
        });
    });
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    instantiate(&mut c);
    invoke(&mut c);
    compile(&mut c);
    c.final_summary();
}
