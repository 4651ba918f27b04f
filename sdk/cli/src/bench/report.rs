//! What `weft bench` measured, summed up: [`Report::build`] turns the
//! [`Sample`]s of the measured window into throughput, latency percentiles,
//! failures, a per-second timeline and per-process CPU and memory;
//! [`Report::write`] saves it as `report.json` and `chart.svg`, and
//! [`Report::table`] prints it for a person.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::chart;
use super::procstat::ProcStats;

/// One finished operation inside the measured window.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// The workload's label for it, e.g. `create`, `update`, `read`.
    pub(crate) op: &'static str,
    /// When it was sent, since the measured window began.
    pub(crate) start: Duration,
    /// Submit → commit for a submit, the round trip for an evaluate.
    pub(crate) latency: Duration,
    /// Whether it succeeded.
    pub(crate) outcome: Outcome,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Committed valid (a submit) or answered (an evaluate).
    Ok,
    /// Refused or invalidated: where, and the code given.
    Failed {
        /// The stage that refused it, e.g. `endorse`, `order`, `validate`.
        stage: String,
        /// The code, e.g. `MVCC_READ_CONFLICT`.
        code: String,
    },
}

/// How load was offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// A fixed number of clients, each sending its next operation when the
    /// last one finished.
    Closed {
        /// The number of clients.
        clients: usize,
    },
    /// Operations sent at a fixed rate, whether or not earlier ones finished.
    Open {
        /// Operations per second offered.
        rate: f64,
    },
}

/// Everything a run hands to [`Report::build`].
#[derive(Debug, Clone)]
pub(crate) struct ReportInput {
    /// The workload's name.
    pub(crate) workload: String,
    /// How load was offered.
    pub(crate) mode: Mode,
    /// The warm-up before the measured window (not measured).
    pub(crate) warmup: Duration,
    /// The measured window.
    pub(crate) duration: Duration,
    /// The operations that finished in the window.
    pub(crate) samples: Vec<Sample>,
    /// Operations sent in the window but unfinished when it ended.
    pub(crate) unfinished: u64,
    /// The network's node processes.
    pub(crate) nodes: Vec<ProcStats>,
    /// The load generator itself, when measured.
    pub(crate) loadgen: Option<ProcStats>,
    /// One line on the network, e.g. `2 orgs, 3 orderers, spawned`.
    pub(crate) network: String,
}

/// `closed` or `open` in `report.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ModeName {
    /// A closed loop of clients.
    Closed,
    /// An open loop at a fixed rate.
    Open,
}

/// Latency statistics in milliseconds; all 0 over no operations.
///
/// Percentiles are nearest-rank: p is the value at 1-based rank
/// ⌈p/100 × n⌉ of the n latencies sorted ascending (so p50 of 1..=100 ms is
/// 50 ms and p99 is 99 ms); no interpolation, always an observed value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LatencyMs {
    /// The fastest.
    pub(crate) min: f64,
    /// The mean.
    pub(crate) avg: f64,
    /// The median (nearest rank).
    pub(crate) p50: f64,
    /// The 95th percentile (nearest rank).
    pub(crate) p95: f64,
    /// The 99th percentile (nearest rank).
    pub(crate) p99: f64,
    /// The slowest.
    pub(crate) max: f64,
}

/// How many operations failed at one stage with one code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FailureCount {
    /// The stage that refused them.
    pub(crate) stage: String,
    /// The code given.
    pub(crate) code: String,
    /// How many.
    pub(crate) count: u64,
}

/// The figures of one operation label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OpReport {
    /// The label.
    pub(crate) op: String,
    /// How many succeeded.
    pub(crate) committed: u64,
    /// How many failed.
    pub(crate) failed: u64,
    /// Successes that finished inside the window, per second of it.
    pub(crate) throughput_tps: f64,
    /// Latency of the successes.
    pub(crate) latency_ms: LatencyMs,
}

