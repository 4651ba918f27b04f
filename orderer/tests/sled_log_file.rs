#![allow(clippy::unwrap_used)]
//! `SledLog`'s entry file on disk: crashes that tear its tail, corruption
//! of synced records, a new leader's truncation, rewrites after compaction,
//! and migration from the layout that kept entries in sled.
//!
//! Dropping a `SledLog` without syncing stands for a process crash (the
//! page cache keeps what was written); cutting or flipping the file's bytes
//! before reopening stands for what a power loss or a bad disk leaves.

use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, Storage};
use tempfile::TempDir;
use weft_orderer::log::DurableLog;
use weft_orderer::sled_log::{ENTRY_FILE_NAME, SledLog, SledLogError, SledLogOptions};

/// Bytes of a record's header: length, CRC, index, term.
const RECORD_HEADER_BYTES: u64 = 24;
/// Bytes of the file's magic, before the first record.
const MAGIC_BYTES: u64 = 8;

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        data: vec![index as u8; 10 + (index % 5) as usize].into(),
        ..Entry::default()
    }
}

fn entries(indexes: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    indexes.map(|i| entry(i, term)).collect()
}

fn record_bytes(e: &Entry) -> u64 {
    RECORD_HEADER_BYTES + u64::from(e.compute_size())
}

fn file(dir: &TempDir) -> PathBuf {
    dir.path().join(ENTRY_FILE_NAME)
}

fn file_len(dir: &TempDir) -> u64 {
    std::fs::metadata(file(dir)).unwrap().len()
}

fn open(dir: &TempDir) -> SledLog {
    SledLog::open(dir.path()).unwrap()
}

fn all_entries(log: &SledLog) -> Vec<Entry> {
    let (first, last) = (log.first_index().unwrap(), log.last_index().unwrap());
    log.entries(first, last + 1, None, GetEntriesContext::empty(false))
        .unwrap()
}

fn hard_state(term: u64, commit: u64) -> HardState {
    HardState {
        term,
        vote: 1,
        commit,
        ..HardState::default()
    }
}

/// A log with entries 1..=5 synced, then 6..=8 written but not synced,
/// closed as a crash would close it. Returns the synced length.
fn synced_then_unsynced(dir: &TempDir) -> u64 {
    let mut log = open(dir);
    log.bootstrap(&[1, 2, 3]).unwrap();
    log.append(&entries(1..=5, 1)).unwrap();
    log.sync().unwrap();
    let synced = file_len(dir);
    log.append(&entries(6..=8, 1)).unwrap();
    drop(log);
    synced
}

#[test]
fn a_torn_tail_is_cut_back_to_whole_entries() {
    let dir = tempfile::tempdir().unwrap();
    let synced = synced_then_unsynced(&dir);
    let written = entries(1..=8, 1);
    let full = std::fs::read(file(&dir)).unwrap();
    let ends: Vec<u64> = written[5..]
        .iter()
        .scan(synced, |end, e| {
            *end += record_bytes(e);
            Some(*end)
        })
        .collect();
    assert_eq!(ends.last(), Some(&(full.len() as u64)));
    for cut in synced..=full.len() as u64 {
        std::fs::write(file(&dir), &full[..cut as usize]).unwrap();
        let log = open(&dir);
        let whole = ends.iter().filter(|&&end| end <= cut).count();
        assert_eq!(
            all_entries(&log),
            written[..5 + whole],
            "file cut at byte {cut}"
        );
        let kept = if whole == 0 { synced } else { ends[whole - 1] };
        assert_eq!(file_len(&dir), kept, "file cut at byte {cut}");
    }
}

#[test]
fn garbage_or_zeros_after_the_synced_records_are_cut_off() {
    for tail in [vec![0u8; 4096], vec![0xa5; 100], b"not a record".to_vec()] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(&dir);
        log.append(&entries(1..=5, 1)).unwrap();
        log.sync().unwrap();
        drop(log);
        let mut bytes = std::fs::read(file(&dir)).unwrap();
        let synced = bytes.len() as u64;
        bytes.extend_from_slice(&tail);
        std::fs::write(file(&dir), &bytes).unwrap();

        let mut log = open(&dir);
        assert_eq!(all_entries(&log), entries(1..=5, 1));
        assert_eq!(file_len(&dir), synced);
        log.append(&entries(6..=6, 1)).unwrap();
        log.sync().unwrap();
        drop(log);
        assert_eq!(all_entries(&open(&dir)), entries(1..=6, 1));
    }
}

