//! [`RaftService`]: one orderer — a [`RaftNode`] driven by its own thread,
//! the cluster transport, the block cutter and the block store — behind
//! the API's [`Consensus`] trait.
//!
//! The Raft thread owns the node. It waits for an input (an envelope from
//! broadcast, a message from another orderer) or the next deadline (the
//! Raft tick, the cutter's `BatchTimeout`), then runs the Ready loop once:
//! messages go to the transport, committed blocks are signed by this
//! orderer and appended to the block store (synced) before the next Ready.
//!
//! Broadcast on the leader: the envelopes of a submission join the
//! cutter's batch; full (or timed-out) batches are proposed as blocks, and
//! each envelope's caller is answered once the block holding it is
//! committed by a majority and stored here — so an acknowledged envelope
//! survives any leader crash. One that is not ordered within
//! [`ORDER_TIMEOUT`] (the leader lost its leadership and the block died
//! with it) gets [`SubmitError::NotOrdered`]. On a follower: the service
//! forwards the submission to the leader's batch API and relays its
//! answers; a forwarded submission is never forwarded again. Memory is
//! bounded: at most [`MAX_QUEUED`] envelopes wait for the Raft thread and
//! [`MAX_WAITING`] for their blocks; past that, broadcast answers
//! `Overloaded`.
//!
//! Catch-up: when the node installs a snapshot ahead of its chain, the
//! missing blocks are fetched from another orderer's deliver API.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use raft::SnapshotStatus;
use raft::eraftpb::{Message, MessageType};
use tokio::sync::{Notify, oneshot};
use weft_types::{Block, ChannelConfig, Digest, Envelope, Identity};

use crate::api::{Consensus, Submission, SubmitError};
use crate::blockstore::BlockStore;
use crate::consensus::{ChainState, RaftNode};
use crate::cutter::{BlockCutter, Pending};
use crate::log::DurableLog;
use crate::transport::ClusterTransport;

/// Inputs queued for the Raft thread (consensus messages and submissions).
const INPUT_QUEUE: usize = 8192;

/// Envelopes submitted but not yet taken by the Raft thread, at most.
pub const MAX_QUEUED: usize = 32 * 1024;

/// Envelopes the leader holds until their block is ordered, at most.
pub const MAX_WAITING: usize = 128 * 1024;

/// How long an accepted envelope may wait to be ordered before its caller
/// is told it was not.
pub const ORDER_TIMEOUT: Duration = Duration::from_secs(10);

/// The header a follower sets when it forwards envelopes to the leader.
pub const FORWARDED_HEADER: &str = "x-weft-forwarded";

enum Input {
    Submit(Vec<Submission>, Arc<Ticket>, oneshot::Sender<Reply>),
    Message(Message),
}

/// The Raft thread's answer to a submission.
enum Reply {
    /// Taken: each envelope's result will be settled on the ticket.
    Accepted,
    /// It is not the leader (the leader it knows of, if any); the
    /// submission comes back to be forwarded, so the hot path never copies it.
    NotLeader(Option<u64>, Vec<Submission>),
    /// Too many envelopes wait for their blocks already.
    Overloaded,
}

/// The results of one submission, settled one envelope at a time by the
/// Raft thread; the submitter wakes when the last is settled.
struct Ticket {
    results: Mutex<Vec<Option<Result<(), SubmitError>>>>,
    remaining: AtomicUsize,
    done: Notify,
}

impl Ticket {
    fn new(n: usize) -> Arc<Ticket> {
        Arc::new(Ticket {
            results: Mutex::new(vec![None; n]),
            remaining: AtomicUsize::new(n),
            done: Notify::new(),
        })
    }

