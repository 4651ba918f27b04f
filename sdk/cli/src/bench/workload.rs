//! What `weft bench` sends: a [`Workload`] names its chaincode, the
//! transactions that prepare the ledger before the run, and the operation
//! each client sends next. The built-in workloads are registered in
//! [`by_name`]; a new one (the LoC mix, say) implements the trait and adds
//! a line there.

use std::sync::atomic::{AtomicU64, Ordering};

/// Submit (endorse, order, wait for the commit) or evaluate (one peer, no
/// ledger change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A transaction, measured from the proposal to its commit.
    Submit,
    /// A query, measured over its round trip.
    Evaluate,
}

/// One call a client makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Op {
    /// The label the report groups it under (`create`, `read`, …).
    pub(crate) label: &'static str,
    /// Submit or evaluate.
    pub(crate) kind: Kind,
    /// The chaincode function.
    pub(crate) function: &'static str,
    /// Its arguments.
    pub(crate) args: Vec<String>,
}

impl Op {
    fn submit(label: &'static str, function: &'static str, args: Vec<String>) -> Op {
        Op {
            label,
            kind: Kind::Submit,
            function,
            args,
        }
    }

    fn evaluate(label: &'static str, function: &'static str, args: Vec<String>) -> Op {
        Op {
            label,
            kind: Kind::Evaluate,
            function,
            args,
        }
    }
}

/// What every run of a workload knows: a prefix unique to the run (so that
/// runs against the same ledger do not collide) and who the client is.
#[derive(Debug, Clone)]
pub(crate) struct RunContext {
    /// Unique to this run, e.g. `b1763712345`.
    pub(crate) run_id: String,
    /// The name of the identity the load generator signs as (an asset's owner).
    pub(crate) client: String,
    /// How many keys a workload that reads or contends keys spreads over.
    pub(crate) keys: usize,
}

/// A benchmark workload.
pub(crate) trait Workload: Send + Sync {
    /// Its name on the command line.
    fn name(&self) -> &'static str;
    /// The chaincode it calls.
    fn chaincode(&self) -> &'static str;
    /// Transactions submitted (and committed) before the warm-up, e.g. the
    /// assets later read. Not measured.
    fn setup(&self, run: &RunContext) -> Vec<Op>;
    /// The operation to send next; `client` is the sending client's index
    /// (open loop: the sender's), `seq` counts every operation of the run,
    /// unique across clients.
    fn next(&self, run: &RunContext, client: usize, seq: u64) -> Op;
}

/// The workloads `weft bench --workload` knows.
pub(crate) const NAMES: &[&str] = &["asset-put", "asset-get", "asset-transfer-hot"];

/// The workload called `name`.
pub(crate) fn by_name(name: &str) -> Option<Box<dyn Workload>> {
    match name {
        "asset-put" => Some(Box::new(AssetPut)),
        "asset-get" => Some(Box::new(AssetGet)),
        "asset-transfer-hot" => Some(Box::new(AssetHot::default())),
        _ => None,
    }
}

/// Each operation creates a new asset (a put of a fresh key and of its
/// owner-index entry): no two operations touch the same key, so every
/// valid transaction commits.
struct AssetPut;

impl Workload for AssetPut {
    fn name(&self) -> &'static str {
        "asset-put"
    }

    fn chaincode(&self) -> &'static str {
        "asset-transfer"
    }

    fn setup(&self, _run: &RunContext) -> Vec<Op> {
        Vec::new()
    }

    fn next(&self, run: &RunContext, _client: usize, seq: u64) -> Op {
        Op::submit(
            "create",
            "create",
            vec![
                format!("{}-put-{seq}", run.run_id),
                run.client.clone(),
                (seq % 1000).to_string(),
            ],
        )
    }
}

fn shared_key(run: &RunContext, kind: &str, i: u64) -> String {
    format!("{}-{kind}-{i}", run.run_id)
}

fn create_keys(run: &RunContext, kind: &str) -> Vec<Op> {
    (0..run.keys as u64)
        .map(|i| {
            Op::submit(
                "setup",
                "create",
                vec![shared_key(run, kind, i), run.client.clone(), "1".into()],
            )
        })
        .collect()
}