/// One second of the measured window: the operations that finished in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Second {
    /// Whole seconds since the window began.
    pub(crate) second: u64,
    /// Successes that finished in it.
    pub(crate) committed: u64,
    /// Failures that finished in it.
    pub(crate) failed: u64,
    /// Successes per second (equal to `committed`: the bucket is 1 s).
    pub(crate) tps: f64,
    /// Median latency of its successes (nearest rank); 0 if none.
    pub(crate) p50_ms: f64,
    /// 99th percentile latency of its successes; 0 if none.
    pub(crate) p99_ms: f64,
}

/// The result of a run; serialized as `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Report {
    /// The workload's name.
    pub(crate) workload: String,
    /// `closed` or `open`.
    pub(crate) mode: ModeName,
    /// Clients of a closed loop; `null` in open mode.
    pub(crate) clients: Option<usize>,
    /// Operations per second offered in open mode; `null` in closed mode.
    pub(crate) offered_tps: Option<f64>,
    /// The warm-up, in seconds.
    pub(crate) warmup_s: f64,
    /// The measured window, in seconds.
    pub(crate) duration_s: f64,
    /// One line on the network.
    pub(crate) network: String,
    /// Operations sent in the window: `committed + failed + unfinished`.
    pub(crate) submitted: u64,
    /// Operations that succeeded (committed, or answered for evaluations).
    pub(crate) committed: u64,
    /// Operations that failed.
    pub(crate) failed: u64,
    /// Operations still running when the window ended.
    pub(crate) unfinished: u64,
    /// Successes that finished inside the window, per second of it (those
    /// drained after the window count in `committed`, not here).
    pub(crate) throughput_tps: f64,
    /// Latency of the successes.
    pub(crate) latency_ms: LatencyMs,
    /// Failures by stage and code, most frequent first.
    pub(crate) failures: Vec<FailureCount>,
    /// Figures per operation label, by label.
    pub(crate) by_op: Vec<OpReport>,
    /// One entry per second of the window.
    pub(crate) timeline: Vec<Second>,
    /// The node processes.
    pub(crate) nodes: Vec<ProcStats>,
    /// The load generator, if measured.
    pub(crate) loadgen: Option<ProcStats>,
}

impl Report {
    /// Sums up a run.
    ///
    /// The timeline has one entry per second of the window (its length
    /// rounded to whole seconds, at least one when it is not empty); an
    /// operation counts in the second in which it finished (`start +
    /// latency`), and one finishing after the last whole second counts in
    /// the last, so the timeline adds up to the totals.
    pub(crate) fn build(input: ReportInput) -> Report {
        let duration_s = input.duration.as_secs_f64();
        let per_s = |n: u64| {
            if duration_s > 0.0 {
                n as f64 / duration_s
            } else {
                0.0
            }
        };
        let ok: Vec<Duration> = ok_latencies(input.samples.iter());
        let committed = ok.len() as u64;
        let failed = input.samples.len() as u64 - committed;
        let (mode, clients, offered_tps) = match input.mode {
            Mode::Closed { clients } => (ModeName::Closed, Some(clients), None),
            Mode::Open { rate } => (ModeName::Open, None, Some(rate)),
        };
        Report {
            mode,
            clients,
            offered_tps,
            warmup_s: input.warmup.as_secs_f64(),
            duration_s,
            submitted: input.samples.len() as u64 + input.unfinished,
            committed,
            failed,
            unfinished: input.unfinished,
            throughput_tps: per_s(ok_within(input.samples.iter(), input.duration)),
            latency_ms: latency_ms(ok),
            failures: failures(&input.samples),
            by_op: by_op(&input.samples, input.duration, per_s),
            timeline: timeline(&input.samples, duration_s),
            workload: input.workload,
            network: input.network,
            nodes: input.nodes,
            loadgen: input.loadgen,
        }
    }

