//! End-to-end tests of Weft and what tests across the workspace share:
//! locating the workspace, and building chaincode examples to Wasm on demand
//! ([`build_wasm`]), so that the README's test command needs nothing built
//! beforehand; and a channel of test identities that builds the blocks a
//! peer commits ([`network::TestNetwork`]).

pub mod network;
pub mod process;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace root")
        .to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, else `target/` in the workspace).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target"),
    }
}

/// Builds workspace package `package` for `wasm32-unknown-unknown` in release
/// mode and returns the module's path. Cargo makes this a no-op when the
/// module is up to date. Panics with cargo's output if the build fails.
pub fn build_wasm(package: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            package,
        ])
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building {package} for wasm32 failed (is the target installed? \
         `rustup target add wasm32-unknown-unknown`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = format!("{}.wasm", package.replace('-', "_"));
    target_dir()
        .join("wasm32-unknown-unknown")
        .join("release")
        .join(file)
}

/// A small deterministic random generator (xorshift64*) for tests that
/// print their seed so a failure can be replayed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`: every seed gives its own sequence
    /// (scrambled by splitmix64, which never yields the zero state here).
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Every string in `value`, and in whatever JSON its base64 strings decode
/// to, however deeply nested: what a search of a block (whose payloads nest
/// base64 in JSON) for a value must look through.
pub fn strings_within(value: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            out.push(s.clone());
            if let Ok(bytes) = weft_types::from_base64(s) {
                out.push(String::from_utf8_lossy(&bytes).into_owned());
                if let Ok(inner) = serde_json::from_slice::<Value>(&bytes) {
                    strings_within(&inner, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| strings_within(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings_within(v, out)),
        _ => {}
    }
}
