//! [`BlockStore`]: the orderer's chain — every block it has applied, in an
//! append-only file, with an in-memory index and a height to wait on.
//!
//! A record is `len u32 BE || raft index u64 BE || block JSON` (the block
//! with this orderer's signature, and the Raft entry that carried it, so a
//! restarted node knows where its chain stands in the Raft log). `append` syncs before it returns, so a block deliver has
//! served is never lost. On open the file is scanned: the index is rebuilt
//! and a torn last record (a crash during an append) is cut off — Raft
//! applies that block again.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use parking_lot::Mutex;
use tokio::sync::watch;
use weft_types::{Block, BlockHeader};

const FILE: &str = "blocks.dat";

/// Why the block store failed.
#[derive(Debug, thiserror::Error)]
pub enum BlockStoreError {
    /// Reading or writing the file failed.
    #[error("block store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A stored block does not decode.
    #[error("block store record {number} is corrupt: {reason}")]
    Corrupt {
        /// The block's number (its position).
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// The block does not extend the chain.
    #[error("block {number} does not extend the chain at height {height}")]
    NotNext {
        /// The block offered.
        number: u64,
        /// Blocks stored.
        height: u64,
    },
}

struct Inner {
    file: File,
    /// Offset of each block's record, by number.
    offsets: Vec<u64>,
    end: u64,
    last: Option<BlockHeader>,
    last_raft_index: u64,
}

/// The orderer's blocks, by number.
pub struct BlockStore {
    inner: Mutex<Inner>,
    /// The same file, read by offset (`pread`) without the lock: a stored
    /// record never changes, so reads need not wait for an append's sync.
    reader: File,
    height: watch::Sender<u64>,
}

impl std::fmt::Debug for BlockStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockStore")
            .field("height", &self.height())
            .finish_non_exhaustive()
    }
}

