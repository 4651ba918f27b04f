//! The network directory `weft up` runs: generated on the first run (as
//! `weft network init` would, with free ports), read back from its manifest
//! on every run, and the client profile written beside it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use serde::Deserialize;
use weft_client::{GatewayEntry, Profile, ProfileIdentity};
use weft_types::Role;

use super::ports;
use crate::network::{self, GENESIS_FILE, MANIFEST_FILE, NetworkSpec};

/// The channel a network made by `weft up` carries.
pub(crate) const CHANNEL: &str = "weft";
/// Raft orderers in a network made by `weft up`.
pub(crate) const ORDERERS: usize = 3;
/// The client profile, in the network directory.
pub(crate) const PROFILE_FILE: &str = "profile.json";
/// The nodes' logs, in the network directory.
pub(crate) const LOGS_DIR: &str = "logs";
/// Certificates of a generated network are valid this long.
const VALIDITY_DAYS: u64 = 3650;

/// What kind of node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// A Raft orderer.
    Orderer,
    /// A peer.
    Peer,
}

impl NodeKind {
    /// The hidden subcommand that runs it.
    pub(crate) fn subcommand(self) -> &'static str {
        match self {
            NodeKind::Orderer => "orderer",
            NodeKind::Peer => "peer",
        }
    }
}

/// A node of the network.
#[derive(Debug, Clone)]
pub(crate) struct NodeEntry {
    /// `orderer0`, `peer0.Org1`.
    pub(crate) id: String,
    pub(crate) kind: NodeKind,
    pub(crate) org: String,
    /// Its TOML config (absolute).
    pub(crate) config: PathBuf,
    /// Orderer: API then Raft; peer: gateway then peer to peer.
    pub(crate) listen: Vec<String>,
}

impl NodeEntry {
    /// The orderer's API or the peer's gateway, as a URL.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.listen.first().map_or("", String::as_str))
    }
}

/// A network directory, as its manifest describes it.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    /// The directory (absolute).
    pub(crate) dir: PathBuf,
    pub(crate) channel: String,
    /// Org names, in channel order.
    pub(crate) orgs: Vec<String>,
    /// Orderers first, then peers, in manifest order.
    pub(crate) nodes: Vec<NodeEntry>,
    /// Whether this run generated it.
    pub(crate) created: bool,
}

/// The parts of `network.json` that `weft up` reads.
#[derive(Deserialize)]
struct ManifestFile {
    channel: String,
    nodes: Vec<ManifestNode>,
    members: Vec<ManifestMember>,
}

#[derive(Deserialize)]
struct ManifestNode {
    id: String,
    kind: String,
    org: String,
    config: PathBuf,
    listen: Vec<String>,
}

#[derive(Deserialize)]
struct ManifestMember {
    org: String,
    name: String,
    role: Role,
}

/// The org names `weft up --orgs n` uses: `Org1` … `Orgn`.
pub(crate) fn org_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("Org{i}")).collect()
}

/// `--orgs`: a count (`3`: `Org1`, `Org2`, `Org3`) or the names themselves,
/// comma-separated (`Customer,Bank,CAD,FD,Regulator`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orgs(Vec<String>);

impl Orgs {
    /// The org names, in channel order.
    pub fn names(&self) -> &[String] {
        &self.0
    }
}

impl<S: Into<String>> FromIterator<S> for Orgs {
    fn from_iter<I: IntoIterator<Item = S>>(names: I) -> Orgs {
        Orgs(names.into_iter().map(Into::into).collect())
    }
}

impl std::str::FromStr for Orgs {
    type Err = String;

    fn from_str(s: &str) -> Result<Orgs, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<usize>() {
            if n == 0 {
                return Err("--orgs must be at least 1".into());
            }
            return Ok(Orgs(org_names(n)));
        }
        let names: Vec<String> = s.split(',').map(|n| n.trim().to_string()).collect();
        if names.iter().any(String::is_empty) {
            return Err(format!(
                "{s:?} is neither a number of orgs nor a comma-separated list of org names"
            ));
        }
        Ok(Orgs(names))
    }
}

impl std::fmt::Display for Orgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

