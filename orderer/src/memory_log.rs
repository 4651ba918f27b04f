//! [`MemoryLog`]: a [`DurableLog`] in memory, for the simulated-network
//! tests, that models what a crash loses.
//!
//! Every write is applied at once to the *written* state (what raft-rs reads
//! back through [`Storage`]) and queued; [`DurableLog::sync`] replays the
//! queue onto the *synced* state. [`MemoryLog::after_crash`] returns a log
//! holding only the synced state: what a restarted node finds on disk.
//! Replaying the queue instead of cloning the written state keeps a sync
//! proportional to what changed, not to the size of the log.

use std::convert::Infallible;

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

use crate::log::DurableLog;

/// One write, as queued until the next sync.
#[derive(Debug, Clone)]
enum Write {
    Append(Vec<Entry>),
    HardState(HardState),
    Commit(u64),
    ConfState(ConfState),
    Snapshot(Snapshot),
    Compact(u64, Vec<u8>),
}

/// The log's contents: what `Storage` serves.
#[derive(Debug, Clone, Default)]
struct State {
    hard_state: HardState,
    conf_state: ConfState,
    /// Index, term and conf state of the last snapshot (index 0: none).
    snapshot_metadata: SnapshotMetadata,
    /// The application data of the last snapshot.
    snapshot_data: Vec<u8>,
    /// Entries after the snapshot, consecutive.
    entries: Vec<Entry>,
}

impl State {
    fn first_index(&self) -> u64 {
        self.snapshot_metadata.index + 1
    }

    fn last_index(&self) -> u64 {
        self.entries
            .last()
            .map_or(self.snapshot_metadata.index, |e| e.index)
    }

    fn term(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_metadata.index {
            return Some(self.snapshot_metadata.term);
        }
        let offset = index.checked_sub(self.first_index())?;
        self.entries.get(offset as usize).map(|e| e.term)
    }

    fn apply(&mut self, write: &Write) {
        match write {
            Write::Append(entries) => self.append(entries),
            Write::HardState(hs) => self.hard_state = hs.clone(),
            Write::Commit(commit) => self.hard_state.commit = *commit,
            Write::ConfState(cs) => self.conf_state = cs.clone(),
            Write::Snapshot(snapshot) => self.install(snapshot),
            Write::Compact(index, data) => self.compact(*index, data),
        }
    }

    fn append(&mut self, entries: &[Entry]) {
        // Entries at or below the snapshot are already covered by it.
        let first = self.first_index();
        let entries: Vec<&Entry> = entries.iter().filter(|e| e.index >= first).collect();
        let Some(head) = entries.first() else {
            return;
        };
        assert!(
            head.index <= self.last_index() + 1,
            "append at {} leaves a gap after {}",
            head.index,
            self.last_index()
        );
        self.entries.truncate((head.index - first) as usize);
        self.entries.extend(entries.into_iter().cloned());
    }

    fn install(&mut self, snapshot: &Snapshot) {
        let meta = snapshot.get_metadata();
        if meta.index < self.snapshot_metadata.index {
            return;
        }
        // Keep the entries after the snapshot if they agree with it.
        let keep = self.term(meta.index) == Some(meta.term);
        if keep {
            let drop = (meta.index + 1 - self.first_index()) as usize;
            self.entries.drain(..drop.min(self.entries.len()));
        } else {
            self.entries.clear();
        }
        self.snapshot_metadata = meta.clone();
        self.snapshot_data = snapshot.data.to_vec();
        self.conf_state = meta.get_conf_state().clone();
        self.hard_state.term = self.hard_state.term.max(meta.term);
        self.hard_state.commit = self.hard_state.commit.max(meta.index);
    }

    fn compact(&mut self, index: u64, data: &[u8]) {
        if index <= self.snapshot_metadata.index {
            return;
        }
        let Some(term) = self.term(index) else {
            panic!(
                "compact at {index} beyond the last index {}",
                self.last_index()
            );
        };
        let drop = (index + 1 - self.first_index()) as usize;
        self.entries.drain(..drop);
        let mut meta = SnapshotMetadata {
            index,
            term,
            ..SnapshotMetadata::default()
        };
        meta.set_conf_state(self.conf_state.clone());
        self.snapshot_metadata = meta;
        self.snapshot_data = data.to_vec();
        self.hard_state.commit = self.hard_state.commit.max(index);
    }
}

/// A Raft log in memory that remembers what was synced.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    written: State,
    synced: State,
    /// Writes since the last sync, oldest first.
    unsynced: Vec<Write>,
}

impl MemoryLog {
    /// An empty log: a node that has never run.
    pub fn new() -> MemoryLog {
        MemoryLog::default()
    }

