//! [`SledLog`]: the orderer's Raft log on disk, a [`DurableLog`] in a
//! directory: the entries in an append-only file, everything else in sled.
//!
//! Entries are whole blocks (100 KB–600 KB); in a sled tree each was a
//! blob, and inserting them cost more CPU than the rest of the orderer. So
//! they go to `raft-entries.log` (records with a CRC, an in-memory index
//! and a cache of the newest entries; its format is in `entry_file.rs`),
//! and one sled tree (`raft_log`) keeps the small records:
//!
//! | key                   | value                                            |
//! |-----------------------|--------------------------------------------------|
//! | `m:hard_state`        | the [`HardState`], protobuf                      |
//! | `m:conf_state`        | the [`ConfState`], protobuf                      |
//! | `m:snapshot_meta`     | the last snapshot's [`SnapshotMetadata`]         |
//! | `m:snapshot_data`     | the last snapshot's data                         |
//! | `m:entry_file_synced` | bytes of the entry file known synced (u64, BE)   |
//!
//! Invariants: the live entries are exactly `snapshot.index + 1 ..=
//! last_index`, without holes (the file may still hold a dead prefix at or
//! below the snapshot); the hard state, conf state, snapshot metadata and
//! the entries' terms are in memory and always equal what is stored, so
//! that `first_index`, `last_index`, `term` and `initial_state` do no I/O.
//!
//! Writes are visible at once but durable only after [`DurableLog::sync`],
//! which fsyncs the file, then puts the file's length, the hard state and
//! the conf state in the tree and flushes sled. Reopening a log with
//! [`SledLog::open`] gives back at least what was synced. Two stores
//! cannot share a transaction, so their writes are ordered; sled may also
//! flush on its own at any time, so the tree never gets ahead of the file:
//! - the hard and conf states wait in memory for `sync`: a commit index
//!   must not reach disk before the entries it commits;
//! - `m:entry_file_synced` is raised only after the file's fsync, and
//!   lowered durably before the file shrinks under it. On open, a bad
//!   record inside that length is [`SledLogError::Corrupt`]; past it, it is
//!   the torn tail of writes never synced (a crash), and is cut off.
//! - A new leader's overwrite truncates the file and syncs the truncation.
//! - The file loses a dead prefix (a rewrite once it is large, or emptying
//!   when an installed snapshot is past every entry) only after the
//!   snapshot covering it is durable; an installed snapshot's stale entries
//!   leave the file durably before the snapshot is written.
//!
//! A directory written when entries lived in the tree (under `e` + index,
//! BE) is migrated on open: the entries are copied into a new, synced file,
//! then removed from the tree in one batch.
//!
//! Semantics follow raft-rs's `MemStorage`, except that:
//! - a compaction at `index` keeps no entry at `index`; its term is the
//!   snapshot's, which [`Storage::term`] still answers;
//! - [`Storage::snapshot`] returns the stored snapshot rather than one
//!   built from the commit index;
//! - misuse that `MemStorage` answers with a panic (a gap in `append`,
//!   `entries` past the last index) is an error;
//! - as [`DurableLog`] specifies, `append` ignores entries at or below the
//!   snapshot, and `apply_snapshot` keeps the entries after the snapshot
//!   when the log holds the snapshot's last entry.

use std::path::Path;

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

use crate::entry_file::EntryFile;
use crate::log::DurableLog;

mod error;
mod migration;

pub use error::SledLogError;

/// The sled tree that holds the log's metadata (one per orderer data directory).
const TREE_NAME: &str = "raft_log";
const HARD_STATE_KEY: &[u8] = b"m:hard_state";
const CONF_STATE_KEY: &[u8] = b"m:conf_state";
const SNAPSHOT_META_KEY: &[u8] = b"m:snapshot_meta";
const SNAPSHOT_DATA_KEY: &[u8] = b"m:snapshot_data";
pub(crate) const ENTRY_FILE_SYNCED_KEY: &[u8] = b"m:entry_file_synced";