    /// Creates `dir` and writes `report.json` (pretty) and `chart.svg` in it.
    pub(crate) fn write(&self, dir: &Path) -> anyhow::Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let json_path = dir.join("report.json");
        let mut json = serde_json::to_string_pretty(self)?;
        json.push('\n');
        fs::write(&json_path, json).with_context(|| format!("writing {}", json_path.display()))?;
        let svg_path = dir.join("chart.svg");
        chart::write_svg(self, &svg_path).with_context(|| format!("writing {}", svg_path.display()))
    }

    /// How load was offered, e.g. `closed loop, 8 clients`.
    pub(crate) fn mode_text(&self) -> String {
        match (self.mode, self.clients, self.offered_tps) {
            (ModeName::Closed, Some(c), _) => format!("closed loop, {c} clients"),
            (ModeName::Open, _, Some(r)) => format!("open loop, {r} tx/s offered"),
            (ModeName::Closed, ..) => "closed loop".to_owned(),
            (ModeName::Open, ..) => "open loop".to_owned(),
        }
    }

    /// The report as a few lines for a terminal.
    pub(crate) fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "workload {}: {}; warm-up {:.1} s, measured {:.1} s",
            self.workload,
            self.mode_text(),
            self.warmup_s,
            self.duration_s
        );
        let _ = writeln!(t, "network  {}", self.network);
        let _ = writeln!(t, "throughput {:.1} tx/s", self.throughput_tps);
        let _ = writeln!(
            t,
            "submitted {}  committed {}  failed {}  unfinished {}",
            self.submitted, self.committed, self.failed, self.unfinished
        );
        let l = &self.latency_ms;
        let _ = writeln!(
            t,
            "latency ms  min {:.1}  avg {:.1}  p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1}",
            l.min, l.avg, l.p50, l.p95, l.p99, l.max
        );
        if !self.failures.is_empty() {
            let _ = writeln!(t, "failures");
            for f in &self.failures {
                let _ = writeln!(t, "  {:<10} {:<28} {:>8}", f.stage, f.code, f.count);
            }
        }
        let _ = writeln!(
            t,
            "{:<12} {:>10} {:>8} {:>10} {:>8} {:>8}",
            "op", "committed", "failed", "tx/s", "p50 ms", "p99 ms"
        );
        for o in &self.by_op {
            let _ = writeln!(
                t,
                "{:<12} {:>10} {:>8} {:>10.1} {:>8.1} {:>8.1}",
                o.op, o.committed, o.failed, o.throughput_tps, o.latency_ms.p50, o.latency_ms.p99
            );
        }
        let _ = writeln!(
            t,
            "{:<8} {:>8} {:>10} {:>10}  process",
            "", "cpu %", "peak MiB", "rss MiB"
        );
        let nodes = self.nodes.iter().map(|p| ("node", p));
        for (role, p) in nodes.chain(self.loadgen.iter().map(|p| ("loadgen", p))) {
            let _ = writeln!(
                t,
                "{role:<8} {:>8.1} {:>10.1} {:>10.1}  {} [{}]",
                p.cpu_percent, p.peak_rss_mib, p.rss_mib, p.name, p.pid
            );
        }
        t
    }
}

/// The latencies of the successful samples.
fn ok_latencies<'a>(samples: impl Iterator<Item = &'a Sample>) -> Vec<Duration> {
    samples
        .filter(|s| s.outcome == Outcome::Ok)
        .map(|s| s.latency)
        .collect()
}

/// Milliseconds in a duration, as a float.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Min, mean, nearest-rank percentiles and max; zeros for no latencies.
fn latency_ms(mut latencies: Vec<Duration>) -> LatencyMs {
    latencies.sort_unstable();
    let (Some(&min), Some(&max)) = (latencies.first(), latencies.last()) else {
        return LatencyMs::default();
    };
    let total: f64 = latencies.iter().map(|&d| ms(d)).sum();
    LatencyMs {
        min: ms(min),
        avg: total / latencies.len() as f64,
        p50: ms(nearest_rank(&latencies, 50)),
        p95: ms(nearest_rank(&latencies, 95)),
        p99: ms(nearest_rank(&latencies, 99)),
        max: ms(max),
    }
}

