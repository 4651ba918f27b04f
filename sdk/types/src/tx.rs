//! Proposals, endorsements and transactions: steps 1 to 3 of execute → order → validate.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::certificate::{Certificate, CertificateBody, Identity, TrustStore};
use crate::channel::ChannelConfig;
use crate::crypto::{CryptoError, Digest, Domain, Hasher, Signature, random_bytes, sha3_256};
use crate::rwset::RwSet;
use crate::signed::{Signed, SignedPayload, VerifyError};

/// Length of the random nonce in every transaction header.
pub const NONCE_BYTES: usize = 24;

/// A transaction id: `hex(sha3_256(nonce || creator))`, where `creator` is the
/// creator certificate's body bytes. Binding the id to the creator means nobody
/// else can claim it, and the ledger's duplicate check stops replays.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TxId(pub Digest);

impl TxId {
    /// The id for `nonce` and `creator`. The nonce has a fixed length, so
    /// the concatenation is unambiguous.
    pub fn compute(nonce: &[u8; NONCE_BYTES], creator: &Certificate) -> TxId {
        let mut h = Hasher::new();
        h.update(nonce).update(&creator.body);
        TxId(h.finalize())
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({})", &self.0.to_hex()[..16])
    }
}

impl FromStr for TxId {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        s.parse().map(TxId)
    }
}

/// Fields every transaction starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxHeader {
    /// The channel the transaction is for.
    pub channel: String,
    /// `hex(sha3_256(nonce || creator))`.
    pub tx_id: TxId,
    /// Random bytes chosen by the creator.
    pub nonce: Bytes,
    /// The creator's clock when it made the transaction, unix milliseconds.
    /// Chaincode sees this as the transaction time.
    pub timestamp_ms: u64,
}

impl TxHeader {
    /// A header with a fresh random nonce, for `creator`.
    pub fn new(channel: &str, creator: &Certificate, timestamp_ms: u64) -> Self {
        let nonce = random_bytes::<NONCE_BYTES>();
        TxHeader {
            channel: channel.to_string(),
            tx_id: TxId::compute(&nonce, creator),
            nonce: Bytes(nonce.to_vec()),
            timestamp_ms,
        }
    }

    /// Whether the tx id is the one `creator` and the nonce produce.
    pub fn tx_id_matches(&self, creator: &Certificate) -> bool {
        match <&[u8; NONCE_BYTES]>::try_from(self.nonce.as_slice()) {
            Ok(nonce) => TxId::compute(nonce, creator) == self.tx_id,
            Err(_) => false,
        }
    }
}

/// A request to run a chaincode function, signed by its creator (client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Channel, tx id, nonce and time.
    pub header: TxHeader,
    /// The chaincode to run.
    pub chaincode: String,
    /// The function (transaction) name.
    pub function: String,
    /// The arguments, as strings (chaincode parses typed arguments from JSON).
    pub args: Vec<String>,
    /// sha3-256 of the transient map sent beside the proposal, if any (see
    /// [`transient_digest`]). The map itself is never part of a transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transient_digest: Option<Digest>,
}

impl SignedPayload for Proposal {
    const DOMAIN: Domain = Domain::Proposal;
}

/// A proposal with its creator's signature; the creator is the signer.
pub type SignedProposal = Signed<Proposal>;

/// Digest of a transient map: sorted by key, each key and value length-prefixed.
pub fn transient_digest(transient: &BTreeMap<String, Bytes>) -> Digest {
    let mut h = Hasher::new();
    h.update(b"weft/v1/transient\0");
    for (k, v) in transient {
        h.update_prefixed(k.as_bytes()).update_prefixed(v);
    }
    h.finalize()
}

/// Which chaincode definition produced an endorsement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaincodeId {
    /// The chaincode name.
    pub name: String,
    /// Its version label.
    pub version: String,
    /// The definition's sequence number.
    pub sequence: u64,
}

/// What the chaincode function returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// 200 on success; 400 when the chaincode returned an error; 500 when it
    /// trapped or ran out of fuel.
    pub status: u16,
    /// The error message, empty on success.
    #[serde(default)]
    pub message: String,
    /// The result bytes (JSON for the SDK's contracts).
    #[serde(default)]
    pub payload: Bytes,
}

impl Response {
    /// Whether the chaincode succeeded.
    pub fn is_ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The one event a transaction may set; delivered to listeners only if the
/// transaction is committed as valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaincodeEvent {
    /// Event name.
    pub name: String,
    /// Event payload.
    pub payload: Bytes,
}