    /// Settles `slot` unless it is settled already (the first result wins).
    fn settle(&self, slot: usize, result: Result<(), SubmitError>) {
        let mut results = self.results.lock();
        if let Some(r @ None) = results.get_mut(slot) {
            *r = Some(result);
            if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.done.notify_one();
            }
        }
    }

    async fn wait(&self) -> Vec<Result<(), SubmitError>> {
        if self.remaining.load(Ordering::Acquire) > 0 {
            self.done.notified().await;
        }
        self.results
            .lock()
            .iter_mut()
            .map(|r| r.take().unwrap_or(Err(SubmitError::Stopped)))
            .collect()
    }
}

/// One orderer of a Raft cluster.
pub struct RaftService {
    id: u64,
    config: Arc<ChannelConfig>,
    store: Arc<BlockStore>,
    inputs: SyncSender<Input>,
    leader: Arc<AtomicU64>,
    /// Envelopes in `inputs`, against [`MAX_QUEUED`].
    queued: Arc<AtomicUsize>,
    http: reqwest::Client,
}

impl std::fmt::Debug for RaftService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftService")
            .field("id", &self.id)
            .field("height", &self.store.height())
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl RaftService {
    /// Starts orderer `id` on `log` and `store` (which holds at least the
    /// genesis block), sending Raft messages through `transport`, signing
    /// blocks as `identity`. Must be called within a tokio runtime (for
    /// forwarding and catch-up).
    pub fn start<L: DurableLog + Send + 'static>(
        id: u64,
        identity: Identity,
        config: Arc<ChannelConfig>,
        log: L,
        store: Arc<BlockStore>,
        transport: ClusterTransport,
    ) -> Result<Arc<RaftService>, crate::consensus::ConsensusError> {
        let voters: Vec<u64> = config.orderers.iter().map(|o| o.id).collect();
        let chain = ChainState {
            last: store.last_header().ok_or_else(|| {
                crate::consensus::ConsensusError::BadSnapshot {
                    index: 0,
                    reason: "the block store holds no genesis block".into(),
                }
            })?,
            applied_index: store.last_raft_index(),
        };
        let node = RaftNode::new(id, &voters, log, &config.raft, chain)?;
        let (inputs, rx) = sync_channel(INPUT_QUEUE);
        let leader = Arc::new(AtomicU64::new(0));
        let service = Arc::new(RaftService {
            id,
            config: config.clone(),
            store: store.clone(),
            inputs,
            leader: leader.clone(),
            queued: Arc::default(),
            http: reqwest::Client::new(),
        });
        let runtime = tokio::runtime::Handle::current();
        let peers = service.clone();
        std::thread::Builder::new()
            .name(format!("raft-{id}"))
            .spawn(move || {
                let mut r = Runner {
                    node,
                    rx,
                    transport,
                    store,
                    identity,
                    leader,
                    cutter: BlockCutter::new(config.ordering.clone()),
                    tick: Duration::from_millis(config.raft.tick_interval_ms.max(1)),
                    runtime,
                    queued: peers.queued.clone(),
                    peers,
                    waiting: HashMap::new(),
                    waiting_count: 0,
                    proposed: HashMap::new(),
                    last_expiry: Instant::now(),
                };
                if let Err(e) = r.run() {
                    tracing::error!("the Raft loop stopped: {e}");
                }
            })
            .map_err(|e| crate::consensus::ConsensusError::Log(Box::new(e)))?;
        Ok(service)
    }

    /// Forwards `batch` to the leader's batch API; one result per envelope.
    async fn forward(&self, leader: u64, batch: &[Submission]) -> Vec<Result<(), SubmitError>> {
        let all = |e: SubmitError| vec![Err(e); batch.len()];
        let Some(api) = self
            .config
            .orderers
            .iter()
            .find(|o| o.id == leader)
            .map(|o| o.api.clone())
        else {
            return all(SubmitError::NoLeader);
        };
        let mut body = Vec::with_capacity(batch.iter().map(|s| s.size() as usize + 1).sum());
        for s in batch {
            body.extend(weft_types::to_json_bytes(s.envelope()));
            body.push(b'\n');
        }
        let response = self
            .http
            .post(format!("http://{api}/v1/broadcast/batch"))
            .header(FORWARDED_HEADER, self.id.to_string())
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body)
            .timeout(ORDER_TIMEOUT + Duration::from_secs(5))
            .send()
            .await;
        let Ok(response) = response else {
            return all(SubmitError::NoLeader);
        };
        if !response.status().is_success() {
            return all(SubmitError::NoLeader);
        }
        let Ok(text) = response.bytes().await else {
            return all(SubmitError::NoLeader);
        };
        let mut results: Vec<Result<(), SubmitError>> = text
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                let status = serde_json::from_slice::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v["status"].as_u64());
                match status {
                    Some(200) => Ok(()),
                    Some(429) => Err(SubmitError::Overloaded),
                    Some(504) => Err(SubmitError::NotOrdered),
                    _ => Err(SubmitError::NoLeader),
                }
            })
            .collect();
        results.resize(batch.len(), Err(SubmitError::NoLeader));
        results
    }

    /// Blocks `from..=to` from any other orderer's deliver API.
    async fn pull(&self, from: u64, to: u64) -> Option<Vec<Block>> {
        let wanted = usize::try_from(to.checked_sub(from)? + 1).ok()?;
        for o in self.config.orderers.iter().filter(|o| o.id != self.id) {
            let url = format!("http://{}/v1/deliver?from={from}", o.api);
            let Ok(response) = self.http.get(&url).send().await else {
                continue;
            };
            let mut blocks = Vec::new();
            let mut buffer = Vec::new();
            let mut response = response;
            while blocks.len() < wanted {
                match tokio::time::timeout(Duration::from_secs(5), response.chunk()).await {
                    Ok(Ok(Some(chunk))) => buffer.extend_from_slice(&chunk),
                    _ => break,
                }
                while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    match serde_json::from_slice::<Block>(&line) {
                        Ok(b) => blocks.push(b),
                        Err(_) => break,
                    }
                }
            }
            if blocks.len() >= wanted {
                blocks.truncate(wanted);
                return Some(blocks);
            }
        }
        None
    }
}

