//! Chaincode definitions and their private data collections.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use weft_policy::Policy;

use crate::crypto::Digest;
use crate::names::{NameError, check_name};

/// Why a chaincode definition is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    /// A name breaks the naming rule.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A field is out of range or inconsistent.
    #[error("chaincode {chaincode}: {reason}")]
    Invalid {
        /// The chaincode.
        chaincode: String,
        /// What is wrong.
        reason: String,
    },
}

/// A private data collection of a chaincode (Fabric's `StaticCollectionConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionConfig {
    /// The collection's name, unique within the chaincode.
    pub name: String,
    /// Which orgs are members, e.g. `OR('Bank.member', 'Regulator.member')`.
    /// Only members' peers store the private values; others keep hashes.
    pub member_orgs_policy: Policy,
    /// Member peers that must hold the data before an endorsement is returned.
    pub required_peer_count: u32,
    /// Member peers the endorser pushes the data to at most.
    pub maximum_peer_count: u32,
    /// Purge private values this many blocks after they were written; 0 keeps them forever.
    #[serde(default)]
    pub block_to_live: u64,
    /// Only members' clients may read the collection.
    #[serde(default)]
    pub member_only_read: bool,
    /// Only members' clients may write the collection.
    #[serde(default)]
    pub member_only_write: bool,
    /// Endorsement policy for writes to this collection; the chaincode's when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endorsement_policy: Option<Policy>,
}

/// The name of an org's implicit collection is this prefix and the org's
/// name: `_implicit_org_Bank`. Every chaincode has one per channel org,
/// without defining it (as in Fabric).
pub const IMPLICIT_COLLECTION_PREFIX: &str = "_implicit_org_";

impl CollectionConfig {
    /// A collection `name` whose members `member_orgs_policy` names, with
    /// Fabric's defaults for the rest: no peer has to hold the data before
    /// an endorsement is returned, none is pushed it, it is never purged,
    /// and reads and writes are open to every org's clients. Change a field
    /// with struct update syntax: `CollectionConfig { required_peer_count:
    /// 1, ..CollectionConfig::new(name, policy) }`.
    pub fn new(name: impl Into<String>, member_orgs_policy: Policy) -> CollectionConfig {
        CollectionConfig {
            name: name.into(),
            member_orgs_policy,
            required_peer_count: 0,
            maximum_peer_count: 0,
            block_to_live: 0,
            member_only_read: false,
            member_only_write: false,
            endorsement_policy: None,
        }
    }

    /// The implicit collection of `org`: only its peers store the values
    /// and only its clients read them; anyone may write it (a client
    /// handing the org data), no peer has to hold the data before an
    /// endorsement is returned, one other peer of the org is sent it, and
    /// it is never purged.
    pub fn implicit(org: &str) -> CollectionConfig {
        let member = Policy::Principal(weft_policy::Principal::new(
            org,
            weft_policy::PrincipalRole::Member,
        ));
        CollectionConfig {
            maximum_peer_count: 1,
            member_only_read: true,
            ..CollectionConfig::new(format!("{IMPLICIT_COLLECTION_PREFIX}{org}"), member)
        }
    }

    /// The org whose implicit collection `name` names, if it names one
    /// (the org need not exist).
    pub fn implicit_org(name: &str) -> Option<&str> {
        name.strip_prefix(IMPLICIT_COLLECTION_PREFIX)
    }

    /// Whether `org` (an org of the channel) is a member: named by a
    /// principal of the member policy, or every org when the policy is
    /// `ANY`, `MAJORITY` or `ALL` (or uses them).
    pub fn has_member(&self, org: &str) -> bool {
        self.member_orgs_policy.names_every_org() || self.member_orgs_policy.orgs().contains(org)
    }
}

/// A chaincode as the channel defines it. Committed by a lifecycle
/// transaction; a higher sequence upgrades it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaincodeDefinition {
    /// The channel it is defined on; approvals for one channel are worthless on another.
    pub channel: String,
    /// The chaincode's name (its state namespace).
    pub name: String,
    /// A version label chosen by its authors.
    pub version: String,
    /// 1 for the first definition, then +1 for each upgrade.
    pub sequence: u64,
    /// sha3-256 of the Wasm module.
    pub module_hash: Digest,
    /// Endorsement policy; the channel's `Endorsement` policy when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endorsement_policy: Option<Policy>,
    /// Private data collections.
    #[serde(default)]
    pub collections: Vec<CollectionConfig>,
}

