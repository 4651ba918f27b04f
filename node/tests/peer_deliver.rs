#![allow(clippy::unwrap_used)]
//! `weft-peer` without `--blocks-from` pulls its blocks from the deliver API
//! of three `weft-orderer` processes on 127.0.0.1: it commits what is
//! broadcast while it runs and stops at `--stop-at-height`; restarted, it
//! resumes from its height and keeps committing when the orderer it reads
//! from is killed (SIGKILL) — twice, two of three orderers always keeping a
//! quorum — and stops cleanly on SIGTERM. Its ledger must hold the very
//! blocks the orderers deliver.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use weft_node::ledger::Ledger;
use weft_tests::network::TestNetwork;
use weft_tests::process::{Child, binary};
use weft_types::{Block, Bytes, ChaincodeDefinition, Envelope, KvWrite, NsRwSet, RwSet};

/// Every wait of this test gives up after this long (a loaded 2-core
/// machine builds and runs it).
const PATIENCE: Duration = Duration::from_secs(120);

/// The orderer processes, and a client for their API.
struct Orderers {
    root: PathBuf,
    apis: Vec<String>,
    children: Vec<Option<Child>>,
    http: reqwest::Client,
}

impl Orderers {
    fn start(&mut self, index: usize) {
        let mut command = Command::new(binary("weft-orderer", "weft-orderer"));
        command
            .arg("--config")
            .arg(self.root.join(format!("orderer{index}.toml")))
            .env("WEFT_LOG", "info")
            .env("NO_COLOR", "1");
        let log = self.root.join(format!("orderer{index}.log"));
        self.children[index] = Some(Child::spawn(&format!("orderer{index}"), &mut command, &log));
    }

    fn kill(&mut self, index: usize) {
        self.children[index].take().unwrap().kill();
    }

    fn live(&self) -> Vec<usize> {
        (0..self.apis.len())
            .filter(|&i| self.children[i].is_some())
            .collect()
    }