impl BlockStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<BlockStore, BlockStoreError> {
        std::fs::create_dir_all(dir)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(FILE))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut offsets = Vec::new();
        let mut at = 0usize;
        let mut last = None;
        let mut last_raft_index = 0;
        while let Some(head) = bytes.get(at..at + 12) {
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let mut index = [0u8; 8];
            index.copy_from_slice(&head[4..12]);
            let Some(json) = bytes.get(at + 12..at + 12 + len) else {
                break; // torn tail
            };
            let number = offsets.len() as u64;
            let block: Block = match serde_json::from_slice(json) {
                Ok(b) => b,
                Err(_) => break, // torn tail
            };
            if block.number() != number {
                return Err(BlockStoreError::Corrupt {
                    number,
                    reason: format!("holds block {}", block.number()),
                });
            }
            offsets.push(at as u64);
            last = Some(block.header);
            last_raft_index = u64::from_be_bytes(index);
            at += 12 + len;
        }
        let end = at as u64;
        if end < bytes.len() as u64 {
            tracing::warn!(
                kept = offsets.len(),
                "the block store ended in a torn record; cutting it off"
            );
            file.set_len(end)?;
            file.sync_all()?;
        }
        let height = offsets.len() as u64;
        let reader = file.try_clone()?;
        Ok(BlockStore {
            reader,
            inner: Mutex::new(Inner {
                file,
                offsets,
                end,
                last,
                last_raft_index,
            }),
            height: watch::channel(height).0,
        })
    }

    /// Blocks stored: the number of the next one.
    pub fn height(&self) -> u64 {
        *self.height.borrow()
    }

    /// The header of the last block stored.
    pub fn last_header(&self) -> Option<BlockHeader> {
        self.inner.lock().last.clone()
    }

    /// The Raft index of the entry that carried the last block (0 for genesis).
    pub fn last_raft_index(&self) -> u64 {
        self.inner.lock().last_raft_index
    }

    /// Appends `block`, carried by Raft entry `raft_index`, which must be
    /// the next one and chain to the last, and syncs it.
    pub fn append(&self, block: &Block, raft_index: u64) -> Result<(), BlockStoreError> {
        let mut inner = self.inner.lock();
        let height = inner.offsets.len() as u64;
        let chains = match &inner.last {
            None => block.header.previous_hash == weft_types::Digest::ZERO,
            Some(last) => block.header.previous_hash == last.hash(),
        };
        if block.number() != height || !chains {
            return Err(BlockStoreError::NotNext {
                number: block.number(),
                height,
            });
        }
        let json = weft_types::to_json_bytes(block);
        let mut record = Vec::with_capacity(12 + json.len());
        record.extend_from_slice(&(json.len() as u32).to_be_bytes());
        record.extend_from_slice(&raft_index.to_be_bytes());
        record.extend_from_slice(&json);
        let at = inner.end;
        inner.file.seek(SeekFrom::Start(at))?;
        inner.file.write_all(&record)?;
        inner.file.sync_data()?;
        inner.offsets.push(at);
        inner.end = at + record.len() as u64;
        inner.last = Some(block.header.clone());
        inner.last_raft_index = raft_index;
        drop(inner);
        self.height.send_replace(height + 1);
        Ok(())
    }

    /// Block `number`, if stored.
    pub fn get(&self, number: u64) -> Result<Option<Block>, BlockStoreError> {
        let Some(json) = self.get_json(number)? else {
            return Ok(None);
        };
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| BlockStoreError::Corrupt {
                number,
                reason: e.to_string(),
            })
    }

    /// Block `number` as stored: its compact JSON (no newline in it), what
    /// deliver sends as one line, without parsing and re-encoding it.
    pub fn get_json(&self, number: u64) -> Result<Option<Vec<u8>>, BlockStoreError> {
        let Some(offset) = self.inner.lock().offsets.get(number as usize).copied() else {
            return Ok(None);
        };
        let mut head = [0u8; 12];
        self.reader.read_exact_at(&mut head, offset)?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let mut json = vec![0u8; len as usize];
        self.reader.read_exact_at(&mut json, offset + 12)?;
        Ok(Some(json))
    }

    /// Waits until the store holds more than `number` blocks' worth, i.e.
    /// block `number` exists (returns at once if it does).
    pub async fn wait_for(&self, number: u64) {
        let mut rx = self.height.subscribe();
        // `wait_for` only errs when the sender is gone, and `self` holds it.
        let _ = rx.wait_for(|h| *h > number).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::Digest;

    fn chain(n: u64) -> Vec<Block> {
        let mut out: Vec<Block> = Vec::new();
        for i in 0..n {
            let previous = out.last().map_or(Digest::ZERO, Block::hash);
            out.push(Block::new(i, previous, 1_000 + i, vec![]));
        }
        out
    }

    #[test]
    fn appends_reads_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let blocks = chain(5);
        let store = BlockStore::open(dir.path()).unwrap();
        assert_eq!(store.height(), 0);
        assert_eq!(store.get(0).unwrap(), None);
        for b in &blocks {
            store.append(b, b.number() * 10).unwrap();
        }
        assert_eq!(store.height(), 5);
        assert_eq!(store.get(3).unwrap().as_ref(), Some(&blocks[3]));
        // What deliver sends: the encoding of the block, on one line.
        let json = store.get_json(3).unwrap().unwrap();
        assert_eq!(json, weft_types::to_json_bytes(&blocks[3]));
        assert!(!json.contains(&b'\n'));
        assert_eq!(store.get_json(5).unwrap(), None);
        drop(store);
        let store = BlockStore::open(dir.path()).unwrap();
        assert_eq!(store.height(), 5);
        assert_eq!(store.last_header(), Some(blocks[4].header.clone()));
        assert_eq!(store.last_raft_index(), 40);
        assert_eq!(store.get(4).unwrap().as_ref(), Some(&blocks[4]));
    }

    #[test]
    fn refuses_blocks_that_do_not_extend_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let blocks = chain(3);
        let store = BlockStore::open(dir.path()).unwrap();
        assert!(matches!(
            store.append(&blocks[1], 1),
            Err(BlockStoreError::NotNext { .. })
        ));
        store.append(&blocks[0], 0).unwrap();
        let fork = Block::new(1, Digest([9; 32]), 5, vec![]);
        assert!(store.append(&fork, 1).is_err());
        assert_eq!(store.height(), 1);
    }

    #[test]
    fn a_torn_last_record_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let blocks = chain(3);
        let store = BlockStore::open(dir.path()).unwrap();
        for b in &blocks {
            store.append(b, b.number() * 10).unwrap();
        }
        drop(store);
        let path = dir.path().join(FILE);
        let len = std::fs::metadata(&path).unwrap().len();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 7).unwrap();
        let store = BlockStore::open(dir.path()).unwrap();
        assert_eq!(store.height(), 2);
        store.append(&blocks[2], 20).unwrap();
        assert_eq!(store.get(2).unwrap().as_ref(), Some(&blocks[2]));
    }

    #[test]
    fn waiting_for_a_block_ends_when_it_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let blocks = chain(2);
        let store = std::sync::Arc::new(BlockStore::open(dir.path()).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let waiter = {
                let store = store.clone();
                tokio::spawn(async move { store.wait_for(1).await })
            };
            tokio::task::yield_now().await;
            store.append(&blocks[0], 0).unwrap();
            tokio::task::yield_now().await;
            assert!(!waiter.is_finished());
            store.append(&blocks[1], 1).unwrap();
            tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
                .await
                .unwrap()
                .unwrap();
        });
    }
}
