//! The committer: takes ordered blocks one at a time, checks that the
//! ordering service made them, validates them against committed state and
//! commits the result — flags, writes, history, tx index, commit hash — in
//! one atomic ledger batch; then tells subscribers what committed.
//!
//! - [`Committer::open`] starts from a ledger and the channel's genesis
//!   block: an empty ledger commits the genesis block first; a used one must
//!   have been started from the same genesis, and resumes at its savepoint
//!   with the configuration it last committed.
//! - [`Committer::commit`] runs the pipeline for the next block and returns
//!   its [`BlockEvent`]; [`Committer::subscribe`] streams those events.
//! - Lifecycle: a valid lifecycle transaction writes the definition to
//!   [`LIFECYCLE_NAMESPACE`](crate::ledger::LIFECYCLE_NAMESPACE) and stores its module, in the block's batch, so
//!   every peer switches definition at the same block. The runtime already
//!   compiled the module while the block was validated.
//! - Configuration: a valid configuration transaction is written to
//!   [`CONFIG_NAMESPACE`](crate::ledger::CONFIG_NAMESPACE) and takes effect from the next block on.
//!
//! A block is refused (and nothing changes) when it is not the next one,
//! does not chain to the last committed header, goes back in time, or lacks
//! the orderer signatures the channel requires. A ledger failure leaves the
//! committer unusable until the peer restarts; it then resumes at its
//! savepoint and fetches the block again.

mod error;
mod events;
mod updates;

use std::sync::Arc;

use parking_lot::Mutex;
use rayon::prelude::*;
use tokio::sync::broadcast;
use weft_types::{Block, BlockHeader, ChannelConfig, Digest};

use crate::channel::ConfigHandle;
use crate::ledger::Ledger;
use crate::runtime::Runtime;
use crate::validator::{TxCheck, ValidationMemory, check_mvcc, check_transactions_with_digests};

pub use error::CommitError;
pub use events::{BlockEvent, TxEvent};
pub use updates::{CommitSite, block_updates};

/// Block events kept for subscribers that fall behind; one that lags further
/// gets [`broadcast::error::RecvError::Lagged`] and re-reads blocks from the
/// ledger.
const EVENT_BUFFER: usize = 256;

/// Validates and commits blocks to one channel's ledger.
pub struct Committer {
    ledger: Arc<Ledger>,
    /// The peer's org (collection membership).
    org: String,
    runtime: Arc<Runtime>,
    config: ConfigHandle,
    /// The last committed header; the lock also serialises commits.
    last: Mutex<Option<BlockHeader>>,
    /// The last block that changed a definition, a key-level policy or the
    /// configuration: what stage 1 reads.
    last_policy_change: Mutex<Option<u64>>,
    events: broadcast::Sender<Arc<BlockEvent>>,
    /// The endorsements this peer signed (its endorser records them) and
    /// the certificates validation verified, which it does not verify again.
    memory: ValidationMemory,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("ledger", &self.ledger)
            .finish_non_exhaustive()
    }
}

impl Committer {
    /// A committer over `ledger` for the channel `genesis` starts. Commits
    /// the genesis block if the ledger is empty; otherwise checks the ledger
    /// holds this genesis and resumes where it stopped.
    /// `org` is the peer's: members of a private data collection store its
    /// values, other peers its hashes only.
    pub fn open(
        ledger: Arc<Ledger>,
        runtime: Arc<Runtime>,
        genesis: &Block,
        org: &str,
    ) -> Result<Committer, CommitError> {
        let genesis_config = genesis_config(genesis)?;
        let height = ledger.height();
        if height == 0 {
            let committer = Committer::new(ledger, runtime, genesis_config, None, org);
            committer.commit(genesis.clone())?;
            committer.replay();
            return Ok(committer);
        }
        let stored = ledger
            .block(0)?
            .ok_or_else(|| CommitError::Inconsistent("the ledger has no block 0".into()))?;
        if stored.hash() != genesis.hash() {
            return Err(CommitError::GenesisMismatch {
                ledger: stored.hash(),
                given: genesis.hash(),
            });
        }
        let config = ledger.channel_config()?.ok_or_else(|| {
            CommitError::Inconsistent("the ledger holds no channel configuration".into())
        })?;
        let last = ledger
            .block(height - 1)?
            .ok_or_else(|| {
                CommitError::Inconsistent(format!("the ledger has no block {}", height - 1))
            })?
            .header;
        tracing::info!(height, commit_hash = %ledger.commit_hash(), "resuming the ledger");
        let committer = Committer::new(ledger, runtime, config, Some(last), org);
        committer.replay();
        Ok(committer)
    }

