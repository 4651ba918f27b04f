//! The peer process: its configuration and files, where its blocks come
//! from, and the loop that commits them.
//!
//! - [`PeerNode::open`] loads a [`PeerNodeConfig`] (as written by
//!   `weft network init`): identity, genesis block, ledger directory; it
//!   opens the ledger and the committer, which resumes at the savepoint.
//! - [`BlockSource`]: where the next block comes from. [`OrdererSource`]
//!   pulls them from the orderers' deliver API, failing over from one
//!   orderer to the next ([`DeliverSettings`] bounds its buffer and sets its
//!   timeouts); [`DirectorySource`] reads `<number>.json` files from a
//!   directory (blocks exported from another peer, or written by a test).
//! - [`PeerNode::run`] pulls the block at the ledger's height, commits it,
//!   and repeats until asked to stop.

pub mod daemon;
mod deliver;
mod source;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use weft_types::Identity;
use weft_types::node_config::{NodeFileError, PeerNodeConfig, load_genesis, read_node_config};

use crate::committer::{CommitError, Committer};
use crate::ledger::{Ledger, LedgerError};
use crate::runtime::{Runtime, RuntimeConfig, RuntimeError};

pub use deliver::{DeliverSettings, OrdererSource};
pub use source::{BlockSource, DirectorySource, SourceError};

/// Why a peer could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The config file cannot be read or is invalid.
    #[error("config {}: {reason}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The identity or genesis file is unusable.
    #[error(transparent)]
    File(#[from] NodeFileError),
    /// The ledger cannot be opened or written.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The Wasm runtime cannot be created.
    #[error("runtime: {0}")]
    Runtime(#[from] RuntimeError),
    /// A block could not be committed in a way retrying cannot fix.
    #[error("commit: {0}")]
    Commit(#[from] CommitError),
}

/// A started peer: who it is and its committer.
#[derive(Debug)]
pub struct PeerNode {
    /// The peer's identity (it signs endorsements).
    pub identity: Identity,
    /// Its configuration, paths resolved.
    pub config: PeerNodeConfig,
    /// Its committer (and through it, its ledger and channel configuration).
    pub committer: Arc<Committer>,
    /// Its chaincode runtime.
    pub runtime: Arc<Runtime>,
}

/// At most this many blocks are fetched and committed in one pipelined run.
const LOOKAHEAD: u64 = 16;

/// How long the loop waits when no block is available yet; also bounds how
/// long a stop request waits when the peer is idle.
const POLL: Duration = Duration::from_millis(20);

impl PeerNode {
    /// Reads the config at `path`, with `WEFT_*` overrides from the
    /// environment and every path made relative to the file's directory.
    pub fn read_config(path: &Path) -> Result<PeerNodeConfig, PeerError> {
        let bad = |reason: String| PeerError::Config {
            path: path.to_path_buf(),
            reason,
        };
        read_node_config(path).map_err(|e| bad(e.to_string()))
    }

    /// Loads identity and genesis, opens the ledger and resumes committing
    /// where it stopped.
    pub fn open(config: PeerNodeConfig) -> Result<PeerNode, PeerError> {
        let identity = config.identity.load(Path::new("."))?;
        let genesis = load_genesis(&config.genesis_block)?;
        let ledger = Arc::new(Ledger::open(config.data_dir.join("ledger"))?);
        let runtime = Arc::new(Runtime::new(RuntimeConfig::default())?);
        let committer = Arc::new(Committer::open(
            ledger,
            runtime.clone(),
            &genesis,
            identity.org(),
        )?);
        tracing::info!(
            peer = %format!("{}@{}", identity.name(), identity.org()),
            height = committer.height(),
            commit_hash = %committer.commit_hash(),
            "peer started"
        );
        Ok(PeerNode {
            identity,
            config,
            committer,
            runtime,
        })
    }

    /// Commits blocks from `source` until `stop` is set or the ledger
    /// reaches `stop_at_height`. A block the committer refuses (bad
    /// signatures, not chaining) is logged and asked for again after a
    /// pause — another source may serve a good one; a ledger failure ends
    /// the loop with an error (restart the peer: it resumes at its
    /// savepoint).
    pub fn run(
        &self,
        source: &mut dyn BlockSource,
        stop: &AtomicBool,
        stop_at_height: Option<u64>,
    ) -> Result<(), PeerError> {
        while !stop.load(Ordering::Relaxed) {
            let height = self.committer.height();
            if stop_at_height.is_some_and(|h| height >= h) {
                break;
            }
            let mut blocks = Vec::new();
            let last = stop_at_height.map_or(u64::MAX, |h| h.saturating_sub(1));
            for number in height..=last.min(height + LOOKAHEAD - 1) {
                match source.next_block(number) {
                    Ok(Some(block)) => blocks.push(block),
                    Ok(None) => break,
                    // The first one is retried below; a later one next round.
                    Err(e) if number == height => {
                        tracing::warn!(height, "cannot fetch block {height}: {e}");
                        break;
                    }
                    Err(_) => break,
                }
            }
            if blocks.is_empty() {
                std::thread::sleep(POLL);
                continue;
            }
            // Each block's ledger write overlaps the next one's precheck.
            let (events, error) = self.committer.commit_all(blocks);
            for event in &events {
                tracing::info!(
                    block = event.number,
                    txs = event.txs.len(),
                    valid = event.valid().count(),
                    commit_hash = %event.commit_hash,
                    "committed"
                );
            }
            match error {
                None | Some(CommitError::AlreadyCommitted { .. }) => {}
                Some(e @ (CommitError::Ledger(_) | CommitError::Inconsistent(_))) => {
                    return Err(e.into());
                }
                Some(e) => {
                    let height = self.committer.height();
                    tracing::error!(height, "block {height} refused: {e}");
                    std::thread::sleep(POLL * 10);
                }
            }
        }
        tracing::info!(
            height = self.committer.height(),
            commit_hash = %self.committer.commit_hash(),
            "peer stopped"
        );
        Ok(())
    }
}