    async fn health(&self, index: usize) -> Option<serde_json::Value> {
        let response = self
            .http
            .get(format!("http://{}/v1/healthz", self.apis[index]))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Waits until every live orderer knows the same leader.
    async fn wait_for_leader(&self) {
        let started = Instant::now();
        loop {
            let mut leaders = HashSet::new();
            for i in self.live() {
                leaders.insert(self.health(i).await.and_then(|h| h["leader"].as_u64()));
            }
            if leaders.len() == 1 && leaders.iter().all(Option::is_some) {
                return;
            }
            assert!(started.elapsed() < PATIENCE, "no leader: {leaders:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every live orderer has stored `height` blocks or more;
    /// returns the least height among them.
    async fn wait_for_height(&self, height: u64) -> u64 {
        let started = Instant::now();
        loop {
            let mut heights = Vec::new();
            for i in self.live() {
                heights.push(self.health(i).await.and_then(|h| h["height"].as_u64()));
            }
            if heights.iter().all(|h| h.is_some_and(|h| h >= height)) {
                return heights.into_iter().flatten().min().unwrap();
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the orderers never reached {height}: {heights:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every live orderer has the same height, and returns it.
    async fn settled_height(&self) -> u64 {
        let started = Instant::now();
        loop {
            let mut heights = HashSet::new();
            for i in self.live() {
                heights.insert(self.health(i).await.and_then(|h| h["height"].as_u64()));
            }
            if heights.len() == 1
                && let Some(Some(height)) = heights.iter().next()
            {
                return *height;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the orderers never agreed: {heights:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Broadcasts `envelope` to the live orderers in turn until one answers
    /// 200 (ordered). Elections answer 503, a killed orderer refuses.
    async fn broadcast(&self, envelope: &Envelope) {
        let started = Instant::now();
        for attempt in 0.. {
            let live = self.live();
            let api = &self.apis[live[attempt % live.len()]];
            let sent = self
                .http
                .post(format!("http://{api}/v1/broadcast"))
                .json(envelope)
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return,
                Ok(r) if r.status().is_client_error() && r.status() != 429 => {
                    panic!("{api} refused the envelope: {}", r.text().await.unwrap())
                }
                _ => {}
            }
            assert!(started.elapsed() < PATIENCE, "nothing ordered the envelope");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Blocks `0..height` as orderer `index` delivers them.
    async fn chain(&self, index: usize, height: u64) -> Vec<Block> {
        weft_tests::process::deliver_chain(&self.http, &self.apis[index], height, PATIENCE).await
    }
}

fn start_peer(root: &Path, run: &str, stop_at_height: Option<u64>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft-peer"));
    command
        .arg("--config")
        .arg(root.join("peer.toml"))
        .env("WEFT_LOG", "info")
        .env("NO_COLOR", "1");
    if let Some(height) = stop_at_height {
        command.arg("--stop-at-height").arg(height.to_string());
    }
    Child::spawn(
        &format!("peer ({run})"),
        &mut command,
        &root.join(format!("peer-{run}.log")),
    )
}

/// The orderer the peer last connected to, once it has connected `count`
/// times or more (from its `receiving blocks` log lines).
async fn peer_orderer(peer: &Child, apis: &[String], count: usize) -> usize {
    let started = Instant::now();
    loop {
        let log = peer.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("receiving blocks"))
            .collect();
        if lines.len() >= count
            && let Some(last) = lines.last()
            && let Some(index) = apis
                .iter()
                .position(|api| last.contains(&format!("orderer={api} ")))
        {
            return index;
        }
        assert!(started.elapsed() < PATIENCE, "the peer never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn connections(peer: &Child) -> usize {
    peer.log().matches("receiving blocks").count()
}

async fn wait_for_exit(peer: &mut Child) {
    let started = Instant::now();
    loop {
        if let Some(status) = peer.try_wait() {
            assert!(status.success(), "the peer failed: {status}");
            return;
        }
        assert!(started.elapsed() < PATIENCE, "the peer never stopped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A transaction of `def`'s chaincode writing `value` at `key`.
fn write(net: &TestNetwork, def: &ChaincodeDefinition, key: &str, value: &str) -> Envelope {
    let rwset = RwSet {
        namespaces: vec![NsRwSet {
            namespace: def.name.clone(),
            writes: vec![KvWrite {
                key: key.into(),
                value: Some(Bytes(value.as_bytes().to_vec())),
            }],
            ..NsRwSet::default()
        }],
    };
    net.endorsed(&net.clients[0], def, &rwset, None)
}

/// Opens the stopped peer's ledger and checks it holds exactly `chain`,
/// with key `k{i}` = `v{i}` for each `i` in `keys`.
fn check_ledger(root: &Path, chain: &[Block], keys: std::ops::Range<u32>) {
    let ledger = Ledger::open(root.join("data/ledger")).unwrap();
    assert_eq!(ledger.height(), chain.len() as u64);
    for block in chain {
        let ours = ledger.block(block.number()).unwrap().unwrap();
        assert_eq!(ours.hash(), block.hash(), "block {}", block.number());
    }
    for i in keys {
        let (value, _) = ledger.get("kv", &format!("k{i}")).unwrap().unwrap();
        assert_eq!(value, format!("v{i}").into_bytes(), "k{i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_commits_from_the_orderers_and_survives_losing_the_one_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let net = TestNetwork::with_orderers(&["Org1", "Org2"], 3);
    // Every file first: they share genesis.json.
    for i in 0..3 {
        net.write_orderer_files(root, i);
    }
    net.write_peer_files(root);
    let mut orderers = Orderers {
        root: root.to_path_buf(),
        apis: net.config.orderers.iter().map(|o| o.api.clone()).collect(),
        children: vec![None, None, None],
        http: reqwest::Client::new(),
    };
    for i in 0..3 {
        orderers.start(i);
    }
    orderers.wait_for_leader().await;

    // Live: the peer waits at height 1 while a chaincode is deployed and
    // written to; each envelope is ordered before the next is sent, so
    // each is alone in its block.
    let mut peer = start_peer(root, "live", Some(6));
    peer_orderer(&peer, &orderers.apis, 1).await;
    let echo = wat::parse_file("tests/fixtures/echo.wat").unwrap();
    let def = net.definition("kv", 1, &echo, None);
    let lifecycle = net.lifecycle(&def, &echo);
    orderers.broadcast(&lifecycle).await;
    for i in 0..4 {
        orderers
            .broadcast(&write(&net, &def, &format!("k{i}"), &format!("v{i}")))
            .await;
    }
    assert_eq!(orderers.wait_for_height(6).await, 6);
    wait_for_exit(&mut peer).await;
    let chain = orderers.chain(0, 6).await;
    assert_eq!(chain[1].data, vec![lifecycle]);
    check_ledger(root, &chain, 0..4);
    {
        let ledger = Ledger::open(root.join("data/ledger")).unwrap();
        assert_eq!(ledger.definition("kv").unwrap(), Some(def.clone()));
    }

    // Restarted at height 6: the orderer it reads from is killed, then,
    // once back and caught up, the next one it reads from.
    let mut peer = start_peer(root, "fail-over", None);
    let mut killed = Vec::new();
    let mut key = 4;
    for round in 0..2 {
        let seen = connections(&peer).max(1);
        let victim = peer_orderer(&peer, &orderers.apis, seen).await;
        orderers.kill(victim);
        killed.push(victim);
        // The peer moves on to another orderer by itself.
        let next = peer_orderer(&peer, &orderers.apis, seen + 1).await;
        assert_ne!(next, victim);
        for _ in 0..3 {
            let envelope = write(&net, &def, &format!("k{key}"), &format!("v{key}"));
            orderers.broadcast(&envelope).await;
            key += 1;
        }
        if round == 0 {
            let height = orderers.settled_height().await;
            orderers.start(victim);
            orderers.wait_for_height(height).await;
        }
    }
    // A retried broadcast may have been ordered twice: the height is the
    // orderers', at least 6 + 6.
    let height = orderers.settled_height().await;
    assert!(height >= 12, "height {height}");
    let committed = format!("committed block={} ", height - 1);
    let started = Instant::now();
    while !peer.log().contains(&committed) {
        assert!(
            started.elapsed() < PATIENCE,
            "the peer never reached {height}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SIGTERM stops it while it waits on a deliver stream.
    peer.terminate();
    wait_for_exit(&mut peer).await;
    let log = peer.log();
    assert!(log.contains("peer stopped"), "{log}");
    for victim in &killed {
        let api = &orderers.apis[*victim];
        assert!(
            log.contains(&format!("deliver: orderer {api}")),
            "no warning about orderer {api}:\n{log}"
        );
    }
    let live = orderers.live()[0];
    let chain = orderers.chain(live, height).await;
    check_ledger(root, &chain, 0..key);
}