/// The entry file's name in the log's directory.
pub const ENTRY_FILE_NAME: &str = "raft-entries.log";
/// Default of [`SledLogOptions::rewrite_min_dead_bytes`]: 64 MiB.
pub const DEFAULT_REWRITE_MIN_DEAD_BYTES: u64 = 64 * 1024 * 1024;
/// Default of [`SledLogOptions::cache_max_bytes`]: 32 MiB.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 32 * 1024 * 1024;

/// Tuning of a [`SledLog`]; the default is what the orderer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SledLogOptions {
    /// The entry file is rewritten without its dead prefix (entries a
    /// snapshot covers) once that prefix is at least this many bytes and
    /// more than half the file.
    pub rewrite_min_dead_bytes: u64,
    /// Most bytes of the newest entries kept in memory, so that reading
    /// back what was just appended does no I/O.
    pub cache_max_bytes: u64,
}

impl Default for SledLogOptions {
    fn default() -> Self {
        SledLogOptions {
            rewrite_min_dead_bytes: DEFAULT_REWRITE_MIN_DEAD_BYTES,
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
        }
    }
}

/// The Raft log, hard state, conf state and last snapshot of one orderer,
/// in a directory. See the [module docs](self) for the layout.
#[derive(Debug)]
pub struct SledLog {
    db: sled::Db,
    tree: sled::Tree,
    entries: EntryFile,
    options: SledLogOptions,
    hard_state: HardState,
    conf_state: ConfState,
    /// The hard or conf state changed since it was last put in the tree.
    states_unsaved: bool,
    /// The last snapshot taken or installed; index 0 when there is none.
    snapshot_meta: SnapshotMetadata,
    /// Index of the last stored entry, or the snapshot's index.
    last_index: u64,
    /// What `m:entry_file_synced` holds (written, not necessarily flushed).
    synced_len: u64,
}

impl SledLog {
    /// Opens (or creates) the log in `dir`; a reopened log returns what was synced.
    pub fn open(dir: &Path) -> Result<SledLog, SledLogError> {
        SledLog::open_with(dir, SledLogOptions::default())
    }

    /// [`SledLog::open`] with other [`SledLogOptions`] (tests use small
    /// thresholds to exercise rewrites and reads from the file).
    pub fn open_with(dir: &Path, options: SledLogOptions) -> Result<SledLog, SledLogError> {
        let db = open_db(dir).map_err(|source| SledLogError::Open {
            dir: dir.to_path_buf(),
            source,
        })?;
        let tree = db.open_tree(TREE_NAME)?;
        let hard_state: HardState = read_message(&tree, HARD_STATE_KEY, "hard state")?;
        let conf_state: ConfState = read_message(&tree, CONF_STATE_KEY, "conf state")?;
        let snapshot_meta: SnapshotMetadata =
            read_message(&tree, SNAPSHOT_META_KEY, "snapshot metadata")?;
        migration::move_tree_entries_to_file(&db, &tree, dir, snapshot_meta.index)?;
        let synced_len = read_synced_len(&tree)?;
        let entries = EntryFile::open(
            dir,
            snapshot_meta.index,
            synced_len,
            options.cache_max_bytes,
        )?;
        let last_index = entries.last_index().unwrap_or(snapshot_meta.index);
        let mut log = SledLog {
            db,
            tree,
            entries,
            options,
            hard_state,
            conf_state,
            states_unsaved: false,
            snapshot_meta,
            last_index,
            synced_len,
        };
        if log.entries.needs_reset_for(log.snapshot_meta.index) {
            // A crash after an installed snapshot past every entry was
            // recorded, before the file was emptied.
            log.lower_synced_len(0)?;
            log.entries.reset(log.snapshot_meta.index + 1)?;
        }
        Ok(log)
    }

    /// A new log for a node that starts a cluster: conf state with these
    /// voters (only when the log is empty). Durable when it returns.
    pub fn bootstrap(&mut self, voters: &[u64]) -> Result<(), SledLogError> {
        if voters.is_empty() {
            return Err(SledLogError::NoVoters);
        }
        if !self.is_empty() {
            return Err(SledLogError::NotEmpty);
        }
        let conf_state = ConfState {
            voters: voters.to_vec(),
            ..ConfState::default()
        };
        self.set_conf_state(&conf_state)?;
        self.sync()
    }

