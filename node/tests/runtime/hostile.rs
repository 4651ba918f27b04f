//! Hostile modules at run time: each fails with its own error, in bounded
//! time, and leaves the runtime and the host usable. Each case runs several
//! times on the same runtime.

use std::time::{Duration, Instant};

use weft_abi::Outcome;
use weft_node::runtime::{Runtime, RuntimeError};

use crate::support::{MapHost, call, fixture, runtime};

const RUNS: usize = 3;

/// Runs `name`'s `weft_invoke` with the default fuel.
fn run(rt: &Runtime, name: &str, function: &str) -> Result<Outcome, RuntimeError> {
    let hash = rt.prepare(&fixture(name)).unwrap().hash;
    let (host, _) = MapHost::new();
    rt.invoke(&hash, host, &call(function), rt.config().fuel_per_call)
        .map(|e| e.outcome)
}

/// The echo module still works on this runtime.
fn assert_still_usable(rt: &Runtime) {
    let outcome = run(rt, "echo", "after").unwrap();
    assert_eq!(outcome, Outcome::Ok(call("after").encode()));
}

#[test]
fn an_endless_loop_runs_out_of_fuel_quickly() {
    let rt = runtime();
    for _ in 0..RUNS {
        let start = Instant::now();
        let err = run(&rt, "infinite_loop", "spin").unwrap_err();
        let elapsed = start.elapsed();
        assert_eq!(err, RuntimeError::OutOfFuel { limit: 100_000_000 });
        eprintln!("endless loop stopped after {elapsed:?}");
        assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    }
    assert_still_usable(&rt);
}

#[test]
fn an_endless_loop_of_host_calls_runs_out_of_fuel() {
    let rt = runtime();
    for _ in 0..RUNS {
        let start = Instant::now();
        let err = run(&rt, "host_call_loop", "spin").unwrap_err();
        assert_eq!(err, RuntimeError::OutOfFuel { limit: 100_000_000 });
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
    }
    assert_still_usable(&rt);
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let rt = runtime();
    for _ in 0..RUNS {
        let err = run(&rt, "memory_bomb", "grow").unwrap_err();
        assert_eq!(
            err,
            RuntimeError::MemoryLimit {
                limit_bytes: 64 << 20
            }
        );
    }
    assert_still_usable(&rt);
}

#[test]
fn unbounded_recursion_overflows_the_stack() {
    let rt = runtime();
    for _ in 0..RUNS {
        assert_eq!(
            run(&rt, "recursion", "deeper").unwrap_err(),
            RuntimeError::StackOverflow
        );
    }
    assert_still_usable(&rt);
}

#[test]
fn a_guest_panic_is_a_trap() {
    let rt = runtime();
    for _ in 0..RUNS {
        let err = run(&rt, "panic", "boom").unwrap_err();
        assert!(
            matches!(&err, RuntimeError::Trap { message } if message.contains("unreachable")),
            "{err}"
        );
    }
    assert_still_usable(&rt);
}

#[test]
fn an_out_of_bounds_pointer_traps_and_leaves_the_host_unharmed() {
    let rt = runtime();
    let hash = rt.prepare(&fixture("oob_pointer")).unwrap().hash;
    for _ in 0..RUNS {
        for (function, argument) in [("key", "key at 0xffff0000"), ("dest", "destination")] {
            let (host, state) = MapHost::new();
            state
                .lock()
                .unwrap()
                .insert("key".into(), b"value".to_vec());
            let err = rt
                .invoke(&hash, host, &call(function), rt.config().fuel_per_call)
                .unwrap_err();
            let RuntimeError::Trap { message } = &err else {
                panic!("{function}: {err}");
            };
            assert!(message.contains("outside guest memory"), "{message}");
            assert!(message.contains(argument), "{message}");
            assert_eq!(
                state.lock().unwrap().get("key").map(Vec::as_slice),
                Some(&b"value"[..]),
                "the host's state is untouched"
            );
        }
    }
    assert_still_usable(&rt);
}

#[test]
fn an_outcome_outside_memory_is_bad_output() {
    let rt = runtime();
    for _ in 0..RUNS {
        let err = run(&rt, "bad_output", "lie").unwrap_err();
        assert!(matches!(err, RuntimeError::BadOutput { .. }), "{err}");
    }
    assert_still_usable(&rt);
}

#[test]
fn a_small_fuel_budget_is_respected() {
    let rt = runtime();
    let hash = rt.prepare(&fixture("infinite_loop")).unwrap().hash;
    let (host, _) = MapHost::new();
    let err = rt.invoke(&hash, host, &call("spin"), 1_000).unwrap_err();
    assert_eq!(err, RuntimeError::OutOfFuel { limit: 1_000 });
    // The echo module needs more than a host call's price.
    let hash = rt.prepare(&fixture("echo")).unwrap().hash;
    let (host, _) = MapHost::new();
    let err = rt.invoke(&hash, host, &call("x"), 500).unwrap_err();
    assert_eq!(err, RuntimeError::OutOfFuel { limit: 500 });
}