/// What an endorser signs: the outcome of simulating a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalResponsePayload {
    /// sha3-256 of the signed proposal's payload bytes: binds the endorsement
    /// to one proposal (creator, tx id, function, arguments).
    pub proposal_digest: Digest,
    /// The chaincode definition that ran.
    pub chaincode: ChaincodeId,
    /// The chaincode's response.
    pub response: Response,
    /// sha3-256 of the read/write set's bytes, which travel beside this payload.
    pub rwset_digest: Digest,
    /// The event set by the chaincode, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<ChaincodeEvent>,
}

/// A signature over a payload by a peer (endorsement) or an admin (lifecycle approval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endorsement {
    /// The signer's certificate.
    pub endorser: Certificate,
    /// Signature over `domain || sha3_256(payload)`.
    pub signature: Signature,
}

impl Endorsement {
    /// Signs `payload` for `domain` (`Endorsement` or `LifecycleApproval`).
    pub fn sign(domain: Domain, payload: &[u8], identity: &Identity) -> Self {
        Endorsement {
            endorser: identity.certificate().clone(),
            signature: identity.sign(domain, &sha3_256(payload)),
        }
    }

    /// Checks the endorser's certificate against `trust` at `now` (unix
    /// seconds), then the signature over `payload_digest`.
    pub fn verify(
        &self,
        trust: &impl TrustStore,
        now: u64,
        domain: Domain,
        payload_digest: &Digest,
    ) -> Result<CertificateBody, VerifyError> {
        let body = trust.verify_certificate(&self.endorser, now)?;
        self.verify_signature(domain, payload_digest)?;
        Ok(body)
    }

    /// Checks only the signature, with the key in the endorser's certificate.
    /// The returned body comes from a certificate nobody has checked yet: use
    /// [`Endorsement::verify`] unless the certificate was verified already
    /// (e.g. through a cache keyed by [`Certificate::digest`]).
    pub fn verify_signature(
        &self,
        domain: Domain,
        payload_digest: &Digest,
    ) -> Result<CertificateBody, VerifyError> {
        let body = self.endorser.decode()?;
        body.public_key
            .verify(domain, payload_digest, &self.signature)
            .map_err(|_| VerifyError::BadSignature {
                signer: format!("{}@{}", body.name, body.org),
                what: "endorsement",
            })?;
        Ok(body)
    }
}

/// An endorser's answer to a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalResponse {
    /// JSON of a [`ProposalResponsePayload`], exactly as signed.
    pub payload: Bytes,
    /// JSON of the [`crate::RwSet`]; its digest is in the payload.
    pub rwset: Bytes,
    /// The endorser's signature; `None` for a query (evaluate), which is
    /// answered but never endorsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endorsement: Option<Endorsement>,
}

impl ProposalResponse {
    /// An endorser's answer: serializes `rwset`, sets `payload.rwset_digest`
    /// to its digest, serializes the payload and — unless `endorser` is `None`
    /// (a query, answered but never endorsed) — signs it. Serialization is
    /// deterministic, so endorsers that simulated the same result produce the
    /// same bytes.
    pub fn build(
        mut payload: ProposalResponsePayload,
        rwset: &RwSet,
        endorser: Option<&Identity>,
    ) -> ProposalResponse {
        let rwset = crate::to_json_bytes(rwset);
        payload.rwset_digest = sha3_256(&rwset);
        let payload = crate::to_json_bytes(&payload);
        let endorsement = endorser.map(|id| Endorsement::sign(Domain::Endorsement, &payload, id));
        ProposalResponse {
            payload: Bytes(payload),
            rwset: Bytes(rwset),
            endorsement,
        }
    }
}

/// Why endorsements could not be assembled into a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    /// There is nothing to assemble.
    #[error("no proposal responses to assemble")]
    NoResponses,
    /// A response carries no endorsement (it answered a query).
    #[error("proposal response {index} is not endorsed")]
    NotEndorsed {
        /// Its position in the list.
        index: usize,
    },
    /// The endorsers simulated different results: the transaction could
    /// never satisfy a policy needing them all.
    #[error(
        "proposal response {index} differs from the first (different result or read/write set)"
    )]
    Mismatch {
        /// Its position in the list.
        index: usize,
    },
}

