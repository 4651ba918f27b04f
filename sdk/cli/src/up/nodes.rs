//! The nodes `weft up` runs: child processes of this binary (`weft orderer`,
//! `weft peer`), each logging to `DIR/logs/<node>.log`, stopped with SIGTERM
//! and, after a timeout, SIGKILL.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::time::Instant;

use super::layout::{NodeEntry, NodeKind};

/// How often children are checked for having exited.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Lines of a dead node's log shown.
const LOG_TAIL_LINES: usize = 30;

/// One running node.
struct Running {
    id: String,
    kind: NodeKind,
    log: PathBuf,
    child: Child,
    /// The write end of the child's stdin: the child stops when it closes,
    /// which happens when this process ends, however it ends.
    _lifeline: Option<ChildStdin>,
    status: Option<ExitStatus>,
}

/// A node that exited on its own.
#[derive(Debug)]
pub(crate) struct Exited {
    /// The node.
    pub(crate) id: String,
    /// How it exited.
    pub(crate) status: ExitStatus,
    /// Its log file.
    pub(crate) log: PathBuf,
}

impl Exited {
    /// What to tell the user: which node, how, and the end of its log.
    pub(crate) fn describe(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        format!(
            "node {} exited ({}); the end of its log {}:\n{}",
            self.id,
            self.status,
            self.log.display(),
            tail.join("\n")
        )
    }
}

/// Every node started.
pub(crate) struct Nodes {
    running: Vec<Running>,
}

impl Nodes {
    /// Starts every node of `nodes` as `exe <orderer|peer> --config FILE`,
    /// logging to `logs/<id>.log`. If one cannot be started, those started
    /// are stopped again.
    pub(crate) fn start(exe: &Path, nodes: &[NodeEntry], logs: &Path) -> anyhow::Result<Nodes> {
        std::fs::create_dir_all(logs)
            .with_context(|| format!("cannot create {}", logs.display()))?;
        let mut started = Nodes {
            running: Vec::new(),
        };
        for node in nodes {
            let log = logs.join(format!("{}.log", node.id));
            let running = spawn(exe, node, &log)?;
            started.running.push(running);
        }
        Ok(started)
    }

    /// The first node found to have exited; never returns while all run.
    pub(crate) async fn first_exit(&mut self) -> Exited {
        loop {
            for r in &mut self.running {
                if r.status.is_none() {
                    r.status = r.child.try_wait().ok().flatten();
                    if let Some(status) = r.status {
                        return Exited {
                            id: r.id.clone(),
                            status,
                            log: r.log.clone(),
                        };
                    }
                }
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Stops every node: peers first (they hold streams open to the
    /// orderers), then orderers; SIGTERM, then SIGKILL for those still
    /// running after `timeout`. Returns the nodes that had to be killed.
    pub(crate) async fn stop(&mut self, timeout: Duration) -> Vec<String> {
        let mut killed = Vec::new();
        for kind in [NodeKind::Peer, NodeKind::Orderer] {
            let group: Vec<&mut Running> =
                self.running.iter_mut().filter(|r| r.kind == kind).collect();
            killed.extend(stop_group(group, timeout).await);
        }
        killed
    }
}

impl Drop for Nodes {
    /// A safety net for early returns and panics: nothing is left running.
    fn drop(&mut self) {
        for r in &mut self.running {
            if r.status.is_none() && r.child.try_wait().ok().flatten().is_none() {
                let _ = r.child.kill();
                let _ = r.child.wait();
            }
        }
    }
}

fn spawn(exe: &Path, node: &NodeEntry, log: &Path) -> anyhow::Result<Running> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    writeln!(
        file,
        "--- weft up: starting {} (unix time {now}) ---",
        node.id
    )
    .with_context(|| format!("cannot write {}", log.display()))?;
    let stderr: File = file
        .try_clone()
        .with_context(|| format!("cannot open {}", log.display()))?;
    let mut command = Command::new(exe);
    command
        .arg(node.kind.subcommand())
        .arg("--config")
        .arg(&node.config)
        .arg("--stop-on-stdin-eof")
        .stdin(Stdio::piped())
        .stdout(file)
        .stderr(stderr);
    // `WEFT_*` variables override node configs (`WEFT_GATEWAY_LISTEN`):
    // one meant for a single node would hit all of them. Keep the log filter.
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("WEFT_") && key_text != "WEFT_LOG" {
            command.env_remove(&key);
        }
    }
    // Logs go to files: no colour codes in them.
    command.env("NO_COLOR", "1");
    // A process group of its own: Ctrl-C in a terminal reaches `weft up`
    // alone, which then stops the nodes in order.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    let mut child = command.spawn().with_context(|| {
        format!(
            "cannot start {} ({} {})",
            node.id,
            exe.display(),
            node.kind.subcommand()
        )
    })?;
    let lifeline = child.stdin.take();
    Ok(Running {
        id: node.id.clone(),
        kind: node.kind,
        log: log.to_path_buf(),
        child,
        _lifeline: lifeline,
        status: None,
    })
}

/// SIGTERM to each of `group`, then waits up to `timeout` for all; kills
/// the rest. Returns the ids of those killed.
async fn stop_group(mut group: Vec<&mut Running>, timeout: Duration) -> Vec<String> {
    for r in &mut group {
        if r.status.is_none() {
            terminate(&mut r.child);
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        let mut waiting = false;
        for r in &mut group {
            if r.status.is_none() {
                r.status = r.child.try_wait().ok().flatten();
                waiting |= r.status.is_none();
            }
        }
        if !waiting || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut killed = Vec::new();
    for r in &mut group {
        if r.status.is_none() {
            let _ = r.child.kill();
            r.status = r.child.wait().ok();
            killed.push(r.id.clone());
        }
    }
    killed
}

/// Sends SIGTERM through `kill -TERM` (the workspace forbids `unsafe`).
fn terminate(child: &mut Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !sent.is_ok_and(|s| s.success()) {
        // No `kill` command, or the child is already gone: SIGKILL it.
        let _ = child.kill();
    }
}
