//! What the process tests of `weft` share: running it with a timeout,
//! starting `weft up`, showing the nodes' logs when a test fails.
#![allow(dead_code)] // each test file uses part of it

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use weft_tests::process::Child;

/// The first run may build the chaincode for Wasm from scratch.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// `weft up` stops its nodes within 2 × 15 s, then SIGKILLs them.
const STOP_TIMEOUT: Duration = Duration::from_secs(90);
/// Lines of each node's log printed when the test fails.
const NODE_LOG_LINES: usize = 60;

/// What a `weft` run printed, and its exit code.
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `weft ARGS…` with its output in files under `tmp`; kills it and
/// fails if it runs longer than `timeout`.
pub(crate) fn weft(tmp: &Path, args: &[&str], timeout: Duration) -> Output {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let (out_path, err_path) = (tmp.join(format!("{n}.out")), tmp.join(format!("{n}.err")));
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        // A spawned network builds its chaincode into the workspace's target
        // directory, shared with the other tests; its directory goes under `tmp`.
        .env("CARGO_TARGET_DIR", weft_tests::target_dir())
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > timeout {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = Output {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: std::fs::read_to_string(&out_path).unwrap(),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
    };
    assert!(
        status.is_some(),
        "weft {} ran over {timeout:?}:\n{out}",
        args.join(" ")
    );
    out
}

/// Prints the end of every node's log if the test fails.
pub(crate) struct NodeLogs(pub(crate) PathBuf);

impl Drop for NodeLogs {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for entry in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(NODE_LOG_LINES)..];
            eprintln!("--- {} ---\n{}", entry.path().display(), tail.join("\n"));
        }
    }
}

/// Starts `weft up --data DIR` and waits for its `ready` line.
pub(crate) fn start_up(dir: &Path, args: &[&str], log: &Path) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
    command
        .arg("up")
        .arg("--data")
        .arg(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", weft_tests::target_dir());
    let mut up = Child::spawn("weft up", &mut command, log);
    let started = Instant::now();
    while !up.log().lines().any(|l| l == "ready") {
        if let Some(status) = up.try_wait() {
            panic!("weft up exited ({status}) before it was ready");
        }
        assert!(
            started.elapsed() < READY_TIMEOUT,
            "weft up was not ready after {READY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    up
}

/// Ctrl-C (SIGINT) stops `weft up` and its nodes cleanly: exit 0.
pub(crate) fn stop_up(up: &mut Child) {
    let sent = Command::new("kill")
        .arg("-INT")
        .arg(up.id().to_string())
        .status();
    assert!(sent.unwrap().success());
    let status = up
        .wait_timeout(STOP_TIMEOUT)
        .expect("weft up did not stop after SIGINT");
    assert!(
        status.success(),
        "weft up after SIGINT: {status}\n{}",
        up.log()
    );
}