/// Flips one bit of the file at `offset`.
fn flip(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

/// Offset of entry `index`'s record, for a file holding `written` from its start.
fn offset_of(written: &[Entry], index: u64) -> u64 {
    MAGIC_BYTES
        + written
            .iter()
            .take_while(|e| e.index < index)
            .map(record_bytes)
            .sum::<u64>()
}

#[test]
fn a_flipped_byte_in_a_synced_record_is_corruption() {
    let written = entries(1..=5, 1);
    // In entry 3's payload, in its length, in its index, and in the last
    // synced record, which was synced too.
    let places = [
        offset_of(&written, 3) + RECORD_HEADER_BYTES + 3,
        offset_of(&written, 3) + 1,
        offset_of(&written, 3) + 15,
        offset_of(&written, 5) + RECORD_HEADER_BYTES,
    ];
    for place in places {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(&dir);
        log.append(&written).unwrap();
        log.sync().unwrap();
        drop(log);
        flip(&file(&dir), place);
        let err = SledLog::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, SledLogError::Corrupt { .. }),
            "byte {place}: {err}"
        );
    }
}

#[test]
fn a_flipped_byte_in_an_unsynced_record_cuts_the_tail_there() {
    // A power loss may write back later pages and not earlier ones: past
    // what was synced, a bad record ends the log even if good ones follow.
    let dir = tempfile::tempdir().unwrap();
    synced_then_unsynced(&dir);
    let written = entries(1..=8, 1);
    flip(
        &file(&dir),
        offset_of(&written, 7) + RECORD_HEADER_BYTES + 2,
    );
    let log = open(&dir);
    assert_eq!(all_entries(&log), written[..6]);
    assert_eq!(file_len(&dir), offset_of(&written, 7));
}

#[test]
fn a_missing_or_foreign_entry_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(&dir);
    log.append(&entries(1..=3, 1)).unwrap();
    log.sync().unwrap();
    drop(log);
    let bytes = std::fs::read(file(&dir)).unwrap();

    std::fs::remove_file(file(&dir)).unwrap();
    let err = SledLog::open(dir.path()).unwrap_err();
    assert!(matches!(err, SledLogError::Corrupt { .. }), "{err}");

    let mut foreign = bytes.clone();
    foreign[..8].copy_from_slice(b"NOTWEFT!");
    std::fs::write(file(&dir), foreign).unwrap();
    let err = SledLog::open(dir.path()).unwrap_err();
    assert!(matches!(err, SledLogError::Corrupt { .. }), "{err}");

    // A rewrite that crashed before its rename leaves a temporary file.
    std::fs::write(file(&dir), bytes).unwrap();
    let tmp = dir.path().join(format!("{ENTRY_FILE_NAME}.tmp"));
    std::fs::write(&tmp, b"half a copy").unwrap();
    assert_eq!(all_entries(&open(&dir)), entries(1..=3, 1));
    assert!(!tmp.exists());
}

#[test]
fn a_new_leaders_truncation_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(&dir);
    log.append(&entries(1..=6, 1)).unwrap();
    log.sync().unwrap();
    log.append(&entries(4..=5, 2)).unwrap();
    log.sync().unwrap();
    let want: Vec<Entry> = entries(1..=3, 1)
        .into_iter()
        .chain(entries(4..=5, 2))
        .collect();
    assert_eq!(all_entries(&log), want);
    drop(log);

    let mut log = open(&dir);
    assert_eq!(all_entries(&log), want);
    assert_eq!(
        log.term(6),
        Err(raft::Error::Store(raft::StorageError::Unavailable))
    );
    assert_eq!(file_len(&dir), offset_of(&want, 6));
    // Overwriting again without a sync: a crash keeps whole entries only.
    log.append(&entries(5..=7, 3)).unwrap();
    drop(log);
    let log = open(&dir);
    let want: Vec<Entry> = want[..4].iter().cloned().chain(entries(5..=7, 3)).collect();
    assert_eq!(all_entries(&log), want);
}

#[test]
fn a_torn_overwrite_of_synced_entries_is_not_corruption() {
    // The overwrite cut the file below what was synced: a crash tearing the
    // new entry must not look like a corrupt synced record.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(&dir);
    log.append(&entries(1..=6, 1)).unwrap();
    log.sync().unwrap();
    log.append(&entries(4..=4, 2)).unwrap();
    drop(log);
    let written = entries(1..=3, 1);
    let torn = offset_of(&written, 4) + RECORD_HEADER_BYTES + 1;
    let bytes = std::fs::read(file(&dir)).unwrap();
    std::fs::write(file(&dir), &bytes[..torn as usize]).unwrap();
    let log = open(&dir);
    assert_eq!(all_entries(&log), written);
}

