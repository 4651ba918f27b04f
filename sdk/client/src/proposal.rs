//! Proposals and endorsed transactions, built and checked here and signed
//! by whoever holds the key: [`ProposalBuilder`] → [`UnsignedProposal`] →
//! [`PreparedProposal`] → (gateway endorses) → [`Endorsed`] → `Envelope`.
//!
//! Each unsigned step exposes `bytes_to_sign()` (the exact message an
//! ed25519 key signs) and `digest()` (sha3-256 of the payload, which
//! [`crate::Signer`]s take), so the key may live elsewhere.

use weft_types::{
    Certificate, Digest, Domain, Endorsement, Envelope, Proposal, ProposalResponsePayload,
    Response, Signature, SignedProposal, Transaction, TxBody, TxHeader, TxId,
    batch_verify::SignatureCheck, sha3_256, transient_digest,
};

use crate::api::{EndorseResponse, TransientMap};
use crate::error::{ClientError, Result};
use crate::http::now_ms;
use crate::signer::Signer;

/// Collects what a proposal needs; [`ProposalBuilder::build`] fixes its bytes.
#[derive(Debug, Clone)]
pub struct ProposalBuilder {
    channel: String,
    chaincode: String,
    function: String,
    args: Vec<String>,
    transient: Option<TransientMap>,
    creator: Option<Certificate>,
    timestamp_ms: Option<u64>,
}

