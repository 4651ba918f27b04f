//! `weft bench --spawn`: a network of the bench's own, started as `weft up`
//! does in a temporary directory and stopped (then removed) after the run;
//! and the node processes behind a profile written by `weft up`, for their
//! CPU and memory.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};

use super::procstat;
use crate::up::Orgs;

/// How long `weft up` may take to print `ready`: the first run on a
/// machine builds the asset-transfer chaincode for Wasm.
const READY_TIMEOUT: Duration = Duration::from_secs(900);
/// How long `weft up` has to stop its nodes after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(40);

/// A running `weft up` in a temporary directory.
pub(crate) struct Spawned {
    child: Child,
    dir: PathBuf,
    orgs: Orgs,
    orderers: usize,
}

impl Spawned {
    /// Starts `weft up --data TMP` (this binary) and waits for `ready`;
    /// `purpose` names the directory (`weft-PURPOSE-PID-MILLIS`).
    pub(crate) async fn start(
        purpose: &str,
        orgs: Orgs,
        orderers: Option<usize>,
    ) -> anyhow::Result<Spawned> {
        let exe = std::env::current_exe().context("cannot find this program's path")?;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let dir =
            std::env::temp_dir().join(format!("weft-{purpose}-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let log_path = dir.join("up.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let orderers = orderers.unwrap_or(3);
        eprintln!(
            "spawning a network of {} orgs and {orderers} orderers in {}",
            orgs.names().len(),
            dir.display()
        );
        let mut child = Command::new(exe)
            .arg("up")
            .arg("--data")
            .arg(&dir)
            .arg("--orgs")
            .arg(orgs.to_string())
            .arg("--orderers")
            .arg(orderers.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start weft up")?;
        let stdout = child.stdout.take().context("weft up has no stdout")?;
        let spawned = Spawned {
            child,
            dir,
            orgs,
            orderers,
        };
        // `weft up` prints its summary, then `ready`; it goes on writing
        // nothing to stdout, so the reader ends when it does.
        let reader = tokio::task::spawn_blocking(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) if line.trim() == "ready" => return true,
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
            false
        });
        let ready = matches!(
            tokio::time::timeout(READY_TIMEOUT, reader).await,
            Ok(Ok(true))
        );
        if !ready {
            let tail = log_tail(&log_path);
            spawned.stop().await;
            bail!("the spawned network did not start (weft up's log ends):\n{tail}");
        }
        Ok(spawned)
    }

    /// The client profile `weft up` wrote.
    pub(crate) fn profile(&self) -> PathBuf {
        self.dir.join("profile.json")
    }

    /// A line for the report.
    pub(crate) fn describe(&self) -> String {
        format!(
            "spawned: {} orgs ({}, a peer each), {} Raft orderers, on this machine",
            self.orgs.names().len(),
            self.orgs.names().join(", "),
            self.orderers
        )
    }

    /// The node processes, named after their node directories.
    pub(crate) fn nodes(&self) -> Vec<(String, u32)> {
        procstat::children_of(self.child.id())
            .into_iter()
            .map(|(cmdline, pid)| (node_name(&cmdline).unwrap_or(cmdline), pid))
            .collect()
    }

    /// SIGINT to `weft up` (which stops its nodes), SIGKILL if it takes
    /// too long; removes the directory.
    pub(crate) async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if tokio::time::Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("note: cannot remove {}: {e}", self.dir.display());
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Reached without `stop` when a signal interrupted the start, or on
        // a panic: the nodes stop themselves when `weft up` dies (their
        // stdin closes).
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The config file a node's command line names (`--config DIR/nodes/NAME.toml`).
fn config_arg(cmdline: &str) -> Option<&Path> {
    let mut words = cmdline.split(' ');
    words.find(|w| *w == "--config")?;
    words.next().map(Path::new)
}

/// The node a command line runs, from its config file's name (`orderer0`,
/// `peer0.Org1`).
fn node_name(cmdline: &str) -> Option<String> {
    Some(
        config_arg(cmdline)?
            .file_stem()?
            .to_string_lossy()
            .into_owned(),
    )
}

/// The node processes of the `weft up` network whose profile is `profile`:
/// processes whose command line names a node config under the profile's
/// directory. Empty when none is found (a network elsewhere).
pub(crate) fn nodes_of_profile(profile: &Path) -> Vec<(String, u32)> {
    let dir = match profile.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(nodes_dir) = std::fs::canonicalize(dir.join("nodes")) else {
        return Vec::new();
    };
    procstat::all_processes()
        .into_iter()
        .filter(|(cmdline, pid)| {
            // A relative `--config` is relative to the node's working directory.
            let Some(config) = config_arg(cmdline) else {
                return false;
            };
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
            std::fs::canonicalize(cwd.join(config))
                .is_ok_and(|c| c.parent() == Some(nodes_dir.as_path()))
        })
        .filter_map(|(cmdline, pid)| Some((node_name(&cmdline)?, pid)))
        .collect()
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_come_from_the_config_directory() {
        assert_eq!(
            node_name("/x/weft peer --config /tmp/n/nodes/peer0.Org1.toml --stop-on-stdin-eof")
                .as_deref(),
            Some("peer0.Org1")
        );
        assert_eq!(node_name("/x/weft up --data /tmp/n"), None);
    }
}