/// The `pct`th percentile of non-empty ascending `sorted`, by nearest rank.
fn nearest_rank(sorted: &[Duration], pct: usize) -> Duration {
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

/// Failures grouped by (stage, code), most frequent first, ties by name.
fn failures(samples: &[Sample]) -> Vec<FailureCount> {
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for s in samples {
        if let Outcome::Failed { stage, code } = &s.outcome {
            *counts.entry((stage, code)).or_default() += 1;
        }
    }
    let mut out: Vec<FailureCount> = counts
        .into_iter()
        .map(|((stage, code), count)| FailureCount {
            stage: stage.to_owned(),
            code: code.to_owned(),
            count,
        })
        .collect();
    // Stable: equal counts stay in (stage, code) order.
    out.sort_by_key(|f| std::cmp::Reverse(f.count));
    out
}

/// The successes that finished inside the window: throughput counts only
/// these, so that operations drained after it (an open loop past capacity
/// leaves many in flight) do not inflate it.
fn ok_within<'a>(samples: impl Iterator<Item = &'a Sample>, window: Duration) -> u64 {
    samples
        .filter(|s| matches!(s.outcome, Outcome::Ok) && s.start + s.latency <= window)
        .count() as u64
}

/// The figures of each operation label, by label.
fn by_op(samples: &[Sample], window: Duration, per_s: impl Fn(u64) -> f64) -> Vec<OpReport> {
    let mut groups: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        groups.entry(s.op).or_default().push(s);
    }
    groups
        .into_iter()
        .map(|(op, group)| {
            let ok = ok_latencies(group.iter().copied());
            let committed = ok.len() as u64;
            OpReport {
                op: op.to_owned(),
                committed,
                failed: group.len() as u64 - committed,
                throughput_tps: per_s(ok_within(group.iter().copied(), window)),
                latency_ms: latency_ms(ok),
            }
        })
        .collect()
}