    /// True when nothing was ever written: no entry, snapshot, hard state
    /// or conf state.
    fn is_empty(&self) -> bool {
        self.last_index == 0
            && self.snapshot_meta.index == 0
            && self.hard_state == HardState::default()
            && self.conf_state == ConfState::default()
    }

    fn first(&self) -> u64 {
        self.snapshot_meta.index + 1
    }

    fn stored_term(&self, index: u64) -> Result<u64, SledLogError> {
        self.entries
            .term(index)
            .ok_or_else(|| SledLogError::Corrupt {
                what: format!("entry {index}"),
                reason: "missing inside the log".to_owned(),
            })
    }

    /// Makes `m:entry_file_synced` at most `len`, durably: call before the
    /// entry file shrinks to `len`.
    fn lower_synced_len(&mut self, len: u64) -> Result<(), SledLogError> {
        if self.synced_len <= len {
            return Ok(());
        }
        self.tree
            .insert(ENTRY_FILE_SYNCED_KEY, &len.to_be_bytes())?;
        self.db.flush()?;
        self.synced_len = len;
        Ok(())
    }

    /// Records that the first `len` bytes of the entry file are synced.
    fn record_synced_len(&mut self, len: u64) -> Result<(), SledLogError> {
        if self.synced_len != len {
            self.tree
                .insert(ENTRY_FILE_SYNCED_KEY, &len.to_be_bytes())?;
            self.synced_len = len;
        }
        Ok(())
    }

    /// Drops entry `index` and every later one from the file, durably.
    fn truncate_entries_from(&mut self, index: u64) -> Result<(), SledLogError> {
        let Some(offset) = self.entries.offset(index) else {
            return Ok(());
        };
        self.lower_synced_len(offset)?;
        self.entries.truncate_from(index)
    }

    /// Rewrites the entry file without its dead prefix when that is due.
    /// The snapshot that made the prefix dead becomes durable first.
    fn maybe_rewrite(&mut self) -> Result<(), SledLogError> {
        if !self
            .entries
            .rewrite_due(self.options.rewrite_min_dead_bytes)
        {
            return Ok(());
        }
        let rewrite = self.entries.prepare_rewrite()?;
        let len = rewrite.len();
        if self.synced_len > len {
            self.tree
                .insert(ENTRY_FILE_SYNCED_KEY, &len.to_be_bytes())?;
            self.synced_len = len;
        }
        self.db.flush()?;
        self.entries.install_rewrite(rewrite)?;
        // The new file was synced whole.
        self.record_synced_len(len)
    }
}

impl Storage for SledLog {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    /// Entries `[low, high)`, at least one, then as many as fit in
    /// `max_size` bytes. `Compacted` below the first index; `Unavailable`
    /// when `high` is past `last_index + 1` (where `MemStorage` panics).
    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last_index + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        if low >= high {
            return Ok(Vec::new());
        }
        let max_size = max_size.into().filter(|&max| max != raft::NO_LIMIT);
        self.entries.entries(low, high, max_size).map_err(into_raft)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.snapshot_meta.index {
            return Ok(self.snapshot_meta.term);
        }
        if idx < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > self.last_index {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        self.stored_term(idx).map_err(into_raft)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last_index)
    }

    /// The last snapshot taken by [`DurableLog::compact`] or installed by
    /// [`DurableLog::apply_snapshot`]. `SnapshotTemporarilyUnavailable`
    /// when there is none or it is older than `request_index`: raft-rs
    /// then retries later.
    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let index = self.snapshot_meta.index;
        if index == 0 || index < request_index {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let data = self
            .tree
            .get(SNAPSHOT_DATA_KEY)
            .map_err(|e| into_raft(e.into()))?
            .map(|data| data.to_vec())
            .unwrap_or_default();
        let mut snapshot = Snapshot::default();
        snapshot.set_metadata(self.snapshot_meta.clone());
        snapshot.data = data.into();
        Ok(snapshot)
    }
}

impl DurableLog for SledLog {
    type Error = SledLogError;