#[test]
fn hard_state_reaches_disk_only_with_a_sync() {
    // sled flushes on its own; a commit index on disk before the entries
    // it commits would make raft-rs refuse to start.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(&dir);
    log.append(&entries(1..=2, 1)).unwrap();
    log.set_hard_state(&hard_state(1, 1)).unwrap();
    log.sync().unwrap();
    log.append(&entries(3..=4, 1)).unwrap();
    log.set_hard_state(&hard_state(1, 4)).unwrap();
    drop(log);
    let log = open(&dir);
    assert_eq!(log.initial_state().unwrap().hard_state, hard_state(1, 1));
}

/// Entries of 100 bytes of data, so that the dead prefix grows quickly.
fn big_entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        data: vec![index as u8; 100].into(),
        ..Entry::default()
    }
}

#[test]
fn compaction_rewrites_the_file_once_the_dead_prefix_is_large() {
    let options = SledLogOptions {
        rewrite_min_dead_bytes: 4096,
        cache_max_bytes: 0,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut log = SledLog::open_with(dir.path(), options).unwrap();
    log.bootstrap(&[1]).unwrap();
    let written: Vec<Entry> = (1..=100).map(|i| big_entry(i, 1 + i / 30)).collect();
    log.append(&written).unwrap();
    log.set_hard_state(&hard_state(4, 100)).unwrap();
    log.sync().unwrap();
    let full = file_len(&dir);

    // 20 dead entries are under the threshold: the file stays.
    log.compact(20, b"at 20".to_vec()).unwrap();
    assert_eq!(file_len(&dir), full);
    log.compact(90, b"at 90".to_vec()).unwrap();
    let live = MAGIC_BYTES + written[90..].iter().map(record_bytes).sum::<u64>();
    assert_eq!(file_len(&dir), live, "rewritten without the dead prefix");
    let terms: Vec<_> = (90..=100).map(|i| log.term(i).unwrap()).collect();
    assert_eq!(all_entries(&log), written[90..]);
    log.append(&[big_entry(101, 4)]).unwrap();
    log.sync().unwrap();
    drop(log);

    let log = SledLog::open_with(dir.path(), options).unwrap();
    assert_eq!(log.first_index(), Ok(91));
    assert_eq!(log.last_index(), Ok(101));
    assert_eq!(
        (90..=100).map(|i| log.term(i).unwrap()).collect::<Vec<_>>(),
        terms
    );
    let want: Vec<Entry> = written[90..]
        .iter()
        .cloned()
        .chain([big_entry(101, 4)])
        .collect();
    assert_eq!(all_entries(&log), want);
    assert_eq!(log.snapshot(0, 0).unwrap().data.as_ref(), b"at 90");
}

fn snapshot(index: u64, term: u64) -> Snapshot {
    let mut s = Snapshot {
        metadata: Some(SnapshotMetadata {
            index,
            term,
            ..SnapshotMetadata::default()
        })
        .into(),
        ..Snapshot::default()
    };
    s.mut_metadata().mut_conf_state().voters = vec![1, 2, 3];
    s
}

#[test]
fn a_snapshot_past_every_entry_empties_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(&dir);
    log.append(&entries(1..=5, 1)).unwrap();
    log.sync().unwrap();
    log.apply_snapshot(&snapshot(20, 3)).unwrap();
    assert_eq!(file_len(&dir), MAGIC_BYTES);
    // A crash before the next sync finds the snapshot and the empty file.
    drop(log);
    let mut log = open(&dir);
    assert_eq!((log.first_index(), log.last_index()), (Ok(21), Ok(20)));
    log.append(&entries(21..=22, 3)).unwrap();
    log.sync().unwrap();
    drop(log);
    let log = open(&dir);
    assert_eq!((log.first_index(), log.last_index()), (Ok(21), Ok(22)));
    assert_eq!(log.term(20), Ok(3));
    assert_eq!(all_entries(&log), entries(21..=22, 3));
}

#[test]
fn a_snapshot_of_another_history_truncates_its_entries_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(&dir);
    log.append(&entries(1..=10, 1)).unwrap();
    log.sync().unwrap();
    // Entry 5 has term 1 here: the log holds another history after 4.
    log.apply_snapshot(&snapshot(5, 2)).unwrap();
    let written = entries(1..=10, 1);
    assert_eq!(file_len(&dir), offset_of(&written, 6), "stale 6..=10 gone");
    drop(log);
    let mut log = open(&dir);
    assert_eq!((log.first_index(), log.last_index()), (Ok(6), Ok(5)));
    assert_eq!(log.term(5), Ok(2));
    log.append(&entries(6..=7, 2)).unwrap();
    log.sync().unwrap();
    drop(log);
    assert_eq!(all_entries(&open(&dir)), entries(6..=7, 2));
}

