//! [`EntryFile`]: the Raft entries of a [`SledLog`], in an append-only file
//! beside its sled tree.
//!
//! Entries are whole blocks (hundreds of KB). Kept in sled, each one was
//! written as a blob and every tree node holding one was rewritten on
//! splits; here an append is one `pwrite` and a sync one `fdatasync`.
//!
//! The file (`raft-entries.log`) is the 8-byte magic `WEFTRL01`, then one
//! record per entry, in index order, integers big-endian:
//!
//! | bytes | field                                                  |
//! |-------|--------------------------------------------------------|
//! | 4     | payload length (u32)                                   |
//! | 4     | CRC-32 (IEEE) of the index, term and payload bytes     |
//! | 8     | index (u64)                                            |
//! | 8     | term (u64)                                             |
//! | len   | the [`Entry`], protobuf                                |
//!
//! Invariants: record indexes are consecutive; records at or below the
//! snapshot index are *dead* (a prefix of the file, kept until
//! [`EntryFile::rewrite_due`] says copying the live suffix into a new file
//! is worth it); the live records are exactly `snapshot index + 1 ..=
//! last index`; when the file holds records, the last one is at or past the
//! snapshot index, so that the next append follows it.
//!
//! In memory: one slot (term, offset, length) per live record, so that
//! `term`, `first_index` and `last_index` do no I/O, and the most recent
//! entries (at most `cache_max_bytes`), so that reading back what was just
//! appended — the leader sending it to followers, every node applying it —
//! does no I/O either. Older entries are read with `pread` and checked
//! against their CRC.
//!
//! This type does no sled I/O. The caller orders its writes with sled's
//! (see [`SledLog`]'s module docs): it passes [`EntryFile::open`] the
//! *trusted length*, a prefix of the file known to have been synced. A bad
//! record inside it is corruption; a bad record past it is the torn tail of
//! writes that were never synced, and is cut off.
//!
//! [`SledLog`]: crate::sled_log::SledLog

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::eraftpb::Entry;

use crate::sled_log::{ENTRY_FILE_NAME as FILE_NAME, SledLogError};

mod cache;
mod record;

use cache::EntryCache;
use record::{HEADER_BYTES, Header, MAGIC, MAGIC_BYTES};

/// Where a rewrite (or a migration) builds the next file before renaming it.
const TMP_NAME: &str = "raft-entries.log.tmp";
/// Read buffer of the scan on open.
const SCAN_BUFFER_BYTES: usize = 1024 * 1024;
/// Most bytes a rewrite copies at once.
const COPY_CHUNK_BYTES: u64 = 4 * 1024 * 1024;

/// Where a live record is.
#[derive(Debug, Clone, Copy)]
struct Slot {
    term: u64,
    /// Offset of the record's header.
    offset: u64,
    /// Length of the payload (the entry's protobuf size).
    len: u32,
}

impl Slot {
    fn end(&self) -> u64 {
        self.offset + HEADER_BYTES as u64 + u64::from(self.len)
    }
}

/// The entries of one Raft log in an append-only file. See the
/// [module docs](self).
pub(crate) struct EntryFile {
    dir: PathBuf,
    file: File,
    /// Index of the first live entry, stored or next to be: the snapshot
    /// index + 1. `slots[i]` is entry `first + i`.
    first: u64,
    slots: VecDeque<Slot>,
    /// Offset of the first live record (or `end`): the dead prefix is
    /// `MAGIC_BYTES..live_start`.
    live_start: u64,
    /// Index of the last record in the file, dead or live.
    file_last: Option<u64>,
    /// Length of the file: where the next record goes.
    end: u64,
    /// Written since the last fsync.
    dirty: bool,
    /// The newest live entries.
    cache: EntryCache,
}

impl std::fmt::Debug for EntryFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryFile")
            .field("dir", &self.dir)
            .field("first", &self.first)
            .field("live", &self.slots.len())
            .field("file_last", &self.file_last)
            .field("live_start", &self.live_start)
            .field("end", &self.end)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// A copy of the live records in the temporary file, synced, waiting for
/// [`EntryFile::install_rewrite`].
pub(crate) struct Rewrite {
    file: File,
    len: u64,
}