/// Evaluations of `read` over `--keys` assets created during setup.
struct AssetGet;

impl Workload for AssetGet {
    fn name(&self) -> &'static str {
        "asset-get"
    }

    fn chaincode(&self) -> &'static str {
        "asset-transfer"
    }

    fn setup(&self, run: &RunContext) -> Vec<Op> {
        create_keys(run, "get")
    }

    fn next(&self, run: &RunContext, _client: usize, seq: u64) -> Op {
        let i = spread(seq) % run.keys.max(1) as u64;
        Op::evaluate("read", "read", vec![shared_key(run, "get", i)])
    }
}

/// Read-modify-write (`update`) of a few contended assets: endorsements
/// made on the same version race, and all but the first to commit are
/// marked `MVCC_READ_CONFLICT`. Shows how the network behaves under
/// contention, not its throughput.
#[derive(Default)]
struct AssetHot {
    values: AtomicU64,
}

impl Workload for AssetHot {
    fn name(&self) -> &'static str {
        "asset-transfer-hot"
    }

    fn chaincode(&self) -> &'static str {
        "asset-transfer"
    }

    fn setup(&self, run: &RunContext) -> Vec<Op> {
        create_keys(run, "hot")
    }

    fn next(&self, run: &RunContext, _client: usize, seq: u64) -> Op {
        let i = spread(seq) % run.keys.max(1) as u64;
        let value = self.values.fetch_add(1, Ordering::Relaxed);
        Op::submit(
            "update",
            "update",
            vec![shared_key(run, "hot", i), value.to_string()],
        )
    }
}

/// A cheap, well-mixed function of `seq` (splitmix64's finaliser), so that
/// consecutive operations pick unrelated keys without a shared RNG.
fn spread(seq: u64) -> u64 {
    let mut z = seq.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn run() -> RunContext {
        RunContext {
            run_id: "b1".into(),
            client: "client@Org1".into(),
            keys: 10,
        }
    }

    #[test]
    fn every_named_workload_exists_and_unknown_names_do_not() {
        for name in NAMES {
            let w = by_name(name).expect(name);
            assert_eq!(w.name(), *name);
        }
        assert!(by_name("asset-gets").is_none());
    }

    #[test]
    fn asset_put_never_repeats_a_key() {
        let w = by_name("asset-put").unwrap();
        let run = run();
        assert!(w.setup(&run).is_empty());
        let keys: HashSet<String> = (0..5000)
            .map(|seq| w.next(&run, (seq % 7) as usize, seq).args[0].clone())
            .collect();
        assert_eq!(keys.len(), 5000);
        let op = w.next(&run, 0, 3);
        assert_eq!((op.kind, op.function), (Kind::Submit, "create"));
        assert_eq!(op.args[1], "client@Org1");
    }

    #[test]
    fn asset_get_reads_only_the_keys_it_created_and_reaches_them_all() {
        let w = by_name("asset-get").unwrap();
        let run = run();
        let created: HashSet<String> = w
            .setup(&run)
            .into_iter()
            .map(|op| op.args[0].clone())
            .collect();
        assert_eq!(created.len(), 10);
        let read: HashSet<String> = (0..1000)
            .map(|seq| {
                let op = w.next(&run, 0, seq);
                assert_eq!((op.kind, op.function), (Kind::Evaluate, "read"));
                op.args[0].clone()
            })
            .collect();
        assert_eq!(read, created);
    }

    #[test]
    fn the_hot_workload_updates_its_few_keys_with_fresh_values() {
        let w = by_name("asset-transfer-hot").unwrap();
        let run = run();
        let created: HashSet<String> = w
            .setup(&run)
            .into_iter()
            .map(|op| op.args[0].clone())
            .collect();
        let ops: Vec<Op> = (0..200).map(|seq| w.next(&run, 0, seq)).collect();
        assert!(ops.iter().all(|op| created.contains(&op.args[0])));
        let values: HashSet<&String> = ops.iter().map(|op| &op.args[1]).collect();
        assert_eq!(values.len(), 200);
    }
}
