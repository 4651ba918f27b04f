//! The TOML file each node reads at start (`weft-peer --config FILE`,
//! `weft-orderer --config FILE`), as written by `weft network init`.
//! Relative paths are relative to the directory of the config file.
//!
//! Any value can be overridden by an environment variable: `WEFT_` followed by
//! the key in upper case, with `__` descending into a table
//! (`WEFT_GATEWAY_LISTEN=0.0.0.0:7056`, `WEFT_IDENTITY__KEY=/run/secrets/key.pem`).
//! See [`from_toml_with_env`].

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A config file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeConfigError {
    /// The file cannot be read.
    #[error("cannot read the config {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error, in words.
        reason: String,
    },
    /// The TOML does not parse or does not fit the config's shape.
    #[error("invalid node config: {0}")]
    Invalid(String),
    /// An override names a key whose parent is not a table.
    #[error("environment variable {var}: {key} is not a table in the config")]
    NotATable {
        /// The variable.
        var: String,
        /// The key that should have been a table.
        key: String,
    },
}

/// Parses a node config from TOML `text`, applying `WEFT_*` overrides from
/// `vars` (pass `std::env::vars()`). A variable applies when its first key
/// exists at the top of the file, so unrelated `WEFT_*` variables (those of
/// the CLI) are left alone; an override of a key the config does not have
/// below that is an error, as is a misspelt key in the file. An override's
/// value is read as a TOML value when it is one (`5`, `true`), else as a string.
pub fn from_toml_with_env<T: DeserializeOwned>(
    text: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, NodeConfigError> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| NodeConfigError::Invalid(e.to_string()))?;
    let mut overrides: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with("WEFT_"))
        .collect();
    overrides.sort();
    for (var, value) in overrides {
        let path: Vec<String> = var["WEFT_".len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if !table.contains_key(&path[0]) {
            continue;
        }
        let (last, parents) = path.split_last().expect("split yields at least one part");
        let mut cursor = &mut table;
        for key in parents {
            cursor = match cursor.get_mut(key) {
                Some(toml::Value::Table(t)) => t,
                _ => {
                    return Err(NodeConfigError::NotATable {
                        var: var.clone(),
                        key: key.clone(),
                    });
                }
            };
        }
        cursor.insert(last.clone(), parse_value(&value));
    }
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| NodeConfigError::Invalid(e.to_string()))
}

fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// A file a node needs at start (identity, genesis block) that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NodeFileError {
    /// The file cannot be read.
    #[error("cannot read the {what} {}: {source}", path.display())]
    Read {
        /// What the file is.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but is not what it should be.
    #[error("the {what} {} is unusable: {reason}", path.display())]
    Invalid {
        /// What the file is.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A node config whose relative paths are relative to the file's directory.
pub trait NodeConfig: DeserializeOwned {
    /// Every path the config holds, to resolve.
    fn paths_mut(&mut self) -> Vec<&mut PathBuf>;
}

impl NodeConfig for PeerNodeConfig {
    fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        vec![
            &mut self.genesis_block,
            &mut self.data_dir,
            &mut self.identity.certificate,
            &mut self.identity.key,
        ]
    }
}

impl NodeConfig for OrdererNodeConfig {
    fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        vec![
            &mut self.genesis_block,
            &mut self.data_dir,
            &mut self.identity.certificate,
            &mut self.identity.key,
        ]
    }
}

/// Reads the node config at `path` with `WEFT_*` overrides from the
/// environment ([`from_toml_with_env`]) and every relative path made
/// relative to the file's directory.
pub fn read_node_config<T: NodeConfig>(path: &Path) -> Result<T, NodeConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| NodeConfigError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut config: T = from_toml_with_env(&text, std::env::vars())?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in config.paths_mut() {
        *p = resolve_path(base, p);
    }
    Ok(config)
}