impl Rewrite {
    /// Length of the new file.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

impl EntryFile {
    /// Opens (or creates) the file in `dir` and scans it: records up to
    /// `snapshot_index` are dead, the rest live. `trusted_len` bytes were
    /// synced: a bad record there is [`SledLogError::Corrupt`]; a bad
    /// record past it, and everything after, is cut off. A leftover
    /// temporary file (a rewrite that crashed before its rename) is removed.
    pub(crate) fn open(
        dir: &Path,
        snapshot_index: u64,
        trusted_len: u64,
        cache_max_bytes: u64,
    ) -> Result<EntryFile, SledLogError> {
        remove_if_present(&dir.join(TMP_NAME))?;
        let path = dir.join(FILE_NAME);
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error(dir, "open the entry file"))?;
        let file_len = file
            .metadata()
            .map_err(io_error(dir, "read the entry file's length"))?
            .len();
        if file_len < trusted_len {
            return Err(SledLogError::Corrupt {
                what: format!("entry file {}", path.display()),
                reason: format!("it has {file_len} bytes but {trusted_len} were synced"),
            });
        }
        let mut entry_file = EntryFile {
            dir: dir.to_path_buf(),
            file,
            first: snapshot_index + 1,
            slots: VecDeque::new(),
            live_start: MAGIC_BYTES,
            file_last: None,
            end: MAGIC_BYTES,
            dirty: false,
            cache: EntryCache::new(cache_max_bytes),
        };
        if file_len < MAGIC_BYTES {
            // New, or created by a crash before its magic was synced
            // (`trusted_len` is then 0).
            entry_file.write_magic(!existed)?;
            return Ok(entry_file);
        }
        entry_file.scan(file_len, trusted_len)?;
        Ok(entry_file)
    }

