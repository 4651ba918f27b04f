//! The TOML file each node reads at start (`weft-peer --config FILE`,
//! `weft-orderer --config FILE`), as written by `weft network init`.
//! Relative paths are relative to the directory of the config file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Files that make up a node's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
