//! `weft chaincode new | build | check | run` run as processes: output and exit codes.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// What a `weft` run printed, and its exit code.
struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    /// stdout then stderr, for assertions that do not care which.
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

fn weft(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .output()
        .expect("run weft");
    Output {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn asset_transfer() -> String {
    weft_tests::build_wasm("asset-transfer")
        .display()
        .to_string()
}

/// Writes the module `wat` describes to `dir/name.wasm`.
fn write_wat(dir: &Path, name: &str, wat: &str) -> String {
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    path.display().to_string()
}

/// The rw-set `run` printed: the JSON from the line after `rw-set:` to the first `}` line.
fn rwset(stdout: &str) -> Value {
    let after = stdout.split_once("rw-set:\n").expect("an rw-set").1;
    let end = after.find("\n}\n").expect("the rw-set's end") + 2;
    serde_json::from_str(&after[..end]).unwrap()
}

/// Every key the rw-set writes in its first namespace.
fn written_keys(rwset: &Value) -> Vec<String> {
    rwset["namespaces"][0]["writes"]
        .as_array()
        .map(|writes| {
            writes
                .iter()
                .map(|w| w["key"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn check_accepts_asset_transfer_and_describes_it() {
    let wasm = asset_transfer();
    let out = weft(&["chaincode", "check", &wasm]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .starts_with(&format!("ok: {wasm} would deploy\n")),
        "{}",
        out.stdout
    );
    for line in [
        "ABI version:  1",
        "module hash:",
        "create         tx",
        "read           query",
    ] {
        assert!(out.stdout.contains(line), "{line:?} in {}", out.stdout);
    }
}

#[test]
fn check_rejects_a_module_importing_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write_wat(
        dir.path(),
        "hostile",
        r#"(module
            (import "weft" "open_socket" (func (param i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "weft_alloc") (param i32) (result i32) (i32.const 1024))
            (func (export "weft_invoke") (param i32 i32) (result i64) (i64.const 0))
            (@custom "weft_abi" "\01\00\00\00"))"#,
    );
    let out = weft(&["chaincode", "check", &wasm]);
    assert_eq!(out.code, 1, "{}", out.all());
    let reasons: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert_eq!(reasons.len(), 2, "one line per reason: {}", out.stdout);
    assert!(reasons[0].contains("open_socket"), "{}", out.stdout);
    assert!(reasons[1].contains("fd_write"), "{}", out.stdout);
    // `run` refuses it the same way, before running anything.
    let out = weft(&["chaincode", "run", &wasm, "anything"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("open_socket"), "{}", out.stderr);
}

#[test]
fn check_of_a_missing_file_exits_two() {
    let out = weft(&["chaincode", "check", "/nonexistent/x.wasm"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("cannot read"), "{}", out.stderr);
}

#[test]
fn run_create_prints_the_asset_and_its_writes() {
    let wasm = asset_transfer();
    let out = weft(&["chaincode", "run", &wasm, "create", "a1", "alice", "100"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .starts_with(r#"ok: {"id":"a1","owner":"alice","value":100}"#),
        "{}",
        out.stdout
    );
    let rwset = rwset(&out.stdout);
    assert_eq!(rwset["namespaces"][0]["namespace"], "asset_transfer");
    assert!(written_keys(&rwset).contains(&"a1".to_string()), "{rwset}");
    assert!(
        out.stdout.contains("event: AssetCreated {"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("\nfuel used: "), "{}", out.stdout);
}

#[test]
fn run_reads_seeded_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(
        &state,
        r#"{"a1": {"id": "a1", "owner": "bob", "value": 5}}"#,
    )
    .unwrap();
    let wasm = asset_transfer();
    let out = weft(&[
        "chaincode",
        "run",
        &wasm,
        "read",
        "a1",
        "--state",
        state.to_str().unwrap(),
        "--query",
        "--creator",
        "Bank.client",
        "--name",
        "alice",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .starts_with(r#"ok: {"id":"a1","owner":"bob","value":5}"#),
        "{}",
        out.stdout
    );
    let rwset = rwset(&out.stdout);
    assert_eq!(rwset["namespaces"][0]["reads"][0]["key"], "a1");
    assert!(written_keys(&rwset).is_empty(), "{rwset}");
}

#[test]
fn run_of_a_failing_call_exits_one_with_its_error() {
    let wasm = asset_transfer();
    let out = weft(&["chaincode", "run", &wasm, "read", "missing"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout
            .starts_with("error: asset ID missing does not exist\n"),
        "{}",
        out.stdout
    );
    // A transfer by someone who is not the owner: the creator reaches the chaincode.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(
        &state,
        r#"{"a1": {"id": "a1", "owner": "bob", "value": 5}}"#,
    )
    .unwrap();
    let state = state.to_str().unwrap();
    let out = weft(&[
        "chaincode",
        "run",
        &wasm,
        "transfer",
        "a1",
        "carol",
        "--state",
        state,
        "--name",
        "alice",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    let out = weft(&[
        "chaincode",
        "run",
        &wasm,
        "transfer",
        "a1",
        "carol",
        "--state",
        state,
        "--name",
        "bob",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn run_stops_an_endless_loop_with_out_of_fuel() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write_wat(
        dir.path(),
        "infinite_loop",
        r#"(module
            (memory (export "memory") 1)
            (func (export "weft_alloc") (param i32) (result i32) (i32.const 1024))
            (func (export "weft_invoke") (param i32 i32) (result i64)
              (loop $forever (br $forever))
              (i64.const 0))
            (@custom "weft_abi" "\01\00\00\00"))"#,
    );
    let started = Instant::now();
    let out = weft(&["chaincode", "run", &wasm, "spin", "--fuel", "1000000"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("out of fuel") && out.stderr.contains("1000000"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("ok:"), "{}", out.stdout);
}

#[test]
fn run_with_bad_input_exits_two() {
    let wasm = asset_transfer();
    let dir = tempfile::tempdir().unwrap();
    let not_object = dir.path().join("list.json");
    std::fs::write(&not_object, "[1, 2]").unwrap();
    let not_object = not_object.to_str().unwrap();
    for (args, expected) in [
        (vec!["--state", "/nonexistent/state.json"], "cannot read"),
        (vec!["--state", not_object], "not a JSON object"),
        (vec!["--creator", "Bank"], "--creator"),
        (vec!["--creator", "Bank.boss"], "unknown role"),
        (vec!["--name", "a b"], "--name"),
    ] {
        let mut all = vec!["chaincode", "run", &wasm, "read", "a1"];
        all.extend(&args);
        let out = weft(&all);
        assert_eq!(out.code, 2, "{args:?}: {}", out.all());
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn build_describes_asset_transfer() {
    let dir = weft_tests::workspace_root().join("chaincode-examples/asset-transfer");
    let out = weft(&["chaincode", "build", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.starts_with("built "), "{}", out.stdout);
    assert!(
        out.stdout.contains("asset_transfer.wasm\n"),
        "{}",
        out.stdout
    );
    for tx in [
        "create",
        "read",
        "update",
        "delete",
        "transfer",
        "list_by_owner",
    ] {
        assert!(
            out.stdout.lines().any(|l| l.trim_start().starts_with(tx)),
            "{tx} in {}",
            out.stdout
        );
    }
}

#[test]
fn build_of_a_directory_without_a_crate_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = weft(&["chaincode", "build", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("no Cargo.toml"), "{}", out.stderr);
}

#[test]
fn build_shows_cargo_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"broken\"\nedition = \"2024\"\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("src/lib.rs"),
        "pub fn f() -> u32 { \"no\" }\n",
    )
    .unwrap();
    let out = weft(&["chaincode", "build", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("mismatched types"), "{}", out.stderr);
    assert!(out.stderr.contains("cargo build failed"), "{}", out.stderr);
}

#[test]
fn new_refuses_an_existing_directory_and_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("taken")).unwrap();
    let parent = dir.path().to_str().unwrap();
    let out = weft(&["chaincode", "new", "taken", "--dir", parent]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    let out = weft(&["chaincode", "new", "a.b", "--dir", parent]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(!dir.path().join("a.b").exists());
}

/// The slow one: the scaffold builds natively and for Wasm, and its tests
/// pass. The workspace's target directory is shared, so the dependencies
/// already built for the workspace are reused.
#[test]
fn new_scaffolds_a_crate_whose_tests_pass() {
    let dir = tempfile::tempdir().unwrap();
    let out = weft(&[
        "chaincode",
        "new",
        "demo",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let krate: PathBuf = dir.path().join("demo");
    for file in [
        "Cargo.toml",
        ".cargo/config.toml",
        ".gitignore",
        "README.md",
        "src/lib.rs",
        "tests/native.rs",
        "tests/wasm.rs",
    ] {
        assert!(krate.join(file).is_file(), "{file} missing");
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let fmt = Command::new(&cargo)
        .current_dir(&krate)
        .args(["fmt", "--check"])
        .output()
        .unwrap();
    assert!(
        fmt.status.success(),
        "the scaffold is not rustfmt-clean:\n{}",
        String::from_utf8_lossy(&fmt.stdout)
    );
    let test = Command::new(&cargo)
        .current_dir(&krate)
        .arg("test")
        .env("CARGO_TARGET_DIR", weft_tests::target_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&test.stdout);
    let stderr = String::from_utf8_lossy(&test.stderr);
    assert!(
        test.status.success(),
        "cargo test in the scaffold failed:\n{stdout}\n{stderr}"
    );
    for file in ["native", "wasm"] {
        assert!(stderr.contains(&format!("tests/{file}.rs")), "{stderr}");
    }
    assert_eq!(
        stdout.matches("test set_then_get ... ok").count(),
        2,
        "natively and in Wasm: {stdout}"
    );
}