impl Consensus for RaftService {
    async fn submit(
        &self,
        batch: Vec<Submission>,
        forwarded: bool,
    ) -> Vec<Result<(), SubmitError>> {
        let n = batch.len();
        if n == 0 {
            return Vec::new();
        }
        if self.queued.fetch_add(n, Ordering::AcqRel) + n > MAX_QUEUED {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return vec![Err(SubmitError::Overloaded); n];
        }
        let ticket = Ticket::new(n);
        let (reply, answer) = oneshot::channel();
        match self
            .inputs
            .try_send(Input::Submit(batch, ticket.clone(), reply))
        {
            Ok(()) => {}
            Err(e) => {
                self.queued.fetch_sub(n, Ordering::AcqRel);
                let error = match e {
                    TrySendError::Full(_) => SubmitError::Overloaded,
                    TrySendError::Disconnected(_) => SubmitError::Stopped,
                };
                return vec![Err(error); n];
            }
        }
        match answer.await {
            Ok(Reply::Accepted) => ticket.wait().await,
            Ok(Reply::NotLeader(Some(leader), batch)) if !forwarded => {
                self.forward(leader, &batch).await
            }
            Ok(Reply::NotLeader(..)) => vec![Err(SubmitError::NoLeader); n],
            Ok(Reply::Overloaded) => vec![Err(SubmitError::Overloaded); n],
            Err(_) => vec![Err(SubmitError::Stopped); n],
        }
    }

    fn handle_message(&self, message: Message) {
        // A full queue drops the message; Raft retransmits.
        let _ = self.inputs.try_send(Input::Message(message));
    }

    fn blocks(&self) -> &BlockStore {
        &self.store
    }

    fn leader(&self) -> Option<u64> {
        Some(self.leader.load(Ordering::Relaxed)).filter(|&l| l != 0)
    }
}

