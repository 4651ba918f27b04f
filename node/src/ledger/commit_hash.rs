//! The commit hash: a running digest of what each block did to the state.
//! Peers that validate the same blocks the same way have the same commit
//! hash at every height; comparing it detects a diverging peer.
//!
//! `commit_hash(n) = sha3_256(` the tag `"weft/v1/commit-hash\0"`,
//! `commit_hash(n-1)` (32 bytes, zero before genesis), the block number
//! (u64 BE), the validation flags (as [`Hasher::update_prefixed`] of one byte
//! per transaction, [`ValidationCode::as_u8`]), the count (u64 BE) of the
//! transactions that change something, then for each of them in block order:
//! its index (u32 BE), its state writes (count u64 BE; each: ns and key
//! prefixed, then `0` for a delete or `1` and the prefixed value), its
//! key-policy writes (the same shape, the policy text as the value), its
//! private hash writes (count u64 BE; each: ns and collection prefixed, the
//! key hash (32), then `0` for a delete or `1` and the value hash (32)) `)`.
//! Private values are not covered: only the collection's members hold them.
//! "Prefixed" means [`Hasher::update_prefixed`] (u64 BE length, then the
//! bytes). Transactions with no changes are skipped, so whether the
//! committer lists them does not matter. Tx ids and timestamps are not
//! covered: they are fixed by the block itself.

use weft_types::{Digest, Hasher, ValidationCode};

use super::updates::BlockUpdates;

const TAG: &[u8] = b"weft/v1/commit-hash\0";

/// The commit hash after block `number`, given the one before it.
pub fn commit_hash(
    previous: &Digest,
    number: u64,
    flags: &[ValidationCode],
    updates: &BlockUpdates,
) -> Digest {
    let mut h = Hasher::new();
    h.update(TAG)
        .update(previous.as_bytes())
        .update(&number.to_be_bytes());
    let flag_bytes: Vec<u8> = flags.iter().map(|c| c.as_u8()).collect();
    h.update_prefixed(&flag_bytes);
    let changing = updates.txs.iter().filter(|t| !t.is_empty());
    h.update(&(changing.clone().count() as u64).to_be_bytes());
    for tx in changing {
        h.update(&tx.index.to_be_bytes());
        h.update(&(tx.writes.len() as u64).to_be_bytes());
        for w in &tx.writes {
            entry(&mut h, &w.ns, &w.key, w.value.as_deref());
        }
        h.update(&(tx.policy_writes.len() as u64).to_be_bytes());
        for p in &tx.policy_writes {
            entry(
                &mut h,
                &p.ns,
                &p.key,
                p.policy.as_deref().map(str::as_bytes),
            );
        }
        h.update(&(tx.private_hashes.len() as u64).to_be_bytes());
        for p in &tx.private_hashes {
            h.update_prefixed(p.ns.as_bytes())
                .update_prefixed(p.collection.as_bytes())
                .update(p.key_hash.as_bytes());
            match &p.value_hash {
                None => {
                    h.update(&[0]);
                }
                Some(v) => {
                    h.update(&[1]).update(v.as_bytes());
                }
            }
        }
    }
    h.finalize()
}

fn entry(h: &mut Hasher, ns: &str, key: &str, value: Option<&[u8]>) {
    h.update_prefixed(ns.as_bytes())
        .update_prefixed(key.as_bytes());
    match value {
        None => {
            h.update(&[0]);
        }
        Some(v) => {
            h.update(&[1]).update_prefixed(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::updates::{PolicyWrite, PrivateHashWrite, StateWrite, TxUpdates};
    use weft_types::TxId;

    fn tx(index: u32, writes: Vec<StateWrite>) -> TxUpdates {
        TxUpdates {
            writes,
            ..TxUpdates::new(TxId(Digest([index as u8; 32])), index, 0)
        }
    }

    fn put(key: &str, value: &[u8]) -> StateWrite {
        StateWrite {
            ns: "cc".into(),
            key: key.into(),
            value: Some(value.to_vec()),
        }
    }

    #[test]
    fn empty_entries_do_not_change_the_hash() {
        let flags = [ValidationCode::Valid, ValidationCode::Valid];
        let a = BlockUpdates {
            txs: vec![tx(1, vec![put("k", b"v")])],
            ..Default::default()
        };
        let b = BlockUpdates {
            txs: vec![tx(0, vec![]), tx(1, vec![put("k", b"v")])],
            ..Default::default()
        };
        assert_eq!(
            commit_hash(&Digest::ZERO, 1, &flags, &a),
            commit_hash(&Digest::ZERO, 1, &flags, &b)
        );
    }

    #[test]
    fn every_part_counts() {
        let flags = [ValidationCode::Valid];
        let base = BlockUpdates {
            txs: vec![tx(0, vec![put("k", b"v")])],
            ..Default::default()
        };
        let h = commit_hash(&Digest::ZERO, 1, &flags, &base);
        assert_ne!(h, commit_hash(&Digest([1; 32]), 1, &flags, &base));
        assert_ne!(h, commit_hash(&Digest::ZERO, 2, &flags, &base));
        assert_ne!(
            h,
            commit_hash(&Digest::ZERO, 1, &[ValidationCode::BadPayload], &base)
        );
        let moved = BlockUpdates {
            txs: vec![tx(0, vec![put("kv", b"")])],
            ..Default::default()
        };
        assert_ne!(h, commit_hash(&Digest::ZERO, 1, &flags, &moved));
        let deleted = BlockUpdates {
            txs: vec![tx(
                0,
                vec![StateWrite {
                    value: None,
                    ..put("k", b"")
                }],
            )],
            ..Default::default()
        };
        assert_ne!(
            commit_hash(&Digest::ZERO, 1, &flags, &moved),
            commit_hash(&Digest::ZERO, 1, &flags, &deleted)
        );
        let mut policy = base.clone();
        policy.txs[0].policy_writes.push(PolicyWrite {
            ns: "cc".into(),
            key: "k".into(),
            policy: Some("OR('a.member')".into()),
        });
        assert_ne!(h, commit_hash(&Digest::ZERO, 1, &flags, &policy));
        let mut private = base.clone();
        private.txs[0].private_hashes.push(PrivateHashWrite {
            ns: "cc".into(),
            collection: "c".into(),
            key_hash: Digest([2; 32]),
            value_hash: Some(Digest([3; 32])),
            expires_at: None,
        });
        let with_private = commit_hash(&Digest::ZERO, 1, &flags, &private);
        assert_ne!(h, with_private);
        private.txs[0].private_hashes[0].value_hash = None;
        assert_ne!(
            with_private,
            commit_hash(&Digest::ZERO, 1, &flags, &private)
        );
        // What only members hold does not count.
        let mut member = base.clone();
        member.txs[0].private_data.push(weft_types::CollectionData {
            namespace: "cc".into(),
            collection: "c".into(),
            writes: Vec::new(),
        });
        assert_eq!(h, commit_hash(&Digest::ZERO, 1, &flags, &member));
    }
}