/// Per-second buckets of the window by finishing time (see [`Report::build`]).
fn timeline(samples: &[Sample], duration_s: f64) -> Vec<Second> {
    let seconds = if duration_s > 0.0 {
        (duration_s.round() as usize).max(1)
    } else {
        0
    };
    let mut buckets: Vec<(u64, Vec<Duration>)> = vec![(0, Vec::new()); seconds];
    for s in samples {
        let finished = (s.start + s.latency).as_secs() as usize;
        let Some(bucket) = buckets.get_mut(finished.min(seconds.saturating_sub(1))) else {
            continue;
        };
        match s.outcome {
            Outcome::Ok => bucket.1.push(s.latency),
            Outcome::Failed { .. } => bucket.0 += 1,
        }
    }
    buckets
        .into_iter()
        .enumerate()
        .map(|(i, (failed, ok))| {
            let committed = ok.len() as u64;
            let l = latency_ms(ok);
            Second {
                second: i as u64,
                committed,
                failed,
                tps: committed as f64,
                p50_ms: l.p50,
                p99_ms: l.p99,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ok(op: &'static str, start_ms: u64, latency_ms: u64) -> Sample {
        Sample {
            op,
            start: ms_(start_ms),
            latency: ms_(latency_ms),
            outcome: Outcome::Ok,
        }
    }

    fn failed(op: &'static str, start_ms: u64, stage: &str, code: &str) -> Sample {
        Sample {
            op,
            start: ms_(start_ms),
            latency: ms_(5),
            outcome: Outcome::Failed {
                stage: stage.to_owned(),
                code: code.to_owned(),
            },
        }
    }

    fn proc(name: &str, pid: u32, cpu_percent: f64, peak_rss_mib: f64) -> ProcStats {
        ProcStats {
            name: name.to_owned(),
            pid,
            cpu_s: cpu_percent / 10.0,
            cpu_percent,
            peak_rss_mib,
            rss_mib: 1.0,
        }
    }

    fn input(mode: Mode, duration_s: u64, samples: Vec<Sample>) -> ReportInput {
        ReportInput {
            workload: "asset-transfer".to_owned(),
            mode,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(duration_s),
            samples,
            unfinished: 0,
            nodes: Vec::new(),
            loadgen: None,
            network: "2 orgs, 3 orderers, spawned".to_owned(),
        }
    }

    /// 1..=100 ms, all committed, all finishing in the first second.
    fn hundred() -> Vec<Sample> {
        (1..=100).map(|n| ok("create", 0, n)).collect()
    }

    #[test]
    fn nearest_rank_percentiles_of_known_latencies() {
        let r = Report::build(input(Mode::Closed { clients: 4 }, 10, hundred()));
        let l = r.latency_ms;
        assert_eq!(
            (l.min, l.p50, l.p95, l.p99, l.max),
            (1.0, 50.0, 95.0, 99.0, 100.0)
        );
        assert!((l.avg - 50.5).abs() < 1e-9, "avg {}", l.avg);
        assert_eq!((r.committed, r.failed, r.submitted), (100, 0, 100));
        assert!((r.throughput_tps - 10.0).abs() < 1e-9);
        // Small sets: nearest rank is an observed value, never interpolated.
        let three = latency_ms(vec![ms_(30), ms_(10), ms_(20)]);
        assert_eq!((three.p50, three.p99, three.max), (20.0, 30.0, 30.0));
        let one = latency_ms(vec![ms_(7)]);
        assert_eq!((one.min, one.p50, one.p99, one.max), (7.0, 7.0, 7.0, 7.0));
    }

    #[test]
    fn failures_are_grouped_counted_and_sorted() {
        let samples = vec![
            failed("update", 0, "validate", "MVCC_READ_CONFLICT"),
            failed("update", 0, "endorse", "CHAINCODE_ERROR"),
            failed("update", 0, "validate", "MVCC_READ_CONFLICT"),
            failed("create", 0, "validate", "MVCC_READ_CONFLICT"),
            failed("create", 0, "order", "TIMEOUT"),
            failed("create", 0, "endorse", "CHAINCODE_ERROR"),
            ok("create", 0, 10),
        ];
        let mut i = input(Mode::Open { rate: 50.0 }, 1, samples);
        i.unfinished = 3;
        let r = Report::build(i);
        let got: Vec<(&str, &str, u64)> = r
            .failures
            .iter()
            .map(|f| (f.stage.as_str(), f.code.as_str(), f.count))
            .collect();
        assert_eq!(
            got,
            [
                ("validate", "MVCC_READ_CONFLICT", 3),
                ("endorse", "CHAINCODE_ERROR", 2),
                ("order", "TIMEOUT", 1),
            ]
        );
        assert_eq!(
            (r.submitted, r.committed, r.failed, r.unfinished),
            (10, 1, 6, 3)
        );
        // Failures do not count in the latency figures.
        assert_eq!(r.latency_ms.max, 10.0);
    }

    #[test]
    fn timeline_buckets_by_finishing_second() {
        let samples = vec![
            ok("read", 100, 200),                 // finishes 0.3 s → second 0
            ok("read", 900, 300),                 // starts in 0, finishes 1.2 s → second 1
            ok("read", 1500, 100),                // second 1
            failed("read", 2000, "endorse", "X"), // finishes 2.005 s → second 2
            ok("read", 2900, 400), // finishes 3.3 s, after the 3 s window → last second
        ];
        let r = Report::build(input(Mode::Closed { clients: 1 }, 3, samples));
        let rows: Vec<(u64, u64, u64, f64, f64)> = r
            .timeline
            .iter()
            .map(|s| (s.second, s.committed, s.failed, s.tps, s.p99_ms))
            .collect();
        assert_eq!(
            rows,
            [
                (0, 1, 0, 1.0, 200.0),
                (1, 2, 0, 2.0, 300.0),
                (2, 1, 1, 1.0, 400.0)
            ]
        );
        assert_eq!(r.timeline[1].p50_ms, 100.0);
        let total: u64 = r.timeline.iter().map(|s| s.committed + s.failed).sum();
        assert_eq!(total, r.committed + r.failed);
    }

    #[test]
    fn by_op_splits_by_label_in_name_order() {
        let mut samples = vec![
            ok("update", 0, 40),
            ok("update", 0, 20),
            failed("update", 0, "validate", "MVCC"),
        ];
        samples.extend((0..4).map(|_| ok("create", 0, 10)));
        samples.push(failed("loan", 0, "endorse", "DENIED"));
        let r = Report::build(input(Mode::Closed { clients: 2 }, 2, samples));
        let row = |o: &OpReport| (o.op.clone(), o.committed, o.failed, o.throughput_tps);
        let rows: Vec<_> = r.by_op.iter().map(row).collect();
        let want = [
            ("create", 4, 0, 2.0),
            ("loan", 0, 1, 0.0),
            ("update", 2, 1, 1.0),
        ];
        assert_eq!(rows, want.map(|(op, c, f, t)| (op.to_owned(), c, f, t)));
        assert_eq!(r.by_op[0].latency_ms.max, 10.0);
        assert_eq!(r.by_op[1].latency_ms, LatencyMs::default());
        assert_eq!(r.by_op[2].latency_ms.max, 40.0);
        assert_eq!(r.by_op[2].latency_ms.p50, 20.0);
    }

    #[test]
    fn empty_input_gives_zeros() {
        let r = Report::build(input(Mode::Closed { clients: 1 }, 0, Vec::new()));
        assert_eq!((r.submitted, r.committed, r.failed), (0, 0, 0));
        assert_eq!(r.throughput_tps, 0.0);
        assert_eq!(r.latency_ms, LatencyMs::default());
        assert!(r.failures.is_empty() && r.by_op.is_empty() && r.timeline.is_empty());
        let r = Report::build(input(Mode::Open { rate: 5.0 }, 3, Vec::new()));
        assert_eq!(r.timeline.len(), 3);
        assert!(
            r.timeline
                .iter()
                .all(|s| s.committed == 0 && s.p99_ms == 0.0)
        );
        assert!(r.table().contains("throughput 0.0 tx/s"));
    }

    #[test]
    fn json_has_the_documented_fields() {
        let json = |mode, samples| {
            serde_json::to_value(Report::build(input(mode, 10, samples))).expect("serializes")
        };
        let closed = json(Mode::Closed { clients: 8 }, hundred());
        let fields = "workload mode clients offered_tps warmup_s duration_s network submitted \
                      committed failed unfinished throughput_tps latency_ms failures by_op \
                      timeline nodes loadgen";
        for field in fields.split_whitespace() {
            assert!(closed.get(field).is_some(), "missing {field}");
        }
        assert_eq!(closed["mode"], "closed");
        assert_eq!(closed["clients"], 8);
        assert!(closed["offered_tps"].is_null() && closed["loadgen"].is_null());
        assert_eq!(closed["latency_ms"]["p99"], 99.0);
        assert_eq!(closed["timeline"][0]["p50_ms"], 50.0);
        let open = json(Mode::Open { rate: 25.0 }, Vec::new());
        assert_eq!(
            (open["mode"].as_str(), open["offered_tps"].as_f64()),
            (Some("open"), Some(25.0))
        );
        assert!(open["clients"].is_null());
        let back: Report = serde_json::from_value(closed.clone()).expect("deserializes");
        assert_eq!(serde_json::to_value(back).expect("serializes"), closed);
    }

    #[test]
    fn table_mentions_the_key_numbers() {
        let mut samples = hundred();
        samples.push(failed("update", 0, "validate", "MVCC_READ_CONFLICT"));
        let mut i = input(Mode::Closed { clients: 4 }, 10, samples);
        i.nodes = vec![proc("weft peer --config peer0.toml", 4242, 37.5, 88.3)];
        i.loadgen = Some(proc("weft bench", 99, 12.5, 20.0));
        let table = Report::build(i).table();
        for needle in [
            "asset-transfer",
            "closed loop, 4 clients",
            "throughput 10.0 tx/s",
            "submitted 101  committed 100  failed 1",
            "min 1.0  avg 50.5  p50 50.0  p95 95.0  p99 99.0  max 100.0",
            "validate",
            "MVCC_READ_CONFLICT",
            "create",
            "update",
            "37.5",
            "88.3",
            "weft peer --config peer0.toml [4242]",
            "loadgen",
            "weft bench [99]",
            "12.5",
        ] {
            assert!(table.contains(needle), "{needle:?} not in\n{table}");
        }
    }

    #[test]
    fn write_saves_json_and_chart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("run-1");
        let report = Report::build(input(Mode::Closed { clients: 4 }, 2, hundred()));
        report.write(&out).expect("writes");
        let json = fs::read_to_string(out.join("report.json")).expect("report.json");
        let back: Report = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, report);
        let svg = fs::read_to_string(out.join("chart.svg")).expect("chart.svg");
        assert!(svg.starts_with("<svg"));
    }
}
