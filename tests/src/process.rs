//! Real processes for tests: [`binary`] builds a workspace binary on demand
//! (so a test of one crate can start another crate's daemon, such as
//! `weft-orderer` from the peer's tests), and [`Child`] is a started process
//! that is killed when the test ends, however it ends, with its log printed
//! if the test failed.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{target_dir, workspace_root};

/// Lines of a failed test's process log that are printed.
const LOG_TAIL_LINES: usize = 200;

/// Builds binary `bin` of workspace package `package` (dev profile) with a
/// nested `cargo build` and returns its path. Built once per test process;
/// cargo makes it a no-op when the binary is up to date. Panics with
/// cargo's output if the build fails.
pub fn binary(package: &str, bin: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<(String, String), PathBuf>>> = OnceLock::new();
    // Held during the build: tests of one process wanting the same binary
    // wait for one build.
    let mut built = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = (package.to_string(), bin.to_string());
    if let Some(path) = built.get(&key) {
        return path.clone();
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["build", "-p", package, "--bin", bin])
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building {bin} of {package} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = target_dir()
        .join("debug")
        .join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "cargo built no {}", path.display());
    built.insert(key, path.clone());
    path
}

/// A process started by a test. Dropping it kills it (SIGKILL) and reaps
/// it; if the test is panicking, the end of its log is printed first.
#[derive(Debug)]
pub struct Child {
    name: String,
    process: std::process::Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Child {
    /// Starts `command` with its stdout and stderr appended to the file
    /// `log` (created if missing); `name` labels it in messages. Panics if
    /// it cannot be started.
    pub fn spawn(name: &str, command: &mut Command, log: &Path) -> Child {
        let open = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap_or_else(|e| panic!("open {}: {e}", log.display()))
        };
        let process = command
            .stdin(Stdio::null())
            .stdout(open())
            .stderr(open())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Child {
            name: name.to_string(),
            process,
            log: log.to_path_buf(),
            status: None,
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.process.id()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.process.try_wait().expect("poll a child process");
        }
        self.status
    }

    /// Waits up to `timeout` for it to exit; its status if it did.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if started.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill(&mut self) {
        if self.try_wait().is_some() {
            return;
        }
        // Fails only if it already exited, which `wait` then reports.
        let _ = self.process.kill();
        self.status = self.process.wait().ok();
    }

    /// Asks it to stop with SIGTERM (through `kill -TERM`, as the crate
    /// forbids `unsafe`); see [`Child::wait_timeout`] for the outcome.
    pub fn terminate(&mut self) {
        if self.try_wait().is_some() {
            return;
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.id().to_string()])
            .status()
            .expect("run kill");
        assert!(
            sent.success() || self.try_wait().is_some(),
            "kill -TERM {} ({}) failed",
            self.id(),
            self.name
        );
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            eprintln!(
                "--- {} ({}), last {} lines of {} ---\n{}",
                self.name,
                self.status.map_or("running".into(), |s| s.to_string()),
                tail.len(),
                self.log.display(),
                tail.join("\n")
            );
        }
    }
}

/// Blocks `0..height` read from the deliver stream of the orderer at `api`
/// (`host:port`), each chunk awaited at most `patience`. Panics when the
/// stream fails or stalls: for tests that compare chains.
pub async fn deliver_chain(
    http: &reqwest::Client,
    api: &str,
    height: u64,
    patience: Duration,
) -> Vec<weft_types::Block> {
    let mut response = http
        .get(format!("http://{api}/v1/deliver?from=0"))
        .send()
        .await
        .expect("deliver request");
    let mut blocks = Vec::new();
    let mut buffer = Vec::new();
    while (blocks.len() as u64) < height {
        let chunk = tokio::time::timeout(patience, response.chunk())
            .await
            .expect("deliver stalled")
            .expect("deliver stream failed")
            .expect("deliver stream ended");
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            blocks.push(serde_json::from_slice(&line).expect("a block"));
        }
    }
    blocks.truncate(height as usize);
    blocks
}
