//! [`RaftNode`]: the ordering consensus as a deterministic core — raft-rs's
//! `RawNode` plus the block chain it orders, with no I/O and no clock.
//!
//! The caller (the orderer daemon, or the simulated network in
//! `tests/raft_sim.rs`) owns the transport and the timer. It drives a node
//! with [`RaftNode::tick`], [`RaftNode::step`] and [`RaftNode::propose_block`],
//! then calls [`RaftNode::ready`], which runs raft-rs's Ready loop once and
//! returns an [`Output`]: the messages to send, in order, and the blocks that
//! were committed.
//!
//! **Entries carry blocks.** The leader builds block N+1 on top of the last
//! block in its own log ([`RaftNode::propose_block`]) and proposes it, as
//! JSON, as one Raft entry. Applying a committed entry accepts the block only
//! if it extends the last *applied* block (next number, previous hash,
//! timestamp not earlier, data hash matching); otherwise it came from a
//! deposed leader that built on a block that lost, and every node skips it
//! alike. So every node applies the same blocks at the same heights.
//!
//! **Snapshots.** After `snapshot_interval_bytes` of applied entries the node
//! compacts its log to a snapshot whose data is the last applied block
//! header. A follower that installs a snapshot ahead of its chain reports
//! [`Output::needs_blocks`]: the caller fetches those blocks from another
//! orderer, since the Raft log no longer holds them.
//!
//! Membership is fixed at creation: configuration-change entries are not
//! proposed and are skipped if met.

use std::collections::VecDeque;

use raft::eraftpb::{ConfState, Entry, EntryType, Message, Snapshot};
use raft::{Config, GetEntriesContext, RawNode, SnapshotStatus, StateRole};
use weft_types::{Block, BlockHeader, Digest, Envelope, RaftParams, data_hash_of};

use crate::api::Submission;
use crate::log::DurableLog;

/// Blocks a leader keeps from its own proposals, so applying them parses
/// and hashes nothing again.
const IN_FLIGHT_KEPT: usize = 256;

/// Most bytes of entries raft-rs puts in one append message (at least one
/// entry is always sent, whatever its size).
pub const MAX_APPEND_BYTES: u64 = 1024 * 1024;

/// Why the consensus core stopped. Any error leaves the node inoperable
/// (raft-rs cannot continue after a storage failure): the caller should stop
/// the node and restart it from its durable log.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    /// raft-rs refused the configuration or a message.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    /// The durable log failed to write or sync.
    #[error("the durable log failed: {0}")]
    Log(Box<dyn std::error::Error + Send + Sync>),
    /// A snapshot's data is not a block header (a bug or a corrupt log).
    #[error("snapshot at index {index} does not hold a block header: {reason}")]
    BadSnapshot {
        /// The snapshot's Raft index.
        index: u64,
        /// What failed to decode.
        reason: String,
    },
}

fn log_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> ConsensusError {
    ConsensusError::Log(Box::new(e))
}

/// A proposal was refused because this node is not the leader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this orderer is not the Raft leader{}", match .leader {
    Some(id) => format!(" (the leader is orderer {id})"),
    None => " and no leader is known; retry later".to_string(),
})]
pub struct NotLeader {
    /// The leader this node knows of, to forward to.
    pub leader: Option<u64>,
}

/// Where the node's chain stands: the last block it applied and the Raft
/// index of the entry that carried it (or of a later entry that carried none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    /// Header of the last applied block.
    pub last: BlockHeader,
    /// Raft index up to which entries were applied to this chain.
    pub applied_index: u64,
}

impl ChainState {
    /// A chain holding only `genesis`, before any Raft entry.
    pub fn genesis(genesis: &Block) -> ChainState {
        ChainState {
            last: genesis.header.clone(),
            applied_index: 0,
        }
    }
}

