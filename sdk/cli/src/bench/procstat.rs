//! CPU time and memory of processes, read from Linux `/proc`.
//!
//! [`ProcWatch::start`] notes each process's CPU time when the measured
//! window opens and [`ProcWatch::finish`] turns the second reading into
//! [`ProcStats`]. [`children_of`] finds the node processes a `weft up`
//! spawned, so that `weft bench` can watch them.

use std::fs;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Clock ticks per second of the `utime`/`stime` fields of `/proc/PID/stat`.
///
/// `USER_HZ` is 100 on every Linux architecture Weft runs on (the kernel
/// fixes it for the user ABI, whatever `CONFIG_HZ` is); reading it from
/// `sysconf(_SC_CLK_TCK)` would need `libc` and unsafe code.
const USER_HZ: f64 = 100.0;

/// KiB per MiB; `/proc/PID/status`'s `Vm*` lines are in KiB (written `kB`).
const KIB_PER_MIB: f64 = 1024.0;

/// What one process used during the measured window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ProcStats {
    /// What the caller called it (for node processes: their command line).
    pub(crate) name: String,
    /// Its process id.
    pub(crate) pid: u32,
    /// User plus system CPU seconds used during the window; 0 when the
    /// process could not be read at both ends of it.
    pub(crate) cpu_s: f64,
    /// `cpu_s` over the window's wall-clock seconds × 100: 100 is one core
    /// kept busy the whole time.
    pub(crate) cpu_percent: f64,
    /// Peak resident memory over the process's life (`VmHWM`), in MiB; 0
    /// when unknown.
    pub(crate) peak_rss_mib: f64,
    /// Resident memory when the window ended (`VmRSS`), in MiB; 0 when unknown.
    pub(crate) rss_mib: f64,
}

/// The fields of a `/proc/PID/stat` line that `weft bench` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatLine {
    /// The executable's name (field 2, without its parentheses).
    pub(crate) comm: String,
    /// The parent's process id (field 4).
    pub(crate) ppid: u32,
    /// CPU ticks spent in user mode (field 14).
    pub(crate) utime: u64,
    /// CPU ticks spent in kernel mode (field 15).
    pub(crate) stime: u64,
}

/// Parses one `/proc/PID/stat` line; `None` if it is malformed.
///
/// The `comm` field is in parentheses and may itself contain spaces and
/// parentheses, so it ends at the *last* `)`; the numbered fields are
/// counted from there (field 3, the state, comes right after it).
pub(crate) fn parse_stat(line: &str) -> Option<StatLine> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    if close < open {
        return None;
    }
    let comm = line.get(open + 1..close)?.to_owned();
    // rest[0] is field 3, so field N is rest[N - 3].
    let rest: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    Some(StatLine {
        comm,
        ppid: field(4)?.parse().ok()?,
        utime: field(14)?.parse().ok()?,
        stime: field(15)?.parse().ok()?,
    })
}

/// Reads and parses `/proc/PID/stat`; `None` if the process is gone.
fn read_stat(pid: u32) -> Option<StatLine> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// User plus system ticks the process has used so far.
fn cpu_ticks(pid: u32) -> Option<u64> {
    read_stat(pid).map(|s| s.utime.saturating_add(s.stime))
}

/// A `Vm*` line of `/proc/PID/status` (e.g. `VmHWM`) in MiB.
fn status_mib(status: &str, key: &str) -> Option<f64> {
    let line = status
        .lines()
        .find(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / KIB_PER_MIB)
}

/// The process id of this process (the load generator).
pub(crate) fn self_pid() -> u32 {
    std::process::id()
}

/// The live children of `pid`, as (command line, pid) sorted by pid.
///
/// The name is the child's arguments joined by spaces (from
/// `/proc/PID/cmdline`), or its `comm` when that is empty (a zombie).
pub(crate) fn children_of(pid: u32) -> Vec<(String, u32)> {
    processes(|stat| stat.ppid == pid)
}

/// Every live process, named as by [`children_of`], sorted by pid.
pub(crate) fn all_processes() -> Vec<(String, u32)> {
    processes(|_| true)
}

/// The processes in `/proc` whose stat line passes `keep`, sorted by pid.
fn processes(keep: impl Fn(&StatLine) -> bool) -> Vec<(String, u32)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<(String, u32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = read_stat(pid).filter(&keep)?;
            Some((command_line(pid).unwrap_or(stat.comm), pid))
        })
        .collect();
    found.sort_by_key(|&(_, pid)| pid);
    found
}

/// `/proc/PID/cmdline` with its NUL separators as spaces; `None` if empty.
fn command_line(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!args.is_empty()).then(|| args.join(" "))
}

/// One watched process: its name, pid and CPU ticks at the start.
#[derive(Debug)]
struct Watched {
    name: String,
    pid: u32,
    start_ticks: Option<u64>,
}

/// CPU readings taken when the measured window opened.
#[derive(Debug)]
pub(crate) struct ProcWatch {
    started: Instant,
    procs: Vec<Watched>,
}

