//! `weft network init`: generates a whole network — org root keys, member
//! certificates, the genesis block and one TOML config per node — in memory
//! ([`generate`]), then writes it to a directory ([`GeneratedNetwork::write`]).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Serialize;
use weft_types::node_config::{IdentityFiles, OrdererNodeConfig, PeerNodeConfig};
use weft_types::{
    Block, ChannelConfig, ConfigTransaction, Digest, Envelope, Identity, OrdererInfo, OrgAuthority,
    OrgInfo, PeerInfo, Role, SigningKey, Transaction, TxBody, TxHeader,
};

/// The file holding the genesis block, at the top of a network directory.
pub const GENESIS_FILE: &str = "genesis.json";
/// The manifest listing every node and member, at the top of a network directory.
pub const MANIFEST_FILE: &str = "network.json";
/// Entries of a network directory that `--force` replaces.
const MANAGED: [&str; 5] = [GENESIS_FILE, MANIFEST_FILE, "orgs", "nodes", "data"];

/// What to generate.
#[derive(Debug, Clone)]
pub struct NetworkSpec {
    /// Channel name.
    pub channel: String,
    /// Organisation names, in channel order.
    pub orgs: Vec<String>,
    /// Number of orderers (Raft nodes), spread over the orgs in turn.
    pub orderers: usize,
    /// Peers per org.
    pub peers_per_org: usize,
    /// First port; the network uses consecutive ports from here on 127.0.0.1.
    pub base_port: u16,
    /// Certificates are valid from `now - 1 h` for this many days.
    pub validity_days: u64,
    /// Current time, unix seconds.
    pub now: u64,
}

/// One member's identity as generated: certificate and key.
#[derive(Debug)]
pub struct Member {
    /// Org name.
    pub org: String,
    /// Member name.
    pub name: String,
    /// Certificate and private key.
    pub identity: Identity,
}

/// A node and its configuration.
#[derive(Debug)]
pub enum NodeConfig {
    /// A peer.
    Peer(PeerNodeConfig),
    /// An orderer.
    Orderer(OrdererNodeConfig),
}

/// A generated network, not yet on disk.
#[derive(Debug)]
pub struct GeneratedNetwork {
    /// Channel name.
    pub channel: String,
    /// Org names with their root keys.
    pub orgs: Vec<OrgAuthority>,
    /// Every member (admins, clients, peers, orderers).
    pub members: Vec<Member>,
    /// The genesis block, signed by every orderer.
    pub genesis: Block,
    /// Node id (`peer0.Bank`, `orderer1`) and its config.
    pub nodes: Vec<(String, NodeConfig)>,
}

/// The manifest written beside the genesis block: where everything is.
#[derive(Debug, Serialize)]
pub struct Manifest {
    /// Channel name.
    pub channel: String,
    /// sha3-256 of the genesis block header: pin it to make sure every node starts from the same block.
    pub genesis_hash: Digest,
    /// Nodes with their config file and listen addresses.
    pub nodes: Vec<ManifestNode>,
    /// Members with their certificate and key files.
    pub members: Vec<ManifestMember>,
}

/// A node in the manifest.
#[derive(Debug, Serialize)]
pub struct ManifestNode {
    /// Node id.
    pub id: String,
    /// `peer` or `orderer`.
    pub kind: &'static str,
    /// Its org.
    pub org: String,
    /// Its TOML config, relative to the network directory.
    pub config: PathBuf,
    /// What it listens on.
    pub listen: Vec<String>,
}

/// A member in the manifest.
#[derive(Debug, Serialize)]
pub struct ManifestMember {
    /// Org.
    pub org: String,
    /// Member name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Certificate file, relative to the network directory.
    pub certificate: PathBuf,
    /// Key file, relative to the network directory.
    pub key: PathBuf,
}

fn member_dir(org: &str, name: &str) -> PathBuf {
    Path::new("orgs").join(org).join("members").join(name)
}

/// Files of a member, as seen from a node config in `nodes/`.
fn identity_files(org: &str, name: &str) -> IdentityFiles {
    let dir = Path::new("..").join(member_dir(org, name));
    IdentityFiles {
        org: org.to_string(),
        name: name.to_string(),
        certificate: dir.join("cert.json"),
        key: dir.join("key.pem"),
    }
}

/// Hands out consecutive ports and fails instead of wrapping past 65535.
struct Ports(u32);

impl Ports {
    fn next(&mut self) -> anyhow::Result<String> {
        let port = self.0;
        if port > u32::from(u16::MAX) {
            bail!("the network needs ports beyond 65535: choose a lower --base-port");
        }
        self.0 += 1;
        Ok(format!("127.0.0.1:{port}"))
    }
}