impl ProposalBuilder {
    /// A proposal to run `function` of `chaincode` on `channel`.
    pub fn new(channel: &str, chaincode: &str, function: &str) -> ProposalBuilder {
        ProposalBuilder {
            channel: channel.to_string(),
            chaincode: chaincode.to_string(),
            function: function.to_string(),
            args: Vec::new(),
            transient: None,
            creator: None,
            timestamp_ms: None,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> ProposalBuilder {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> ProposalBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Private inputs sent beside the proposal; the proposal carries their digest.
    pub fn transient(mut self, transient: TransientMap) -> ProposalBuilder {
        self.transient = Some(transient);
        self
    }

    /// The creator (signer) of the proposal: the transaction id is bound to
    /// its certificate.
    pub fn creator(mut self, certificate: Certificate) -> ProposalBuilder {
        self.creator = Some(certificate);
        self
    }

    /// The transaction time, unix milliseconds (default: now).
    pub fn timestamp_ms(mut self, timestamp_ms: u64) -> ProposalBuilder {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    /// Draws a fresh nonce and serializes the proposal.
    pub fn build(self) -> Result<UnsignedProposal> {
        let creator = self.creator.ok_or_else(|| {
            ClientError::invalid(
                "a proposal needs its creator's certificate (ProposalBuilder::creator)",
            )
        })?;
        weft_types::check_name("chaincode", &self.chaincode)
            .map_err(|e| ClientError::invalid(e.to_string()))?;
        let header = TxHeader::new(
            &self.channel,
            &creator,
            self.timestamp_ms.unwrap_or_else(now_ms),
        );
        let proposal = Proposal {
            header,
            chaincode: self.chaincode,
            function: self.function,
            args: self.args,
            transient_digest: self.transient.as_ref().map(transient_digest),
        };
        let payload = weft_types::to_json_bytes(&proposal);
        Ok(UnsignedProposal {
            proposal,
            payload,
            creator,
            transient: self.transient,
        })
    }
}

/// A proposal whose bytes are fixed, waiting for its creator's signature.
#[derive(Debug, Clone)]
pub struct UnsignedProposal {
    proposal: Proposal,
    payload: Vec<u8>,
    creator: Certificate,
    transient: Option<TransientMap>,
}

impl UnsignedProposal {
    /// The proposal.
    pub fn proposal(&self) -> &Proposal {
        &self.proposal
    }

    /// Its transaction id.
    pub fn tx_id(&self) -> TxId {
        self.proposal.header.tx_id
    }

    /// The exact JSON bytes that are signed and sent.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// sha3-256 of [`UnsignedProposal::payload`]: what a [`Signer`] signs
    /// for [`Domain::Proposal`].
    pub fn digest(&self) -> Digest {
        sha3_256(&self.payload)
    }

    /// The exact message an ed25519 key must sign: `Domain::Proposal`'s tag
    /// followed by [`UnsignedProposal::digest`].
    pub fn bytes_to_sign(&self) -> Vec<u8> {
        SignedProposal::message_to_sign(&self.payload)
    }

    /// Attaches a signature made elsewhere. `certificate` must be the
    /// creator's the proposal was built for, and the signature must verify.
    pub fn with_signature(
        self,
        signature: Signature,
        certificate: Certificate,
    ) -> Result<PreparedProposal> {
        if certificate != self.creator {
            return Err(ClientError::invalid(
                "the certificate is not the one the proposal was built for (its tx id is bound to the creator)",
            ));
        }
        let signed = SignedProposal::from_parts(self.payload, signature, certificate);
        signed
            .verify_signature()
            .map_err(|e| ClientError::invalid(format!("proposal signature: {e}")))?;
        Ok(PreparedProposal {
            proposal: self.proposal,
            signed,
            transient: self.transient,
        })
    }

    /// Signs with `signer`, which must hold the creator's key. The
    /// signature is not checked here (a wrong key is refused by the
    /// gateway as `bad_signature`): checking it cost the load generator a
    /// verification per call, more than the signing itself.
    pub fn sign(self, signer: &dyn Signer) -> Result<PreparedProposal> {
        if signer.certificate() != &self.creator {
            return Err(ClientError::invalid(
                "the signer's certificate is not the one the proposal was built for (its tx id is bound to the creator)",
            ));
        }
        let signature = signer.sign(Domain::Proposal, &self.digest())?;
        let signed = SignedProposal::from_parts(self.payload, signature, self.creator);
        Ok(PreparedProposal {
            proposal: self.proposal,
            signed,
            transient: self.transient,
        })
    }
}

/// A signed proposal, ready to evaluate or endorse.
#[derive(Debug, Clone)]
pub struct PreparedProposal {
    proposal: Proposal,
    signed: SignedProposal,
    transient: Option<TransientMap>,
}

impl PreparedProposal {
    /// The proposal.
    pub fn proposal(&self) -> &Proposal {
        &self.proposal
    }

    /// The signed proposal as sent.
    pub fn signed(&self) -> &SignedProposal {
        &self.signed
    }

    /// Its transaction id.
    pub fn tx_id(&self) -> TxId {
        self.proposal.header.tx_id
    }

    /// The transient map sent beside it.
    pub fn transient(&self) -> Option<&TransientMap> {
        self.transient.as_ref()
    }
}

/// A transaction the gateway had endorsed, checked against the proposal it
/// answers, waiting for the creator's signature.
#[derive(Debug, Clone)]
pub struct Endorsed {
    transaction: Transaction,
    payload: Vec<u8>,
    digest: Digest,
    endorsed_by: Vec<String>,
    response: Response,
    creator: Certificate,
}

impl Endorsed {
    /// Checks the gateway's answer before anything is signed: the bytes
    /// must hash to the digest it claims, decode to an invocation of
    /// exactly our signed proposal under our header, and carry endorsements
    /// whose signatures verify over a response to our proposal. The
    /// endorsers' certificates are checked by the validating peers, which
    /// know the channel's orgs; this client does not.
    #[cfg(test)]
    pub(crate) fn verify(answer: EndorseResponse, prepared: &PreparedProposal) -> Result<Endorsed> {
        let mut checked = Endorsed::precheck(answer, prepared)?;
        let verdict = weft_types::batch_verify::verify(std::mem::take(&mut checked.signatures));
        checked.finish(verdict)
    }

    /// [`Endorsed::verify`] up to the endorsement signatures, which it
    /// returns unverified so that the caller can batch them with others.
    pub(crate) fn precheck(
        answer: EndorseResponse,
        prepared: &PreparedProposal,
    ) -> Result<Prechecked> {
        let tx_id = prepared.tx_id();
        let refuse = |why: String| refusal(tx_id, why);
        let payload = answer.transaction.into_vec();
        if sha3_256(&payload) != answer.digest {
            return Err(refuse("its digest is not the sha3-256 of its bytes".into()));
        }
        let transaction: Transaction = serde_json::from_slice(&payload)
            .map_err(|e| refuse(format!("the bytes are not a transaction: {e}")))?;
        if transaction.header != prepared.proposal.header {
            return Err(refuse(format!(
                "its header (tx {}) is not our proposal's",
                transaction.header.tx_id
            )));
        }
        if answer.tx_id != prepared.tx_id() {
            return Err(refuse(format!("the answer names tx {}", answer.tx_id)));
        }
        let TxBody::Invoke(invoke) = &transaction.body else {
            return Err(refuse("it is not a chaincode invocation".into()));
        };
        if invoke.proposal != prepared.signed {
            return Err(refuse("it carries another signed proposal".into()));
        }
        let response: ProposalResponsePayload = serde_json::from_slice(&invoke.response)
            .map_err(|e| refuse(format!("its endorsed response does not parse: {e}")))?;
        if response.proposal_digest != prepared.signed.payload_digest() {
            return Err(refuse(
                "its endorsed response answers another proposal".into(),
            ));
        }
        if response.chaincode.name != prepared.proposal.chaincode {
            return Err(refuse(format!(
                "it was endorsed by chaincode {:?}",
                response.chaincode.name
            )));
        }
        if response.rwset_digest != sha3_256(&invoke.rwset) {
            return Err(refuse(
                "its read/write set does not match the endorsed digest".into(),
            ));
        }
        let signatures =
            endorsement_checks(&invoke.endorsements, &invoke.response).map_err(refuse)?;
        if response.response != answer.response {
            return Err(refuse("the response shown is not the one endorsed".into()));
        }
        Ok(Prechecked {
            signatures,
            tx_id,
            endorsed: response.response,
            endorsed_by: answer.endorsed_by,
            digest: answer.digest,
            creator: prepared.signed.signer.clone(),
            transaction,
            payload,
        })
    }

    /// The transaction id.
    pub fn tx_id(&self) -> TxId {
        self.transaction.header.tx_id
    }

    /// The transaction to be signed.
    pub fn transaction(&self) -> &Transaction {
        &self.transaction
    }

    /// The exact JSON bytes of the transaction (the envelope's payload).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// sha3-256 of the payload: what a [`Signer`] signs for [`Domain::Transaction`].
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The exact message an ed25519 key must sign: `Domain::Transaction`'s
    /// tag followed by [`Endorsed::digest`].
    pub fn bytes_to_sign(&self) -> Vec<u8> {
        Envelope::message_to_sign(&self.payload)
    }

    /// The orgs whose peers endorsed, as the gateway reports them.
    pub fn endorsed_by(&self) -> &[String] {
        &self.endorsed_by
    }

    /// The chaincode's response, as endorsed.
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// What the chaincode function returned.
    pub fn result(&self) -> &[u8] {
        &self.response.payload
    }

    /// Builds the envelope with a signature made elsewhere by the creator's
    /// key; refuses a signature that does not verify.
    pub fn attach(&self, signature: Signature) -> Result<Envelope> {
        let envelope = Envelope::from_parts(self.payload.clone(), signature, self.creator.clone());
        envelope
            .verify_signature()
            .map_err(|e| ClientError::invalid(format!("transaction signature: {e}")))?;
        Ok(envelope)
    }

    /// Signs with `signer`, which must hold the creator's key (not
    /// re-checked, as for [`UnsignedProposal::sign`]).
    pub fn sign(&self, signer: &dyn Signer) -> Result<Envelope> {
        if signer.certificate() != &self.creator {
            return Err(ClientError::invalid(
                "the signer's certificate is not the transaction creator's",
            ));
        }
        let signature = signer.sign(Domain::Transaction, &self.digest)?;
        Ok(Envelope::from_parts(
            self.payload.clone(),
            signature,
            self.creator.clone(),
        ))
    }
}

/// An endorsed transaction checked but for its endorsement signatures.
pub(crate) struct Prechecked {
    /// The endorsement signatures, to verify (in a batch).
    pub(crate) signatures: Vec<SignatureCheck<(usize, String)>>,
    tx_id: TxId,
    /// The chaincode's response, as endorsed (and as the gateway showed it).
    endorsed: Response,
    endorsed_by: Vec<String>,
    digest: Digest,
    creator: Certificate,
    transaction: Transaction,
    payload: Vec<u8>,
}

impl Prechecked {
    /// The rest of [`Endorsed::verify`], given the signatures' verdict (the
    /// index and name of the first that failed).
    pub(crate) fn finish(
        self,
        verdict: std::result::Result<(), (usize, String)>,
    ) -> Result<Endorsed> {
        let tx_id = self.tx_id;
        let refuse = |why: String| refusal(tx_id, why);
        verdict.map_err(|(i, who)| {
            refuse(format!(
                "endorsement {i}: the signature of {who} does not verify"
            ))
        })?;
        if !self.endorsed.is_ok() {
            return Err(ClientError::ChaincodeError {
                org: None,
                message: self.endorsed.message,
            });
        }
        Ok(Endorsed {
            creator: self.creator,
            transaction: self.transaction,
            payload: self.payload,
            digest: self.digest,
            endorsed_by: self.endorsed_by,
            response: self.endorsed,
        })
    }
}

fn refusal(tx_id: TxId, why: String) -> ClientError {
    ClientError::protocol(format!(
        "refusing to sign the endorsed transaction for {tx_id}: {why}"
    ))
}

/// The endorsements' signature checks over `response`; refuses none or an
/// endorser certificate that does not parse.
fn endorsement_checks(
    endorsements: &[Endorsement],
    response: &[u8],
) -> std::result::Result<Vec<SignatureCheck<(usize, String)>>, String> {
    if endorsements.is_empty() {
        return Err("it has no endorsements".into());
    }
    let digest = sha3_256(response);
    let mut checks = Vec::with_capacity(endorsements.len());
    for (i, e) in endorsements.iter().enumerate() {
        let body = e
            .endorser
            .decode()
            .map_err(|err| format!("endorsement {i}: {err}"))?;
        checks.push(SignatureCheck::new(
            (i, format!("{}@{}", body.name, body.org)),
            &body.public_key,
            Domain::Endorsement,
            &digest,
            &e.signature,
        ));
    }
    Ok(checks)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use weft_types::{
        Bytes, ChaincodeId, EndorsedTransaction, Identity, OrgAuthority, ProposalResponse, Role,
        RwSet, SigningKey,
    };

    pub(crate) fn identities() -> (Identity, Identity) {
        let org = OrgAuthority::new("Org1", SigningKey::generate()).unwrap();
        (
            org.enroll("client", Role::Client, 0, u64::MAX).unwrap(),
            org.enroll("peer0", Role::Peer, 0, u64::MAX).unwrap(),
        )
    }

    pub(crate) fn builder(client: &Identity) -> ProposalBuilder {
        ProposalBuilder::new("weft", "asset-transfer", "create")
            .args(["asset1", "blue"])
            .arg("10")
            .creator(client.certificate().clone())
            .timestamp_ms(1_700_000_000_000)
    }

    /// What an honest gateway answers to `prepared`.
    pub(crate) fn endorse(prepared: &PreparedProposal, peer: &Identity) -> EndorseResponse {
        let response = Response {
            status: 200,
            message: String::new(),
            payload: Bytes::from("ok"),
        };
        let payload = ProposalResponsePayload {
            proposal_digest: prepared.signed().payload_digest(),
            chaincode: ChaincodeId {
                name: prepared.proposal().chaincode.clone(),
                version: "1".into(),
                sequence: 1,
            },
            response: response.clone(),
            rwset_digest: Digest::ZERO,
            event: None,
        };
        let pr = ProposalResponse::build(payload, &RwSet::default(), Some(peer));
        let invoke = EndorsedTransaction::assemble(prepared.signed().clone(), vec![pr]).unwrap();
        let tx = Transaction {
            header: prepared.proposal().header.clone(),
            body: TxBody::Invoke(invoke),
        };
        let bytes = weft_types::to_json_bytes(&tx);
        EndorseResponse {
            tx_id: tx.header.tx_id,
            digest: sha3_256(&bytes),
            transaction: Bytes(bytes),
            endorsed_by: vec!["Org1".into()],
            response,
        }
    }

    #[test]
    fn proposal_is_bound_to_its_creator_and_transient() {
        let (client, _) = identities();
        let mut transient = TransientMap::new();
        transient.insert("price".into(), Bytes::from("42"));
        let unsigned = builder(&client)
            .transient(transient.clone())
            .build()
            .unwrap();
        let p = unsigned.proposal();
        assert_eq!(p.args, ["asset1", "blue", "10"]);
        assert_eq!(p.header.channel, "weft");
        assert_eq!(p.header.timestamp_ms, 1_700_000_000_000);
        assert!(p.header.tx_id_matches(client.certificate()));
        assert_eq!(p.transient_digest, Some(transient_digest(&transient)));
        assert_eq!(
            serde_json::from_slice::<Proposal>(unsigned.payload()).unwrap(),
            *p
        );
        // Fresh nonce every time.
        assert_ne!(builder(&client).build().unwrap().tx_id(), unsigned.tx_id());
        assert!(
            ProposalBuilder::new("weft", "cc", "f").build().is_err(),
            "no creator"
        );
    }

    #[test]
    fn offline_proposal_signature_round_trip() {
        let (client, _) = identities();
        let unsigned = builder(&client).build().unwrap();
        assert_eq!(
            unsigned.bytes_to_sign(),
            Domain::Proposal.message(&unsigned.digest())
        );
        // The "offline" signer signs the message bytes with the raw key.
        let signature = client.sign(Domain::Proposal, &unsigned.digest());
        let prepared = unsigned
            .clone()
            .with_signature(signature, client.certificate().clone())
            .unwrap();
        let body = prepared.signed().verify_signature().unwrap();
        assert_eq!(body.name, "client");
        assert_eq!(prepared.signed().decode().unwrap(), *unsigned.proposal());
        // Same bytes as signing in process.
        let in_process = unsigned.clone().sign(&client).unwrap();
        assert_eq!(in_process.signed().payload, prepared.signed().payload);

        let wrong = client.sign(Domain::Transaction, &unsigned.digest());
        assert!(
            unsigned
                .clone()
                .with_signature(wrong, client.certificate().clone())
                .is_err()
        );
        let (other, _) = identities();
        let theirs = other.sign(Domain::Proposal, &unsigned.digest());
        assert!(
            unsigned
                .with_signature(theirs, other.certificate().clone())
                .is_err()
        );
    }

    #[test]
    fn offline_transaction_signature_round_trip() {
        let (client, peer) = identities();
        let prepared = builder(&client).build().unwrap().sign(&client).unwrap();
        let endorsed = Endorsed::verify(endorse(&prepared, &peer), &prepared).unwrap();
        assert_eq!(endorsed.tx_id(), prepared.tx_id());
        assert_eq!(endorsed.result(), b"ok");
        assert_eq!(endorsed.digest(), sha3_256(endorsed.payload()));
        assert_eq!(
            endorsed.bytes_to_sign(),
            Domain::Transaction.message(&endorsed.digest())
        );
        let signature = client.sign(Domain::Transaction, &endorsed.digest());
        let envelope = endorsed.attach(signature).unwrap();
        envelope.verify_signature().unwrap();
        assert_eq!(envelope.decode().unwrap(), *endorsed.transaction());
        assert_eq!(endorsed.sign(&client).unwrap(), envelope);
        let bad = client.sign(Domain::Proposal, &endorsed.digest());
        assert!(endorsed.attach(bad).is_err());
    }

    /// One check per way a gateway's endorse answer can lie.
    fn refused(tamper: impl FnOnce(&mut EndorseResponse, &PreparedProposal), expected: &str) {
        let (client, peer) = identities();
        let prepared = builder(&client).build().unwrap().sign(&client).unwrap();
        let mut answer = endorse(&prepared, &peer);
        tamper(&mut answer, &prepared);
        let err = Endorsed::verify(answer, &prepared).unwrap_err();
        assert!(
            matches!(err, ClientError::Protocol { .. }) && err.to_string().contains(expected),
            "{err}"
        );
    }

    pub(crate) fn retx(answer: &mut EndorseResponse, edit: impl FnOnce(&mut Transaction)) {
        let mut tx: Transaction = serde_json::from_slice(&answer.transaction).unwrap();
        edit(&mut tx);
        answer.transaction = Bytes(weft_types::to_json_bytes(&tx));
        answer.digest = sha3_256(&answer.transaction);
    }

    /// Replaces the first endorsement's signature by another key's over
    /// the same response.
    pub(crate) fn forge_endorsement(answer: &mut EndorseResponse, _: &PreparedProposal) {
        let (other, _) = identities();
        retx(answer, |tx| {
            if let TxBody::Invoke(i) = &mut tx.body {
                i.endorsements[0].signature =
                    other.sign(Domain::Endorsement, &sha3_256(&i.response));
            }
        });
    }

    #[test]
    fn lying_endorse_answers_are_refused() {
        refused(|a, _| a.digest = Digest::ZERO, "digest");
        refused(
            |a, _| {
                a.transaction = Bytes::from("{}");
                a.digest = sha3_256(b"{}");
            },
            "not a transaction",
        );
        refused(|a, _| retx(a, |tx| tx.header.timestamp_ms += 1), "header");
        refused(|a, _| a.tx_id = TxId(sha3_256(b"other")), "answer names tx");
        refused(
            |a, _| {
                retx(a, |tx| {
                    if let TxBody::Invoke(i) = &mut tx.body {
                        i.endorsements.clear();
                    }
                })
            },
            "no endorsements",
        );
        refused(
            |a, _| {
                retx(a, |tx| {
                    if let TxBody::Invoke(i) = &mut tx.body {
                        i.rwset = Bytes::from("{\"ns\":[]}");
                    }
                })
            },
            "read/write set",
        );
        refused(
            |a, _| a.response.payload = Bytes::from("something else"),
            "not the one endorsed",
        );
        refused(
            forge_endorsement,
            "endorsement 0: the signature of peer0@Org1 does not verify",
        );
        refused(
            |a, p| {
                let (client, _) = identities();
                let other = builder(&client).build().unwrap().sign(&client).unwrap();
                retx(a, |tx| {
                    if let TxBody::Invoke(i) = &mut tx.body {
                        i.proposal = other.signed().clone();
                    }
                });
                let _ = p;
            },
            "another signed proposal",
        );
    }
}