    /// Writes the magic to an empty file and syncs it, and the directory
    /// when the file is new: a synced length in sled must never point into
    /// a file that a crash could make disappear.
    fn write_magic(&mut self, new: bool) -> Result<(), SledLogError> {
        let dir = &self.dir;
        self.file
            .set_len(0)
            .map_err(io_error(dir, "reset the entry file"))?;
        self.file
            .write_all_at(MAGIC, 0)
            .map_err(io_error(dir, "write the entry file"))?;
        self.file
            .sync_data()
            .map_err(io_error(dir, "sync the entry file"))?;
        if new {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Reads every record, fills the slots, and cuts off a torn tail.
    fn scan(&mut self, file_len: u64, trusted_len: u64) -> Result<(), SledLogError> {
        let dir = self.dir.clone();
        let what = |offset: u64| {
            format!(
                "entry file {}, record at byte {offset}",
                dir.join(FILE_NAME).display()
            )
        };
        let mut reader = BufReader::with_capacity(SCAN_BUFFER_BYTES, &self.file);
        let mut magic = [0u8; MAGIC.len()];
        reader
            .read_exact(&mut magic)
            .map_err(io_error(&dir, "read the entry file"))?;
        if &magic != MAGIC {
            return Err(SledLogError::Corrupt {
                what: what(0),
                reason: format!("starts with {magic:?}, not the magic {MAGIC:?}"),
            });
        }
        let mut offset = MAGIC_BYTES;
        let mut file_first = None;
        let mut payload = Vec::new();
        while offset < file_len {
            let bad = match record::read(&mut reader, &mut payload, file_len - offset)
                .map_err(io_error(&dir, "read the entry file"))?
            {
                Err(reason) => reason,
                Ok(head) if self.file_last.is_some_and(|last| head.index != last + 1) => {
                    format!(
                        "holds entry {} after entry {}",
                        head.index,
                        self.file_last.unwrap_or_default()
                    )
                }
                Ok(head) => {
                    file_first.get_or_insert(head.index);
                    self.file_last = Some(head.index);
                    let slot = Slot {
                        term: head.term,
                        offset,
                        len: head.len,
                    };
                    offset = slot.end();
                    if head.index >= self.first {
                        self.slots.push_back(slot);
                    }
                    continue;
                }
            };
            if offset < trusted_len {
                return Err(SledLogError::Corrupt {
                    what: what(offset),
                    reason: bad,
                });
            }
            tracing::warn!(
                offset,
                cut_bytes = file_len - offset,
                "the raft entry file ends in a record that was never synced ({bad}); cutting it off"
            );
            self.file
                .set_len(offset)
                .map_err(io_error(&dir, "truncate the entry file"))?;
            self.file
                .sync_data()
                .map_err(io_error(&dir, "sync the entry file"))?;
            break;
        }
        self.end = offset;
        self.live_start = self.slots.front().map_or(self.end, |s| s.offset);
        if let Some(first) = file_first.filter(|&first| first > self.first) {
            return Err(SledLogError::Corrupt {
                what: what(MAGIC_BYTES),
                reason: format!(
                    "the entries start at index {first}, not right after the snapshot at index {}",
                    self.first - 1
                ),
            });
        }
        Ok(())
    }

    /// Index of the last live entry, if any.
    pub(crate) fn last_index(&self) -> Option<u64> {
        (!self.slots.is_empty()).then(|| self.first + self.slots.len() as u64 - 1)
    }

    /// Length of the file.
    pub(crate) fn len(&self) -> u64 {
        self.end
    }

    /// Term of live entry `index`, if stored.
    pub(crate) fn term(&self, index: u64) -> Option<u64> {
        self.slot(index).map(|s| s.term)
    }

    /// Offset of live entry `index`'s record, if stored.
    pub(crate) fn offset(&self, index: u64) -> Option<u64> {
        self.slot(index).map(|s| s.offset)
    }

    fn slot(&self, index: u64) -> Option<&Slot> {
        let position = index.checked_sub(self.first)?;
        self.slots.get(usize::try_from(position).ok()?)
    }

    /// True when the file holds records but the last one is below `index`:
    /// a snapshot at `index` leaves them all dead and the next append
    /// would not follow them, so the file must be [reset](Self::reset).
    pub(crate) fn needs_reset_for(&self, index: u64) -> bool {
        self.file_last.is_some_and(|last| last < index)
    }

    /// Appends `entries`, which must follow the last record. Not durable
    /// before [`EntryFile::sync`].
    pub(crate) fn append(&mut self, entries: &[Entry]) -> Result<(), SledLogError> {
        let Some(first_new) = entries.first() else {
            return Ok(());
        };
        let next = self.first + self.slots.len() as u64;
        if first_new.index != next || self.file_last.is_some_and(|last| last + 1 != next) {
            return Err(SledLogError::Corrupt {
                what: format!("entry {}", first_new.index),
                reason: format!(
                    "appended where entry {next} was due after record {:?} (a bug in the log)",
                    self.file_last
                ),
            });
        }
        let capacity = entries
            .iter()
            .map(|e| HEADER_BYTES + e.data.len() + e.context.len() + 32)
            .sum();
        let mut buf = Vec::with_capacity(capacity);
        let mut new_slots = Vec::with_capacity(entries.len());
        for entry in entries {
            let start = buf.len();
            buf.extend_from_slice(&[0; HEADER_BYTES]);
            entry
                .write_to_vec(&mut buf)
                .map_err(|e| SledLogError::Encode {
                    what: "entry",
                    reason: e.to_string(),
                })?;
            let (header, payload) = buf[start..].split_at_mut(HEADER_BYTES);
            let head = Header::new(entry.index, entry.term, payload)?;
            header.copy_from_slice(&head.to_bytes());
            new_slots.push(Slot {
                term: entry.term,
                offset: self.end + start as u64,
                len: head.len,
            });
        }
        self.file
            .write_all_at(&buf, self.end)
            .map_err(io_error(&self.dir, "append to the entry file"))?;
        self.end += buf.len() as u64;
        self.dirty = true;
        for (entry, slot) in entries.iter().zip(new_slots) {
            self.slots.push_back(slot);
            self.cache.push(entry, slot.len);
        }
        self.file_last = self.last_index();
        Ok(())
    }

    /// Drops live entry `index` and every later one, and syncs the
    /// truncation (an overwritten suffix must not come back after a crash).
    pub(crate) fn truncate_from(&mut self, index: u64) -> Result<(), SledLogError> {
        let Some(at) = self.offset(index) else {
            return Ok(());
        };
        self.file
            .set_len(at)
            .map_err(io_error(&self.dir, "truncate the entry file"))?;
        self.file
            .sync_data()
            .map_err(io_error(&self.dir, "sync the entry file"))?;
        self.dirty = false;
        let keep = usize::try_from(index - self.first).unwrap_or(usize::MAX);
        self.slots.truncate(keep);
        self.cache.truncate_from(index);
        self.end = at;
        self.file_last = (at > MAGIC_BYTES).then(|| index - 1);
        self.live_start = self.live_start.min(at);
        Ok(())
    }

    /// Marks the entries up to `index` dead (a snapshot covers them); they
    /// stay in the file until a rewrite. `index` is at most the last
    /// record's.
    pub(crate) fn drop_through(&mut self, index: u64) {
        while self.first <= index && self.slots.pop_front().is_some() {
            self.first += 1;
        }
        self.first = self.first.max(index + 1);
        self.live_start = self.slots.front().map_or(self.end, |s| s.offset);
        self.cache.drop_through(index);
    }

    /// Empties the file (keeping its magic) and syncs it; the next entry
    /// is `next`. Call only once the snapshot at `next - 1` is durable.
    pub(crate) fn reset(&mut self, next: u64) -> Result<(), SledLogError> {
        if self.end > MAGIC_BYTES {
            self.file
                .set_len(MAGIC_BYTES)
                .map_err(io_error(&self.dir, "empty the entry file"))?;
            self.file
                .sync_data()
                .map_err(io_error(&self.dir, "sync the entry file"))?;
        }
        self.first = next;
        self.slots.clear();
        self.cache.clear();
        self.live_start = MAGIC_BYTES;
        self.file_last = None;
        self.end = MAGIC_BYTES;
        self.dirty = false;
        Ok(())
    }

    /// Makes every append durable.
    pub(crate) fn sync(&mut self) -> Result<(), SledLogError> {
        if self.dirty {
            self.file
                .sync_data()
                .map_err(io_error(&self.dir, "sync the entry file"))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// True when the dead prefix is at least `min_dead_bytes` and more
    /// than half the file.
    pub(crate) fn rewrite_due(&self, min_dead_bytes: u64) -> bool {
        let dead = self.live_start - MAGIC_BYTES;
        dead > 0 && dead >= min_dead_bytes && dead * 2 > self.end
    }

    /// Copies the live records into the temporary file and syncs it.
    pub(crate) fn prepare_rewrite(&self) -> Result<Rewrite, SledLogError> {
        let mut tmp = create_tmp(&self.dir)?;
        let mut chunk = Vec::new();
        let mut at = self.live_start;
        while at < self.end {
            let n = (self.end - at).min(COPY_CHUNK_BYTES);
            chunk.resize(usize::try_from(n).unwrap_or(usize::MAX), 0);
            self.file
                .read_exact_at(&mut chunk, at)
                .map_err(io_error(&self.dir, "read the entry file"))?;
            tmp.write_all(&chunk)
                .map_err(io_error(&self.dir, "write the new entry file"))?;
            at += n;
        }
        tmp.sync_data()
            .map_err(io_error(&self.dir, "sync the new entry file"))?;
        Ok(Rewrite {
            file: tmp,
            len: MAGIC_BYTES + self.end - self.live_start,
        })
    }

    /// Renames the copy over the file and syncs the directory. Call only
    /// once the snapshot that made the prefix dead is durable.
    pub(crate) fn install_rewrite(&mut self, rewrite: Rewrite) -> Result<(), SledLogError> {
        std::fs::rename(self.dir.join(TMP_NAME), self.dir.join(FILE_NAME))
            .map_err(io_error(&self.dir, "rename the new entry file"))?;
        sync_dir(&self.dir)?;
        let shift = self.live_start - MAGIC_BYTES;
        for slot in &mut self.slots {
            slot.offset -= shift;
        }
        self.file = rewrite.file;
        self.end = rewrite.len;
        self.live_start = MAGIC_BYTES;
        self.file_last = self.last_index();
        self.dirty = false;
        Ok(())
    }

    /// Entries `[low, high)`: the first, then as many as fit in `max_size`
    /// bytes (like raft-rs's `limit_size`). All must be live and stored.
    pub(crate) fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: Option<u64>,
    ) -> Result<Vec<Entry>, SledLogError> {
        let mut entries = Vec::new();
        let mut size: u64 = 0;
        for index in low..high {
            let slot = self.slot(index).ok_or_else(|| SledLogError::Corrupt {
                what: format!("entry {index}"),
                reason: "missing inside the log".to_owned(),
            })?;
            size += u64::from(slot.len);
            if !entries.is_empty() && max_size.is_some_and(|max| size > max) {
                break;
            }
            let entry = match self.cache.get(index) {
                Some(entry) => entry.clone(),
                None => self.read(index, slot)?,
            };
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Reads entry `index` from the file and checks it.
    fn read(&self, index: u64, slot: &Slot) -> Result<Entry, SledLogError> {
        let corrupt = |reason: String| SledLogError::Corrupt {
            what: format!("entry {index}"),
            reason,
        };
        let mut bytes = vec![0u8; HEADER_BYTES + slot.len as usize];
        self.file
            .read_exact_at(&mut bytes, slot.offset)
            .map_err(io_error(&self.dir, "read the entry file"))?;
        let Some((header, payload)) = bytes.split_first_chunk::<HEADER_BYTES>() else {
            return Err(corrupt("a record shorter than its header".to_owned()));
        };
        let header = Header::parse(header);
        if (header.index, header.term, header.len) != (index, slot.term, slot.len) {
            return Err(corrupt(format!(
                "the record at byte {} holds entry {} of term {} ({} bytes)",
                slot.offset, header.index, header.term, header.len
            )));
        }
        if !header.matches(payload) {
            return Err(corrupt(format!(
                "the record at byte {} fails its CRC",
                slot.offset
            )));
        }
        let entry = Entry::parse_from_bytes(payload).map_err(|e| corrupt(e.to_string()))?;
        if (entry.index, entry.term) != (index, slot.term) {
            return Err(corrupt(format!(
                "its record holds entry {} of term {}",
                entry.index, entry.term
            )));
        }
        Ok(entry)
    }
}

/// Whether `dir` holds an entry file.
pub(crate) fn exists(dir: &Path) -> bool {
    dir.join(FILE_NAME).exists()
}

/// Builds an entry file in `dir` from `records` (index, term, entry
/// protobuf), durably: written to the temporary file, synced, renamed,
/// directory synced. Returns its length.
pub(crate) fn create_from<P: AsRef<[u8]>>(
    dir: &Path,
    records: impl IntoIterator<Item = Result<(u64, u64, P), SledLogError>>,
) -> Result<u64, SledLogError> {
    let mut tmp = io::BufWriter::new(create_tmp(dir)?);
    let mut len = MAGIC_BYTES;
    for record in records {
        let (index, term, payload) = record?;
        let payload = payload.as_ref();
        let header = Header::new(index, term, payload)?;
        tmp.write_all(&header.to_bytes())
            .and_then(|()| tmp.write_all(payload))
            .map_err(io_error(dir, "write the new entry file"))?;
        len += header.record_bytes();
    }
    let tmp = tmp
        .into_inner()
        .map_err(|e| io_error(dir, "write the new entry file")(e.into_error()))?;
    tmp.sync_data()
        .map_err(io_error(dir, "sync the new entry file"))?;
    std::fs::rename(dir.join(TMP_NAME), dir.join(FILE_NAME))
        .map_err(io_error(dir, "rename the new entry file"))?;
    sync_dir(dir)?;
    Ok(len)
}

/// Creates the temporary file, empty but for the magic.
fn create_tmp(dir: &Path) -> Result<File, SledLogError> {
    let mut tmp = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join(TMP_NAME))
        .map_err(io_error(dir, "create the new entry file"))?;
    tmp.write_all(MAGIC)
        .map_err(io_error(dir, "write the new entry file"))?;
    Ok(tmp)
}

/// fsyncs `dir`, so that a created or renamed file in it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), SledLogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir, "sync the log directory"))
}

fn remove_if_present(path: &Path) -> Result<(), SledLogError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(
            path.parent().unwrap_or(path),
            "remove a leftover file",
        )(e)),
        _ => Ok(()),
    }
}

fn io_error<'a>(dir: &'a Path, action: &'static str) -> impl Fn(io::Error) -> SledLogError + 'a {
    move |source| SledLogError::Io {
        dir: dir.to_path_buf(),
        action,
        source,
    }
}