/// Generates keys, certificates, the genesis block and node configs for `spec`.
pub fn generate(spec: &NetworkSpec) -> anyhow::Result<GeneratedNetwork> {
    if spec.orgs.is_empty() {
        bail!("--orgs needs at least one organisation");
    }
    if spec.orderers == 0 {
        bail!("--orderers must be at least 1");
    }
    if spec.peers_per_org == 0 {
        bail!("--peers-per-org must be at least 1");
    }
    if spec.base_port < 1024 {
        bail!("--base-port must be at least 1024: lower ports need root to bind");
    }
    let not_before = spec.now.saturating_sub(3600);
    let not_after = spec
        .now
        .saturating_add(spec.validity_days.saturating_mul(86_400));
    let mut cas = Vec::new();
    for org in &spec.orgs {
        if cas.iter().any(|c: &OrgAuthority| c.org() == org) {
            bail!("organisation {org} is listed twice");
        }
        cas.push(OrgAuthority::new(org, SigningKey::generate())?);
    }

    let mut ports = Ports(u32::from(spec.base_port));
    let mut members = Vec::new();
    let mut nodes = Vec::new();
    let mut enroll = |ca: &OrgAuthority, name: &str, role: Role| -> anyhow::Result<Identity> {
        let identity = ca.enroll(name, role, not_before, not_after)?;
        members.push(Member {
            org: ca.org().to_string(),
            name: name.to_string(),
            identity: identity.clone(),
        });
        Ok(identity)
    };

    let mut orderers = Vec::new();
    let mut orderer_ids = Vec::new();
    for i in 0..spec.orderers {
        let ca = &cas[i % cas.len()];
        let name = format!("orderer{i}");
        let id = enroll(ca, &name, Role::Orderer)?;
        let (api, cluster) = (ports.next()?, ports.next()?);
        let raft_id = i as u64 + 1;
        nodes.push((
            name.clone(),
            NodeConfig::Orderer(OrdererNodeConfig {
                identity: identity_files(ca.org(), &name),
                raft_id,
                genesis_block: Path::new("..").join(GENESIS_FILE),
                data_dir: Path::new("../data").join(&name),
                api_listen: api.clone(),
                cluster_listen: cluster.clone(),
                log: "info".into(),
            }),
        ));
        orderers.push(OrdererInfo {
            id: raft_id,
            name,
            org: ca.org().to_string(),
            api,
            cluster,
            public_key: id.body().public_key,
        });
        orderer_ids.push(id);
    }

    let mut orgs = Vec::new();
    let mut admins = Vec::new();
    for ca in &cas {
        admins.push(enroll(ca, "admin", Role::Admin)?);
        enroll(ca, "client", Role::Client)?;
        let mut peers = Vec::new();
        for j in 0..spec.peers_per_org {
            let name = format!("peer{j}");
            let id = enroll(ca, &name, Role::Peer)?;
            let (gateway, p2p) = (ports.next()?, ports.next()?);
            let node_id = format!("{name}.{}", ca.org());
            nodes.push((
                node_id.clone(),
                NodeConfig::Peer(PeerNodeConfig {
                    identity: identity_files(ca.org(), &name),
                    genesis_block: Path::new("..").join(GENESIS_FILE),
                    data_dir: Path::new("../data").join(&node_id),
                    gateway_listen: gateway.clone(),
                    p2p_listen: p2p.clone(),
                    log: "info".into(),
                }),
            ));
            peers.push(PeerInfo {
                name,
                gateway,
                p2p,
                public_key: id.body().public_key,
            });
        }
        orgs.push(OrgInfo {
            name: ca.org().to_string(),
            root_key: ca.root_key(),
            peers,
        });
    }

    let config = ChannelConfig::new(&spec.channel, orgs, orderers);
    config
        .validate()
        .context("the generated channel config is invalid")?;

    let creator = &admins[0];
    let now_ms = spec.now.saturating_mul(1000);
    let payload = Transaction {
        header: TxHeader::new(&spec.channel, creator.certificate(), now_ms),
        body: TxBody::Config(ConfigTransaction::new(&config)),
    };
    let mut genesis = Block::new(
        0,
        Digest::ZERO,
        now_ms,
        vec![Envelope::sign(&payload, creator)],
    );
    for o in &orderer_ids {
        genesis.sign(o);
    }
    Ok(GeneratedNetwork {
        channel: spec.channel.clone(),
        orgs: cas,
        members,
        genesis,
        nodes,
    })
}

