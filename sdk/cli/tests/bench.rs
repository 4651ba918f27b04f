//! `weft bench` run as a process: against a network of its own (`--spawn`),
//! against a running `weft up` network (`--network`), and with arguments it
//! must refuse before starting anything.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::{NodeLogs, Output, READY_TIMEOUT, start_up, stop_up, weft};
use tempfile::TempDir;

/// A run against a running network: setup, warm-up, window, the bench's
/// 30 s drain, and slack for a loaded machine.
const RUN_TIMEOUT: Duration = Duration::from_secs(3 * 60);
/// A refusal starts no network, so it is quick.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(15);
/// The nodes of a default network (2 orgs, 3 orderers).
const NODES: [&str; 5] = [
    "orderer0",
    "orderer1",
    "orderer2",
    "peer0.Org1",
    "peer0.Org2",
];

/// Runs `weft bench --out TMP/NAME ARGS EXTRA…`, asserts it exits 0, and
/// returns its output and the `report.json` it wrote.
fn bench_ok(tmp: &Path, name: &str, extra: &[&str], args: &str) -> (Output, Value) {
    let out = tmp.join(name);
    let mut all = vec!["bench", "--out", out.to_str().unwrap()];
    all.extend(args.split(' ').chain(extra.iter().copied()));
    let mut timeout = RUN_TIMEOUT;
    if args.contains("--spawn") {
        timeout += READY_TIMEOUT;
    }
    let run = weft(tmp, &all, timeout);
    assert_eq!(run.code, 0, "weft {}:\n{run}", all.join(" "));
    assert!(
        run.stdout.lines().any(|l| l.starts_with("throughput ")),
        "{run}"
    );
    let report = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    (run, report)
}

fn num(report: &Value, pointer: &str) -> f64 {
    report
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {report:#}"))
}

/// The report names the five nodes, each with a CPU reading.
fn assert_five_nodes(report: &Value) {
    let nodes = report["nodes"].as_array().unwrap();
    let names: BTreeSet<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, BTreeSet::from(NODES), "{:#}", report["nodes"]);
    assert_eq!(nodes.len(), 5, "{:#}", report["nodes"]);
    assert!(nodes.iter().all(|n| n["cpu_s"].as_f64() >= Some(0.0)));
}

/// The command lines of the processes that mention `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let pids = std::fs::read_dir("/proc").unwrap().flatten();
    pids.filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

#[test]
fn bench_spawns_its_own_network_and_reports() {
    let tmp = TempDir::new().unwrap();
    let args = "--spawn --workload asset-put --clients 8 --duration 3 --warmup 1";
    let (run, r) = bench_ok(tmp.path(), "put", &[], args);

    assert_eq!(r["workload"], "asset-put");
    assert_eq!(r["mode"], "closed");
    assert_eq!(r["clients"], 8);
    let committed = r["committed"].as_u64().unwrap();
    assert!(committed > 0, "{r:#}");
    assert_eq!(r["failed"], 0, "{:#}", r["failures"]);
    assert!(num(&r, "/throughput_tps") > 0.0);
    let l = |k: &str| num(&r, &format!("/latency_ms/{k}"));
    let ordered = 0.0 < l("p50") && l("p50") <= l("p99") && l("p99") <= l("max");
    assert!(ordered, "{:#}", r["latency_ms"]);
    // Late finishers count in the last second, so the timeline adds up.
    let timeline = r["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 3, "{timeline:?}");
    let summed: u64 = timeline
        .iter()
        .filter_map(|s| s["committed"].as_u64())
        .sum();
    assert_eq!(summed, committed, "{timeline:?}");
    assert_five_nodes(&r);
    assert!(r["loadgen"].is_object(), "{r:#}");
    assert!(num(&r, "/loadgen/cpu_s") > 0.0, "{:#}", r["loadgen"]);
    let svg = std::fs::read_to_string(tmp.path().join("put/chart.svg")).unwrap();
    assert!(svg.contains("<svg"), "{svg}");

    // The network is stopped and its directory gone after the run.
    let dir = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("spawning a network of 2 orgs and 3 orderers in "))
        .unwrap_or_else(|| panic!("no spawning line:\n{run}"));
    assert!(dir.contains("weft-bench-"), "{dir}");
    assert!(!Path::new(dir).exists(), "{dir} is still there");
    let running = processes_mentioning(dir);
    assert!(running.is_empty(), "still running: {running:?}");
}

