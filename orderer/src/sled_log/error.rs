//! [`SledLogError`]: why the on-disk Raft log failed.

use std::path::PathBuf;

#[cfg(doc)]
use super::SledLog;

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
    /// The entry file could not be read, written or synced.
    #[error(
        "raft log storage failed: cannot {action} in {}: {source}; check the disk and the directory's permissions",
        .dir.display()
    )]
    Io {
        /// The log's directory.
        dir: PathBuf,
        /// What was being done (`"sync the entry file"`).
        action: &'static str,
        /// What the OS reported.
        source: std::io::Error,
    },
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
