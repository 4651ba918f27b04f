//! `--clients 10,20,30…`: one measurement per step of concurrency on the
//! same network, summed up side by side — throughput overall and per
//! operation, latency, failures, and how busy the machine was — as the
//! LoC paper's evaluation reports its steps of concurrent requests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::report::Report;

/// The summary's file name in `--out`.
pub(crate) const FILE: &str = "steps.json";

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Step {
    /// Concurrent clients.
    pub(crate) clients: usize,
    /// Successes per second of the window.
    pub(crate) throughput_tps: f64,
    /// Successes per second of each operation label.
    pub(crate) by_op_tps: BTreeMap<String, f64>,
    /// Median and 99th percentile latency of the successes, ms.
    pub(crate) p50_ms: f64,
    /// See `p50_ms`.
    pub(crate) p99_ms: f64,
    /// Operations that failed.
    pub(crate) failed: u64,
    /// CPU of the node processes and the load generator together, as a
    /// share of the whole machine (100 = every core busy).
    pub(crate) machine_cpu_percent: f64,
    /// The largest peak resident memory of a node process, MiB.
    pub(crate) max_node_peak_rss_mib: f64,
}

/// The steps of `reports`, in order; open-loop reports are left out.
pub(crate) fn summarize(reports: &[Report]) -> Vec<Step> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    reports
        .iter()
        .filter_map(|r| {
            let clients = r.clients?;
            let cpu: f64 = r
                .nodes
                .iter()
                .chain(r.loadgen.as_ref())
                .map(|p| p.cpu_percent)
                .sum();
            Some(Step {
                clients,
                throughput_tps: r.throughput_tps,
                by_op_tps: r
                    .by_op
                    .iter()
                    .map(|o| (o.op.clone(), o.throughput_tps))
                    .collect(),
                p50_ms: r.latency_ms.p50,
                p99_ms: r.latency_ms.p99,
                failed: r.failed,
                machine_cpu_percent: cpu / cores,
                max_node_peak_rss_mib: r.nodes.iter().map(|p| p.peak_rss_mib).fold(0.0, f64::max),
            })
        })
        .collect()
}

/// Writes `steps.json` into `dir`.
pub(crate) fn write(dir: &Path, steps: &[Step]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(FILE);
    let mut json = serde_json::to_string_pretty(steps)?;
    json.push('\n');
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))
}

/// The steps as a table: one row per step, one column per operation.
pub(crate) fn table(steps: &[Step]) -> String {
    let ops: Vec<&String> = {
        let mut ops: Vec<&String> = steps.iter().flat_map(|s| s.by_op_tps.keys()).collect();
        ops.sort();
        ops.dedup();
        ops
    };
    let mut t = String::new();
    let _ = write!(t, "{:>8} {:>10}", "clients", "tx/s");
    for op in &ops {
        let _ = write!(t, " {:>10}", format!("{op}/s"));
    }
    let _ = writeln!(
        t,
        " {:>8} {:>8} {:>7} {:>6} {:>9}",
        "p50 ms", "p99 ms", "failed", "cpu %", "peak MiB"
    );
    for s in steps {
        let _ = write!(t, "{:>8} {:>10.1}", s.clients, s.throughput_tps);
        for op in &ops {
            let _ = write!(t, " {:>10.1}", s.by_op_tps.get(*op).copied().unwrap_or(0.0));
        }
        let _ = writeln!(
            t,
            " {:>8.1} {:>8.1} {:>7} {:>6.0} {:>9.0}",
            s.p50_ms, s.p99_ms, s.failed, s.machine_cpu_percent, s.max_node_peak_rss_mib
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(clients: usize, tps: f64, ops: &[(&str, f64)]) -> Step {
        Step {
            clients,
            throughput_tps: tps,
            by_op_tps: ops.iter().map(|(o, t)| ((*o).to_string(), *t)).collect(),
            p50_ms: 10.0,
            p99_ms: 20.0,
            failed: 0,
            machine_cpu_percent: 50.0,
            max_node_peak_rss_mib: 100.0,
        }
    }

    #[test]
    fn the_table_has_a_row_per_step_and_a_column_per_operation() {
        let steps = [
            step(10, 100.0, &[("loan", 40.0), ("query", 20.0)]),
            step(20, 180.5, &[("loan", 72.0), ("refund", 72.0)]),
        ];
        let t = table(&steps);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        for column in ["clients", "loan/s", "query/s", "refund/s", "cpu %"] {
            assert!(lines[0].contains(column), "{t}");
        }
        assert!(lines[2].contains("180.5"), "{t}");
        // A label missing from a step reads 0 in its column.
        assert!(lines[1].contains(" 0.0"), "{t}");
    }

    #[test]
    fn steps_round_trip_through_json() {
        let tmp = tempfile::tempdir().unwrap();
        let steps = vec![step(10, 100.0, &[("loan", 40.0)])];
        write(tmp.path(), &steps).unwrap();
        let back: Vec<Step> =
            serde_json::from_slice(&std::fs::read(tmp.path().join(FILE)).unwrap()).unwrap();
        assert_eq!(back, steps);
    }
}
