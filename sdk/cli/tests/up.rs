//! `weft up` and the network commands (`invoke`, `query`, `tx`, `blocks`,
//! `events`, `chaincode deploy`) run as processes against a real network of
//! child processes: start, use, stop with SIGINT, resume, upgrade, and a
//! node's death.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use weft_client::Gateway;
use weft_tests::process::Child;

/// The first run may build asset-transfer for Wasm from scratch.
const READY_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// `weft up` stops its nodes within 2 × 15 s, then SIGKILLs them.
const STOP_TIMEOUT: Duration = Duration::from_secs(90);
/// Lines of each node's log printed when the test fails.
const NODE_LOG_LINES: usize = 60;

/// What a `weft` run printed, and its exit code.
struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    /// The value of the first `key value` line of stdout.
    fn field(&self, key: &str) -> &str {
        let prefix = format!("{key} ");
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no `{key}` line in:\n{}", self.stdout))
    }
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

fn weft(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .output()
        .expect("run weft");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `weft` and asserts it exits 0.
fn weft_ok(args: &[&str]) -> Output {
    let out = weft(args);
    assert_eq!(out.code, 0, "weft {}:\n{out}", args.join(" "));
    out
}

/// Prints the end of every node's log if the test fails.
struct NodeLogs(PathBuf);

impl Drop for NodeLogs {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(&self.0) else {
            return;
        };
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(NODE_LOG_LINES)..];
            eprintln!(
                "--- {} (last {} lines) ---\n{}",
                entry.path().display(),
                tail.len(),
                tail.join("\n")
            );
        }
    }
}

/// `weft up --data DIR ARGS…`, its stdout and stderr in `log`.
fn start_up(dir: &Path, extra: &[&str], log: &Path) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
    command
        .arg("up")
        .arg("--data")
        .arg(dir)
        .args(extra)
        // The Wasm build shares the workspace's target directory with the
        // other tests, so it is built once.
        .env("CARGO_TARGET_DIR", weft_tests::target_dir());
    Child::spawn("weft up", &mut command, log)
}

/// Waits for the line `ready` in `up`'s output; returns the output so far.
fn wait_ready(up: &mut Child) -> String {
    let started = Instant::now();
    loop {
        let log = up.log();
        if log.lines().any(|l| l == "ready") {
            return log;
        }
        if let Some(status) = up.try_wait() {
            panic!("weft up exited ({status}) before it was ready");
        }
        assert!(
            started.elapsed() < READY_TIMEOUT,
            "weft up was not ready after {READY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// Every address the network's nodes listen on, from its manifest.
fn listen_addresses(dir: &Path) -> Vec<String> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("network.json")).unwrap()).unwrap();
    manifest["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["listen"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// Processes whose command line mentions `needle`, with their pids.
fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Asserts no node of the network in `dir` runs and its ports are free.
fn assert_all_stopped(dir: &Path) {
    let nodes = format!("{}/nodes/", dir.display());
    let running = processes_mentioning(&nodes);
    assert!(running.is_empty(), "nodes still running: {running:?}");
    for address in listen_addresses(dir) {
        assert!(
            TcpListener::bind(address.as_str()).is_ok(),
            "{address} is still in use"
        );
    }
}

/// The definition of asset-transfer, read with the SDK.
fn definition(profile: &Path) -> weft_types::ChaincodeDefinition {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let gateway = Gateway::connect_profile(profile).await.unwrap();
        gateway.chaincode("asset-transfer").await.unwrap()
    })
}

/// Runs `weft ARGS…` (a command that streams until interrupted), reads
/// its first `count` lines, then stops it with SIGINT and checks it exits 0.
fn stream_lines(args: &[&str], count: usize) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line.unwrap()),
            Err(_) => break,
        }
    }
    signal(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        lines.len(),
        count,
        "weft {} printed {lines:?} within 60 s; stderr:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "weft {} after SIGINT: {}",
        args.join(" "),
        out.status
    );
    lines
}

