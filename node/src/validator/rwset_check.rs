//! The shape rules of a read/write set (BAD_RWSET when broken): namespaces
//! unique and sorted, and within each namespace every list sorted by key with
//! no key twice, and range records consistent with their bounds. The
//! simulator always produces this shape; anything else was made by hand.

use weft_types::{NsRwSet, RangeQueryInfo, RwSet};

/// Checks the shape of `rwset`; the error says what is wrong.
pub(crate) fn check_shape(rwset: &RwSet) -> Result<(), String> {
    strictly_sorted(rwset.namespaces.iter().map(|n| n.namespace.as_str()))
        .map_err(|n| format!("namespace {n:?} is repeated or out of order"))?;
    rwset.namespaces.iter().try_for_each(check_namespace)
}

fn check_namespace(ns: &NsRwSet) -> Result<(), String> {
    let name = &ns.namespace;
    let bad =
        |what: &str, key: &str| format!("{what} of {name} list key {key:?} twice or out of order");
    strictly_sorted(ns.reads.iter().map(|r| r.key.as_str())).map_err(|k| bad("the reads", k))?;
    strictly_sorted(ns.writes.iter().map(|w| w.key.as_str())).map_err(|k| bad("the writes", k))?;
    strictly_sorted(ns.key_policy_writes.iter().map(|w| w.key.as_str()))
        .map_err(|k| bad("the key-policy writes", k))?;
    for q in &ns.range_queries {
        check_range(name, q)?;
    }
    strictly_sorted(ns.collections.iter().map(|c| c.collection.as_str()))
        .map_err(|c| format!("collection {c:?} of {name} is repeated or out of order"))?;
    for c in &ns.collections {
        let bad = |what: &str| {
            format!(
                "the hashed {what} of {name}/{} repeat or are out of order",
                c.collection
            )
        };
        strictly_sorted(c.reads.iter().map(|r| r.key_hash)).map_err(|_| bad("reads"))?;
        strictly_sorted(c.writes.iter().map(|w| w.key_hash)).map_err(|_| bad("writes"))?;
    }
    Ok(())
}

fn check_range(ns: &str, q: &RangeQueryInfo) -> Result<(), String> {
    let what = || format!("range [{:?}, {:?}) of {ns}", q.start_key, q.end_key);
    if q.exhausted && q.scanned_to.is_some() {
        return Err(format!(
            "{} is exhausted yet names where its scan stopped",
            what()
        ));
    }
    strictly_sorted(q.reads.iter().map(|r| r.key.as_str()))
        .map_err(|k| format!("{} lists key {k:?} twice or out of order", what()))?;
    for r in &q.reads {
        let below_end = q.end_key.is_empty() || r.key < q.end_key;
        let scanned = q.exhausted || q.scanned_to.as_ref().is_some_and(|last| r.key <= *last);
        if r.key < q.start_key || !below_end || !scanned {
            return Err(format!(
                "{} lists key {:?} outside what it scanned",
                what(),
                r.key
            ));
        }
        if r.version.is_none() {
            return Err(format!(
                "{} lists key {:?} without a version",
                what(),
                r.key
            ));
        }
    }
    Ok(())
}

/// `Err(item)` names the first item not greater than the one before it.
fn strictly_sorted<T: Ord + Copy>(items: impl Iterator<Item = T>) -> Result<(), T> {
    let mut last: Option<T> = None;
    for item in items {
        if last.is_some_and(|l| l >= item) {
            return Err(item);
        }
        last = Some(item);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::{KvRead, Version};

    fn ranged(exhausted: bool, scanned_to: Option<&str>, keys: &[&str]) -> RwSet {
        let reads = keys
            .iter()
            .map(|k| KvRead {
                key: (*k).into(),
                version: Some(Version { block: 1, tx: 0 }),
            })
            .collect();
        RwSet {
            namespaces: vec![NsRwSet {
                namespace: "cc".into(),
                range_queries: vec![RangeQueryInfo {
                    start_key: "b".into(),
                    end_key: "e".into(),
                    exhausted,
                    scanned_to: scanned_to.map(Into::into),
                    reads,
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn range_records_stay_within_what_was_scanned() {
        assert!(check_shape(&ranged(true, None, &["b", "d"])).is_ok());
        assert!(check_shape(&ranged(false, Some("c"), &["b", "c"])).is_ok());
        for bad in [
            ranged(true, None, &["a"]),
            ranged(true, None, &["e"]),
            ranged(true, None, &["c", "b"]),
            ranged(false, Some("c"), &["d"]),
            ranged(false, None, &["b"]),
            ranged(true, Some("c"), &[]),
        ] {
            assert!(check_shape(&bad).is_err(), "{bad:?}");
        }
    }
}
