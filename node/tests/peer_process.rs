#![allow(clippy::unwrap_used)]
//! `weft-peer` as a process meeting bad input: unusable config, identity
//! or genesis files stop it at start with a message naming the file; a
//! garbage or forged block file is refused and retried while the peer keeps
//! running, and the good block that replaces it commits.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use weft_node::ledger::Ledger;
use weft_tests::network::TestNetwork;
use weft_types::Block;

fn peer(config: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weft-peer"));
    cmd.arg("--config").arg(config).args(extra);
    cmd
}

/// Runs the peer to exit (within 60 s) and returns its output.
fn run(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn fails_with(cmd: Command, needle: &str) {
    let out = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
}

#[test]
fn unusable_files_stop_the_peer_at_start_with_the_reason() {
    let net = TestNetwork::new(&["Org1", "Org2"]);
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let config = net.write_peer_files(root);
    let blocks = root.join("blocks");
    let blocks_arg = ["--blocks-from", blocks.to_str().unwrap()];

    fails_with(
        peer(&root.join("missing.toml"), &blocks_arg),
        "missing.toml",
    );

    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        root.join("typo.toml"),
        format!("{text}\ngenesis_blok = \"x\"\n"),
    )
    .unwrap();
    fails_with(peer(&root.join("typo.toml"), &blocks_arg), "genesis_blok");

    // Another member's key next to this peer's certificate.
    let good_key = std::fs::read(root.join("peer/key.pem")).unwrap();
    let other = net.clients[0].signing_key().to_pkcs8_pem().unwrap();
    std::fs::write(root.join("peer/key.pem"), other.as_bytes()).unwrap();
    fails_with(peer(&config, &blocks_arg), "key.pem");
    std::fs::write(root.join("peer/key.pem"), good_key).unwrap();

    std::fs::write(root.join("genesis.json"), b"{ not json").unwrap();
    fails_with(peer(&config, &blocks_arg), "genesis.json");
    // A genesis block from another network, once the ledger has its own.
    let ours = serde_json::to_vec(&net.genesis()).unwrap();
    std::fs::write(root.join("genesis.json"), &ours).unwrap();
    let ok = run(peer(
        &config,
        &[blocks_arg[0], blocks_arg[1], "--stop-at-height", "1"],
    ));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let other = TestNetwork::new(&["Org1", "Org2"]);
    std::fs::write(
        root.join("genesis.json"),
        serde_json::to_vec(&other.genesis()).unwrap(),
    )
    .unwrap();
    fails_with(peer(&config, &blocks_arg), "another channel");
}

#[test]
fn a_bad_block_file_is_refused_and_the_good_one_commits() {
    let net = TestNetwork::new(&["Org1", "Org2"]);
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let config = net.write_peer_files(root);
    let blocks = root.join("blocks");
    std::fs::create_dir_all(&blocks).unwrap();
    let echo = wat::parse_file("tests/fixtures/echo.wat").unwrap();
    let def = net.definition("kv", 1, &echo, None);
    let good = net.next_block(&net.genesis().header, vec![net.lifecycle(&def, &echo)]);
    let mut forged: Block = good.clone();
    forged.metadata.signatures.clear();
    forged.sign(&net.clients[0]);

    let put = |bytes: &[u8]| {
        std::fs::write(blocks.join(".tmp"), bytes).unwrap();
        std::fs::rename(blocks.join(".tmp"), blocks.join("1.json")).unwrap();
    };
    put(b"garbage");
    let mut child = peer(
        &config,
        &[
            "--blocks-from",
            blocks.to_str().unwrap(),
            "--stop-at-height",
            "2",
        ],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    put(&serde_json::to_vec(&forged).unwrap());
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the peer keeps running"
    );
    put(&serde_json::to_vec(&good).unwrap());
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the good block never committed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("cannot fetch block 1"), "{stderr}");
    assert!(stderr.contains("not an orderer"), "{stderr}");
    let ledger = Ledger::open(root.join("data/ledger")).unwrap();
    assert_eq!(ledger.height(), 2);
    assert_eq!(ledger.definition("kv").unwrap(), Some(def));
}
