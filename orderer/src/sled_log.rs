//! [`SledLog`]: the orderer's Raft log on disk, a [`DurableLog`] in sled.
//!
//! Everything lives in one sled tree, so that each write that must be
//! atomic (an append with its truncation, an installed snapshot, a
//! compaction) is a single sled batch:
//!
//! | key                      | value                                   |
//! |--------------------------|-----------------------------------------|
//! | `e` + index (u64, BE)    | the [`Entry`], protobuf                 |
//! | `m:hard_state`           | the [`HardState`], protobuf             |
//! | `m:conf_state`           | the [`ConfState`], protobuf             |
//! | `m:snapshot_meta`        | the last snapshot's [`SnapshotMetadata`]|
//! | `m:snapshot_data`        | the last snapshot's data                |
//!
//! Invariants: the stored entries are exactly `snapshot.index + 1 ..=
//! last_index`, without holes; the hard state, conf state, snapshot
//! metadata and last index are cached in memory and always equal what the
//! tree holds, so that `first_index`, `last_index` and `initial_state` do
//! no I/O.
//!
//! Writes reach sled at once (reads see them) but are durable only after
//! [`DurableLog::sync`], which fsyncs. Reopening a log with
//! [`SledLog::open`] gives back at least what was synced.
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

use std::path::{Path, PathBuf};

use protobuf::Message as _;
use protobuf::wire_format::WireType;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

use crate::log::DurableLog;

/// The sled tree that holds the log (one per orderer data directory).
const TREE_NAME: &str = "raft_log";
/// First byte of every entry key; the index follows, big-endian.
const ENTRY_PREFIX: u8 = b'e';
const HARD_STATE_KEY: &[u8] = b"m:hard_state";
const CONF_STATE_KEY: &[u8] = b"m:conf_state";
const SNAPSHOT_META_KEY: &[u8] = b"m:snapshot_meta";
const SNAPSHOT_DATA_KEY: &[u8] = b"m:snapshot_data";
/// Field number of `term` in eraftpb's `Entry`.
const ENTRY_TERM_FIELD: u32 = 2;
/// Why the on-disk Raft log failed. Any of these stops the node: raft-rs
/// cannot continue after a storage error.
#[derive(Debug, thiserror::Error)]
pub enum SledLogError {
    /// sled could not open the directory.
    #[error(
        "cannot open the raft log in {dir}: {source}; check that the directory is writable and not used by another orderer"
    )]
    Open {
        /// The directory given to [`SledLog::open`].
        dir: PathBuf,
        /// What sled reported.
        source: sled::Error,
    },
    /// sled failed to read, write or fsync.
    #[error("raft log storage failed: {0}")]
    Storage(#[from] sled::Error),
    /// What is on disk cannot be decoded or breaks the log's invariants.
    #[error(
        "raft log is corrupt: {what}: {reason}; restore the orderer's data directory from a backup or let it rejoin from an empty directory"
    )]
    Corrupt {
        /// The record that is wrong (`"entry 42"`, `"hard state"`).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A record could not be encoded (a bug: raft-rs types always encode).
    #[error("cannot encode the {what}: {reason}")]
    Encode {
        /// The record being written.
        what: &'static str,
        /// What protobuf reported.
        reason: String,
    },
    /// The entries given to `append` do not have consecutive indexes.
    #[error("entries to append are not consecutive: index {next} follows index {previous}")]
    NotConsecutive {
        /// Index of an entry in the batch.
        previous: u64,
        /// Index of the entry after it, which is not `previous + 1`.
        next: u64,
    },
    /// `append` would leave a hole after the stored entries.
    #[error(
        "cannot append entry {first_new}: the log ends at index {last_index}, so entries would be missing"
    )]
    Gap {
        /// The last stored index.
        last_index: u64,
        /// The first index given to `append`.
        first_new: u64,
    },
    /// `compact` was asked to cut entries that are not committed yet.
    #[error(
        "cannot compact the log up to index {index}: only committed entries can be compacted and the commit index is {commit}"
    )]
    CompactBeyondCommit {
        /// The requested compaction index.
        index: u64,
        /// The hard state's commit index.
        commit: u64,
    },
    /// `compact` was asked to cut entries that are not stored.
    #[error("cannot compact the log up to index {index}: the log ends at index {last_index}")]
    CompactBeyondLog {
        /// The requested compaction index.
        index: u64,
        /// The last stored index.
        last_index: u64,
    },
    /// `apply_snapshot` got a snapshot that the log already covers.
    #[error(
        "snapshot at index {index} is out of date: the log already starts at index {first_index}"
    )]
    SnapshotOutOfDate {
        /// The snapshot's index.
        index: u64,
        /// The log's first index.
        first_index: u64,
    },
    /// `bootstrap` on a log that already holds state.
    #[error(
        "cannot bootstrap the raft log: it already holds entries, a snapshot, a hard state or voters; start the orderer without bootstrapping, or give it an empty directory"
    )]
    NotEmpty,
    /// `bootstrap` without voters.
    #[error("cannot bootstrap a raft cluster without voters")]
    NoVoters,
}