/// Writes a directory as the version that kept entries in the sled tree
/// did: snapshot at 3 (term 2), entries `entries` under `e` + index (BE).
fn write_old_layout(dir: &TempDir, entries: &[Entry]) {
    let db = sled::open(dir.path()).unwrap();
    let tree = db.open_tree("raft_log").unwrap();
    let meta = SnapshotMetadata {
        index: 3,
        term: 2,
        ..SnapshotMetadata::default()
    };
    let conf = ConfState::from((vec![1, 2, 3], vec![]));
    tree.insert(b"m:hard_state", hard_state(2, 5).write_to_bytes().unwrap())
        .unwrap();
    tree.insert(b"m:conf_state", conf.write_to_bytes().unwrap())
        .unwrap();
    tree.insert(b"m:snapshot_meta", meta.write_to_bytes().unwrap())
        .unwrap();
    tree.insert(b"m:snapshot_data", &b"at three"[..]).unwrap();
    insert_old_entries(&tree, entries);
    db.flush().unwrap();
}

fn insert_old_entries(tree: &sled::Tree, entries: &[Entry]) {
    for e in entries {
        let mut key = vec![b'e'];
        key.extend_from_slice(&e.index.to_be_bytes());
        tree.insert(key, e.write_to_bytes().unwrap()).unwrap();
    }
}

fn old_entry_keys(dir: &TempDir) -> usize {
    let db = weft_types::node_config::open_waiting_for_lock(|| sled::open(dir.path())).unwrap();
    db.open_tree("raft_log").unwrap().scan_prefix(b"e").count()
}

#[test]
fn entries_kept_in_sled_by_the_previous_version_move_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let old = entries(4..=10, 2);
    write_old_layout(&dir, &old);
    assert!(!file(&dir).exists());

    let log = open(&dir);
    assert_eq!((log.first_index(), log.last_index()), (Ok(4), Ok(10)));
    assert_eq!(log.term(3), Ok(2));
    assert_eq!(all_entries(&log), old);
    assert_eq!(log.initial_state().unwrap().hard_state, hard_state(2, 5));
    assert_eq!(log.snapshot(0, 0).unwrap().data.as_ref(), b"at three");
    drop(log);
    assert_eq!(old_entry_keys(&dir), 0);
    assert_eq!(
        file_len(&dir),
        MAGIC_BYTES + old.iter().map(record_bytes).sum::<u64>()
    );
    assert_eq!(all_entries(&open(&dir)), old);
}

#[test]
fn a_migration_cut_short_after_writing_the_file_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let old = entries(4..=10, 2);
    write_old_layout(&dir, &old);
    drop(open(&dir));
    {
        // The crash came before the keys were removed.
        let db = weft_types::node_config::open_waiting_for_lock(|| sled::open(dir.path())).unwrap();
        insert_old_entries(&db.open_tree("raft_log").unwrap(), &old);
        db.flush().unwrap();
    }
    let log = open(&dir);
    assert_eq!(all_entries(&log), old);
    drop(log);
    assert_eq!(old_entry_keys(&dir), 0);
}

#[test]
fn old_entries_with_a_hole_are_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = entries(4..=10, 2);
    old.remove(3);
    write_old_layout(&dir, &old);
    let err = SledLog::open(dir.path()).unwrap_err();
    assert!(matches!(err, SledLogError::Corrupt { .. }), "{err}");
    assert!(!file(&dir).exists());
}

#[test]
fn a_crash_before_the_file_is_emptied_for_a_snapshot_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(&dir);
    log.append(&entries(1..=5, 1)).unwrap();
    log.sync().unwrap();
    drop(log);
    {
        // The snapshot past every entry reached disk; emptying the file did not.
        let db = weft_types::node_config::open_waiting_for_lock(|| sled::open(dir.path())).unwrap();
        let meta = snapshot(20, 3).take_metadata();
        db.open_tree("raft_log")
            .unwrap()
            .insert(b"m:snapshot_meta", meta.write_to_bytes().unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    let mut log = open(&dir);
    assert_eq!((log.first_index(), log.last_index()), (Ok(21), Ok(20)));
    assert_eq!(file_len(&dir), MAGIC_BYTES);
    log.append(&entries(21..=21, 3)).unwrap();
    log.sync().unwrap();
    drop(log);
    assert_eq!(all_entries(&open(&dir)), entries(21..=21, 3));
}