/// What one run of the Ready loop produced.
#[derive(Debug, Default)]
pub struct Output {
    /// Messages to send, in this order: the Ready's messages, then its
    /// persisted messages (sent only after the log synced), then the light
    /// Ready's messages.
    pub messages: Vec<Message>,
    /// Blocks committed and accepted, in chain order. The caller must store
    /// them durably (and with them the [`ChainState`]) before calling
    /// [`RaftNode::ready`] again: the next sync may make a log compaction
    /// durable that drops the entries that carried them.
    pub committed_blocks: Vec<Block>,
    /// The Raft index of the entry that carried each of `committed_blocks`:
    /// stored with the block, it is the chain's `applied_index` after a
    /// restart.
    pub committed_indexes: Vec<u64>,
    /// Block numbers `from..=to` the node skipped by installing a snapshot;
    /// the caller fetches them from another orderer and stores them before
    /// `committed_blocks`.
    pub needs_blocks: Option<(u64, u64)>,
    /// How many committed entries carried a block that did not extend the
    /// chain (a deposed leader's) and were skipped.
    pub skipped_blocks: usize,
}

/// One orderer's consensus state machine.
pub struct RaftNode<L: DurableLog> {
    raw: RawNode<L>,
    chain: ChainState,
    params: RaftParams,
    /// The tip of this node's own log while it leads, and the term it is for.
    proposed_tip: Option<(u64, BlockHeader)>,
    /// Blocks this node proposed as leader, with their entries' (index,
    /// term), oldest first. An entry with the same index and term is the
    /// same entry (Raft's log matching), so applying it may take the block
    /// from here instead of parsing the entry.
    in_flight: VecDeque<(u64, u64, Block)>,
    /// Entry bytes applied since the last compaction.
    applied_bytes_since_snapshot: u64,
    /// A gap found at start-up, reported by the next `ready`.
    pending_needs: Option<(u64, u64)>,
}

impl<L: DurableLog> std::fmt::Debug for RaftNode<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("id", &self.raw.raft.id)
            .field("term", &self.raw.raft.term)
            .field("role", &self.raw.raft.state)
            .field("chain", &self.chain)
            .finish()
    }
}

impl<L: DurableLog> RaftNode<L> {
    /// A node `id` of the cluster `voters`, on `log` (empty for a new node,
    /// or what a restarted node found on disk) and its stored `chain`.
    pub fn new(
        id: u64,
        voters: &[u64],
        log: L,
        params: &RaftParams,
        chain: ChainState,
    ) -> Result<Self, ConsensusError> {
        Self::build(id, voters, log, params, chain, None)
    }

    /// Like [`RaftNode::new`], but every election timeout is exactly
    /// `election_timeout_ticks` (at least `election_tick`). raft-rs draws
    /// its randomized timeout from a thread-local generator that no seed can
    /// replay; a simulation fixes it and supplies the jitter itself (by
    /// choosing the value per node and by skipping ticks).
    pub fn new_deterministic(
        id: u64,
        voters: &[u64],
        log: L,
        params: &RaftParams,
        chain: ChainState,
        election_timeout_ticks: usize,
    ) -> Result<Self, ConsensusError> {
        Self::build(id, voters, log, params, chain, Some(election_timeout_ticks))
    }

