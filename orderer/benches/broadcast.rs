//! The ordering service end to end on this machine: three `weft-orderer`
//! processes (release build) on 127.0.0.1, ~1 KB envelopes signed ahead of
//! time, MaxMessageCount 500. Prints:
//! - saturation throughput with one envelope per request: envelopes ordered
//!   per second with many concurrent broadcasters (closed loop, each
//!   waiting for its ack);
//! - saturation throughput with envelopes sent in batches
//!   (`/v1/broadcast/batch`, as a gateway or busy client sends them), each
//!   still checked and acknowledged on its own;
//! - at half the better rate (open loop, a batch every 10 ms), broadcast →
//!   deliver latency p50/p99, measured on a follower's deliver stream.
//!
//! Run: `cargo bench -p weft-orderer --bench broadcast` (env:
//! `WEFT_BENCH_CLIENTS`, concurrent single-envelope broadcasters, default
//! 1024, 0 to skip that phase; `WEFT_BENCH_BATCH`, envelopes per batch request, default 500;
//! `WEFT_BENCH_STREAMS`, concurrent batch requests, default 16;
//! `WEFT_BENCH_SECS`, seconds per phase, default 10; `WEFT_BENCH_RATE`,
//! envelopes/s of the latency phase instead of half the better rate, to
//! compare latency at the same load across builds; `WEFT_BENCH_ORDERER_BIN`,
//! the orderer binary to run instead of the one cargo built, to compare
//! builds).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use weft_tests::network::TestNetwork;
use weft_types::{
    Block, Bytes, Envelope, LifecycleTransaction, Transaction, TxBody, TxHeader, TxId,
};

/// Envelopes signed ahead per second of a phase: enough for the three
/// phases at ~15k, ~40k and ~20k envelopes/s. When the pool runs out, the
/// latency phase says so.
const POOL_ENVELOPES_PER_SEC: usize = 100_000;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Cluster(Vec<Child>);

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn envelope(net: &TestNetwork, i: usize) -> (TxId, Vec<u8>) {
    let client = &net.clients[i % 2];
    let tx = Transaction {
        header: TxHeader::new("weft", client.certificate(), i as u64),
        body: TxBody::Lifecycle(LifecycleTransaction {
            definition: Bytes((i as u64).to_be_bytes().to_vec()),
            module: Bytes(vec![7; 200]),
            approvals: vec![],
        }),
    };
    let env = Envelope::sign(&tx, client);
    (
        tx.header.tx_id,
        serde_json::to_vec(&env).expect("serialize"),
    )
}

/// `n` envelopes, signed on every core.
fn envelopes(net: &TestNetwork, n: usize) -> Vec<(TxId, Vec<u8>)> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = n.div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t * chunk..((t + 1) * chunk).min(n))
                        .map(|i| envelope(net, i))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("signer"))
            .collect()
    })
}

