//! The channel configuration: organisations and their root keys, peers and
//! orderers, ordering and Raft parameters, and the default policies. Block 0
//! carries the first one.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use weft_policy::Policy;

use crate::certificate::TrustStore;
use crate::crypto::PublicKey;
use crate::names::{NameError, check_name};

/// Why a channel configuration is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A name breaks the naming rule.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A name or address appears twice.
    #[error("duplicate {what}: {value}")]
    Duplicate {
        /// What is duplicated.
        what: &'static str,
        /// The repeated value.
        value: String,
    },
    /// A required list is empty.
    #[error("the channel needs at least one {0}")]
    Empty(&'static str),
    /// A parameter is out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The parameter, with its unit (`ordering.batch_timeout_ms`).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A default policy does not fit the channel's orgs.
    #[error("policy {name}: {reason}")]
    Policy {
        /// `Endorsement` or `LifecycleEndorsement`.
        name: &'static str,
        /// The resolver's complaint.
        reason: String,
    },
}

/// A peer as the channel knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Member name within its org (`peer0`).
    pub name: String,
    /// `host:port` of its gateway (REST API).
    pub gateway: String,
    /// `host:port` of its peer-to-peer endpoint (private data, gossip of blocks).
    pub p2p: String,
    /// Its signing key (the one in its certificate).
    pub public_key: PublicKey,
}

/// An organisation of the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgInfo {
    /// The org's name, as certificates and policies spell it.
    pub name: String,
    /// The root key that signs the org's member certificates.
    pub root_key: PublicKey,
    /// The org's peers.
    #[serde(default)]
    pub peers: Vec<PeerInfo>,
}

/// The response header in which an orderer's broadcast API names the
/// Raft leader it knows of (its [`OrdererInfo::id`], decimal). A follower
/// forwards what it is sent to the leader, checking every envelope on the
/// way; a client that sends to the leader itself saves that hop.
pub const ORDERER_LEADER_HEADER: &str = "x-weft-leader";

/// An orderer of the channel's ordering service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrdererInfo {
    /// Raft node id, at least 1, unique.
    pub id: u64,
    /// Member name within its org (`orderer0`).
    pub name: String,
    /// The org that runs it.
    pub org: String,
    /// `host:port` of its broadcast and deliver API.
    pub api: String,
    /// `host:port` of its Raft transport to the other orderers.
    pub cluster: String,
    /// Its signing key (the one in its certificate).
    pub public_key: PublicKey,
}

/// How the leader cuts blocks. Names follow Fabric's `BatchSize` and `BatchTimeout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderingParams {
    /// Cut a non-empty block this long after its first envelope arrived.
    pub batch_timeout_ms: u64,
    /// Cut a block at this many envelopes.
    pub max_message_count: u32,
    /// Reject any envelope larger than this at broadcast; no block exceeds it.
    pub absolute_max_bytes: u64,
    /// Cut a block once its envelopes reach this size.
    pub preferred_max_bytes: u64,
}