impl GeneratedNetwork {
    /// The manifest describing this network's files.
    pub fn manifest(&self) -> Manifest {
        let nodes = self
            .nodes
            .iter()
            .map(|(id, node)| {
                let (kind, org, listen) = match node {
                    NodeConfig::Peer(p) => (
                        "peer",
                        &p.identity.org,
                        vec![p.gateway_listen.clone(), p.p2p_listen.clone()],
                    ),
                    NodeConfig::Orderer(o) => (
                        "orderer",
                        &o.identity.org,
                        vec![o.api_listen.clone(), o.cluster_listen.clone()],
                    ),
                };
                ManifestNode {
                    id: id.clone(),
                    kind,
                    org: org.clone(),
                    config: Path::new("nodes").join(format!("{id}.toml")),
                    listen,
                }
            })
            .collect();
        let members = self
            .members
            .iter()
            .map(|m| {
                let dir = member_dir(&m.org, &m.name);
                ManifestMember {
                    org: m.org.clone(),
                    name: m.name.clone(),
                    role: m.identity.role(),
                    certificate: dir.join("cert.json"),
                    key: dir.join("key.pem"),
                }
            })
            .collect();
        Manifest {
            channel: self.channel.clone(),
            genesis_hash: self.genesis.hash(),
            nodes,
            members,
        }
    }

    /// Writes the network to `dir`. Refuses a directory that is not empty
    /// unless `force`, in which case it replaces what a previous init wrote
    /// (node data included) and leaves other files alone. Everything is
    /// written to a sibling staging directory first and moved in only once
    /// complete, so a failed init leaves the previous network as it was.
    pub fn write(&self, dir: &Path, force: bool) -> anyhow::Result<()> {
        if dir.exists() {
            if !dir.is_dir() {
                bail!("{} exists and is not a directory", dir.display());
            }
            let not_empty = fs::read_dir(dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .next()
                .is_some();
            if not_empty && !force {
                bail!(
                    "{} is not empty (it may hold a network and its ledgers); pass --force to replace it",
                    dir.display()
                );
            }
        }
        let staging = staging_dir(dir)?;
        let result = self
            .write_into(&staging)
            .and_then(|()| swap_in(&staging, dir));
        if staging.exists() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }

    fn write_into(&self, dir: &Path) -> anyhow::Result<()> {
        for ca in &self.orgs {
            let org_dir = dir.join("orgs").join(ca.org());
            create_dir(&org_dir)?;
            write_json(&org_dir.join("root.pub.json"), &ca.root_key())?;
            // The root key signs certificates: in a real deployment, move it offline.
            write_secret(
                &org_dir.join("root.key.pem"),
                &ca.signing_key().to_pkcs8_pem()?,
            )?;
        }
        for m in &self.members {
            let mdir = dir.join(member_dir(&m.org, &m.name));
            create_dir(&mdir)?;
            write_json(&mdir.join("cert.json"), m.identity.certificate())?;
            write_secret(
                &mdir.join("key.pem"),
                &m.identity.signing_key().to_pkcs8_pem()?,
            )?;
        }
        let nodes_dir = dir.join("nodes");
        create_dir(&nodes_dir)?;
        for (id, node) in &self.nodes {
            let text = match node {
                NodeConfig::Peer(p) => toml::to_string_pretty(p)?,
                NodeConfig::Orderer(o) => toml::to_string_pretty(o)?,
            };
            let path = nodes_dir.join(format!("{id}.toml"));
            fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        }
        write_json(&dir.join(GENESIS_FILE), &self.genesis)?;
        write_json(&dir.join(MANIFEST_FILE), &self.manifest())?;
        Ok(())
    }
}

/// A fresh directory beside `dir`, on the same filesystem so entries can be renamed into `dir`.
fn staging_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    let name = dir
        .file_name()
        .with_context(|| format!("{} does not name a directory", dir.display()))?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_dir(&parent)?;
    let staging = parent.join(format!(
        ".{}.init-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot remove {}", staging.display()))?;
    }
    create_dir(&staging)?;
    Ok(staging)
}

/// Moves the staged network into `dir`, replacing the entries a previous init wrote.
fn swap_in(staging: &Path, dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return fs::rename(staging, dir)
            .with_context(|| format!("cannot move {} to {}", staging.display(), dir.display()));
    }
    for entry in MANAGED {
        let old = dir.join(entry);
        if old.is_dir() {
            fs::remove_dir_all(&old).with_context(|| format!("cannot remove {}", old.display()))?;
        } else if old.exists() {
            fs::remove_file(&old).with_context(|| format!("cannot remove {}", old.display()))?;
        }
        let new = staging.join(entry);
        if new.exists() {
            fs::rename(&new, &old)
                .with_context(|| format!("cannot move {} to {}", new.display(), old.display()))?;
        }
    }
    Ok(())
}

fn create_dir(path: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))
}

fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes a private key readable by its owner only.
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