    /// Commits again the blocks the ledger stored but whose state a crash
    /// kept from becoming durable. One that fails is left to the orderers
    /// to deliver again.
    fn replay(&self) {
        for block in self.ledger.blocks_above_savepoint() {
            let number = block.number();
            match self.commit(block) {
                Ok(_) => tracing::info!(block = number, "replayed"),
                Err(CommitError::AlreadyCommitted { .. }) => {}
                Err(e) => {
                    tracing::warn!(block = number, "replay stopped: {e}");
                    break;
                }
            }
        }
    }

    fn new(
        ledger: Arc<Ledger>,
        runtime: Arc<Runtime>,
        config: ChannelConfig,
        last: Option<BlockHeader>,
        org: &str,
    ) -> Committer {
        Committer {
            ledger,
            org: org.to_string(),
            runtime,
            config: ConfigHandle::new(config),
            // Every precheck from now on reads state at least as new as
            // the blocks committed before this process started.
            last_policy_change: Mutex::new(None),
            last: Mutex::new(last),
            events: broadcast::channel(EVENT_BUFFER).0,
            memory: ValidationMemory::default(),
        }
    }

    /// Checks, validates and commits `block`, which must be the next one
    /// ([`Committer::height`]), and publishes its [`BlockEvent`].
    ///
    /// The orderer signatures, data hash and chaining are checked first
    /// ([`Block::verify`], [`Block::verify_follows`]); the validation flags
    /// and commit hash the block arrives with are ignored and computed here.
    pub fn commit(&self, block: Block) -> Result<Arc<BlockEvent>, CommitError> {
        let prechecked = self.precheck(block)?;
        self.commit_prechecked(prechecked)
    }

    /// Commits `blocks` in order, overlapping each block's ledger write
    /// with the precheck (orderer signatures and validation stage 1) of the
    /// next. Stops at the first error; returns the events of the blocks
    /// committed and that error.
    pub fn commit_all(
        &self,
        blocks: impl IntoIterator<Item = Block>,
    ) -> (Vec<Arc<BlockEvent>>, Option<CommitError>) {
        let mut events = Vec::new();
        let mut blocks = blocks.into_iter();
        let Some(first) = blocks.next() else {
            return (events, None);
        };
        let mut current = match self.precheck(first) {
            Ok(p) => p,
            Err(e) => return (events, Some(e)),
        };
        let error = std::thread::scope(|scope| {
            loop {
                let ahead = blocks
                    .next()
                    .map(|block| scope.spawn(move || self.precheck(block)));
                match self.commit_prechecked(current) {
                    Ok(event) => events.push(event),
                    Err(e) => return Some(e),
                }
                current = match ahead.map(|h| h.join()) {
                    None => return None,
                    Some(Ok(Ok(p))) => p,
                    Some(Ok(Err(e))) => return Some(e),
                    Some(Err(_)) => {
                        return Some(CommitError::Inconsistent(
                            "the precheck of a block panicked".into(),
                        ));
                    }
                };
            }
        });
        (events, error)
    }

    /// The part of committing `block` that does not depend on the block
    /// before it being committed: orderer signatures and data hash, and
    /// validation stage 1 (signatures, certificates, definitions,
    /// policies), read from the latest committed state without blocking
    /// commits. [`Committer::commit_prechecked`] redoes it if a block
    /// committed meanwhile changed what it read.
    pub fn precheck(&self, block: Block) -> Result<Prechecked, CommitError> {
        let config = self.config.current();
        let basis = self.ledger.height();
        if block.number() < basis {
            return Err(CommitError::AlreadyCommitted {
                number: block.number(),
                height: basis,
            });
        }
        // Each payload is hashed once, in parallel, for both the data hash
        // and the creators' signatures.
        let payload_digests: Vec<Digest> =
            block.data.par_iter().map(|e| e.payload_digest()).collect();
        let envelope_digests: Vec<Digest> = block
            .data
            .iter()
            .zip(&payload_digests)
            .map(|(e, d)| e.digest_from(d))
            .collect();
        block.verify_data_hash_of(&envelope_digests)?;
        block.verify_signatures(&config)?;
        let checks = check_transactions_with_digests(
            &config,
            &self.ledger.latest_state(),
            &*self.runtime,
            Some(&self.memory),
            &block,
            &payload_digests,
        )?;
        Ok(Prechecked {
            block,
            payload_digests,
            checks,
            basis,
            config_sequence: config.sequence,
        })
    }