/// `path` if absolute, else `path` under `base` (the config file's directory).
pub fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn read_file(what: &'static str, path: &Path) -> Result<String, NodeFileError> {
    std::fs::read_to_string(path).map_err(|source| NodeFileError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the genesis block (JSON of [`crate::Block`]) at `path`.
pub fn load_genesis(path: &Path) -> Result<crate::Block, NodeFileError> {
    let text = read_file("genesis block", path)?;
    serde_json::from_str(&text).map_err(|e| NodeFileError::Invalid {
        what: "genesis block",
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Files that make up a node's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityFiles {
    /// The node's org.
    pub org: String,
    /// The node's member name within its org.
    pub name: String,
    /// Its certificate (JSON of [`crate::Certificate`]).
    pub certificate: PathBuf,
    /// Its private key (PKCS#8 PEM).
    pub key: PathBuf,
}

impl IdentityFiles {
    /// Loads the certificate and key, with relative paths under `base`,
    /// and checks that they belong together and name this org and member.
    pub fn load(&self, base: &Path) -> Result<crate::Identity, NodeFileError> {
        let cert_path = resolve_path(base, &self.certificate);
        let key_path = resolve_path(base, &self.key);
        let invalid = |what, path: &Path, reason: String| NodeFileError::Invalid {
            what,
            path: path.to_path_buf(),
            reason,
        };
        let cert: crate::Certificate = serde_json::from_str(&read_file("certificate", &cert_path)?)
            .map_err(|e| invalid("certificate", &cert_path, e.to_string()))?;
        let key = crate::SigningKey::from_pkcs8_pem(&read_file("private key", &key_path)?)
            .map_err(|e| invalid("private key", &key_path, e.to_string()))?;
        let identity = crate::Identity::from_parts(cert, key)
            .map_err(|e| invalid("private key", &key_path, e.to_string()))?;
        if identity.org() != self.org || identity.name() != self.name {
            return Err(invalid(
                "certificate",
                &cert_path,
                format!(
                    "it is for {}@{}, the config says {}@{}",
                    identity.name(),
                    identity.org(),
                    self.name,
                    self.org
                ),
            ));
        }
        Ok(identity)
    }
}

/// A peer's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerNodeConfig {
    /// Who the peer is.
    pub identity: IdentityFiles,
    /// The channel's genesis block (JSON of [`crate::Block`]).
    pub genesis_block: PathBuf,
    /// Where the ledger lives.
    pub data_dir: PathBuf,
    /// `host:port` the gateway (REST API) listens on.
    pub gateway_listen: String,
    /// `host:port` the peer-to-peer endpoint listens on.
    pub p2p_listen: String,
    /// Log filter (`info`, `weft_node=debug`, …).
    #[serde(default = "default_log")]
    pub log: String,
}

/// An orderer's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdererNodeConfig {
    /// Who the orderer is.
    pub identity: IdentityFiles,
    /// Its Raft node id (as in the channel config).
    pub raft_id: u64,
    /// The channel's genesis block (JSON of [`crate::Block`]).
    pub genesis_block: PathBuf,
    /// Where the Raft log and block store live.
    pub data_dir: PathBuf,
    /// `host:port` of the broadcast and deliver API.
    pub api_listen: String,
    /// `host:port` of the Raft transport.
    pub cluster_listen: String,
    /// Log filter (`info`, `weft_orderer=debug`, …).
    #[serde(default = "default_log")]
    pub log: String,
}

fn default_log() -> String {
    "info".to_string()
}

/// How long [`open_waiting_for_lock`] waits for a database's directory lock.
pub const OPEN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs `open` (a sled open, typically) again while it fails because the
/// directory lock is held, for up to [`OPEN_LOCK_WAIT`]. sled 0.34 releases
/// its lock a moment after the last handle is dropped (its background
/// threads still hold the file), so a database reopened in the same process
/// — a restart in a test, a tool run right after a node stopped — must wait.
/// A live node holds the lock far longer, and that error comes back.
pub fn open_waiting_for_lock<T, E: std::fmt::Display>(
    mut open: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = std::time::Instant::now() + OPEN_LOCK_WAIT;
    loop {
        match open() {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = r#"
genesis_block = "../genesis.json"
data_dir = "../data/peer0.Bank"
gateway_listen = "127.0.0.1:7056"
p2p_listen = "127.0.0.1:7057"

[identity]
org = "Bank"
name = "peer0"
certificate = "cert.json"
key = "key.pem"
"#;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_file_values() {
        let c: PeerNodeConfig = from_toml_with_env(
            PEER,
            vars(&[
                ("WEFT_GATEWAY_LISTEN", "0.0.0.0:9000"),
                ("WEFT_IDENTITY__KEY", "/run/secrets/key.pem"),
                ("WEFT_PROFILE", "ignored: not a config key"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(c.gateway_listen, "0.0.0.0:9000");
        assert_eq!(c.identity.key, PathBuf::from("/run/secrets/key.pem"));
        assert_eq!(c.log, "info", "defaults apply");
    }

    #[test]
    fn bad_files_and_overrides_are_errors() {
        let typo = PEER.replace("p2p_listen", "p2p_lisen");
        let err = from_toml_with_env::<PeerNodeConfig>(&typo, vec![]).unwrap_err();
        assert!(err.to_string().contains("p2p_lisen"), "{err}");
        let err =
            from_toml_with_env::<PeerNodeConfig>(PEER, vars(&[("WEFT_IDENTITY__KEY__X", "1")]))
                .unwrap_err();
        assert!(matches!(err, NodeConfigError::NotATable { .. }), "{err}");
        let err = from_toml_with_env::<PeerNodeConfig>(PEER, vars(&[("WEFT_GATEWAY_LISTEN", "5")]))
            .unwrap_err();
        assert!(err.to_string().contains("gateway_listen"), "{err}");
    }
}
