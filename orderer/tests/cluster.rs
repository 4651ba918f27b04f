#![allow(clippy::unwrap_used)]
//! Three `weft-orderer` processes on 127.0.0.1 under a steady broadcast
//! load; the leader is killed with SIGKILL. A new leader must serve, no
//! acknowledged envelope may be lost or ordered twice, and the killed
//! orderer, restarted, must catch up to the same chain (same block hashes).
//! The time from the kill to the first envelope accepted again is printed.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use weft_tests::network::TestNetwork;
use weft_types::{
    Block, Bytes, Envelope, LifecycleTransaction, Transaction, TxBody, TxHeader, TxId,
};

/// Starts orderer `index` from the files written beforehand.
fn start(root: &Path, index: usize) -> Child {
    let config = root.join(format!("orderer{index}.toml"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join(format!("orderer{index}.log")))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_weft-orderer"))
        .arg("--config")
        .arg(config)
        .env("WEFT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The orderer processes, killed when the test ends however it ends, with
/// their logs printed if it failed.
struct Processes {
    children: Vec<Option<Child>>,
    root: std::path::PathBuf,
}

impl Drop for Processes {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for i in 0..self.children.len() {
                let log = std::fs::read_to_string(self.root.join(format!("orderer{i}.log")));
                eprintln!("--- orderer{i} ---\n{}", log.unwrap_or_default());
            }
        }
    }
}

/// A ~1 KB envelope (what it holds does not matter to the orderer).
fn envelope(net: &TestNetwork, i: u64) -> (TxId, Envelope) {
    let client = &net.clients[(i % 2) as usize];
    let tx = Transaction {
        header: TxHeader::new("weft", client.certificate(), i),
        body: TxBody::Lifecycle(LifecycleTransaction {
            definition: Bytes(i.to_be_bytes().to_vec()),
            module: Bytes(vec![7; 300]),
            approvals: vec![],
        }),
    };
    (tx.header.tx_id, Envelope::sign(&tx, client))
}

async fn health(http: &reqwest::Client, api: &str) -> Option<serde_json::Value> {
    let r = http
        .get(format!("http://{api}/v1/healthz"))
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .ok()?;
    r.json().await.ok()
}

/// Blocks `0..height` from `api`'s deliver stream.
async fn chain(http: &reqwest::Client, api: &str, height: u64) -> Vec<Block> {
    weft_tests::process::deliver_chain(http, api, height, Duration::from_secs(10)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_survives_a_killed_leader_and_the_leader_catches_up() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let net = Arc::new(TestNetwork::with_orderers(&["Org1", "Org2"], 3));
    let apis: Vec<String> = net.config.orderers.iter().map(|o| o.api.clone()).collect();
    // Every file first: they share genesis.json, which a starting orderer reads.
    for i in 0..3 {
        net.write_orderer_files(root, i);
    }
    let mut processes = Processes {
        children: (0..3).map(|i| Some(start(root, i))).collect(),
        root: root.to_path_buf(),
    };
    let children = &mut processes.children;
    let http = reqwest::Client::new();

    // Wait for every orderer to know the same leader.
    let started = Instant::now();
    let leader = loop {
        let mut leaders = HashSet::new();
        for api in &apis {
            leaders.insert(health(&http, api).await.and_then(|h| h["leader"].as_u64()));
        }
        if leaders.len() == 1
            && let Some(Some(l)) = leaders.into_iter().next()
        {
            break l;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no leader elected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Steady load: 8 clients, each broadcasting to a random live orderer.
    let acked: Arc<Mutex<HashSet<TxId>>> = Arc::default();
    let down: Arc<Mutex<HashSet<usize>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let last_ack = Arc::new(Mutex::new(Instant::now()));
    let mut clients = Vec::new();
    for c in 0..8u64 {
        let (net, apis, acked, down, stop, last_ack, http) = (
            net.clone(),
            apis.clone(),
            acked.clone(),
            down.clone(),
            stop.clone(),
            last_ack.clone(),
            http.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut i = c * 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let target = (i as usize) % 3;
                if down.lock().contains(&target) {
                    continue;
                }
                let (id, env) = envelope(&net, i);
                let sent = http
                    .post(format!("http://{}/v1/broadcast", apis[target]))
                    .json(&env)
                    .send()
                    .await;
                if let Ok(r) = sent
                    && r.status().is_success()
                {
                    acked.lock().insert(id);
                    *last_ack.lock() = Instant::now();
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_kill = acked.lock().len();
    assert!(before_kill > 0, "nothing was ordered before the kill");

    // SIGKILL the leader.
    let victim = (leader - 1) as usize;
    down.lock().insert(victim);
    children[victim].take().unwrap().kill().unwrap();
    let killed_at = Instant::now();
    let count_at_kill = acked.lock().len();
    let recovered = loop {
        if acked.lock().len() > count_at_kill && *last_ack.lock() > killed_at {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "no new leader served"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!("failover: first envelope ordered {recovered:?} after the leader was killed");
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Restart the killed orderer; it catches up while the load goes on.
    children[victim] = Some(start(root, victim));
    down.lock().remove(&victim);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }

    // Every orderer reaches the same height.
    let started = Instant::now();
    let height = loop {
        let mut heights = Vec::new();
        for api in &apis {
            heights.push(health(&http, api).await.and_then(|h| h["height"].as_u64()));
        }
        if let Some(Some(h)) = heights.first().copied()
            && heights.iter().all(|x| *x == Some(h))
        {
            break h;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no convergence: {heights:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The same chain everywhere; every acknowledged envelope exactly once.
    let chains = [
        chain(&http, &apis[0], height).await,
        chain(&http, &apis[1], height).await,
        chain(&http, &apis[2], height).await,
    ];
    for n in 0..height as usize {
        let hashes: HashSet<_> = chains.iter().map(|c| c[n].hash()).collect();
        assert_eq!(hashes.len(), 1, "block {n} differs between orderers");
        assert!(
            chains[0][n].verify(&net.config).is_ok(),
            "block {n} is not signed"
        );
    }
    let mut seen: HashMap<TxId, u64> = HashMap::new();
    for block in &chains[0][1..] {
        for env in &block.data {
            *seen.entry(env.decode().unwrap().header.tx_id).or_default() += 1;
        }
    }
    let acked = acked.lock().clone();
    let lost: Vec<_> = acked.iter().filter(|id| !seen.contains_key(id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged envelopes lost",
        lost.len()
    );
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{} envelopes ordered twice", twice.len());
    println!(
        "{} envelopes acknowledged ({} before the kill) in {} blocks",
        acked.len(),
        before_kill,
        height
    );

    // SIGTERM stops an orderer cleanly.
    let mut child = children[0].take().unwrap();
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "SIGTERM did not stop the orderer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
}