impl ProcWatch {
    /// Notes the CPU time of each (name, pid) now.
    pub(crate) fn start(procs: Vec<(String, u32)>) -> ProcWatch {
        let procs = procs
            .into_iter()
            .map(|(name, pid)| Watched {
                start_ticks: cpu_ticks(pid),
                name,
                pid,
            })
            .collect();
        ProcWatch {
            started: Instant::now(),
            procs,
        }
    }

    /// Reads each process again: what it used since [`ProcWatch::start`].
    ///
    /// A process that has gone (or could not be read at the start) gets
    /// zeros for what cannot be known; this never fails.
    pub(crate) fn finish(self) -> Vec<ProcStats> {
        let wall_s = self.started.elapsed().as_secs_f64();
        self.procs
            .into_iter()
            .map(|w| {
                let end_ticks = cpu_ticks(w.pid);
                let ticks = match (w.start_ticks, end_ticks) {
                    (Some(start), Some(end)) => end.saturating_sub(start),
                    _ => 0,
                };
                let cpu_s = ticks as f64 / USER_HZ;
                let status =
                    fs::read_to_string(format!("/proc/{}/status", w.pid)).unwrap_or_default();
                ProcStats {
                    name: w.name,
                    pid: w.pid,
                    cpu_s,
                    cpu_percent: if wall_s > 0.0 {
                        cpu_s / wall_s * 100.0
                    } else {
                        0.0
                    },
                    peak_rss_mib: status_mib(&status, "VmHWM").unwrap_or(0.0),
                    rss_mib: status_mib(&status, "VmRSS").unwrap_or(0.0),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::hint::black_box;
    use std::process::Command;
    use std::time::Duration;

    use super::*;

    #[test]
    fn parses_a_comm_with_spaces_and_parentheses() {
        let line = "4242 (we ird) (name) S 17 4242 4242 0 -1 4194560 120 0 0 0 \
                    731 52 0 0 20 0 3 0 12345 1000000 200 18446744073709551615";
        let stat = parse_stat(line).expect("parses");
        assert_eq!(
            stat,
            StatLine {
                comm: "we ird) (name".to_owned(),
                ppid: 17,
                utime: 731,
                stime: 52,
            }
        );
    }

    #[test]
    fn refuses_a_truncated_stat_line() {
        assert_eq!(parse_stat("12 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("no parentheses at all"), None);
    }

    #[test]
    fn reads_vm_lines_in_mib() {
        let status = "Name:\tweft\nVmHWM:\t   20480 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(status_mib(status, "VmHWM"), Some(20.0));
        assert_eq!(status_mib(status, "VmRSS"), Some(1.0));
        assert_eq!(status_mib(status, "VmSwap"), None);
    }

    #[test]
    fn watch_sees_cpu_burnt_by_this_process() {
        let pid = self_pid();
        let watch = ProcWatch::start(vec![("self".to_owned(), pid)]);
        let start = cpu_ticks(pid).expect("own stat");
        let deadline = Instant::now() + Duration::from_secs(10);
        // Burn until ~250 ms of CPU are on the clock (bounded in wall time,
        // so a starved machine fails the assertion instead of hanging).
        let mut x = 0u64;
        while cpu_ticks(pid).expect("own stat") < start + 25 && Instant::now() < deadline {
            for i in 0..100_000u64 {
                x = black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        let stats = watch.finish();
        assert_eq!(stats.len(), 1);
        let s = &stats[0];
        assert_eq!((s.name.as_str(), s.pid), ("self", pid));
        assert!(s.cpu_s > 0.1, "cpu_s {}", s.cpu_s);
        assert!(s.cpu_percent > 0.0, "cpu_percent {}", s.cpu_percent);
        assert!(s.peak_rss_mib > 0.0 && s.rss_mib > 0.0, "{s:?}");
        assert!(s.peak_rss_mib >= s.rss_mib, "{s:?}");
    }

    #[test]
    fn vanished_pid_gives_zeros() {
        let mut child = Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        let stats = ProcWatch::start(vec![("gone".to_owned(), pid)]).finish();
        assert_eq!(stats[0].cpu_s, 0.0);
        assert_eq!(stats[0].cpu_percent, 0.0);
        assert_eq!(stats[0].peak_rss_mib, 0.0);
    }

    #[test]
    fn children_of_finds_a_spawned_sleep() {
        let mut child = Command::new("sleep").arg("5").spawn().expect("spawn sleep");
        let pid = child.id();
        // Between fork and exec the child still shows this test's command line.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut found = children_of(self_pid());
        while !found.contains(&("sleep 5".to_owned(), pid)) && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
            found = children_of(self_pid());
        }
        child.kill().expect("kill sleep");
        child.wait().expect("reap sleep");
        assert!(
            found.contains(&("sleep 5".to_owned(), pid)),
            "sleep {pid} not among {found:?}"
        );
        let all = all_processes();
        let me = all.iter().find(|&&(_, p)| p == self_pid());
        assert!(
            me.is_some_and(|(name, _)| !name.is_empty()),
            "self not among {all:?}"
        );
    }
}