/// A chaincode invocation ready for ordering: the signed proposal, the
/// response every endorser signed, the read/write set and the endorsements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndorsedTransaction {
    /// The creator's signed proposal.
    pub proposal: SignedProposal,
    /// JSON of the [`ProposalResponsePayload`] all endorsements sign.
    pub response: Bytes,
    /// JSON of the [`crate::RwSet`] whose digest the response carries.
    pub rwset: Bytes,
    /// One endorsement per endorsing peer.
    pub endorsements: Vec<Endorsement>,
}

impl EndorsedTransaction {
    /// Puts a proposal and its endorsers' responses together. Every response
    /// must be endorsed and carry byte-identical payload and rw-set.
    pub fn assemble(
        proposal: SignedProposal,
        responses: Vec<ProposalResponse>,
    ) -> Result<EndorsedTransaction, AssembleError> {
        let first = responses.first().ok_or(AssembleError::NoResponses)?;
        let (response, rwset) = (first.payload.clone(), first.rwset.clone());
        let mut endorsements = Vec::with_capacity(responses.len());
        for (index, r) in responses.into_iter().enumerate() {
            if r.payload != response || r.rwset != rwset {
                return Err(AssembleError::Mismatch { index });
            }
            endorsements.push(r.endorsement.ok_or(AssembleError::NotEndorsed { index })?);
        }
        Ok(EndorsedTransaction {
            proposal,
            response,
            rwset,
            endorsements,
        })
    }
}

/// Commits a chaincode definition (install or upgrade) on the channel. The
/// definition names its channel, so approvals cannot be replayed on another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleTransaction {
    /// JSON of the [`crate::ChaincodeDefinition`], exactly as approved.
    pub definition: Bytes,
    /// The Wasm module; its sha3-256 must equal the definition's `module_hash`.
    pub module: Bytes,
    /// Admin signatures ([`Domain::LifecycleApproval`]) over `definition`; they
    /// must satisfy the channel's `LifecycleEndorsement` policy.
    pub approvals: Vec<Endorsement>,
}

/// Replaces the channel configuration (block 0 holds the first one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigTransaction {
    /// JSON of the whole new [`ChannelConfig`], exactly as approved. Its
    /// `sequence` must be the current one + 1, and its channel this channel.
    pub config: Bytes,
    /// Admin signatures ([`Domain::ConfigApproval`]) over `config`; they must
    /// satisfy the current configuration's `Admins` policy. The genesis
    /// block's configuration is trusted as given and needs none.
    #[serde(default)]
    pub approvals: Vec<Endorsement>,
}

impl ConfigTransaction {
    /// A configuration transaction for `config`, without approvals.
    pub fn new(config: &ChannelConfig) -> Self {
        ConfigTransaction {
            config: Bytes(crate::to_json_bytes(config)),
            approvals: Vec::new(),
        }
    }

    /// Parses the configuration bytes.
    pub fn decode(&self) -> Result<ChannelConfig, VerifyError> {
        serde_json::from_slice(&self.config).map_err(|e| VerifyError::Malformed {
            what: "channel config",
            reason: e.to_string(),
        })
    }
}

/// What a transaction does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TxBody {
    /// Run chaincode: an endorsed transaction.
    Invoke(EndorsedTransaction),
    /// Define or upgrade a chaincode.
    Lifecycle(LifecycleTransaction),
    /// Set the channel configuration.
    Config(ConfigTransaction),
}

/// A transaction: a header and what it does. Signed by its creator, it is an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Channel, tx id, nonce and time. For an invocation it must equal the
    /// proposal's header.
    pub header: TxHeader,
    /// The transaction itself.
    pub body: TxBody,
}

impl SignedPayload for Transaction {
    const DOMAIN: Domain = Domain::Transaction;
}