#[test]
fn up_serves_stops_resumes_and_upgrades() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let _node_logs = NodeLogs(dir.join("logs"));
    let profile_path = dir.join("profile.json");
    let profile = profile_path.to_str().unwrap().to_string();
    let p = profile.as_str();

    // First run: a new network, asset-transfer deployed.
    let mut up = start_up(&dir, &["--orgs", "2"], &tmp.path().join("up1.log"));
    let out = wait_ready(&mut up);
    for line in [
        "network weft (new), orgs Org1, Org2",
        "chaincode asset-transfer version 1 sequence 1 (deployed now)",
        &format!(
            "profile {}",
            dir.canonicalize().unwrap().join("profile.json").display()
        ),
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "no line {line:?} in:\n{out}"
        );
    }
    assert_eq!(out.lines().filter(|l| l.starts_with("orderer ")).count(), 3);
    assert_eq!(out.lines().filter(|l| l.starts_with("peer ")).count(), 2);
    for node in [
        "orderer0",
        "orderer1",
        "orderer2",
        "peer0.Org1",
        "peer0.Org2",
    ] {
        assert!(dir.join("logs").join(format!("{node}.log")).is_file());
    }

    // invoke, query, tx, blocks, events.
    let created = weft_ok(&[
        "invoke",
        "--profile",
        p,
        "asset-transfer",
        "create",
        "asset1",
        "alice",
        "100",
    ]);
    assert_eq!(created.field("code"), "VALID");
    assert_eq!(
        created.field("result"),
        r#"{"id":"asset1","owner":"alice","value":100}"#
    );
    let tx_id = created.field("tx").to_string();
    let block: u64 = created.field("block").parse().unwrap();

    let read = weft_ok(&["query", "--profile", p, "asset-transfer", "read", "asset1"]);
    assert_eq!(
        read.stdout,
        "{\"id\":\"asset1\",\"owner\":\"alice\",\"value\":100}\n"
    );

    let tx = weft_ok(&["tx", "--profile", p, &tx_id]);
    assert_eq!(tx.field("tx"), tx_id);
    assert_eq!(tx.field("code"), "VALID");
    assert_eq!(tx.field("block"), block.to_string());
    assert_eq!(tx.field("type"), "invoke");
    assert_eq!(tx.field("function"), "create");
    assert_eq!(tx.field("creator"), "client@Org1");

    let blocks = weft_ok(&["blocks", "--profile", p]);
    let lines: Vec<&str> = blocks.stdout.lines().collect();
    assert_eq!(lines.len() as u64, block + 1, "{blocks}");
    for (n, line) in lines.iter().enumerate() {
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words.len(), 6, "{line}");
        assert_eq!(
            (words[0], words[1], words[2], words[4]),
            ("block", &*n.to_string(), "txs", "hash")
        );
        assert_eq!(words[5].len(), 64, "{line}");
    }
    assert!(lines[block as usize].contains(" txs 1 "), "{blocks}");
    let later = weft_ok(&["blocks", "--profile", p, "--from", &block.to_string()]);
    assert_eq!(later.stdout.lines().count(), 1, "{later}");

    let follow = stream_lines(&["blocks", "--profile", p, "--follow"], lines.len());
    assert_eq!(follow, lines, "--follow lists the same blocks first");
    let events = stream_lines(
        &[
            "events",
            "--profile",
            p,
            "--chaincode",
            "asset-transfer",
            "--from",
            "0",
        ],
        1,
    );
    let event: serde_json::Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(event["name"], "AssetCreated");
    assert_eq!(event["tx_id"], tx_id.as_str());
    assert_eq!(event["block"], block);

    // A chaincode error names its stage and code.
    let again = weft(&[
        "invoke",
        "--profile",
        p,
        "asset-transfer",
        "create",
        "asset1",
        "bob",
        "1",
    ]);
    assert_eq!(again.code, 1, "{again}");
    assert!(again.stderr.contains("stage: endorsement"), "{again}");
    assert!(again.stderr.contains("code: chaincode_error"), "{again}");
    assert!(again.stderr.contains("already exists"), "{again}");

    // Ctrl-C stops everything cleanly.
    signal(up.id(), "INT");
    let status = up
        .wait_timeout(STOP_TIMEOUT)
        .expect("weft up did not stop after SIGINT");
    assert!(
        status.success(),
        "weft up after SIGINT: {status}\n{}",
        up.log()
    );
    assert_all_stopped(&dir);

    // Second run: the same ledgers, no second deploy.
    let mut up = start_up(&dir, &[], &tmp.path().join("up2.log"));
    let out = wait_ready(&mut up);
    assert!(out.contains("network weft (resumed)"), "{out}");
    assert!(
        out.lines()
            .any(|l| l == "chaincode asset-transfer version 1 sequence 1 (already deployed)"),
        "{out}"
    );
    let read = weft_ok(&["query", "--profile", p, "asset-transfer", "read", "asset1"]);
    assert!(read.stdout.contains("\"owner\":\"alice\""), "{read}");
    assert_eq!(definition(&profile_path).sequence, 1);

    // Upgrade: sequence 2, then invoke works.
    let wasm = weft_tests::build_wasm("asset-transfer");
    let deployed = weft_ok(&[
        "chaincode",
        "deploy",
        "asset-transfer",
        wasm.to_str().unwrap(),
        "--version",
        "2.0",
        "--policy",
        "MAJORITY",
        "--profile",
        p,
    ]);
    assert_eq!(deployed.field("chaincode"), "asset-transfer");
    assert_eq!(deployed.field("version"), "2.0");
    assert_eq!(deployed.field("sequence"), "2");
    assert_eq!(deployed.field("code"), "VALID");
    assert_eq!(deployed.field("approved by"), "Org1, Org2");
    let upgraded = definition(&profile_path);
    assert_eq!((upgraded.sequence, upgraded.version.as_str()), (2, "2.0"));
    let deploy_tx = weft_ok(&["tx", "--profile", p, deployed.field("tx")]);
    assert_eq!(deploy_tx.field("type"), "lifecycle");
    assert_eq!(deploy_tx.field("sequence"), "2");

    let created = weft_ok(&[
        "invoke",
        "--profile",
        p,
        "asset-transfer",
        "create",
        "asset2",
        "bob",
        "7",
    ]);
    assert_eq!(created.field("code"), "VALID");
    let read = weft_ok(&["query", "--profile", p, "asset-transfer", "read", "asset2"]);
    assert!(read.stdout.contains("\"owner\":\"bob\""), "{read}");

    // A node that dies stops the network, exit 1, naming it.
    let peer_config = format!("{}/nodes/peer0.Org2.toml", dir.display());
    let peers = processes_mentioning(&peer_config);
    assert_eq!(peers.len(), 1, "{peers:?}");
    signal(peers[0].0, "KILL");
    let status = up
        .wait_timeout(STOP_TIMEOUT)
        .expect("weft up did not stop after a node died");
    assert_eq!(status.code(), Some(1), "{}", up.log());
    assert!(up.log().contains("node peer0.Org2 exited"), "{}", up.log());
    assert_all_stopped(&dir);

    // Nodes outlive no `weft up`, even one killed with SIGKILL; the killed
    // peer's ledger resumes too.
    let mut up = start_up(&dir, &[], &tmp.path().join("up3.log"));
    let out = wait_ready(&mut up);
    assert!(
        out.contains("version 2.0 sequence 2 (already deployed)"),
        "{out}"
    );
    let read = weft_ok(&["query", "--profile", p, "asset-transfer", "read", "asset2"]);
    assert!(read.stdout.contains("\"owner\":\"bob\""), "{read}");
    up.kill();
    let nodes = format!("{}/nodes/", dir.display());
    let started = Instant::now();
    while !processes_mentioning(&nodes).is_empty() {
        assert!(
            started.elapsed() < STOP_TIMEOUT,
            "nodes still running {STOP_TIMEOUT:?} after weft up was killed: {:?}",
            processes_mentioning(&nodes)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_all_stopped(&dir);
}

#[test]
fn commands_without_a_network_say_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("profile.json");
    let out = weft(&[
        "query",
        "--profile",
        missing.to_str().unwrap(),
        "asset-transfer",
        "read",
        "a",
    ]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("stage: local"), "{out}");
    assert!(out.stderr.contains("code: profile"), "{out}");

    // A profile whose gateway does not answer.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let profile = tmp.path().join("dead.json");
    std::fs::write(
        &profile,
        format!(
            r#"{{"channel": "weft", "gateways": [{{"org": "Org1", "gateway": "http://127.0.0.1:{port}"}}],
                "identity": {{"wallet": ".", "label": "client@Org1"}}}}"#
        ),
    )
    .unwrap();
    let out = weft(&["blocks", "--profile", profile.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("stage: "), "{out}");

    let out = weft(&["tx", "--profile", profile.to_str().unwrap(), "not-a-tx-id"]);
    assert_eq!(out.code, 2, "{out}");

    // deploy refuses a module that would not deploy before connecting.
    let bad = tmp.path().join("bad.wasm");
    std::fs::write(&bad, b"not wasm").unwrap();
    let out = weft(&[
        "chaincode",
        "deploy",
        "cc",
        bad.to_str().unwrap(),
        "--profile",
        profile.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("would not deploy"), "{out}");
}

#[test]
fn up_refuses_a_directory_with_part_of_a_network() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("orgs")).unwrap();
    let out = weft(&["up", "--data", tmp.path().to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("not a network weft can resume"),
        "{out}"
    );
}