    /// What a node restarted after a crash finds: only the synced writes.
    pub fn after_crash(&self) -> MemoryLog {
        MemoryLog {
            written: self.synced.clone(),
            synced: self.synced.clone(),
            unsynced: Vec::new(),
        }
    }

    /// How many writes a crash now would lose.
    pub fn unsynced_writes(&self) -> usize {
        self.unsynced.len()
    }

    /// Index of the last snapshot (0: none).
    pub fn snapshot_index(&self) -> u64 {
        self.written.snapshot_metadata.index
    }

    fn write(&mut self, write: Write) {
        self.written.apply(&write);
        self.unsynced.push(write);
    }
}

impl Storage for MemoryLog {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.written.hard_state.clone(),
            self.written.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let state = &self.written;
        if low < state.first_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > state.last_index() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let offset = state.first_index();
        let mut entries = state.entries[(low - offset) as usize..(high - offset) as usize].to_vec();
        raft::util::limit_size(&mut entries, max_size.into());
        Ok(entries)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let state = &self.written;
        if idx < state.snapshot_metadata.index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        state
            .term(idx)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.written.first_index())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.written.last_index())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let state = &self.written;
        if state.snapshot_metadata.index < request_index {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let mut snapshot = Snapshot::default();
        snapshot.set_metadata(state.snapshot_metadata.clone());
        snapshot.data = state.snapshot_data.clone().into();
        Ok(snapshot)
    }
}

impl DurableLog for MemoryLog {
    type Error = Infallible;

    fn append(&mut self, entries: &[Entry]) -> Result<(), Infallible> {
        if !entries.is_empty() {
            self.write(Write::Append(entries.to_vec()));
        }
        Ok(())
    }

    fn set_hard_state(&mut self, hard_state: &HardState) -> Result<(), Infallible> {
        self.write(Write::HardState(hard_state.clone()));
        Ok(())
    }

    fn set_commit(&mut self, commit: u64) -> Result<(), Infallible> {
        self.write(Write::Commit(commit));
        Ok(())
    }

    fn set_conf_state(&mut self, conf_state: &ConfState) -> Result<(), Infallible> {
        self.write(Write::ConfState(conf_state.clone()));
        Ok(())
    }

    fn apply_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Infallible> {
        self.write(Write::Snapshot(snapshot.clone()));
        Ok(())
    }

    fn sync(&mut self) -> Result<(), Infallible> {
        for write in self.unsynced.drain(..) {
            self.synced.apply(&write);
        }
        Ok(())
    }

    fn compact(&mut self, index: u64, data: Vec<u8>) -> Result<(), Infallible> {
        self.write(Write::Compact(index, data));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            ..Entry::default()
        }
    }

    #[test]
    fn a_crash_keeps_only_synced_writes() {
        let mut log = MemoryLog::new();
        log.append(&[entry(1, 1), entry(2, 1)]).unwrap();
        log.sync().unwrap();
        log.append(&[entry(3, 1)]).unwrap();
        assert_eq!(log.last_index().unwrap(), 3);
        let restarted = log.after_crash();
        assert_eq!(restarted.last_index().unwrap(), 2);
        assert_eq!(restarted.unsynced_writes(), 0);
    }

    #[test]
    fn append_overwrites_a_suffix() {
        let mut log = MemoryLog::new();
        log.append(&[entry(1, 1), entry(2, 1), entry(3, 1)])
            .unwrap();
        log.append(&[entry(2, 2)]).unwrap();
        assert_eq!(log.last_index().unwrap(), 2);
        assert_eq!(log.term(2).unwrap(), 2);
    }

    #[test]
    fn compact_keeps_the_term_of_the_snapshot_index() {
        let mut log = MemoryLog::new();
        log.append(&[entry(1, 1), entry(2, 2), entry(3, 2)])
            .unwrap();
        log.compact(2, b"tip".to_vec()).unwrap();
        assert_eq!(log.first_index().unwrap(), 3);
        assert_eq!(log.term(2).unwrap(), 2);
        assert!(log.term(1).is_err());
        let snap = log.snapshot(0, 0).unwrap();
        assert_eq!(snap.get_metadata().index, 2);
        assert_eq!(&snap.data[..], b"tip");
        assert_eq!(
            log.entries(3, 4, None, GetEntriesContext::empty(false))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_snapshot_ahead_drops_the_log() {
        let mut log = MemoryLog::new();
        log.append(&[entry(1, 1)]).unwrap();
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = 5;
        snap.mut_metadata().term = 3;
        log.apply_snapshot(&snap).unwrap();
        assert_eq!(log.first_index().unwrap(), 6);
        assert_eq!(log.last_index().unwrap(), 5);
        assert_eq!(log.initial_state().unwrap().hard_state.commit, 5);
    }
}