    /// Also refuses a batch with holes ([`SledLogError::NotConsecutive`])
    /// or that starts past `last_index + 1` ([`SledLogError::Gap`]), where
    /// `MemStorage` panics. Overwriting stored entries syncs the
    /// truncation at once (it is rare: a new leader's).
    fn append(&mut self, entries: &[Entry]) -> Result<(), SledLogError> {
        for pair in entries.windows(2) {
            if pair[1].index != pair[0].index + 1 {
                return Err(SledLogError::NotConsecutive {
                    previous: pair[0].index,
                    next: pair[1].index,
                });
            }
        }
        let snapshot_index = self.snapshot_meta.index;
        let skip = entries
            .iter()
            .take_while(|e| e.index <= snapshot_index)
            .count();
        let new = &entries[skip..];
        let (Some(first_new), Some(last_new)) = (new.first(), new.last()) else {
            return Ok(());
        };
        if first_new.index > self.last_index + 1 {
            return Err(SledLogError::Gap {
                last_index: self.last_index,
                first_new: first_new.index,
            });
        }
        if first_new.index <= self.last_index {
            self.truncate_entries_from(first_new.index)?;
        }
        self.entries.append(new)?;
        self.last_index = last_new.index;
        Ok(())
    }

    /// Kept in memory until [`DurableLog::sync`] (see the module docs).
    fn set_hard_state(&mut self, hard_state: &HardState) -> Result<(), SledLogError> {
        self.hard_state = hard_state.clone();
        self.states_unsaved = true;
        Ok(())
    }

    fn set_commit(&mut self, commit: u64) -> Result<(), SledLogError> {
        let mut hard_state = self.hard_state.clone();
        hard_state.commit = commit;
        self.set_hard_state(&hard_state)
    }

    /// Kept in memory until [`DurableLog::sync`] (see the module docs).
    fn set_conf_state(&mut self, conf_state: &ConfState) -> Result<(), SledLogError> {
        self.conf_state = conf_state.clone();
        self.states_unsaved = true;
        Ok(())
    }

