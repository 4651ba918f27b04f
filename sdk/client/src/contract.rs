//! [`Contract`]: one chaincode on the channel, evaluated and submitted in one call.

use std::time::Duration;

use crate::api::{Committed, Submitted, TransientMap};
use crate::error::{ClientError, Result};
use crate::gateway::Gateway;
use crate::proposal::{ProposalBuilder, UnsignedProposal};

/// A chaincode on the gateway's channel. Calls sign with the gateway's
/// signer; [`Contract::new_proposal`] starts the same flow for a key held
/// elsewhere.
#[derive(Debug, Clone)]
pub struct Contract {
    gateway: Gateway,
    name: String,
}

impl Contract {
    pub(crate) fn new(gateway: Gateway, name: &str) -> Contract {
        Contract {
            gateway,
            name: name.to_string(),
        }
    }

    /// The chaincode's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The connection it uses.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// This contract with another per-request timeout.
    pub fn with_timeout(&self, timeout: Duration) -> Contract {
        Contract {
            gateway: self.gateway.with_timeout(timeout),
            name: self.name.clone(),
        }
    }

    /// A proposal for `function`, created by the gateway's signer, to
    /// complete with arguments, a transient map or another creator.
    pub fn proposal(&self, function: &str) -> ProposalBuilder {
        ProposalBuilder::new(self.gateway.channel(), &self.name, function)
            .creator(self.gateway.certificate().clone())
    }

    /// A proposal for `function(args)` with a fresh nonce, to be signed
    /// elsewhere: see [`UnsignedProposal::bytes_to_sign`] and
    /// [`UnsignedProposal::with_signature`].
    pub fn new_proposal(&self, function: &str, args: &[&str]) -> Result<UnsignedProposal> {
        self.proposal(function).args(args.iter().copied()).build()
    }

    /// Runs `function(args)` on the gateway's peer without changing the
    /// ledger and returns what it returned.
    pub async fn evaluate(&self, function: &str, args: &[&str]) -> Result<Vec<u8>> {
        let proposal = self.new_proposal(function, args)?;
        self.evaluate_unsigned(proposal).await
    }

    /// [`Contract::evaluate`] with private inputs.
    pub async fn evaluate_with_transient(
        &self,
        function: &str,
        args: &[&str],
        transient: TransientMap,
    ) -> Result<Vec<u8>> {
        let proposal = self
            .proposal(function)
            .args(args.iter().copied())
            .transient(transient)
            .build()?;
        self.evaluate_unsigned(proposal).await
    }

    /// Endorses `function(args)`, signs the endorsed transaction, submits
    /// it and waits until the gateway's peer committed it valid.
    ///
    /// Before signing, the endorsed transaction is checked to be exactly an
    /// invocation of the proposal sent (see [`crate::Endorsed`]).
    pub async fn submit(&self, function: &str, args: &[&str]) -> Result<Committed> {
        let proposal = self.new_proposal(function, args)?;
        self.submit_unsigned(proposal).await
    }

    /// [`Contract::submit`] with private inputs.
    pub async fn submit_with_transient(
        &self,
        function: &str,
        args: &[&str],
        transient: TransientMap,
    ) -> Result<Committed> {
        let proposal = self
            .proposal(function)
            .args(args.iter().copied())
            .transient(transient)
            .build()?;
        self.submit_unsigned(proposal).await
    }

    async fn evaluate_unsigned(&self, proposal: UnsignedProposal) -> Result<Vec<u8>> {
        // Nothing is signed for a gateway that holds new work off.
        self.gateway.check_hold()?;
        let prepared = proposal.sign(self.gateway.signer().as_ref())?;
        self.gateway.evaluate_signed(&prepared).await
    }

    async fn submit_unsigned(&self, proposal: UnsignedProposal) -> Result<Committed> {
        self.gateway.check_hold()?;
        let signer = self.gateway.signer().as_ref();
        let prepared = proposal.sign(signer)?;
        let endorsed = self.gateway.endorse_signed(&prepared).await?;
        let envelope = endorsed.sign(signer)?;
        let submitted = self
            .gateway
            .submit_envelope(&envelope, endorsed.tx_id(), true)
            .await?;
        match submitted {
            Submitted::Committed(status) => Ok(Committed {
                tx_id: status.tx_id,
                block: status.block,
                index: status.index,
                code: status.code,
                result: endorsed.result().to_vec(),
            }),
            Submitted::Ordered { tx_id } => Err(ClientError::protocol(format!(
                "{tx_id} was submitted to wait for its commit, the gateway did not wait"
            ))),
        }
    }
}