impl Network {
    /// Opens the network in `dir`, generating one first if `dir` holds none:
    /// `orgs` (default `Org1`, `Org2`), `orderers` Raft orderers (default
    /// [`ORDERERS`]), one peer per org, on consecutive free ports from
    /// `base_port` (default: see [`ports::pick_base_port`]). `note` receives
    /// what is being done.
    pub(crate) fn open_or_create(
        dir: &Path,
        orgs: Option<&Orgs>,
        orderers: Option<usize>,
        base_port: Option<u16>,
        note: &mut dyn FnMut(&str),
    ) -> anyhow::Result<Network> {
        let created = !dir.join(MANIFEST_FILE).is_file();
        if created {
            create(
                dir,
                orgs.map_or_else(|| org_names(2), |o| o.names().to_vec()),
                orderers.unwrap_or(ORDERERS),
                base_port,
                note,
            )?;
        }
        let mut network = Network::open(dir)?;
        network.created = created;
        if !created {
            if let Some(o) = orgs.filter(|o| o.names() != network.orgs.as_slice()) {
                note(&format!(
                    "note: {} holds a network of the orgs {}; --orgs {o} applies only to a new network",
                    network.dir.display(),
                    network.orgs.join(",")
                ));
            }
            if let Some(n) = orderers.filter(|&n| n != network.orderers().count()) {
                note(&format!(
                    "note: {} holds a network of {} orderers; --orderers {n} applies only to a new network",
                    network.dir.display(),
                    network.orderers().count()
                ));
            }
            if base_port.is_some() {
                note(
                    "note: --base-port applies only to a new network; the recorded ports are used",
                );
            }
        }
        Ok(network)
    }

    /// Reads the network in `dir` from its manifest.
    pub(crate) fn open(dir: &Path) -> anyhow::Result<Network> {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", dir.display()))?;
        let path = dir.join(MANIFEST_FILE);
        let text =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let manifest: ManifestFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a network manifest", path.display()))?;
        let mut orgs: Vec<String> = Vec::new();
        for m in &manifest.members {
            if !orgs.contains(&m.org) {
                orgs.push(m.org.clone());
            }
        }
        let mut nodes = Vec::new();
        for n in manifest.nodes {
            let kind = match n.kind.as_str() {
                "orderer" => NodeKind::Orderer,
                "peer" => NodeKind::Peer,
                other => bail!(
                    "{}: node {} has unknown kind {other:?}",
                    path.display(),
                    n.id
                ),
            };
            if n.listen.len() != 2 {
                bail!(
                    "{}: node {} should list two listen addresses",
                    path.display(),
                    n.id
                );
            }
            nodes.push(NodeEntry {
                id: n.id,
                kind,
                org: n.org,
                config: dir.join(n.config),
                listen: n.listen,
            });
        }
        nodes.sort_by_key(|n| n.kind == NodeKind::Peer);
        if !nodes.iter().any(|n| n.kind == NodeKind::Orderer)
            || !nodes.iter().any(|n| n.kind == NodeKind::Peer)
        {
            bail!(
                "{}: a network needs at least one orderer and one peer",
                path.display()
            );
        }
        let has_client = manifest
            .members
            .iter()
            .any(|m| m.role == Role::Client && m.name == "client" && Some(&m.org) == orgs.first());
        if !has_client {
            bail!(
                "{}: the first org has no member `client` (role client) for the profile",
                path.display()
            );
        }
        Ok(Network {
            dir,
            channel: manifest.channel,
            orgs,
            nodes,
            created: false,
        })
    }

    /// The orderers.
    pub(crate) fn orderers(&self) -> impl Iterator<Item = &NodeEntry> {
        self.nodes.iter().filter(|n| n.kind == NodeKind::Orderer)
    }

    /// The peers.
    pub(crate) fn peers(&self) -> impl Iterator<Item = &NodeEntry> {
        self.nodes.iter().filter(|n| n.kind == NodeKind::Peer)
    }

    /// The profile file.
    pub(crate) fn profile_path(&self) -> PathBuf {
        self.dir.join(PROFILE_FILE)
    }

    /// The logs directory.
    pub(crate) fn logs_dir(&self) -> PathBuf {
        self.dir.join(LOGS_DIR)
    }

    /// The client profile: every peer's gateway, the first org's client from
    /// the network directory (a wallet as it is).
    pub(crate) fn profile(&self) -> Profile {
        let first_org = self.orgs.first().cloned().unwrap_or_default();
        Profile {
            channel: self.channel.clone(),
            gateways: self
                .peers()
                .map(|p| GatewayEntry {
                    org: p.org.clone(),
                    gateway: p.url(),
                })
                .collect(),
            identity: Some(ProfileIdentity::Wallet {
                wallet: PathBuf::from("."),
                label: format!("client@{first_org}"),
            }),
            timeout_ms: None,
        }
    }

