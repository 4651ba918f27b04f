//! [`Endorser`]: authenticate, simulate against one snapshot, sign.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use weft_abi::TxKind;
use weft_types::CollectionData;
use weft_types::{
    Bytes, ChaincodeId, Digest, Identity, ProposalResponse, ProposalResponsePayload, PublicKey,
    Response, Role, Signature, SignedProposal, sha3_256,
};

use crate::channel::ConfigHandle;
use crate::ledger::{Ledger, PrivateReader, Snapshot};
use crate::runtime::Runtime;
use crate::validator::{ValidationMemory, VerifiedHere};

use super::authenticate::{Authenticated, Prepared, Verified, authenticate, prepare};
use super::error::EndorseError;
use super::invoke::MAX_INVOKE_DEPTH;
use super::simulate::{Ran, run};
use crate::cert_cache::{CERT_CACHE_ENTRIES, CertCache};

/// Native stack the host side of one call level may use on top of the
/// Wasm stack limit (wasmtime's entry, host functions, the simulator).
const HOST_STACK_BYTES: usize = 256 * 1024;

/// The clock certificates are checked against: unix seconds.
type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// An endorsement with what must travel beside it but never enter the
/// transaction: the private writes, which the gateway disseminates to the
/// collections' member peers (only their hashes are in the rw-set).
#[derive(Debug, Clone)]
pub struct Endorsed {
    /// The signed response for the client.
    pub response: ProposalResponse,
    /// The private writes per collection, for dissemination.
    pub private_writes: Vec<CollectionData>,
}

/// A peer's endorser: checks a client's signed proposal, runs the chaincode
/// against the peer's committed state and signs the result.
///
/// `Send + Sync`: one endorser serves every request thread of the peer. A
/// call holds a ledger snapshot only while the chaincode runs (commits
/// wait for it; fuel bounds how long), and never two at once. A thread
/// calling [`Endorser::endorse`] or [`Endorser::evaluate`] must not hold a
/// snapshot itself, and needs [`Endorser::required_stack_bytes`] of stack
/// for chaincode-to-chaincode calls to nest to their limit.
pub struct Endorser {
    ledger: Arc<Ledger>,
    runtime: Arc<Runtime>,
    identity: Identity,
    config: ConfigHandle,
    certs: Arc<CertCache>,
    clock: Clock,
    /// Where the endorsements signed are recorded for this peer's validator.
    verified_here: Option<Arc<VerifiedHere>>,
}

impl fmt::Debug for Endorser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endorser")
            .field("identity", &self.identity)
            .field("channel", &self.config.current().channel)
            .field("cached_certificates", &self.certs.len())
            .finish_non_exhaustive()
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Endorser>();
    send_sync::<EndorseError>();
};