/// The body of a batch request: one envelope per line.
fn batch_body(envelopes: &[(TxId, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::with_capacity(envelopes.iter().map(|(_, e)| e.len() + 1).sum());
    for (_, e) in envelopes {
        body.extend_from_slice(e);
        body.push(b'\n');
    }
    body
}

/// How many lines of a batch response say the envelope was ordered.
fn accepted_lines(body: &[u8]) -> u64 {
    body.split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|line| line["status"] == 200)
        .count() as u64
}

async fn leader(http: &reqwest::Client, apis: &[String]) -> usize {
    loop {
        for api in apis {
            if let Ok(r) = http.get(format!("http://{api}/v1/healthz")).send().await
                && let Ok(h) = r.json::<serde_json::Value>().await
                && let Some(l) = h["leader"].as_u64()
            {
                return (l - 1) as usize;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let clients = env_num("WEFT_BENCH_CLIENTS", 1024) as usize;
    let secs = env_num("WEFT_BENCH_SECS", 10);
    let root = tempfile::tempdir().expect("tempdir");
    let net = TestNetwork::with_orderers(&["Org1", "Org2"], 3);
    for i in 0..3 {
        net.write_orderer_files(root.path(), i);
    }
    let orderer_bin = std::env::var("WEFT_BENCH_ORDERER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_weft-orderer").to_owned());
    let _cluster = Cluster(
        (0..3)
            .map(|i| {
                Command::new(&orderer_bin)
                    .arg("--config")
                    .arg(root.path().join(format!("orderer{i}.toml")))
                    .env("WEFT_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start weft-orderer")
            })
            .collect(),
    );
    let apis: Vec<String> = net.config.orderers.iter().map(|o| o.api.clone()).collect();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let leader = leader(&http, &apis).await;
    let target = Arc::new(format!("http://{}/v1/broadcast", apis[leader]));
    println!("3 orderers up, leader orderer{leader}; signing envelopes…");
    let batch = env_num("WEFT_BENCH_BATCH", 500).max(1) as usize;
    let streams = env_num("WEFT_BENCH_STREAMS", 16).max(1) as usize;
    let pool = Arc::new(envelopes(&net, POOL_ENVELOPES_PER_SEC * secs as usize));
    let size = pool[0].1.len();
    let next = Arc::new(AtomicUsize::new(0));

    // 1. Saturation, closed loop, one envelope per request.
    let acked = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, target, pool, next, acked) = (
            http.clone(),
            target.clone(),
            pool.clone(),
            next.clone(),
            acked.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((_, body)) = pool.get(i) else { break };
                if let Ok(r) = http
                    .post(target.as_str())
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    && r.status().is_success()
                {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let done = acked.load(Ordering::Relaxed);
    let single = done as f64 / elapsed;
    if clients > 0 {
        println!(
            "saturation, one envelope per request: {done} envelopes of {size} B ordered in \
         {elapsed:.1} s with {clients} concurrent broadcasters = {single:.0} envelopes/s"
        );
    }

    // 1b. Saturation, closed loop, batches.
    let batch_target = Arc::new(format!("http://{}/v1/broadcast/batch", apis[leader]));
    let acked = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let (http, target, pool, next, acked) = (
            http.clone(),
            batch_target.clone(),
            pool.clone(),
            next.clone(),
            acked.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let i = next.fetch_add(batch, Ordering::Relaxed);
                let Some(envelopes) = pool.get(i..(i + batch).min(pool.len())) else {
                    break;
                };
                if let Ok(r) = http
                    .post(target.as_str())
                    .header("content-type", "application/x-ndjson")
                    .body(batch_body(envelopes))
                    .send()
                    .await
                    && let Ok(body) = r.bytes().await
                {
                    acked.fetch_add(accepted_lines(&body), Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let done = acked.load(Ordering::Relaxed);
    let batched = done as f64 / elapsed;
    println!(
        "saturation, {batch} envelopes per request: {done} envelopes ordered in {elapsed:.1} s \
         with {streams} concurrent requests = {batched:.0} envelopes/s"
    );
    let rate = single.max(batched);

    // 2. Half that rate, open loop, latency to a follower's deliver stream.
    let follower = (leader + 1) % 3;
    let height = http
        .get(format!("http://{}/v1/healthz", apis[follower]))
        .send()
        .await
        .expect("healthz")
        .json::<serde_json::Value>()
        .await
        .expect("json")["height"]
        .as_u64()
        .unwrap_or(0);
    let sent_at: Arc<Mutex<HashMap<TxId, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let watcher = {
        let (http, sent_at, latencies) = (http.clone(), sent_at.clone(), latencies.clone());
        let url = format!("http://{}/v1/deliver?from={height}", apis[follower]);
        tokio::spawn(async move {
            let mut response = http.get(url).send().await.expect("deliver");
            let mut buffer = Vec::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                buffer.extend_from_slice(&chunk);
                while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    let Ok(block) = serde_json::from_slice::<Block>(&line) else {
                        continue;
                    };
                    let now = Instant::now();
                    let mut sent = sent_at.lock();
                    for env in &block.data {
                        if let Ok(tx) = env.decode()
                            && let Some(t) = sent.remove(&tx.header.tx_id)
                        {
                            latencies.lock().push(now - t);
                        }
                    }
                }
            }
        })
    };
    let (load, load_name) = match env_num("WEFT_BENCH_RATE", 0) {
        0 => ((rate / 2.0).max(1.0), "half"),
        fixed => (fixed as f64, "WEFT_BENCH_RATE"),
    };
    let tick = Duration::from_millis(10);
    let per_tick = ((load / 100.0).round() as usize).max(1);
    let start = Instant::now();
    let ticks = secs as usize * 100;
    let mut sends = Vec::new();
    let mut ticks_sent = 0;
    for k in 0..ticks {
        let i = next.fetch_add(per_tick, Ordering::Relaxed);
        let Some(envelopes) = pool.get(i..i + per_tick) else {
            break;
        };
        ticks_sent += 1;
        tokio::time::sleep_until((start + tick * k as u32).into()).await;
        let now = Instant::now();
        sent_at
            .lock()
            .extend(envelopes.iter().map(|(id, _)| (*id, now)));
        let (http, target, body) = (http.clone(), batch_target.clone(), batch_body(envelopes));
        sends.push(tokio::spawn(async move {
            let _ = http
                .post(target.as_str())
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await;
        }));
    }
    for s in sends {
        let _ = s.await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    watcher.abort();
    let mut l = latencies.lock().clone();
    l.sort();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "at {:.0} envelopes/s ({load_name}, {per_tick} every 10 ms): {} delivered, broadcast→deliver p50 {:?}, p99 {:?}, max {:?}",
        per_tick as f64 * 100.0,
        l.len(),
        pct(0.50),
        pct(0.99),
        l.last().copied().unwrap_or_default()
    );
    if ticks_sent < ticks {
        println!(
            "  (the envelope pool ran out after {:.1} s of this phase)",
            ticks_sent as f64 / 100.0
        );
    }
}