    /// Keeps the entries after the snapshot only if the log holds the
    /// snapshot's last entry (same index and term); otherwise they belong
    /// to a stale history and all entries go, as in `MemStorage`. (raft-rs
    /// installs a snapshot only in the second case.) Also keeps the hard
    /// state's term at least the snapshot's. Refuses a snapshot at or
    /// below the snapshot index ([`SledLogError::SnapshotOutOfDate`]).
    fn apply_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), SledLogError> {
        let meta = snapshot.get_metadata();
        if meta.index < self.first() {
            return Err(SledLogError::SnapshotOutOfDate {
                index: meta.index,
                first_index: self.first(),
            });
        }
        let holds_last =
            meta.index <= self.last_index && self.stored_term(meta.index)? == meta.term;
        let last_index = if holds_last {
            self.last_index
        } else {
            meta.index
        };
        let mut hard_state = self.hard_state.clone();
        hard_state.term = hard_state.term.max(meta.term);
        hard_state.commit = hard_state.commit.max(meta.index);
        let conf_state = meta.get_conf_state().clone();

        if !holds_last && meta.index < self.last_index {
            // A stale history: it must not outlive a crash after the
            // snapshot is recorded.
            self.truncate_entries_from(meta.index + 1)?;
        }
        // The batch may reach disk before the next sync: the entries its
        // commit index covers must be there first.
        self.entries.sync()?;
        let reset = self.entries.needs_reset_for(meta.index);
        let synced_len = if reset { 0 } else { self.entries.len() };
        let mut batch = sled::Batch::default();
        batch.insert(SNAPSHOT_META_KEY, encode(meta, "snapshot metadata")?);
        batch.insert(SNAPSHOT_DATA_KEY, snapshot.get_data());
        batch.insert(HARD_STATE_KEY, encode(&hard_state, "hard state")?);
        batch.insert(CONF_STATE_KEY, encode(&conf_state, "conf state")?);
        batch.insert(ENTRY_FILE_SYNCED_KEY, &synced_len.to_be_bytes());
        self.tree.apply_batch(batch)?;
        self.synced_len = synced_len;

        self.snapshot_meta = meta.clone();
        self.last_index = last_index;
        self.hard_state = hard_state;
        self.conf_state = conf_state;
        self.states_unsaved = false;
        if reset {
            // Every record is below the snapshot: empty the file once the
            // snapshot is durable.
            self.db.flush()?;
            self.entries.reset(meta.index + 1)
        } else {
            self.entries.drop_through(meta.index);
            self.maybe_rewrite()
        }
    }

    /// fsyncs the entry file, then puts its length and the hard and conf
    /// states in the tree and flushes sled.
    fn sync(&mut self) -> Result<(), SledLogError> {
        self.entries.sync()?;
        let len = self.entries.len();
        if self.synced_len != len || self.states_unsaved {
            let mut batch = sled::Batch::default();
            batch.insert(ENTRY_FILE_SYNCED_KEY, &len.to_be_bytes());
            batch.insert(HARD_STATE_KEY, encode(&self.hard_state, "hard state")?);
            batch.insert(CONF_STATE_KEY, encode(&self.conf_state, "conf state")?);
            self.tree.apply_batch(batch)?;
            self.synced_len = len;
            self.states_unsaved = false;
        }
        self.db.flush()?;
        Ok(())
    }

    /// A compaction at or below the current snapshot index does nothing
    /// (like `MemStorage`). The snapshot records the current conf state, so
    /// call this with the applied index, after applying its conf changes.
    /// The entries stay in the file, dead, until rewriting it is worth it
    /// ([`SledLogOptions::rewrite_min_dead_bytes`]).
    fn compact(&mut self, index: u64, data: Vec<u8>) -> Result<(), SledLogError> {
        if index <= self.snapshot_meta.index {
            return Ok(());
        }
        if index > self.hard_state.commit {
            return Err(SledLogError::CompactBeyondCommit {
                index,
                commit: self.hard_state.commit,
            });
        }
        if index > self.last_index {
            return Err(SledLogError::CompactBeyondLog {
                index,
                last_index: self.last_index,
            });
        }
        let mut meta = SnapshotMetadata {
            index,
            term: self.stored_term(index)?,
            ..SnapshotMetadata::default()
        };
        meta.set_conf_state(self.conf_state.clone());

        let mut batch = sled::Batch::default();
        batch.insert(SNAPSHOT_META_KEY, encode(&meta, "snapshot metadata")?);
        batch.insert(SNAPSHOT_DATA_KEY, data);
        self.tree.apply_batch(batch)?;

        self.snapshot_meta = meta;
        self.entries.drop_through(index);
        self.maybe_rewrite()
    }
}

/// `sled::open`, waiting for a directory lock a previous handle still holds.
fn open_db(dir: &Path) -> sled::Result<sled::Db> {
    weft_types::node_config::open_waiting_for_lock(|| sled::open(dir))
}

fn read_synced_len(tree: &sled::Tree) -> Result<u64, SledLogError> {
    let Some(bytes) = tree.get(ENTRY_FILE_SYNCED_KEY)? else {
        return Ok(0);
    };
    <[u8; 8]>::try_from(&bytes[..])
        .map(u64::from_be_bytes)
        .map_err(|_| SledLogError::Corrupt {
            what: "entry file synced length".to_owned(),
            reason: format!("{} bytes, not a big-endian u64", bytes.len()),
        })
}

/// Reads a protobuf record, or its default when absent.
fn read_message<M: protobuf::Message>(
    tree: &sled::Tree,
    key: &[u8],
    what: &str,
) -> Result<M, SledLogError> {
    let Some(bytes) = tree.get(key)? else {
        return Ok(M::new());
    };
    M::parse_from_bytes(&bytes).map_err(|e| SledLogError::Corrupt {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

fn encode<M: protobuf::Message>(message: &M, what: &'static str) -> Result<Vec<u8>, SledLogError> {
    message.write_to_bytes().map_err(|e| SledLogError::Encode {
        what,
        reason: e.to_string(),
    })
}

fn into_raft(error: SledLogError) -> raft::Error {
    raft::Error::Store(StorageError::Other(Box::new(error)))
}
