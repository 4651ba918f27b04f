#![allow(clippy::unwrap_used)]
//! Crash safety with real processes: a `weft-peer` committing a stream of
//! blocks is killed with SIGKILL at random moments, again and again; after
//! every kill its ledger must open at some height with exactly the commit
//! hash a peer that never crashed had at that height, and after the last
//! restart it must reach the end with the same blocks, validation codes,
//! tx index, state and key history — nothing committed lost, nothing
//! applied twice.
//!
//! The kill moments come from a seed printed at the start; rerun one with
//! `WEFT_CRASH_SEED=<seed>`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_node::committer::Committer;
use weft_node::ledger::Ledger;
use weft_node::runtime::{Runtime, RuntimeConfig};
use weft_tests::Rng;
use weft_tests::network::TestNetwork;
use weft_types::{
    Block, Bytes, ChaincodeDefinition, Digest, Envelope, KvRead, KvWrite, NsRwSet, RangeQueryInfo,
    RwSet,
};

const BLOCKS: usize = 120;
const TXS_PER_BLOCK: usize = 40;
/// Blocks arrive one by one, as from an orderer, so kills land mid-stream.
const BLOCK_INTERVAL: Duration = Duration::from_millis(50);
const KEYS: u64 = 300;
const KILLS: usize = 24;

fn key(i: u64) -> String {
    format!("k{i:04}")
}

/// A transaction simulated against `reference`'s committed state: reads a
/// few keys at their committed versions, sometimes scans a small range,
/// writes or deletes a few keys. Transactions of one block touching the
/// same keys conflict, as they would on a real network.
fn transaction(
    net: &TestNetwork,
    def: &ChaincodeDefinition,
    reference: &Ledger,
    rng: &mut Rng,
) -> Envelope {
    let mut ns = NsRwSet {
        namespace: def.name.clone(),
        ..NsRwSet::default()
    };
    let mut read_keys: Vec<String> = (0..1 + rng.below(3))
        .map(|_| key(rng.below(KEYS)))
        .collect();
    read_keys.sort();
    read_keys.dedup();
    for k in read_keys {
        let version = reference.get(&def.name, &k).unwrap().map(|(_, v)| v);
        ns.reads.push(KvRead { key: k, version });
    }
    if rng.below(4) == 0 {
        let start = rng.below(KEYS - 10);
        let (start, end) = (key(start), key(start + 5));
        let reads = reference
            .range(&def.name, &start, &end, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(key, _, version)| KvRead {
                key,
                version: Some(version),
            })
            .collect();
        ns.range_queries.push(RangeQueryInfo {
            start_key: start,
            end_key: end,
            exhausted: true,
            scanned_to: None,
            reads,
        });
    }
    let mut write_keys: Vec<String> = (0..1 + rng.below(2))
        .map(|_| key(rng.below(KEYS)))
        .collect();
    write_keys.sort();
    write_keys.dedup();
    for k in write_keys {
        let value = (rng.below(8) != 0).then(|| Bytes(rng.next_u64().to_be_bytes().to_vec()));
        ns.writes.push(KvWrite { key: k, value });
    }
    let creator = &net.clients[rng.below(net.clients.len() as u64) as usize];
    net.endorsed(
        creator,
        def,
        &RwSet {
            namespaces: vec![ns],
        },
        None,
    )
}

/// Writes `block` as `<number>.json` in `dir`, atomically.
fn publish(dir: &Path, block: &Block) {
    let tmp = dir.join(format!(".{}.tmp", block.number()));
    std::fs::write(&tmp, serde_json::to_vec(block).unwrap()).unwrap();
    std::fs::rename(&tmp, dir.join(format!("{}.json", block.number()))).unwrap();
}

fn start_peer(root: &Path, stop_at: Option<usize>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weft-peer"));
    cmd.arg("--config")
        .arg(root.join("peer.toml"))
        .arg("--blocks-from")
        .arg(root.join("blocks"))
        .env("WEFT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(h) = stop_at {
        cmd.arg("--stop-at-height").arg(h.to_string());
    }
    cmd.spawn().unwrap()
}

