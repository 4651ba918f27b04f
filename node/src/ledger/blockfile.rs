//! The block file: every committed block's JSON, appended in order to one
//! file (`blocks.dat`) beside the sled tree, which indexes each block's
//! offset and length.
//!
//! Blocks are megabytes of signatures and certificates that nothing
//! but `block` reads ever looks at again; kept out of sled, they cost one
//! sequential write and one `fdatasync` instead of a pass through sled's
//! log and page cache (measured: 10–40 ms of a 500-transaction block's
//! commit went to that).
//!
//! A record is `len u32 BE || JSON`. The block is appended and synced
//! *before* the sled batch that indexes it and moves the savepoint, so a
//! crash can leave records past the savepoint's end of file, never a
//! savepoint pointing past the file. On open, [`BlockFile::open`] reads the
//! complete records past that end (blocks validated but whose state never
//! became durable, to replay) and truncates the file there.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use parking_lot::Mutex;
use weft_types::Block;

use super::error::LedgerError;

const FILE: &str = "blocks.dat";

/// The append-only block file.
pub(crate) struct BlockFile {
    file: Mutex<File>,
}

impl BlockFile {
    /// Opens (or creates) the block file in `dir`, keeps the first `end`
    /// bytes (what the savepoint covers) and returns the blocks stored
    /// after them, in order, to replay. An incomplete or unreadable tail
    /// record (a crash during the append) ends the list.
    pub(crate) fn open(dir: &Path, end: u64) -> Result<(BlockFile, Vec<Block>), LedgerError> {
        let path = dir.join(FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error)?;
        let len = file.metadata().map_err(io_error)?.len();
        if len < end {
            return Err(LedgerError::corrupt(
                "block file",
                format!(
                    "{} holds {len} bytes, the savepoint says {end}",
                    path.display()
                ),
            ));
        }
        let mut tail = Vec::new();
        file.seek(SeekFrom::Start(end)).map_err(io_error)?;
        file.read_to_end(&mut tail).map_err(io_error)?;
        let mut replay = Vec::new();
        let mut rest = tail.as_slice();
        while let Some((json, after)) = split_record(rest) {
            match serde_json::from_slice::<Block>(json) {
                Ok(block) => replay.push(block),
                Err(_) => break,
            }
            rest = after;
        }
        file.set_len(end).map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
        file.seek(SeekFrom::End(0)).map_err(io_error)?;
        Ok((
            BlockFile {
                file: Mutex::new(file),
            },
            replay,
        ))
    }

    /// Appends `json` as a record at `at` (the current end, which the
    /// caller's savepoint knows) and syncs it; returns the new end.
    pub(crate) fn append(&self, at: u64, json: &[u8]) -> Result<u64, LedgerError> {
        let len = u32::try_from(json.len())
            .map_err(|_| LedgerError::corrupt("block file", "a block over 4 GiB"))?;
        let mut file = self.file.lock();
        file.seek(SeekFrom::Start(at)).map_err(io_error)?;
        let mut record = Vec::with_capacity(4 + json.len());
        record.extend_from_slice(&len.to_be_bytes());
        record.extend_from_slice(json);
        file.write_all(&record).map_err(io_error)?;
        file.sync_data().map_err(io_error)?;
        Ok(at + record.len() as u64)
    }

    /// Drops everything past `end` (a commit that failed after its append).
    pub(crate) fn truncate(&self, end: u64) -> Result<(), LedgerError> {
        self.file.lock().set_len(end).map_err(io_error)
    }

    /// The JSON of the record at `offset`.
    pub(crate) fn read(&self, offset: u64) -> Result<Vec<u8>, LedgerError> {
        let mut file = self.file.lock();
        file.seek(SeekFrom::Start(offset)).map_err(io_error)?;
        let mut len = [0u8; 4];
        file.read_exact(&mut len).map_err(io_error)?;
        let mut json = vec![0u8; u32::from_be_bytes(len) as usize];
        file.read_exact(&mut json).map_err(io_error)?;
        Ok(json)
    }
}

/// The first complete record of `bytes` and what follows it.
fn split_record(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    (rest.len() >= len).then(|| rest.split_at(len))
}

fn io_error(e: std::io::Error) -> LedgerError {
    LedgerError::BlockFile(e)
}
