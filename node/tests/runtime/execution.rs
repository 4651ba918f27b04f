//! Well-behaved calls: results, determinism, host errors as values, the cache.

use weft_abi::imports::{RetTag, unpack_ret};
use weft_abi::{ErrorCode, Invocation, Outcome};
use weft_node::runtime::{Runtime, RuntimeConfig, RuntimeError};
use weft_types::Digest;

use crate::support::{MapHost, call, config, fixture, runtime};

#[test]
fn echo_puts_gets_and_returns_through_the_host() {
    let rt = runtime();
    let hash = rt.prepare(&fixture("echo")).unwrap().hash;
    let invocation = Invocation {
        function: "echo".into(),
        args: vec!["a".into(), "{\"b\":1}".into()],
    };
    let (host, state) = MapHost::new();
    let execution = rt
        .invoke(&hash, host, &invocation, rt.config().fuel_per_call)
        .unwrap();
    assert_eq!(execution.outcome, Outcome::Ok(invocation.encode()));
    assert_eq!(
        state.lock().unwrap().get("greeting"),
        Some(&invocation.encode()),
        "state_put reached the host"
    );
    assert!(execution.fuel_used > 2 * rt.config().host_call_fuel);
    assert!(execution.fuel_used < rt.config().fuel_per_call);

    // The host comes back, and serves the next call.
    let mut host = execution.host;
    assert_eq!(
        host.state_get("greeting").unwrap(),
        Some(invocation.encode())
    );
}

#[test]
fn fuel_use_is_the_same_on_every_run_and_engine() {
    let used = |rt: &Runtime| {
        let hash = rt.prepare(&fixture("echo")).unwrap().hash;
        let (host, _) = MapHost::new();
        rt.invoke(&hash, host, &call("echo"), rt.config().fuel_per_call)
            .unwrap()
            .fuel_used
    };
    let (a, b) = (runtime(), runtime());
    let first = used(&a);
    assert_eq!(used(&a), first);
    assert_eq!(used(&b), first);
}

#[test]
fn nans_are_canonical_on_every_run_and_engine() {
    const F64_NAN: u64 = 0x7ff8_0000_0000_0000;
    const F32_NAN: u32 = 0x7fc0_0000;
    let mut expected = Vec::new();
    expected.extend(F64_NAN.to_le_bytes()); // f64 0/0
    expected.extend(F64_NAN.to_le_bytes()); // f64 sqrt(-1)
    expected.extend(F32_NAN.to_le_bytes()); // f32 0/0
    expected.extend(F32_NAN.to_le_bytes()); // f32 sqrt(-1)
    expected.extend(F32_NAN.to_le_bytes()); // demoted
    expected.extend(F64_NAN.to_le_bytes()); // promoted
    let bytes = fixture("nan");
    for rt in [runtime(), runtime()] {
        let hash = rt.prepare(&bytes).unwrap().hash;
        for _ in 0..3 {
            let (host, _) = MapHost::new();
            let outcome = rt
                .invoke(&hash, host, &call("nan"), rt.config().fuel_per_call)
                .unwrap()
                .outcome;
            assert_eq!(outcome, Outcome::Ok(expected.clone()));
        }
    }
}

#[test]
fn a_key_that_is_not_utf8_is_an_invalid_argument_not_a_trap() {
    let rt = runtime();
    let hash = rt.prepare(&fixture("bad_utf8_key")).unwrap().hash;
    let (host, _) = MapHost::new();
    let outcome = rt
        .invoke(&hash, host, &call("get"), rt.config().fuel_per_call)
        .unwrap()
        .outcome;
    let Outcome::Ok(payload) = outcome else {
        panic!("{outcome:?}");
    };
    let ret = i64::from_le_bytes(payload[..8].try_into().unwrap());
    let (tag, len) = unpack_ret(ret);
    assert_eq!(tag, RetTag::Error(ErrorCode::InvalidArgument));
    let message = std::str::from_utf8(&payload[8..]).unwrap();
    assert_eq!(len as usize, message.len());
    assert!(message.contains("UTF-8"), "{message}");
}

#[test]
fn the_cache_compiles_a_module_once() {
    let rt = runtime();
    let bytes = fixture("echo");
    let first = rt.prepare(&bytes).unwrap();
    let second = rt.prepare(&bytes).unwrap();
    assert_eq!(first, second);
    assert_eq!(rt.compilations(), 1);
    assert_eq!(rt.cached_modules(), 1);
    assert!(rt.is_prepared(&first.hash));
    assert_eq!(rt.module_info(&first.hash), Some(first.info.clone()));

    assert!(rt.evict(&first.hash));
    let (host, _) = MapHost::new();
    assert_eq!(
        rt.invoke(&first.hash, host, &call("echo"), 1_000_000)
            .unwrap_err(),
        RuntimeError::NotPrepared { hash: first.hash }
    );
    rt.prepare(&bytes).unwrap();
    assert_eq!(rt.compilations(), 2);
}

#[test]
fn the_cache_evicts_the_least_recently_used_module() {
    let rt = Runtime::new(RuntimeConfig {
        max_cached_modules: 2,
        ..config()
    })
    .unwrap();
    let echo = rt.prepare(&fixture("echo")).unwrap().hash;
    let nan = rt.prepare(&fixture("nan")).unwrap().hash;
    assert!(rt.is_prepared(&echo)); // echo is now more recent than nan
    let panic = rt.prepare(&fixture("panic")).unwrap().hash;
    assert!(rt.is_prepared(&echo));
    assert!(!rt.is_prepared(&nan));
    assert!(rt.is_prepared(&panic));
    assert_eq!(rt.cached_modules(), 2);
}

#[test]
fn an_unknown_hash_is_not_prepared() {
    let rt = runtime();
    let (host, _) = MapHost::new();
    let hash = Digest([7; 32]);
    assert_eq!(
        rt.invoke(&hash, host, &call("x"), 1).unwrap_err(),
        RuntimeError::NotPrepared { hash }
    );
}

#[test]
fn calls_from_many_threads_share_one_runtime() {
    let rt = runtime();
    let hash = rt.prepare(&fixture("echo")).unwrap().hash;
    std::thread::scope(|s| {
        for t in 0..4 {
            let rt = &rt;
            s.spawn(move || {
                for i in 0..10 {
                    let invocation = call(&format!("t{t}-{i}"));
                    let (host, _) = MapHost::new();
                    let outcome = rt
                        .invoke(&hash, host, &invocation, rt.config().fuel_per_call)
                        .unwrap()
                        .outcome;
                    assert_eq!(outcome, Outcome::Ok(invocation.encode()));
                }
            });
        }
    });
}
