//! The LoC roles end to end on a real network of five orgs (Customer, Bank,
//! CAD, FD, Regulator; a peer each, three Raft orderers), as processes:
//! `weft loc demo` plays every event and checks each outcome, then
//! `weft bench --workload loc-mix` measures the paper's mix on the same
//! network.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::time::Duration;

use loc::Role;
use serde_json::Value;
use support::{NodeLogs, READY_TIMEOUT, start_up, stop_up, weft};
use tempfile::TempDir;
use weft::loc::parties::LocNetwork;
use weft_client::Wallet;
use weft_tests::strings_within;

/// The demo's events, and the build of `loc` for Wasm on its first deploy.
const DEMO_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Setup, warm-up, window and drain of a short bench run.
const BENCH_TIMEOUT: Duration = Duration::from_secs(4 * 60);

#[test]
fn the_five_roles_play_every_event_and_the_mix_is_measured() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("net");
    let _node_logs = NodeLogs(dir.join("logs"));
    let orgs = "Customer,Bank,CAD,FD,Regulator";
    let mut up = start_up(&dir, &["--orgs", orgs], &tmp.path().join("up.log"));
    assert!(
        up.log().contains("orgs Customer, Bank, CAD, FD, Regulator"),
        "{}",
        up.log()
    );
    let profile = dir.join("profile.json");
    let profile = profile.to_str().unwrap();

    let demo = weft(
        tmp.path(),
        &["loc", "demo", "--network", profile],
        DEMO_TIMEOUT,
    );
    assert_eq!(demo.code, 0, "{demo}");
    let out = &demo.stdout;
    for needle in [
        // Event 1 granted: three oracles pass, code 0, the money arrives.
        "(BANK) checks the application against its terms: pass",
        "(CAD) checks the application against its terms: pass",
        "(FD) checks the application against its terms: pass",
        "code 0",
        // A second loan is refused at the lock.
        "a loan is already issued",
        // The terms refuse a low income: the bank's verdict fails, code 1.
        "(BANK) checks the application against its terms: FAILED",
        "code 1",
        // The CAD's blacklist.
        "(CAD) checks the application against its terms: FAILED",
        // The application is private: the regulator reads it on its own
        // peer, the Customer org's peer holds only its hash.
        "(regulator) inspects the application through its own peer: income",
        "are not members of collection loc/loc_events",
        // Permissions.
        "permission denied",
        "(regulator) inspects every loan",
        // The refund and the replay.
        "signs a refund application",
        "unlocking code already used",
        "LoC demo: every step ended as it must.",
    ] {
        assert!(out.contains(needle), "no {needle:?} in:\n{demo}");
    }

    no_block_holds_an_application(std::path::Path::new(profile));

    // The paper's mix, briefly, on the same network (loc already deployed).
    let report_dir = tmp.path().join("mix");
    let run = weft(
        tmp.path(),
        &[
            "bench",
            "--workload",
            "loc-mix",
            "--clients",
            "2,4",
            "--duration",
            "3",
            "--warmup",
            "1",
            "--network",
            profile,
            "--out",
            report_dir.to_str().unwrap(),
        ],
        BENCH_TIMEOUT,
    );
    assert_eq!(run.code, 0, "{run}");
    // One report per step of concurrency, and the steps side by side.
    let steps: Value =
        serde_json::from_slice(&std::fs::read(report_dir.join("steps.json")).unwrap()).unwrap();
    let clients: Vec<u64> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["clients"].as_u64().unwrap())
        .collect();
    assert_eq!(clients, [2, 4], "{steps:#}");
    assert!(
        steps[1]["by_op_tps"]["loan"].as_f64() > Some(0.0),
        "{steps:#}"
    );
    assert!(run.stdout.contains("loan/s"), "{run}");
    let r: Value = serde_json::from_slice(
        &std::fs::read(report_dir.join("clients-4").join("report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(r["workload"], "loc-mix");
    assert_eq!(r["clients"], 4);
    assert_eq!(r["failed"], 0, "{:#}", r["failures"]);
    let ops: Vec<&str> = r["by_op"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    for op in ["loan", "refund", "query"] {
        assert!(ops.contains(&op), "no {op} in {:#}", r["by_op"]);
    }
    assert_eq!(
        r["nodes"].as_array().map(Vec::len),
        Some(8),
        "{:#}",
        r["nodes"]
    );

    // An open loop is refused: the mix is closed loop, as in the paper.
    let refused = weft(
        tmp.path(),
        &[
            "bench",
            "--workload",
            "loc-mix",
            "--rate",
            "10",
            "--network",
            profile,
        ],
        READY_TIMEOUT,
    );
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("closed loop"), "{refused}");

    stop_up(&mut up);
}

/// No block of the Customer org's peer (which serves every customer)
/// carries an application's income, at any depth of its nested payloads;
/// the search is shown to reach the lock records the same blocks hold.
fn no_block_holds_an_application(profile: &std::path::Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let net = LocNetwork::open(profile, Duration::from_secs(30)).unwrap();
        let org = net.org_of(Role::Customer).to_string();
        let admin = Wallet::open(&net.dir)
            .unwrap()
            .get(&format!("admin@{org}"))
            .unwrap();
        let party = net
            .connect_through(Role::Customer, admin, &org)
            .await
            .unwrap();
        let gateway = party.contract.gateway();
        let height = gateway.health().await.unwrap().height;
        let mut strings = Vec::new();
        for number in 0..height {
            let block = gateway.block(number).await.unwrap();
            strings_within(&serde_json::to_value(&block).unwrap(), &mut strings);
        }
        assert!(
            strings.iter().any(|s| s.contains("\"locked_tx\":")),
            "the search reaches the lock records"
        );
        let leaked: Vec<&String> = strings
            .iter()
            .filter(|s| s.contains("\"income\":"))
            .collect();
        assert!(leaked.is_empty(), "blocks carry applications: {leaked:?}");

        // The endorsers share the pushes: the bank's peer (the customers'
        // gateway) sends each event to the CAD's and the FD's; the
        // regulator's peer, endorsing too, keeps its own copy and pushes
        // nothing, so neither endorsing peer is pushed to.
        let mut pushed = Vec::new();
        for role in [Role::Bank, Role::Regulator, Role::Cad, Role::Fd] {
            let gateway = net.gateway_of(net.org_of(role)).unwrap();
            pushed.push(pushes_taken(&gateway).await);
        }
        assert_eq!(&pushed[..2], [0, 0], "bank, regulator, CAD, FD: {pushed:?}");
        assert!(pushed[2] > 0 && pushed[3] > 0, "{pushed:?}");
    });
}

/// How many private data pushes the peer behind `gateway` took (answered
/// with a 2xx), from its metrics.
async fn pushes_taken(gateway: &str) -> u64 {
    let text = reqwest::get(format!("{gateway}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = "weft_gateway_requests_total{route=\"p2p /v1/private/push\",status=\"2";
    text.lines()
        .filter_map(|line| line.strip_prefix(series))
        .map(|rest| rest.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}