/// The Raft log, hard state, conf state and last snapshot of one orderer,
/// stored in sled. See the [module docs](self) for the layout.
#[derive(Debug)]
pub struct SledLog {
    db: sled::Db,
    tree: sled::Tree,
    hard_state: HardState,
    conf_state: ConfState,
    /// The last snapshot taken or installed; index 0 when there is none.
    snapshot_meta: SnapshotMetadata,
    /// Index of the last stored entry, or the snapshot's index.
    last_index: u64,
}

impl SledLog {
    /// Opens (or creates) the log in `dir`; a reopened log returns what was synced.
    pub fn open(dir: &Path) -> Result<SledLog, SledLogError> {
        let db = open_db(dir).map_err(|source| SledLogError::Open {
            dir: dir.to_path_buf(),
            source,
        })?;
        let tree = db.open_tree(TREE_NAME)?;
        let hard_state: HardState = read_message(&tree, HARD_STATE_KEY, "hard state")?;
        let conf_state: ConfState = read_message(&tree, CONF_STATE_KEY, "conf state")?;
        let snapshot_meta: SnapshotMetadata =
            read_message(&tree, SNAPSHOT_META_KEY, "snapshot metadata")?;
        let last_index = stored_last_index(&tree, snapshot_meta.index)?;
        Ok(SledLog {
            db,
            tree,
            hard_state,
            conf_state,
            snapshot_meta,
            last_index,
        })
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
        let what = || format!("entry {index}");
        let bytes = self
            .tree
            .get(entry_key(index))?
            .ok_or_else(|| SledLogError::Corrupt {
                what: what(),
                reason: "missing inside the log".to_owned(),
            })?;
        decode_term(&bytes).map_err(|e| SledLogError::Corrupt {
            what: what(),
            reason: e.to_string(),
        })
    }

