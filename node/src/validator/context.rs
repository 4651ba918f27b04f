//! What stage 1 shares across the transactions of one block: the channel,
//! the block time, and caches of verified certificates, definitions and
//! resolved policies. Every entry depends only on the block (its time and the
//! committed state before it), so caching never changes a verdict.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use weft_policy::ResolvedPolicy;
use weft_types::{
    Certificate, CertificateBody, ChaincodeDefinition, ChannelConfig, Policy, TrustStore,
};

use super::committed::CommittedState;
use super::memory::ValidationMemory;
use super::modules::ModuleCheck;

/// A committed chaincode definition with its endorsement policy resolved.
pub(crate) struct Definition {
    pub(crate) def: ChaincodeDefinition,
    /// The definition's policy, or the channel's `Endorsement` default; an
    /// error when it does not resolve against the channel's orgs.
    pub(crate) policy: Result<Arc<ResolvedPolicy>, String>,
}

/// Per-block state of stage 1.
pub(crate) struct BlockContext<'a, S: ?Sized> {
    pub(crate) config: &'a ChannelConfig,
    pub(crate) state: &'a S,
    /// Block number.
    pub(crate) number: u64,
    /// The block time, unix seconds: certificates are checked against it.
    pub(crate) now: u64,
    pub(crate) orgs: Vec<&'a str>,
    /// Checks the modules of lifecycle transactions.
    pub(crate) modules: &'a dyn ModuleCheck,
    /// What this peer established before: the endorsements it signed or
    /// verified and the certificates it verified are not verified again.
    pub(crate) memory: Option<&'a ValidationMemory>,
    default_endorsement: Result<Arc<ResolvedPolicy>, String>,
    certs: RwLock<HashMap<Certificate, Result<CertificateBody, String>>>,
    definitions: Mutex<HashMap<String, Option<Arc<Definition>>>>,
}

impl<'a, S: CommittedState + ?Sized> BlockContext<'a, S> {
    pub(crate) fn new(
        config: &'a ChannelConfig,
        state: &'a S,
        modules: &'a dyn ModuleCheck,
        memory: Option<&'a ValidationMemory>,
        number: u64,
        now: u64,
    ) -> Self {
        let orgs = config.org_names();
        let default_endorsement = resolve(&config.policies.endorsement, &orgs);
        BlockContext {
            config,
            state,
            number,
            now,
            orgs,
            modules,
            memory,
            default_endorsement,
            certs: RwLock::new(HashMap::new()),
            definitions: Mutex::new(HashMap::new()),
        }
    }

    /// Verifies `cert` against the channel's orgs at the block time, once per
    /// block per certificate. The error is the certificate error in words.
    pub(crate) fn certificate(&self, cert: &Certificate) -> Result<CertificateBody, String> {
        // Looked up by the certificate itself: hashing its few hundred
        // bytes for the map costs a tenth of its sha3 digest, which only a
        // certificate new to the block pays.
        if let Some(known) = self
            .certs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(cert)
        {
            return known.clone();
        }
        let digest = cert.digest();
        let result = match self.memory {
            Some(memory) => memory
                .certificates()
                .verify_digested(self.config, cert, &digest, self.now)
                .map(|body| (*body).clone()),
            None => self.config.verify_certificate(cert, self.now),
        }
        .map_err(|e| e.to_string());
        self.certs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(cert.clone(), result.clone());
        result
    }

    /// The committed definition of `chaincode`, cached for the block.
    pub(crate) fn definition(&self, chaincode: &str) -> Result<Option<Arc<Definition>>, S::Error> {
        if let Some(known) = self
            .definitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(chaincode)
        {
            return Ok(known.clone());
        }
        let found = self.state.definition(chaincode)?.map(|def| {
            let policy = match &def.endorsement_policy {
                Some(p) => resolve(p, &self.orgs),
                None => self.default_endorsement.clone(),
            };
            Arc::new(Definition { def, policy })
        });
        self.definitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(chaincode.to_string(), found.clone());
        Ok(found)
    }

    /// Resolves a policy against the channel's orgs.
    pub(crate) fn resolve(&self, policy: &Policy) -> Result<Arc<ResolvedPolicy>, String> {
        resolve(policy, &self.orgs)
    }
}

fn resolve(policy: &Policy, orgs: &[&str]) -> Result<Arc<ResolvedPolicy>, String> {
    policy
        .resolve(orgs)
        .map(Arc::new)
        .map_err(|e| format!("policy {policy} does not resolve on this channel: {e}"))
}