    /// Fails, naming the node, if an address a node listens on is taken
    /// (another `weft up` on this directory, most likely).
    pub(crate) fn check_ports_free(&self) -> anyhow::Result<()> {
        for node in &self.nodes {
            for address in &node.listen {
                if std::net::TcpListener::bind(address.as_str()).is_err() {
                    bail!(
                        "{address} ({}) is in use: is another `weft up --data {}` running? \
                         Stop it first",
                        node.id,
                        self.dir.display()
                    );
                }
            }
        }
        Ok(())
    }
}

/// Generates and writes a new network into `dir`.
fn create(
    dir: &Path,
    orgs: Vec<String>,
    orderers: usize,
    base_port: Option<u16>,
    note: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    if orgs.is_empty() {
        bail!("--orgs must be at least 1");
    }
    if orderers == 0 {
        bail!("--orderers must be at least 1");
    }
    // A directory with part of a network but no manifest was not written by
    // `network init` (which moves everything in at once): leave it alone.
    for entry in [GENESIS_FILE, "orgs", "nodes", "data"] {
        if dir.join(entry).exists() {
            bail!(
                "{} holds {entry} but no {MANIFEST_FILE}: it is not a network weft can resume. \
                 Remove it or choose another --data directory",
                dir.display()
            );
        }
    }
    let count = ports::ports_needed(orderers, orgs.len());
    let base = ports::pick_base_port(base_port, count)?;
    let spec = NetworkSpec {
        channel: CHANNEL.into(),
        orgs: orgs.clone(),
        orderers,
        peers_per_org: 1,
        base_port: base,
        validity_days: VALIDITY_DAYS,
        now: SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
    };
    note(&format!(
        "creating a network of {n} orgs ({names}), {orderers} orderers and {n} peers in {} \
         (ports {base}-{})",
        dir.display(),
        usize::from(base) + count - 1,
        n = orgs.len(),
        names = orgs.join(", "),
    ));
    let generated = network::generate(&spec)?;
    // Only files other than a network's (logs, a profile) can be there: keep them.
    generated.write(dir, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_network_reads_back_with_its_profile() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("net");
        let mut notes = Vec::new();
        let three: Orgs = "3".parse().unwrap();
        let net = Network::open_or_create(&dir, Some(&three), None, None, &mut |n| {
            notes.push(n.to_string())
        })
        .unwrap();
        assert!(net.created);
        assert_eq!(net.orgs, ["Org1", "Org2", "Org3"]);
        assert_eq!(net.orderers().count(), 3);
        assert_eq!(net.peers().count(), 3);
        assert!(net.nodes.iter().all(|n| n.config.is_file()));
        let profile = net.profile();
        assert_eq!(profile.gateways.len(), 3);
        assert_eq!(profile.gateways[0].org, "Org1");
        net.check_ports_free().unwrap();

        let two: Orgs = "2".parse().unwrap();
        let again = Network::open_or_create(&dir, Some(&two), None, None, &mut |n| {
            notes.push(n.to_string())
        })
        .unwrap();
        assert!(!again.created);
        assert_eq!(again.nodes.len(), net.nodes.len());
        assert_eq!(again.nodes[0].listen, net.nodes[0].listen);
        assert!(
            notes.iter().any(|n| n.contains("--orgs Org1,Org2 applies")),
            "{notes:?}"
        );
    }

    #[test]
    fn a_partial_network_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("data")).unwrap();
        let err = Network::open_or_create(tmp.path(), None, None, None, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("not a network"), "{err}");
        assert!("0".parse::<Orgs>().is_err());
        assert!("A,,B".parse::<Orgs>().is_err());
        let bad: Orgs = "Bad.Org".parse().unwrap();
        let err =
            Network::open_or_create(&tmp.path().join("x"), Some(&bad), None, None, &mut |_| {})
                .unwrap_err();
        assert!(format!("{err:#}").contains("Bad.Org"), "{err:#}");
    }

    #[test]
    fn orgs_are_a_count_or_names() {
        let count: Orgs = "3".parse().unwrap();
        assert_eq!(count.names(), ["Org1", "Org2", "Org3"]);
        let named: Orgs = "Customer, Bank,CAD".parse().unwrap();
        assert_eq!(named.names(), ["Customer", "Bank", "CAD"]);
        assert_eq!(named.to_string(), "Customer,Bank,CAD");
    }
}