struct Runner<L: DurableLog> {
    node: RaftNode<L>,
    rx: Receiver<Input>,
    transport: ClusterTransport,
    store: Arc<BlockStore>,
    identity: Identity,
    leader: Arc<AtomicU64>,
    cutter: BlockCutter<Submission>,
    tick: Duration,
    runtime: tokio::runtime::Handle,
    peers: Arc<RaftService>,
    queued: Arc<AtomicUsize>,
    /// Callers waiting for their envelope to be ordered, by envelope digest.
    waiting: HashMap<Digest, Vec<Waiter>>,
    /// Waiters in `waiting`, against [`MAX_WAITING`].
    waiting_count: usize,
    /// The envelope digests of the blocks this leader proposed, by data
    /// hash, so that acknowledging them hashes nothing again.
    proposed: HashMap<Digest, Vec<Digest>>,
    /// When waiters were last checked for expiry.
    last_expiry: Instant,
}

/// Proposed blocks whose digests the leader keeps, at most (more are in
/// flight only if blocks stopped committing; their envelopes are hashed
/// again when they do).
const PROPOSED_KEPT: usize = 1024;

/// How often waiting broadcasts are checked against [`ORDER_TIMEOUT`].
const EXPIRY_CHECK: Duration = Duration::from_millis(200);

/// A broadcast caller waiting for its envelope's block. Dropped without
/// an answer (the Raft thread stopped), it answers `Stopped`.
struct Waiter {
    deadline: Instant,
    ticket: Arc<Ticket>,
    slot: usize,
}

impl Waiter {
    fn settle(&self, result: Result<(), SubmitError>) {
        self.ticket.settle(self.slot, result);
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.settle(Err(SubmitError::Stopped));
    }
}