    fn build(
        id: u64,
        voters: &[u64],
        mut log: L,
        params: &RaftParams,
        chain: ChainState,
        election_timeout_ticks: Option<usize>,
    ) -> Result<Self, ConsensusError> {
        let state = log.initial_state()?;
        if state.conf_state.voters.is_empty() {
            let conf = ConfState {
                voters: voters.to_vec(),
                ..ConfState::default()
            };
            log.set_conf_state(&conf).map_err(log_error)?;
            log.sync().map_err(log_error)?;
        }
        let snapshot_index = log.first_index()? - 1;
        let commit = state.hard_state.commit.max(snapshot_index);
        let mut chain = chain;
        let mut pending_needs = None;
        if chain.applied_index < snapshot_index {
            // The log was compacted past what the chain holds.
            let snapshot = log.snapshot(0, id)?;
            pending_needs = jump_to_snapshot(&mut chain, &snapshot)?;
        }
        let mut config = Config {
            id,
            election_tick: params.election_tick as usize,
            heartbeat_tick: params.heartbeat_tick as usize,
            // Entries the chain already holds are re-delivered and skipped
            // when the synced commit index is behind the stored chain.
            applied: chain.applied_index.clamp(snapshot_index, commit),
            max_size_per_msg: MAX_APPEND_BYTES,
            max_inflight_msgs: params.max_inflight_blocks.max(1) as usize,
            check_quorum: true,
            pre_vote: true,
            ..Config::default()
        };
        if let Some(ticks) = election_timeout_ticks {
            config.min_election_tick = ticks.max(config.election_tick);
            config.max_election_tick = config.min_election_tick + 1;
        }
        config.validate()?;
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let raw = RawNode::new(&config, log, &logger)?;
        Ok(RaftNode {
            raw,
            chain,
            params: params.clone(),
            proposed_tip: None,
            in_flight: VecDeque::new(),
            applied_bytes_since_snapshot: 0,
            pending_needs,
        })
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.raw.raft.id
    }

    /// One Raft tick of the caller's timer (`tick_interval_ms`).
    pub fn tick(&mut self) {
        self.raw.tick();
    }

    /// Feeds a message from another orderer.
    pub fn step(&mut self, msg: Message) -> Result<(), ConsensusError> {
        self.raw.step(msg)?;
        Ok(())
    }

    /// The leader this node knows of (itself included).
    pub fn leader(&self) -> Option<u64> {
        match self.raw.raft.leader_id {
            raft::INVALID_ID => None,
            id => Some(id),
        }
    }

    /// Whether this node is the leader.
    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    /// The current Raft term.
    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    /// The last applied block and its Raft index.
    pub fn chain(&self) -> &ChainState {
        &self.chain
    }

    /// The durable log (read-only).
    pub fn log(&self) -> &L {
        self.raw.store()
    }

    /// Tells raft-rs that a snapshot message to `to` was delivered or lost,
    /// so that the leader resumes (or retries) replicating to it.
    pub fn report_snapshot(&mut self, to: u64, status: SnapshotStatus) {
        self.raw.report_snapshot(to, status);
    }

    /// Tells raft-rs that a message to `to` could not be sent.
    pub fn report_unreachable(&mut self, to: u64) {
        self.raw.report_unreachable(to);
    }

    /// Leader only: builds the next block from `envelopes` on top of the last
    /// block in this leader's log (blocks in flight included) and proposes
    /// it. The block's time is `now_ms`, or the previous block's if that is
    /// later. Returns the number of the proposed block. The block is ordered
    /// only once it appears in [`Output::committed_blocks`].
    pub fn propose_block(
        &mut self,
        envelopes: Vec<Envelope>,
        now_ms: u64,
    ) -> Result<u64, NotLeader> {
        let digests: Vec<Digest> = envelopes.iter().map(Envelope::digest).collect();
        self.propose(envelopes, &digests, now_ms)
            .map(|block| block.number)
    }

    /// [`RaftNode::propose_block`] for envelopes the API checked, whose
    /// digests it computed already. Returns the block's data hash.
    pub fn propose_submissions(
        &mut self,
        batch: Vec<Submission>,
        now_ms: u64,
    ) -> Result<(Digest, Vec<Digest>), NotLeader> {
        let (envelopes, digests): (Vec<Envelope>, Vec<Digest>) =
            batch.into_iter().map(Submission::into_parts).unzip();
        let header = self.propose(envelopes, &digests, now_ms)?;
        Ok((header.data_hash, digests))
    }