impl Default for OrderingParams {
    fn default() -> Self {
        OrderingParams {
            batch_timeout_ms: 100,
            max_message_count: 500,
            absolute_max_bytes: 10 * 1024 * 1024,
            preferred_max_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Raft timing and log compaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftParams {
    /// Length of one Raft tick.
    pub tick_interval_ms: u64,
    /// Ticks without a leader before a follower starts an election.
    pub election_tick: u32,
    /// Ticks between leader heartbeats.
    pub heartbeat_tick: u32,
    /// Take a snapshot (and compact the log) after this many bytes of blocks.
    pub snapshot_interval_bytes: u64,
    /// Most blocks in flight to a follower at once.
    pub max_inflight_blocks: u32,
}

impl Default for RaftParams {
    fn default() -> Self {
        RaftParams {
            tick_interval_ms: 100,
            election_tick: 10,
            heartbeat_tick: 1,
            snapshot_interval_bytes: 16 * 1024 * 1024,
            max_inflight_blocks: 5,
        }
    }
}

/// The channel-wide policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelPolicies {
    /// Default endorsement policy of chaincode that names none (`MAJORITY`).
    pub endorsement: Policy,
    /// Who must approve a chaincode definition (`MAJORITY(admin)`).
    pub lifecycle_endorsement: Policy,
    /// Who must approve a change of this configuration (`MAJORITY(admin)`).
    pub admins: Policy,
}

impl Default for ChannelPolicies {
    fn default() -> Self {
        let majority = |role| Policy::Implicit {
            kind: weft_policy::Implicit::Majority,
            role,
        };
        ChannelPolicies {
            endorsement: majority(weft_policy::PrincipalRole::Member),
            lifecycle_endorsement: majority(weft_policy::PrincipalRole::Admin),
            admins: majority(weft_policy::PrincipalRole::Admin),
        }
    }
}

/// The ordering service's consensus engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consensus {
    /// Crash fault tolerant Raft: the leader alone signs each block.
    #[default]
    Raft,
}

/// A channel's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelConfig {
    /// The channel's name.
    pub channel: String,
    /// 0 in the genesis block, then +1 for each configuration change, so an
    /// old configuration can never be replayed.
    pub sequence: u64,
    /// How blocks are agreed on and signed.
    #[serde(default)]
    pub consensus: Consensus,
    /// Its organisations, in a fixed order (implicit policies use it).
    pub orgs: Vec<OrgInfo>,
    /// The ordering service's nodes.
    pub orderers: Vec<OrdererInfo>,
    /// Block cutting.
    pub ordering: OrderingParams,
    /// Raft.
    pub raft: RaftParams,
    /// Default policies.
    pub policies: ChannelPolicies,
}

impl ChannelConfig {
    /// A first configuration (sequence 0) with default parameters and policies.
    pub fn new(channel: &str, orgs: Vec<OrgInfo>, orderers: Vec<OrdererInfo>) -> Self {
        ChannelConfig {
            channel: channel.to_string(),
            sequence: 0,
            consensus: Consensus::default(),
            orgs,
            orderers,
            ordering: OrderingParams::default(),
            raft: RaftParams::default(),
            policies: ChannelPolicies::default(),
        }
    }

    /// The org names, in channel order.
    pub fn org_names(&self) -> Vec<&str> {
        self.orgs.iter().map(|o| o.name.as_str()).collect()
    }

    /// The org called `name`.
    pub fn org(&self, name: &str) -> Option<&OrgInfo> {
        self.orgs.iter().find(|o| o.name == name)
    }

    /// The orderer whose signing key is `key`.
    pub fn orderer_by_key(&self, key: &PublicKey) -> Option<&OrdererInfo> {
        self.orderers.iter().find(|o| &o.public_key == key)
    }

    /// How many distinct orderers must sign a block: one for Raft, whose
    /// leader cuts and signs it.
    pub fn block_signatures_required(&self) -> usize {
        match self.consensus {
            Consensus::Raft => 1,
        }
    }