impl ChaincodeDefinition {
    /// The collection `name`: one of the definition's, or the implicit
    /// collection of one of `channel_orgs` ([`IMPLICIT_COLLECTION_PREFIX`]).
    pub fn collection<S: AsRef<str>>(
        &self,
        name: &str,
        channel_orgs: &[S],
    ) -> Option<std::borrow::Cow<'_, CollectionConfig>> {
        if let Some(c) = self.collections.iter().find(|c| c.name == name) {
            return Some(std::borrow::Cow::Borrowed(c));
        }
        let org = CollectionConfig::implicit_org(name)?;
        channel_orgs
            .iter()
            .any(|o| o.as_ref() == org)
            .then(|| std::borrow::Cow::Owned(CollectionConfig::implicit(org)))
    }

    /// Checks names, counts and that every policy resolves against `channel_orgs`.
    pub fn validate<S: AsRef<str>>(&self, channel_orgs: &[S]) -> Result<(), DefinitionError> {
        check_name("channel", &self.channel)?;
        check_name("chaincode", &self.name)?;
        let invalid = |reason: String| DefinitionError::Invalid {
            chaincode: self.name.clone(),
            reason,
        };
        if self.version.is_empty() || self.version.len() > 64 {
            return Err(invalid("version must be 1 to 64 characters".into()));
        }
        if self.sequence == 0 {
            return Err(invalid("sequence starts at 1".into()));
        }
        let check_policy = |what: &str, p: &Policy| {
            p.resolve(channel_orgs)
                .map(|_| ())
                .map_err(|e| invalid(format!("{what}: {e}")))
        };
        if let Some(p) = &self.endorsement_policy {
            check_policy("endorsement policy", p)?;
        }
        let mut names = BTreeSet::new();
        for c in &self.collections {
            check_name("collection", &c.name)?;
            if !names.insert(c.name.as_str()) {
                return Err(invalid(format!("collection {} is defined twice", c.name)));
            }
            if c.required_peer_count > c.maximum_peer_count {
                return Err(invalid(format!(
                    "collection {}: required_peer_count {} exceeds maximum_peer_count {}",
                    c.name, c.required_peer_count, c.maximum_peer_count
                )));
            }
            check_policy(
                &format!("collection {} member policy", c.name),
                &c.member_orgs_policy,
            )?;
            if let Some(p) = &c.endorsement_policy {
                check_policy(&format!("collection {} endorsement policy", c.name), p)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_org_has_an_implicit_collection() {
        let explicit = CollectionConfig {
            member_orgs_policy: Policy::parse("OR('A.member', 'B.member')").unwrap(),
            ..CollectionConfig::implicit("A")
        };
        let explicit = CollectionConfig {
            name: "shared".into(),
            ..explicit
        };
        let def = ChaincodeDefinition {
            channel: "weft".into(),
            name: "cc".into(),
            version: "1".into(),
            sequence: 1,
            module_hash: Digest::default(),
            endorsement_policy: None,
            collections: vec![explicit.clone()],
        };
        let orgs = ["A", "B"];
        assert_eq!(def.collection("shared", &orgs).as_deref(), Some(&explicit));
        let implicit = def.collection("_implicit_org_B", &orgs).unwrap();
        assert!(implicit.has_member("B") && !implicit.has_member("A"));
        assert!(implicit.member_only_read && !implicit.member_only_write);
        assert!(def.collection("_implicit_org_C", &orgs).is_none());
        assert!(def.collection("other", &orgs).is_none());
        assert!(explicit.has_member("A") && !explicit.has_member("C"));
        let any = CollectionConfig {
            member_orgs_policy: Policy::parse("ANY").unwrap(),
            ..explicit
        };
        assert!(any.has_member("C"));
    }
}
