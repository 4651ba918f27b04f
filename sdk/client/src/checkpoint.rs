//! [`Checkpoint`]: where an event listener stopped, kept in a file so that a
//! restarted application resumes there.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use weft_types::TxId;

use crate::error::{ClientError, Result};
use crate::events::ContractEvent;
use crate::fsutil::write_atomic;

/// What has been processed: every block before `next_block`, and in
/// `next_block` the transactions listed (chaincode events come several to a
/// block, so a listener can stop inside one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The first block not completely processed.
    pub next_block: u64,
    /// Transactions of `next_block` whose events were processed.
    #[serde(default)]
    pub tx_ids: Vec<TxId>,
}

/// A file holding the listener's [`Position`], as JSON
/// (`{"next_block": 42, "tx_ids": []}`), replaced atomically on every
/// record so a crash leaves the old position or the new one.
///
/// Record an event after processing it; after a restart, pass the
/// checkpoint to [`crate::Gateway::block_events_after`] or
/// [`crate::Gateway::chaincode_events_after`] to go on from there: nothing
/// recorded is delivered again, nothing after it is skipped.
///
/// ```
/// use weft_client::Checkpoint;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("listener.checkpoint");
/// let mut cp = Checkpoint::open(&path).unwrap();
/// assert_eq!(cp.next_block(), None);
/// cp.record_block(41).unwrap();
/// assert_eq!(Checkpoint::open(&path).unwrap().next_block(), Some(42));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    path: PathBuf,
    position: Option<Position>,
}

impl Checkpoint {
    /// Reads the checkpoint at `path`; a missing file is a fresh checkpoint
    /// (nothing processed yet).
    pub fn open(path: impl AsRef<Path>) -> Result<Checkpoint> {
        let path = path.as_ref().to_path_buf();
        let position = match std::fs::read(&path) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| checkpoint_error(&path, format!("unreadable: {e}")))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(checkpoint_error(&path, format!("cannot read: {e}"))),
        };
        Ok(Checkpoint { path, position })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where to resume; `None` when nothing was recorded.
    pub fn position(&self) -> Option<&Position> {
        self.position.as_ref()
    }

    /// The block to resume from; `None` when nothing was recorded.
    pub fn next_block(&self) -> Option<u64> {
        self.position.as_ref().map(|p| p.next_block)
    }

    /// The last block completely processed, if any.
    pub fn last_block(&self) -> Option<u64> {
        self.next_block().and_then(|n| n.checked_sub(1))
    }

    /// Records block `number` as completely processed.
    pub fn record_block(&mut self, number: u64) -> Result<()> {
        self.save(Position {
            next_block: number.saturating_add(1),
            tx_ids: Vec::new(),
        })
    }

    /// Records a chaincode event as processed (and every block before its own).
    pub fn record_event(&mut self, event: &ContractEvent) -> Result<()> {
        let mut position = match &self.position {
            Some(p) if p.next_block == event.block => p.clone(),
            _ => Position {
                next_block: event.block,
                tx_ids: Vec::new(),
            },
        };
        if !position.tx_ids.contains(&event.tx_id) {
            position.tx_ids.push(event.tx_id);
        }
        self.save(position)
    }

    fn save(&mut self, position: Position) -> Result<()> {
        let mut text = serde_json::to_vec(&position)
            .map_err(|e| checkpoint_error(&self.path, e.to_string()))?;
        text.push(b'\n');
        write_atomic(&self.path, &text, false)
            .map_err(|e| checkpoint_error(&self.path, format!("cannot write: {e}")))?;
        self.position = Some(position);
        Ok(())
    }
}

fn checkpoint_error(path: &Path, message: String) -> ClientError {
    ClientError::Checkpoint {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::{Bytes, sha3_256};

    fn event(block: u64, tx: &str) -> ContractEvent {
        ContractEvent {
            block,
            tx_id: TxId(sha3_256(tx.as_bytes())),
            chaincode: "cc".into(),
            name: "ev".into(),
            payload: Bytes::default(),
        }
    }

    #[test]
    fn records_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let mut cp = Checkpoint::open(&path).unwrap();
        assert_eq!((cp.next_block(), cp.last_block()), (None, None));
        cp.record_block(0).unwrap();
        assert_eq!(cp.last_block(), Some(0));
        cp.record_block(7).unwrap();
        let back = Checkpoint::open(&path).unwrap();
        assert_eq!(back, cp);
        assert_eq!(back.next_block(), Some(8));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"next_block\":8,\"tx_ids\":[]}\n"
        );
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn chaincode_events_record_their_place_in_a_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let mut cp = Checkpoint::open(&path).unwrap();
        cp.record_event(&event(5, "a")).unwrap();
        cp.record_event(&event(5, "b")).unwrap();
        cp.record_event(&event(5, "b")).unwrap();
        let back = Checkpoint::open(&path).unwrap();
        assert_eq!(back.next_block(), Some(5));
        assert_eq!(
            back.position().unwrap().tx_ids,
            [event(5, "a").tx_id, event(5, "b").tx_id]
        );
        cp.record_event(&event(9, "c")).unwrap();
        assert_eq!(cp.position().unwrap().tx_ids, [event(9, "c").tx_id]);
        assert_eq!(cp.last_block(), Some(8));
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        std::fs::write(&path, "{\"next_bl").unwrap();
        let err = Checkpoint::open(&path).unwrap_err();
        assert!(matches!(err, ClientError::Checkpoint { .. }), "{err}");
    }
}