#[test]
fn bench_against_a_running_network() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("net");
    let _node_logs = NodeLogs(dir.join("logs"));
    let mut up = start_up(&dir, &[], &tmp.path().join("up.log"));
    let profile = dir.join("profile.json");
    let network = ["--network", profile.to_str().unwrap()];

    // (a) Open loop of evaluations at 200 tx/s over 20 assets.
    let args = "--workload asset-get --rate 200 --duration 3 --warmup 1 --keys 20";
    let (_, r) = bench_ok(tmp.path(), "get", &network, args);
    assert_eq!(r["mode"], "open");
    assert_eq!(num(&r, "/offered_tps"), 200.0);
    // 600 offered over the window; leave room for a slow machine.
    assert!(r["committed"].as_u64().unwrap() > 300, "{r:#}");
    assert_eq!(r["failed"], 0, "{:#}", r["failures"]);
    assert_eq!(r["by_op"].as_array().map(Vec::len), Some(1));
    assert_eq!(r["by_op"][0]["op"], "read");
    assert_five_nodes(&r);
    // They are this network's nodes, found by their config files.
    for n in r["nodes"].as_array().unwrap() {
        let name = n["name"].as_str().unwrap();
        let config = format!("{}/nodes/{name}.toml", dir.display());
        let cmdline = std::fs::read_to_string(format!("/proc/{}/cmdline", n["pid"])).unwrap();
        assert!(cmdline.contains(&config), "{n}: {cmdline}");
    }

    // (b) A closed loop of 16 clients updating one key: endorsements race and conflict.
    let args = "--workload asset-transfer-hot --clients 16 --keys 1 --duration 3 --warmup 1";
    let (_, r) = bench_ok(tmp.path(), "hot", &network, args);
    assert!(r["committed"].as_u64().unwrap() > 0, "{r:#}");
    let conflicts = r["failures"].as_array().unwrap().iter().any(|f| {
        f["stage"] == "validation"
            && f["code"] == "MVCC_READ_CONFLICT"
            && f["count"].as_u64() > Some(0)
    });
    assert!(conflicts, "no MVCC_READ_CONFLICT in {:#}", r["failures"]);

    stop_up(&mut up);
}

#[test]
fn bench_refuses_bad_arguments() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let out = out.to_str().unwrap();
    // Every case but the last refuses before it reads this missing profile;
    // the needles tell which check refused.
    let missing = "/nonexistent/profile.json";
    let cases: [(&str, i32, &[&str]); 7] = [
        (
            "asset-gets",
            1,
            &["asset-put", "asset-get", "asset-transfer-hot"],
        ),
        ("asset-put --rate 0", 1, &["--rate"]),
        ("asset-put --rate=-5", 1, &["--rate"]),
        ("asset-put --clients 0", 1, &["--clients"]),
        ("asset-put --duration 0", 1, &["--duration"]),
        (
            "asset-put --rate 10 --clients 5",
            2,
            &["--rate", "--clients"],
        ),
        ("asset-put --duration 1", 1, &[missing]),
    ];
    for (args, code, needles) in cases {
        let mut all = vec!["bench", "--out", out, "--network", missing, "--workload"];
        all.extend(args.split(' '));
        let run = weft(tmp.path(), &all, REFUSAL_TIMEOUT);
        let what = format!("weft {}:\n{run}", all.join(" "));
        assert_eq!(run.code, code, "{what}");
        for needle in needles.iter().chain(&["error: "]) {
            assert!(run.stderr.contains(needle), "{needle:?} not in {what}");
        }
    }
    assert!(!Path::new(out).join("report.json").exists());
}
