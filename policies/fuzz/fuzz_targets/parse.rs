//! Feeds arbitrary text to the policy parser; anything it accepts must
//! round-trip through its canonical text, resolve and evaluate without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_policy::{Evaluation, Policy, Role, Signers};

const CHANNEL: [&str; 3] = ["A", "B", "C"];

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let policy = match Policy::parse(src) {
        Ok(policy) => policy,
        Err(err) => {
            assert!(err.position() <= src.len(), "error position past the end");
            let _ = err.render(src);
            return;
        }
    };
    let text = policy.to_string();
    assert_eq!(Policy::parse(&text).as_ref(), Ok(&policy), "round trip of {text}");

    let signers: Signers = [("A", Role::Peer), ("B", Role::Admin), ("C", Role::Client)]
        .into_iter()
        .collect();
    // The fixed channel rejects most fuzzed org names, so also try a channel
    // holding every org the policy names, to reach evaluation more often.
    let mut widened: Vec<&str> = CHANNEL.to_vec();
    widened.extend(policy.orgs());
    for channel in [&CHANNEL[..], &widened[..]] {
        let Ok(resolved) = policy.resolve(channel) else {
            continue;
        };
        let satisfied = resolved.is_satisfied(&signers);
        let evaluation = resolved.evaluate(&signers);
        assert_eq!(satisfied, evaluation.is_satisfied());
        if let Evaluation::NotSatisfied(missing) = evaluation {
            let _ = missing.to_string();
        }
    }
});