    fn read_entries(
        &self,
        low: u64,
        high: u64,
        max_size: Option<u64>,
    ) -> Result<Vec<Entry>, SledLogError> {
        let mut entries = Vec::new();
        let mut size: u64 = 0;
        for item in self.tree.range(entry_key(low)..entry_key(high)) {
            let (_, value) = item?;
            let expected = low + entries.len() as u64;
            let what = || format!("entry {expected}");
            let entry = Entry::parse_from_bytes(&value).map_err(|e| SledLogError::Corrupt {
                what: what(),
                reason: e.to_string(),
            })?;
            if entry.index != expected {
                return Err(SledLogError::Corrupt {
                    what: what(),
                    reason: format!(
                        "stored under index {expected} but has index {}",
                        entry.index
                    ),
                });
            }
            // Like raft-rs's `limit_size`: the first entry always, then
            // while the total stays within `max_size`. The stored length is
            // the entry's protobuf size.
            size += value.len() as u64;
            if !entries.is_empty() && max_size.is_some_and(|max| size > max) {
                return Ok(entries);
            }
            entries.push(entry);
        }
        if entries.len() as u64 != high - low {
            return Err(SledLogError::Corrupt {
                what: format!("entry {}", low + entries.len() as u64),
                reason: "missing inside the log".to_owned(),
            });
        }
        Ok(entries)
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
        self.read_entries(low, high, max_size).map_err(into_raft)
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
    /// `MemStorage` panics.
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
        let new: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.index > snapshot_index)
            .collect();
        let (Some(first_new), Some(last_new)) = (new.first(), new.last()) else {
            return Ok(());
        };
        if first_new.index > self.last_index + 1 {
            return Err(SledLogError::Gap {
                last_index: self.last_index,
                first_new: first_new.index,
            });
        }
        let mut batch = sled::Batch::default();
        for entry in &new {
            batch.insert(&entry_key(entry.index), encode(*entry, "entry")?);
        }
        for stale in last_new.index + 1..=self.last_index {
            batch.remove(&entry_key(stale));
        }
        self.tree.apply_batch(batch)?;
        self.last_index = last_new.index;
        Ok(())
    }

    fn set_hard_state(&mut self, hard_state: &HardState) -> Result<(), SledLogError> {
        self.tree
            .insert(HARD_STATE_KEY, encode(hard_state, "hard state")?)?;
        self.hard_state = hard_state.clone();
        Ok(())
    }

    fn set_commit(&mut self, commit: u64) -> Result<(), SledLogError> {
        let mut hard_state = self.hard_state.clone();
        hard_state.commit = commit;
        self.set_hard_state(&hard_state)
    }

    fn set_conf_state(&mut self, conf_state: &ConfState) -> Result<(), SledLogError> {
        self.tree
            .insert(CONF_STATE_KEY, encode(conf_state, "conf state")?)?;
        self.conf_state = conf_state.clone();
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
        let (drop_up_to, last_index) = if holds_last {
            (meta.index, self.last_index)
        } else {
            (self.last_index, meta.index)
        };
        let mut hard_state = self.hard_state.clone();
        hard_state.term = hard_state.term.max(meta.term);
        hard_state.commit = hard_state.commit.max(meta.index);
        let conf_state = meta.get_conf_state().clone();

        let mut batch = sled::Batch::default();
        for index in self.first()..=drop_up_to {
            batch.remove(&entry_key(index));
        }
        batch.insert(SNAPSHOT_META_KEY, encode(meta, "snapshot metadata")?);
        batch.insert(SNAPSHOT_DATA_KEY, snapshot.get_data());
        batch.insert(HARD_STATE_KEY, encode(&hard_state, "hard state")?);
        batch.insert(CONF_STATE_KEY, encode(&conf_state, "conf state")?);
        self.tree.apply_batch(batch)?;

        self.snapshot_meta = meta.clone();
        self.last_index = last_index;
        self.hard_state = hard_state;
        self.conf_state = conf_state;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), SledLogError> {
        self.db.flush()?;
        Ok(())
    }

    /// A compaction at or below the current snapshot index does nothing
    /// (like `MemStorage`). The snapshot records the current conf state, so
    /// call this with the applied index, after applying its conf changes.
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
        for stale in self.first()..=index {
            batch.remove(&entry_key(stale));
        }
        batch.insert(SNAPSHOT_META_KEY, encode(&meta, "snapshot metadata")?);
        batch.insert(SNAPSHOT_DATA_KEY, data);
        self.tree.apply_batch(batch)?;

        self.snapshot_meta = meta;
        Ok(())
    }
}

/// `sled::open`, waiting for a directory lock a previous handle still holds.
fn open_db(dir: &Path) -> sled::Result<sled::Db> {
    weft_types::node_config::open_waiting_for_lock(|| sled::open(dir))
}

fn entry_key(index: u64) -> [u8; 9] {
    let mut key = [ENTRY_PREFIX; 9];
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

fn index_of_key(key: &[u8]) -> Result<u64, SledLogError> {
    key.get(1..)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| SledLogError::Corrupt {
            what: format!("entry key {key:?}"),
            reason: "not a prefix and a big-endian u64".to_owned(),
        })
}

/// The last stored index, after checking that the entries start right
/// after the snapshot.
fn stored_last_index(tree: &sled::Tree, snapshot_index: u64) -> Result<u64, SledLogError> {
    let mut entries = tree.scan_prefix([ENTRY_PREFIX]);
    let Some(first) = entries.next() else {
        return Ok(snapshot_index);
    };
    let first = index_of_key(&first?.0)?;
    if first != snapshot_index + 1 {
        return Err(SledLogError::Corrupt {
            what: format!("entry {first}"),
            reason: format!(
                "the log should start right after the snapshot at index {snapshot_index}"
            ),
        });
    }
    match entries.next_back() {
        Some(last) => index_of_key(&last?.0),
        None => Ok(first),
    }
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

/// The term of an encoded `Entry`, without copying its data: raft-rs asks
/// for terms far more often than for entries, and entries are whole blocks.
/// rust-protobuf writes fields in field-number order, so the term (field 2)
/// comes before the data (field 4).
fn decode_term(bytes: &[u8]) -> protobuf::ProtobufResult<u64> {
    let mut input = protobuf::CodedInputStream::from_bytes(bytes);
    while !input.eof()? {
        let (field, wire_type) = input.read_tag_unpack()?;
        if field == ENTRY_TERM_FIELD && wire_type == WireType::WireTypeVarint {
            return input.read_uint64();
        }
        input.skip_field(wire_type)?;
    }
    // proto3 leaves out a zero term.
    Ok(0)
}

fn into_raft(error: SledLogError) -> raft::Error {
    raft::Error::Store(StorageError::Other(Box::new(error)))
}