    /// Finishes committing a prechecked block: chaining, validation stage 2
    /// over a snapshot, the ledger write, the event.
    pub fn commit_prechecked(
        &self,
        prechecked: Prechecked,
    ) -> Result<Arc<BlockEvent>, CommitError> {
        let Prechecked {
            mut block,
            payload_digests,
            mut checks,
            basis,
            config_sequence,
        } = prechecked;
        let mut last = self.last.lock();
        let number = block.number();
        let height = self.ledger.height();
        if number < height {
            return Err(CommitError::AlreadyCommitted { number, height });
        }
        if number > height {
            return Err(CommitError::OutOfOrder { number, height });
        }
        let config = self.config.current();
        if let Some(previous) = last.as_ref() {
            block.verify_follows(previous)?;
        }
        let snapshot = self.ledger.snapshot();
        // Stage 1 read definitions, key-level policies and the configuration
        // as of some height >= basis; if a block from basis on changed any
        // of them, its verdicts may be stale.
        let stale = config.sequence != config_sequence
            || (*self.last_policy_change.lock()).is_some_and(|n| n >= basis);
        if stale {
            block.verify_signatures(&config)?;
            checks = check_transactions_with_digests(
                &config,
                &snapshot,
                &*self.runtime,
                Some(&self.memory),
                &block,
                &payload_digests,
            )?;
        }
        let validation = check_mvcc(&snapshot, number, checks)?;
        drop(snapshot);
        let updates = updates::block_updates(
            &validation,
            CommitSite {
                ledger: &self.ledger,
                org: &self.org,
                block: number,
            },
        )?;
        block.metadata.validation_flags = validation.codes.clone();
        block.metadata.commit_hash = None;
        let commit_hash = self.ledger.commit(&block, &updates)?;
        *last = Some(block.header.clone());
        if validation
            .valid_writes
            .iter()
            .any(|w| w.definition.is_some() || w.config.is_some() || !w.key_policies.is_empty())
        {
            *self.last_policy_change.lock() = Some(number);
        }
        if let Some(next) = validation
            .valid_writes
            .iter()
            .find_map(|w| w.config.clone())
        {
            if number > 0 {
                tracing::info!(
                    block = number,
                    sequence = next.sequence,
                    "channel configuration changed"
                );
            }
            self.config.replace(next);
        }
        for def in validation
            .valid_writes
            .iter()
            .filter_map(|w| w.definition.as_ref())
        {
            tracing::info!(
                block = number,
                chaincode = %def.name,
                version = %def.version,
                sequence = def.sequence,
                "chaincode definition committed"
            );
        }
        let event = Arc::new(BlockEvent::new(&block, &validation, commit_hash));
        tracing::debug!(
            block = number,
            txs = block.data.len(),
            valid = validation.valid_writes.len(),
            %commit_hash,
            "block committed"
        );
        // Nobody listening is fine.
        let _ = self.events.send(event.clone());
        Ok(event)
    }

    /// Events of the blocks committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<BlockEvent>> {
        self.events.subscribe()
    }

    /// The number of the next block to commit.
    pub fn height(&self) -> u64 {
        self.ledger.height()
    }

    /// The ledger this committer writes.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The channel configuration in force (shared with the endorser).
    pub fn config(&self) -> &ConfigHandle {
        &self.config
    }

    /// What this peer's validation takes as established — the endorsements
    /// the peer signed and the certificates it verified — which its
    /// endorser shares
    /// ([`Endorser::remembering`](crate::endorser::Endorser::remembering)).
    pub fn memory(&self) -> &ValidationMemory {
        &self.memory
    }

    /// The commit hash after the last committed block.
    pub fn commit_hash(&self) -> Digest {
        self.ledger.commit_hash()
    }
}

/// A block whose stage 1 is done, ready for [`Committer::commit_prechecked`].
#[derive(Debug)]
pub struct Prechecked {
    block: Block,
    payload_digests: Vec<Digest>,
    checks: Vec<TxCheck>,
    /// The ledger height when stage 1 started.
    basis: u64,
    config_sequence: u64,
}

impl Prechecked {
    /// The block's number.
    pub fn number(&self) -> u64 {
        self.block.number()
    }
}

/// The channel configuration a genesis block carries: its one transaction
/// must be a configuration transaction.
pub fn genesis_config(genesis: &Block) -> Result<ChannelConfig, CommitError> {
    genesis.genesis_config().map_err(CommitError::BadGenesis)
}