    /// Proposes a block of `envelopes`, whose [`Envelope::digest`]s are `digests`.
    fn propose(
        &mut self,
        envelopes: Vec<Envelope>,
        digests: &[Digest],
        now_ms: u64,
    ) -> Result<BlockHeader, NotLeader> {
        let not_leader = NotLeader {
            leader: self.leader().filter(|&id| id != self.id()),
        };
        if !self.is_leader() {
            return Err(not_leader);
        }
        let tip = self.leader_tip().map_err(|_| not_leader.clone())?;
        let mut block = Block::new(
            tip.number + 1,
            tip.hash(),
            now_ms.max(tip.timestamp_ms),
            vec![],
        );
        block.header.data_hash = data_hash_of(digests);
        block.data = envelopes;
        let data = serde_json::to_vec(&block).map_err(|_| not_leader.clone())?;
        self.raw.propose(Vec::new(), data).map_err(|_| not_leader)?;
        let (index, term) = (self.raw.raft.raft_log.last_index(), self.term());
        let header = block.header.clone();
        if self.in_flight.len() >= IN_FLIGHT_KEPT {
            self.in_flight.pop_front();
        }
        self.in_flight.push_back((index, term, block));
        self.proposed_tip = Some((term, header.clone()));
        Ok(header)
    }

    /// The block this node proposed in `entry`, if it still has it.
    fn take_in_flight(&mut self, entry: &Entry) -> Option<Block> {
        while let Some((index, term, _)) = self.in_flight.front() {
            if *index > entry.index {
                return None;
            }
            let hit = *index == entry.index && *term == entry.term;
            let (_, _, block) = self.in_flight.pop_front()?;
            if hit {
                return Some(block);
            }
        }
        None
    }

    /// The last block in this leader's log: the applied chain, extended by
    /// replaying the entries not yet applied with the same rule as
    /// [`accept`]. A leader never truncates its own log, so these all commit.
    fn leader_tip(&mut self) -> Result<BlockHeader, ConsensusError> {
        let term = self.term();
        if let Some((t, tip)) = &self.proposed_tip
            && *t == term
        {
            return Ok(tip.clone());
        }
        let entries = self.raw.raft.raft_log.entries(
            self.chain.applied_index + 1,
            None,
            GetEntriesContext::empty(false),
        )?;
        let mut tip = self.chain.last.clone();
        for entry in &entries {
            if let Some(block) = accept(&tip, entry) {
                tip = block.header;
            }
        }
        self.proposed_tip = Some((term, tip.clone()));
        Ok(tip)
    }

    /// Runs raft-rs's Ready loop once: send messages; install a snapshot;
    /// apply committed entries; append entries; persist the hard state;
    /// sync; send persisted messages; advance; then the light Ready's commit
    /// index, messages and committed entries; advance the applied index; and
    /// compact the log if enough was applied.
    pub fn ready(&mut self) -> Result<Output, ConsensusError> {
        let mut out = Output {
            needs_blocks: self.pending_needs.take(),
            ..Output::default()
        };
        if !self.raw.has_ready() {
            return Ok(out);
        }
        let mut ready = self.raw.ready();
        out.messages.extend(ready.take_messages());
        if !ready.snapshot().is_empty() {
            let snapshot = ready.snapshot().clone();
            self.raw
                .mut_store()
                .apply_snapshot(&snapshot)
                .map_err(log_error)?;
            let gap = jump_to_snapshot(&mut self.chain, &snapshot)?;
            out.needs_blocks = merge_gaps(out.needs_blocks, gap);
            self.applied_bytes_since_snapshot = 0;
            self.proposed_tip = None;
        }
        self.apply(ready.take_committed_entries(), &mut out);
        if !ready.entries().is_empty() {
            self.raw
                .mut_store()
                .append(ready.entries())
                .map_err(log_error)?;
        }
        if let Some(hs) = ready.hs() {
            let hs = hs.clone();
            self.raw
                .mut_store()
                .set_hard_state(&hs)
                .map_err(log_error)?;
        }
        if ready.must_sync() || !ready.persisted_messages().is_empty() {
            self.raw.mut_store().sync().map_err(log_error)?;
        }
        out.messages.extend(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.raw.mut_store().set_commit(commit).map_err(log_error)?;
        }
        out.messages.extend(light.take_messages());
        self.apply(light.take_committed_entries(), &mut out);
        self.raw.advance_apply();
        self.maybe_compact()?;
        Ok(out)
    }