impl<L: DurableLog> Runner<L> {
    fn run(&mut self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut next_tick = Instant::now() + self.tick;
        loop {
            let now = Instant::now();
            let mut wait = next_tick.saturating_duration_since(now);
            if let Some(deadline) = self.cutter.deadline() {
                wait = wait.min(Duration::from_millis(deadline.saturating_sub(now_ms())));
            }
            match self.rx.recv_timeout(wait) {
                Ok(input) => {
                    self.handle(input);
                    // Take whatever else is queued before the next Ready.
                    while let Ok(input) = self.rx.try_recv() {
                        self.handle(input);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            if Instant::now() >= next_tick {
                self.node.tick();
                next_tick += self.tick;
                if next_tick < Instant::now() {
                    next_tick = Instant::now() + self.tick;
                }
            }
            if let Some(batch) = self.cutter.cut_if_due(now_ms()) {
                self.propose(batch);
            }
            self.ready()?;
            self.expire_waiting();
        }
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Message(m) => {
                if let Err(e) = self.node.step(m) {
                    tracing::debug!("raft refused a message: {e}");
                }
            }
            Input::Submit(batch, ticket, reply) => {
                self.queued.fetch_sub(batch.len(), Ordering::AcqRel);
                if !self.node.is_leader() {
                    let leader = self.node.leader().filter(|&l| l != self.node.id());
                    let _ = reply.send(Reply::NotLeader(leader, batch));
                    return;
                }
                if self.waiting_count + batch.len() > MAX_WAITING {
                    let _ = reply.send(Reply::Overloaded);
                    return;
                }
                let _ = reply.send(Reply::Accepted);
                let deadline = Instant::now() + ORDER_TIMEOUT;
                let now = now_ms();
                self.waiting_count += batch.len();
                for (slot, submission) in batch.into_iter().enumerate() {
                    self.waiting
                        .entry(*submission.digest())
                        .or_default()
                        .push(Waiter {
                            deadline,
                            ticket: ticket.clone(),
                            slot,
                        });
                    let bytes = submission.size();
                    for block in self.cutter.push(
                        Pending {
                            item: submission,
                            bytes,
                        },
                        now,
                    ) {
                        self.propose(block);
                    }
                }
            }
        }
    }

    /// Tells the callers whose envelopes were not ordered in time. Runs at
    /// most every [`EXPIRY_CHECK`]: it walks every waiter.
    fn expire_waiting(&mut self) {
        if self.waiting.is_empty() || self.last_expiry.elapsed() < EXPIRY_CHECK {
            return;
        }
        let now = Instant::now();
        self.last_expiry = now;
        let mut expired = Vec::new();
        let count = &mut self.waiting_count;
        self.waiting.retain(|_, waiters| {
            let (late, on_time): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(waiters)
                .into_iter()
                .partition(|w| w.deadline <= now);
            *count -= late.len();
            expired.extend(late);
            *waiters = on_time;
            !waiters.is_empty()
        });
        for w in expired {
            w.settle(Err(SubmitError::NotOrdered));
        }
    }

    fn propose(&mut self, batch: Vec<Submission>) {
        let count = batch.len();
        match self.node.propose_submissions(batch, now_ms()) {
            Ok((data_hash, digests)) => {
                if self.proposed.len() >= PROPOSED_KEPT {
                    self.proposed.clear();
                }
                self.proposed.insert(data_hash, digests);
            }
            // Accepted envelopes are lost with the leadership; clients see
            // no commit and resubmit (Fabric behaves the same).
            Err(e) => tracing::warn!(envelopes = count, "a batch was not proposed: {e}"),
        }
    }

    fn ready(&mut self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let out = self.node.ready()?;
        self.leader
            .store(self.node.leader().unwrap_or(0), Ordering::Relaxed);
        if !self.node.is_leader() {
            self.proposed.clear();
        }
        if !self.node.is_leader() && !self.cutter.is_empty() {
            // Lost the leadership with a batch pending: drop it (see propose).
            let dropped = self.cutter.cut().map_or(0, |b| b.len());
            tracing::warn!(
                envelopes = dropped,
                "lost the leadership; pending batch dropped"
            );
        }
        for m in out.messages {
            let (to, snapshot) = (m.to, m.get_msg_type() == MessageType::MsgSnapshot);
            let queued = self.transport.send(m);
            // raft-rs keeps a follower in snapshot state until told how the
            // snapshot went; a queued one counts as sent (a lost one is
            // detected by the follower's reply, or its absence, and resent).
            if snapshot {
                let status = if queued {
                    SnapshotStatus::Finish
                } else {
                    SnapshotStatus::Failure
                };
                self.node.report_snapshot(to, status);
            }
            if !queued {
                self.node.report_unreachable(to);
            }
        }
        if let Some((from, to)) = out.needs_blocks {
            let peers = self.peers.clone();
            let blocks = self
                .runtime
                .block_on(async move { peers.pull(from, to).await })
                .ok_or_else(|| format!("no orderer served blocks {from}..={to}"))?;
            for block in blocks {
                self.store_block(block, self.store.last_raft_index())?;
            }
        }
        for (block, index) in out.committed_blocks.into_iter().zip(out.committed_indexes) {
            self.store_block(block, index)?;
        }
        Ok(())
    }

    fn store_block(
        &mut self,
        mut block: Block,
        index: u64,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if block.number() < self.store.height() {
            return Ok(());
        }
        block.metadata.signatures.clear();
        block.metadata.validation_flags.clear();
        block.metadata.commit_hash = None;
        block.sign(&self.identity);
        self.store.append(&block, index)?;
        let digests = self.proposed.remove(&block.header.data_hash);
        if !self.waiting.is_empty() {
            let digests =
                digests.unwrap_or_else(|| block.data.iter().map(Envelope::digest).collect());
            for digest in &digests {
                for w in self.waiting.remove(digest).unwrap_or_default() {
                    self.waiting_count -= 1;
                    w.settle(Ok(()));
                }
            }
        }
        tracing::debug!(
            block = block.number(),
            txs = block.data.len(),
            "block stored"
        );
        Ok(())
    }
}
