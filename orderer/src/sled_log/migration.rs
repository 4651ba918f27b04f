//! Opening a directory written when the Raft entries lived in the sled
//! tree, under `e` + index (u64, BE), as protobuf: they move into the entry
//! file. The file is written and synced whole (under a temporary name,
//! then renamed) before the keys go, in one batch; if a crash came between
//! the two, the next open finds the file and only removes the keys.

use std::path::Path;

use protobuf::Message as _;
use raft::eraftpb::Entry;

use super::{ENTRY_FILE_NAME, ENTRY_FILE_SYNCED_KEY, SledLogError};
use crate::entry_file;

/// First byte of every entry key; the index follows, big-endian.
const ENTRY_PREFIX: u8 = b'e';

/// Moves entries a previous version kept in the tree into the entry file:
/// the file is written and synced first (unless a crash left it complete
/// already), then the keys go in one batch and sled is flushed.
pub(super) fn move_tree_entries_to_file(
    db: &sled::Db,
    tree: &sled::Tree,
    dir: &Path,
    snapshot_index: u64,
) -> Result<(), SledLogError> {
    if tree.scan_prefix([ENTRY_PREFIX]).next().is_none() {
        return Ok(());
    }
    let mut batch = sled::Batch::default();
    if !entry_file::exists(dir) {
        let mut expected = snapshot_index + 1;
        let records = tree.scan_prefix([ENTRY_PREFIX]).map(|item| {
            let (key, value) = item?;
            let index = index_of_key(&key)?;
            let corrupt = |reason: String| SledLogError::Corrupt {
                what: format!("entry {index}"),
                reason,
            };
            if index != expected {
                return Err(corrupt(format!(
                    "stored where entry {expected} was due (the snapshot is at index {snapshot_index})"
                )));
            }
            let entry = Entry::parse_from_bytes(&value).map_err(|e| corrupt(e.to_string()))?;
            if entry.index != index {
                return Err(corrupt(format!("holds index {}", entry.index)));
            }
            expected += 1;
            Ok((index, entry.term, value))
        });
        let len = entry_file::create_from(dir, records)?;
        batch.insert(ENTRY_FILE_SYNCED_KEY, &len.to_be_bytes());
        tracing::info!(
            entries = expected - snapshot_index - 1,
            "moved the raft log's entries from sled into {}",
            ENTRY_FILE_NAME
        );
    }
    for key in tree.scan_prefix([ENTRY_PREFIX]).keys() {
        batch.remove(key?);
    }
    tree.apply_batch(batch)?;
    db.flush()?;
    Ok(())
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