#[test]
fn a_peer_killed_at_random_moments_converges_to_the_same_ledger() {
    let seed = std::env::var("WEFT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("WEFT_CRASH_SEED={seed}");
    let mut rng = Rng::new(seed);

    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let net = TestNetwork::new(&["Org1", "Org2"]);
    net.write_peer_files(root);
    std::fs::create_dir_all(root.join("blocks")).unwrap();

    // The reference peer, in process, never crashes. It makes the stream:
    // every block is simulated against its state, then committed by it.
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let reference = Arc::new(Ledger::open(root.join("reference")).unwrap());
    let committer = Committer::open(reference.clone(), runtime, &net.genesis(), "Org1").unwrap();
    let echo = wat::parse_file("tests/fixtures/echo.wat").unwrap();
    let def = net.definition("kv", 1, &echo, None);
    let mut tip = net.genesis().header;
    let mut hashes: Vec<Digest> = vec![committer.commit_hash()];
    let mut stream = Vec::new();
    for n in 1..=BLOCKS {
        let envelopes = if n == 1 {
            vec![net.lifecycle(&def, &echo)]
        } else {
            (0..TXS_PER_BLOCK)
                .map(|_| transaction(&net, &def, &reference, &mut rng))
                .collect()
        };
        let block = net.next_block(&tip, envelopes);
        tip = block.header.clone();
        stream.push(block.clone());
        hashes.push(committer.commit(block).unwrap().commit_hash);
    }
    let blocks_dir = root.join("blocks");
    let feeder = std::thread::spawn(move || {
        for block in stream {
            publish(&blocks_dir, &block);
            std::thread::sleep(BLOCK_INTERVAL);
        }
    });
    let total = BLOCKS + 1;
    let invalid = (2..total as u64)
        .flat_map(|n| {
            reference
                .block(n)
                .unwrap()
                .unwrap()
                .metadata
                .validation_flags
        })
        .filter(|c| !c.is_valid())
        .count();
    assert!(
        invalid > 0,
        "the stream should hold some conflicting transactions"
    );

    // Kill the peer at random moments; after each kill its ledger is at
    // some height with the reference's commit hash for that height.
    let mut heights = Vec::new();
    for _ in 0..KILLS {
        let mut child = start_peer(root, None);
        std::thread::sleep(Duration::from_millis(50 + rng.below(400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let ledger = Ledger::open(root.join("data/ledger")).unwrap();
        let h = ledger.height() as usize;
        assert!((0..=total).contains(&h), "height {h}");
        if h == 0 {
            // Killed before it committed the genesis block (a slow start):
            // an empty ledger, which the next start must take up.
            heights.push(h);
            continue;
        }
        assert_eq!(
            ledger.commit_hash(),
            hashes[h - 1],
            "after a kill at height {h}"
        );
        heights.push(h);
    }
    println!("heights after each kill: {heights:?}");
    assert!(
        heights.windows(2).all(|w| w[0] <= w[1]),
        "a restart never loses committed blocks: {heights:?}"
    );
    let mid_stream = heights.iter().filter(|&&h| h > 1 && h < total).count();
    assert!(
        mid_stream >= KILLS / 2,
        "too few kills landed mid-stream: {heights:?}"
    );
    feeder.join().unwrap();

    // The last run goes to the end and stops by itself.
    let mut child = start_peer(root, Some(total));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("the peer did not reach height {total} in 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");

    let peer = Ledger::open(root.join("data/ledger")).unwrap();
    assert_eq!(peer.height() as usize, total);
    for n in 0..total as u64 {
        assert_eq!(
            peer.commit_hash_at(n).unwrap(),
            Some(hashes[n as usize]),
            "block {n}"
        );
        let (mine, theirs) = (
            peer.block(n).unwrap().unwrap(),
            reference.block(n).unwrap().unwrap(),
        );
        assert_eq!(mine, theirs, "block {n} as stored");
        for envelope in &theirs.data {
            let id = envelope.decode().unwrap().header.tx_id;
            assert_eq!(peer.tx(&id).unwrap(), reference.tx(&id).unwrap(), "tx {id}");
        }
    }
    let state = |l: &Ledger| l.range("kv", "", "", usize::MAX).unwrap();
    assert_eq!(state(&peer), state(&reference));
    for i in 0..KEYS {
        assert_eq!(
            peer.history("kv", &key(i)).unwrap(),
            reference.history("kv", &key(i)).unwrap(),
            "history of {}",
            key(i)
        );
    }
}