fn system_clock() -> u64 {
    // A clock before 1970 makes every certificate not yet valid: refused, not a panic.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Endorser {
    /// An endorser signing as `identity` (a peer of a channel org: the
    /// validator accepts endorsements from peers only), reading `ledger`,
    /// running chaincode on `runtime`, and checking creators against the
    /// configuration `config` holds at each request. Certificates are
    /// checked against the system clock.
    pub fn new(
        ledger: Arc<Ledger>,
        runtime: Arc<Runtime>,
        identity: Identity,
        config: ConfigHandle,
    ) -> Self {
        if identity.role() != Role::Peer {
            tracing::warn!(
                endorser = ?identity,
                "the endorser's identity is not a peer: validators will refuse its endorsements"
            );
        }
        Endorser {
            ledger,
            runtime,
            identity,
            config,
            certs: Arc::new(CertCache::new(CERT_CACHE_ENTRIES)),
            clock: Arc::new(system_clock),
            verified_here: None,
        }
    }

    /// Shares `memory`, the committer's
    /// ([`Committer::memory`](crate::committer::Committer::memory)): every
    /// endorsement signed is recorded there, so this peer's validator does
    /// not verify its own signatures again (nor those its gateway verified,
    /// [`Endorser::remember_verified`]), and verified certificates go
    /// into one cache for both (a creator's certificate checked at
    /// endorsement is not verified again at commit).
    pub fn remembering(mut self, memory: &ValidationMemory) -> Self {
        self.verified_here = Some(Arc::clone(memory.verified_here()));
        self.certs = Arc::clone(memory.certificates());
        self
    }

    /// Records in the shared memory that `signature` by `key` over
    /// `digest` holds, checked by ZIP 215's rule (the gateway's check of
    /// another org's endorsement), so that validation does not verify it
    /// again.
    pub(crate) fn remember_verified(&self, key: PublicKey, digest: Digest, signature: Signature) {
        if let Some(here) = &self.verified_here {
            here.remember(key, digest, signature);
        }
    }

    /// Checks certificates against `clock` (unix seconds) instead of the
    /// system clock: for tests, and for a peer that keeps its own time.
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Keeps at most `entries` verified creator certificates (default
    /// [`CERT_CACHE_ENTRIES`]).
    pub fn with_cert_cache_entries(mut self, entries: usize) -> Self {
        self.certs = Arc::new(CertCache::new(entries));
        self
    }

    /// Who signs the endorsements.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Verifies `cert` against `config` at `now` (unix seconds) through this
    /// endorser's certificate cache: a certificate seen before under the
    /// same org root key costs a hash, not an ed25519 verify.
    pub fn verify_certificate(
        &self,
        config: &Arc<weft_types::ChannelConfig>,
        cert: &weft_types::Certificate,
        now: u64,
    ) -> Result<Arc<weft_types::CertificateBody>, weft_types::CertificateError> {
        self.certs.verify(&**config, cert, now)
    }

    /// How many verified creator certificates are cached now.
    pub fn cached_certificates(&self) -> usize {
        self.certs.len()
    }

    /// The native stack a thread calling [`Endorser::endorse`] or
    /// [`Endorser::evaluate`] needs so that chaincode-to-chaincode calls can
    /// nest [`MAX_INVOKE_DEPTH`] deep, each using the runtime's whole
    /// `max_stack_bytes`, plus room for the host (6 MiB with the defaults; Rust and tokio give new
    /// threads 2 MiB unless told otherwise).
    pub fn required_stack_bytes(&self) -> usize {
        MAX_INVOKE_DEPTH * (self.runtime.config().max_stack_bytes + HOST_STACK_BYTES)
    }

    /// The checks every proposal passes before any chaincode runs, cheapest
    /// first: it parses; it is for this channel; its creator's certificate
    /// was issued by a channel org and is valid now; the creator is a client
    /// or an admin; the tx id is `sha3(nonce || creator)`; `transient` is
    /// the map whose digest the proposal carries (no map without a digest);
    /// and the creator's signature verifies over the proposal bytes (ZIP
    /// 215, as everywhere in a transaction's path).
    pub fn authenticate(
        &self,
        proposal: &SignedProposal,
        transient: &BTreeMap<String, Bytes>,
    ) -> Result<Authenticated, EndorseError> {
        let now = (self.clock)();
        authenticate(&self.certs, self.config.current(), now, proposal, transient)
    }

    /// [`Endorser::authenticate`] but for the signature, which is left to
    /// check: alone with [`Prepared::verify_alone`], or in a batch with
    /// other proposals' with a [`SigBatcher`](super::SigBatcher). The
    /// [`Verified`] proposal that makes is what
    /// [`Endorser::endorse_verified`] and [`Endorser::evaluate_verified`]
    /// run. Cheap once the creator's certificate is cached: a parse and
    /// two sha3 digests.
    pub fn prepare(
        &self,
        proposal: &SignedProposal,
        transient: BTreeMap<String, Bytes>,
    ) -> Result<Prepared, EndorseError> {
        let now = (self.clock)();
        prepare(&self.certs, self.config.current(), now, proposal, transient)
    }

    /// Simulates the proposal and signs the result: the response to send
    /// back to the client. See [`Endorser::endorse_with_private_data`];
    /// this drops the private writes, so a chaincode that writes private
    /// data must be endorsed through that method instead.
    pub fn endorse(
        &self,
        proposal: &SignedProposal,
        transient: &BTreeMap<String, Bytes>,
    ) -> Result<ProposalResponse, EndorseError> {
        Ok(self
            .endorse_with_private_data(proposal, transient)?
            .response)
    }

    /// [`Endorser::authenticate`]s the proposal; refuses a tx id already on
    /// the ledger; runs the function as a transaction against one snapshot
    /// (the chaincode definition and module come from it too) with the
    /// runtime's `fuel_per_call`; and, if the chaincode returned `Ok`, signs
    /// a [`ProposalResponsePayload`] naming the definition, the result, the
    /// rw-set digest and the event. The snapshot is released before signing.
    ///
    /// Nothing is signed on any error: the chaincode's own error is
    /// [`EndorseError::Chaincode`] (status 400), a call that did not finish
    /// is [`EndorseError::Execution`].
    pub fn endorse_with_private_data(
        &self,
        proposal: &SignedProposal,
        transient: &BTreeMap<String, Bytes>,
    ) -> Result<Endorsed, EndorseError> {
        let auth = self.authenticate(proposal, transient)?;
        self.endorse_authenticated(&auth, transient)
    }

    /// [`Endorser::endorse_with_private_data`] for a proposal already
    /// checked, signature included: the proposal and transient map
    /// `verified` holds, against the channel configuration it was checked
    /// against.
    pub fn endorse_verified(&self, verified: &Verified) -> Result<Endorsed, EndorseError> {
        self.endorse_authenticated(verified.authenticated(), verified.transient())
    }

    /// [`Endorser::evaluate`] for a proposal already checked, signature
    /// included.
    pub fn evaluate_verified(&self, verified: &Verified) -> Result<Response, EndorseError> {
        self.evaluate_authenticated(verified.authenticated(), verified.transient())
    }

    /// Refuses a tx id already on the ledger, simulates and signs.
    fn endorse_authenticated(
        &self,
        auth: &Authenticated,
        transient: &BTreeMap<String, Bytes>,
    ) -> Result<Endorsed, EndorseError> {
        let tx_id = auth.proposal.header.tx_id;
        let ran = self.with_snapshot(auth, |snapshot| {
            if let Some((block, index, code)) = snapshot.tx(&tx_id)? {
                return Err(EndorseError::DuplicateTxId {
                    tx_id,
                    block,
                    index,
                    code,
                });
            }
            run(
                &self.runtime,
                snapshot,
                auth,
                TxKind::Transaction,
                transient,
            )
        })?;
        Ok(self.sign(&auth.proposal_digest, ran))
    }

    /// A query: authenticates the proposal like [`Endorser::endorse`], runs
    /// the function read-only (`TxKind::Query`: writes are refused) and
    /// returns the chaincode's response. Nothing is signed, and the tx id is
    /// not checked against the ledger (a query never enters one).
    pub fn evaluate(
        &self,
        proposal: &SignedProposal,
        transient: &BTreeMap<String, Bytes>,
    ) -> Result<Response, EndorseError> {
        let auth = self.authenticate(proposal, transient)?;
        self.evaluate_authenticated(&auth, transient)
    }

    /// Runs read-only; signs nothing.
    fn evaluate_authenticated(
        &self,
        auth: &Authenticated,
        transient: &BTreeMap<String, Bytes>,
    ) -> Result<Response, EndorseError> {
        let ran = self.with_snapshot(auth, |snapshot| {
            run(&self.runtime, snapshot, auth, TxKind::Query, transient)
        })?;
        Ok(Response {
            status: 200,
            message: String::new(),
            payload: Bytes(ran.payload),
        })
    }

    /// Runs `f` with a fresh snapshot, released as soon as `f` returns. It
    /// reads private data for this peer's org on behalf of `auth`'s creator.
    fn with_snapshot<T>(
        &self,
        auth: &Authenticated,
        f: impl FnOnce(&Arc<Snapshot>) -> Result<T, EndorseError>,
    ) -> Result<T, EndorseError> {
        let reader = PrivateReader {
            peer_org: self.identity.org().to_string(),
            creator_org: auth.creator.org.clone(),
            channel: Arc::clone(&auth.config),
        };
        let snapshot = Arc::new(self.ledger.snapshot().for_reader(reader));
        let out = f(&snapshot);
        // Every simulator and invoker that shared it is gone with the call;
        // a clone left behind would hold commits back.
        debug_assert_eq!(
            Arc::strong_count(&snapshot),
            1,
            "a snapshot outlived its call"
        );
        drop(snapshot);
        out
    }

    fn sign(&self, proposal_digest: &Digest, ran: Ran) -> Endorsed {
        let Ran {
            definition,
            payload,
            result,
        } = ran;
        let response_payload = ProposalResponsePayload {
            proposal_digest: *proposal_digest,
            chaincode: ChaincodeId {
                name: definition.name,
                version: definition.version,
                sequence: definition.sequence,
            },
            response: Response {
                status: 200,
                message: String::new(),
                payload: Bytes(payload),
            },
            // Set by `build` from the rw-set bytes.
            rwset_digest: Digest::ZERO,
            event: result.event,
        };
        let response =
            ProposalResponse::build(response_payload, &result.rwset, Some(&self.identity));
        if let (Some(here), Some(endorsement)) = (&self.verified_here, &response.endorsement) {
            here.remember(
                self.identity.body().public_key,
                sha3_256(&response.payload.0),
                endorsement.signature,
            );
        }
        Endorsed {
            response,
            private_writes: result.private_writes,
        }
    }
}