    /// Checks names, uniqueness, parameter ranges and that the default
    /// policies resolve against the orgs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_name("channel", &self.channel)?;
        if self.orgs.is_empty() {
            return Err(ConfigError::Empty("organisation"));
        }
        if self.orderers.is_empty() {
            return Err(ConfigError::Empty("orderer"));
        }
        let mut org_names = BTreeSet::new();
        let mut folded_org_names = BTreeSet::new();
        let mut keys = BTreeSet::new();
        let mut unique_key = |what: &'static str, owner: &str, key: &PublicKey| {
            if keys.insert(key.to_bytes()) {
                Ok(())
            } else {
                Err(ConfigError::Duplicate {
                    what,
                    value: format!("{owner} reuses a key already in the config"),
                })
            }
        };
        let mut addresses = BTreeSet::new();
        let mut unique_address = |a: &str| {
            if addresses.insert(a.to_string()) {
                Ok(())
            } else {
                Err(ConfigError::Duplicate {
                    what: "address",
                    value: a.to_string(),
                })
            }
        };
        for org in &self.orgs {
            check_name("organisation", &org.name)?;
            // Org names become directory names: refuse two that differ only in case.
            if !org_names.insert(org.name.as_str())
                || !folded_org_names.insert(org.name.to_ascii_lowercase())
            {
                return Err(ConfigError::Duplicate {
                    what: "organisation (names are compared ignoring case)",
                    value: org.name.clone(),
                });
            }
            unique_key("root key", &org.name, &org.root_key)?;
            let mut peer_names = BTreeSet::new();
            for peer in &org.peers {
                check_name("peer", &peer.name)?;
                if !peer_names.insert(peer.name.as_str()) {
                    return Err(ConfigError::Duplicate {
                        what: "peer",
                        value: format!("{}@{}", peer.name, org.name),
                    });
                }
                unique_address(&peer.gateway)?;
                unique_address(&peer.p2p)?;
                unique_key(
                    "peer key",
                    &format!("{}@{}", peer.name, org.name),
                    &peer.public_key,
                )?;
            }
        }
        let mut ids = BTreeSet::new();
        let mut orderer_names = BTreeSet::new();
        for o in &self.orderers {
            check_name("orderer", &o.name)?;
            if !orderer_names.insert((o.org.as_str(), o.name.as_str())) {
                return Err(ConfigError::Duplicate {
                    what: "orderer",
                    value: format!("{}@{}", o.name, o.org),
                });
            }
            unique_key(
                "orderer key",
                &format!("{}@{}", o.name, o.org),
                &o.public_key,
            )?;
            if o.id == 0 || !ids.insert(o.id) {
                return Err(ConfigError::Invalid {
                    field: "orderers.id",
                    reason: format!("orderer ids must be unique and at least 1 (got {})", o.id),
                });
            }
            if !org_names.contains(o.org.as_str()) {
                return Err(ConfigError::Invalid {
                    field: "orderers.org",
                    reason: format!(
                        "orderer {} belongs to unknown organisation {}",
                        o.name, o.org
                    ),
                });
            }
            unique_address(&o.api)?;
            unique_address(&o.cluster)?;
        }
        self.validate_params()?;
        let orgs = self.org_names();
        for (name, policy) in [
            ("Endorsement", &self.policies.endorsement),
            ("LifecycleEndorsement", &self.policies.lifecycle_endorsement),
            ("Admins", &self.policies.admins),
        ] {
            policy.resolve(&orgs).map_err(|e| ConfigError::Policy {
                name,
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }

    fn validate_params(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: reason.to_string(),
            })
        };
        let o = &self.ordering;
        if o.batch_timeout_ms == 0 {
            return invalid("ordering.batch_timeout_ms", "must be at least 1");
        }
        if o.max_message_count == 0 {
            return invalid("ordering.max_message_count", "must be at least 1");
        }
        if o.preferred_max_bytes == 0 || o.preferred_max_bytes > o.absolute_max_bytes {
            return invalid(
                "ordering.preferred_max_bytes",
                "must be at least 1 and at most absolute_max_bytes",
            );
        }
        let r = &self.raft;
        if r.tick_interval_ms == 0 {
            return invalid("raft.tick_interval_ms", "must be at least 1");
        }
        if r.heartbeat_tick == 0 || r.election_tick <= r.heartbeat_tick {
            return invalid(
                "raft.election_tick",
                "must be greater than heartbeat_tick, which must be at least 1",
            );
        }
        if r.max_inflight_blocks == 0 {
            return invalid("raft.max_inflight_blocks", "must be at least 1");
        }
        Ok(())
    }
}

impl TrustStore for ChannelConfig {
    fn org_root(&self, org: &str) -> Option<&PublicKey> {
        self.org(org).map(|o| &o.root_key)
    }
}