    /// Applies committed entries to the chain, in order.
    fn apply(&mut self, entries: Vec<Entry>, out: &mut Output) {
        for entry in entries {
            if entry.index <= self.chain.applied_index {
                // Applied before a restart; the stored chain already has it.
                continue;
            }
            self.chain.applied_index = entry.index;
            self.applied_bytes_since_snapshot += entry.data.len() as u64;
            if entry.data.is_empty() || entry.get_entry_type() != EntryType::EntryNormal {
                continue;
            }
            // A block from this node's own proposal went into the entry as
            // JSON of exactly this value, with its data hash computed from
            // the envelopes' digests; only the chaining is left to check.
            let own = self
                .take_in_flight(&entry)
                .filter(|b| b.verify_follows(&self.chain.last).is_ok());
            match own.or_else(|| accept(&self.chain.last, &entry)) {
                Some(block) => {
                    self.chain.last = block.header.clone();
                    out.committed_blocks.push(block);
                    out.committed_indexes.push(entry.index);
                }
                None => out.skipped_blocks += 1,
            }
        }
    }

    /// Compacts the log at the applied index once `snapshot_interval_bytes`
    /// of entries were applied since the last snapshot.
    fn maybe_compact(&mut self) -> Result<(), ConsensusError> {
        if self.applied_bytes_since_snapshot < self.params.snapshot_interval_bytes {
            return Ok(());
        }
        let index = self.chain.applied_index;
        // After a restart the chain may be ahead of what raft-rs re-applied;
        // the snapshot must describe the chain at exactly its index.
        if index > self.raw.raft.raft_log.applied || index < self.raw.store().first_index()? {
            return Ok(());
        }
        let data =
            serde_json::to_vec(&self.chain.last).map_err(|e| ConsensusError::BadSnapshot {
                index,
                reason: e.to_string(),
            })?;
        self.raw
            .mut_store()
            .compact(index, data)
            .map_err(log_error)?;
        self.applied_bytes_since_snapshot = 0;
        Ok(())
    }
}

/// The block in `entry` if it extends `last`, else `None` (not a block, or a
/// deposed leader's block built on a block that lost). Every node decides
/// alike: this depends only on the entry and the applied chain.
fn accept(last: &BlockHeader, entry: &Entry) -> Option<Block> {
    if entry.data.is_empty() || entry.get_entry_type() != EntryType::EntryNormal {
        return None;
    }
    let block: Block = serde_json::from_slice(&entry.data).ok()?;
    block.verify_follows(last).ok()?;
    block.verify_data_hash().ok()?;
    Some(block)
}

/// Moves `chain` to a snapshot's block header; returns the block numbers the
/// chain is missing, if the snapshot is ahead of it.
fn jump_to_snapshot(
    chain: &mut ChainState,
    snapshot: &Snapshot,
) -> Result<Option<(u64, u64)>, ConsensusError> {
    let index = snapshot.get_metadata().index;
    if index <= chain.applied_index {
        return Ok(None);
    }
    let header: BlockHeader =
        serde_json::from_slice(&snapshot.data).map_err(|e| ConsensusError::BadSnapshot {
            index,
            reason: e.to_string(),
        })?;
    let gap = (header.number > chain.last.number).then(|| (chain.last.number + 1, header.number));
    if header.number >= chain.last.number {
        chain.last = header;
    }
    chain.applied_index = index;
    Ok(gap)
}

fn merge_gaps(a: Option<(u64, u64)>, b: Option<(u64, u64)>) -> Option<(u64, u64)> {
    match (a, b) {
        (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
        (a, b) => a.or(b),
    }
}