/// A transaction as submitted for ordering and stored in blocks, signed by its creator.
pub type Envelope = Signed<Transaction>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::{OrgAuthority, Role};
    use crate::crypto::SigningKey;

    fn client() -> (OrgAuthority, Identity) {
        let ca = OrgAuthority::new("Bank", SigningKey::generate()).unwrap();
        let id = ca.enroll("client", Role::Client, 0, u64::MAX).unwrap();
        (ca, id)
    }

    #[test]
    fn tx_id_binds_nonce_and_creator() {
        let (ca, id) = client();
        let header = TxHeader::new("weft", id.certificate(), 1);
        assert!(header.tx_id_matches(id.certificate()));
        let other = ca.enroll("other", Role::Client, 0, u64::MAX).unwrap();
        assert!(!header.tx_id_matches(other.certificate()));
        let mut reused = header.clone();
        reused.nonce.0[0] ^= 1;
        assert!(!reused.tx_id_matches(id.certificate()));
        let text = header.tx_id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<TxId>().unwrap(), header.tx_id);
    }

    #[test]
    fn transient_digest_depends_on_every_entry() {
        let mut m = BTreeMap::new();
        m.insert("price".to_string(), Bytes::from("10"));
        let d1 = transient_digest(&m);
        m.insert("qty".to_string(), Bytes::from("3"));
        assert_ne!(d1, transient_digest(&m));
        assert_ne!(transient_digest(&BTreeMap::new()), d1);
    }

    #[test]
    fn endorsement_verifies_only_its_payload_and_domain() {
        let (_, id) = client();
        let e = Endorsement::sign(Domain::Endorsement, b"resp", &id);
        e.verify_signature(Domain::Endorsement, &sha3_256(b"resp"))
            .unwrap();
        assert!(
            e.verify_signature(Domain::Endorsement, &sha3_256(b"resP"))
                .is_err()
        );
        assert!(
            e.verify_signature(Domain::LifecycleApproval, &sha3_256(b"resp"))
                .is_err()
        );
    }

    fn response(proposal: &SignedProposal, status: u16) -> ProposalResponsePayload {
        ProposalResponsePayload {
            proposal_digest: proposal.payload_digest(),
            chaincode: ChaincodeId {
                name: "cc".into(),
                version: "1".into(),
                sequence: 1,
            },
            response: Response {
                status,
                message: String::new(),
                payload: Bytes::default(),
            },
            rwset_digest: Digest::ZERO,
            event: None,
        }
    }

    #[test]
    fn endorsements_assemble_only_when_they_agree() {
        let (ca, client) = client();
        let p1 = ca.enroll("peer0", Role::Peer, 0, u64::MAX).unwrap();
        let p2 = ca.enroll("peer1", Role::Peer, 0, u64::MAX).unwrap();
        let proposal = SignedProposal::sign(
            &Proposal {
                header: TxHeader::new("weft", client.certificate(), 1),
                chaincode: "cc".into(),
                function: "f".into(),
                args: vec![],
                transient_digest: None,
            },
            &client,
        );
        let rw = RwSet::default();
        let ok = |id| ProposalResponse::build(response(&proposal, 200), &rw, Some(id));
        let (a, b) = (ok(&p1), ok(&p2));
        let payload: ProposalResponsePayload = serde_json::from_slice(&a.payload).unwrap();
        assert_eq!(
            payload.rwset_digest,
            sha3_256(&a.rwset),
            "the digest is derived"
        );
        let tx = EndorsedTransaction::assemble(proposal.clone(), vec![a.clone(), b]).unwrap();
        assert_eq!(tx.endorsements.len(), 2);
        for e in &tx.endorsements {
            e.verify_signature(Domain::Endorsement, &sha3_256(&tx.response))
                .unwrap();
        }

        let other = ProposalResponse::build(response(&proposal, 201), &rw, Some(&p2));
        assert_eq!(
            EndorsedTransaction::assemble(proposal.clone(), vec![a.clone(), other]),
            Err(AssembleError::Mismatch { index: 1 })
        );
        let query = ProposalResponse::build(response(&proposal, 200), &rw, None);
        assert_eq!(
            EndorsedTransaction::assemble(proposal.clone(), vec![a, query]),
            Err(AssembleError::NotEndorsed { index: 1 })
        );
        assert_eq!(
            EndorsedTransaction::assemble(proposal, vec![]),
            Err(AssembleError::NoResponses)
        );
    }

    #[test]
    fn envelope_json_is_tagged() {
        let (_, id) = client();
        let payload = Transaction {
            header: TxHeader::new("weft", id.certificate(), 5),
            body: TxBody::Lifecycle(LifecycleTransaction {
                definition: Bytes::from("{}"),
                module: Bytes::default(),
                approvals: vec![],
            }),
        };
        let env = Envelope::sign(&payload, &id);
        let text = String::from_utf8(env.payload.0.clone()).unwrap();
        assert!(text.contains("\"type\":\"lifecycle\""), "{text}");
        let json = serde_json::to_string(&env).unwrap();
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.decode().unwrap(), payload);
    }
}
