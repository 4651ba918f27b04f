//! `POST /v1/evaluate`, `POST /v1/endorse` and the peer-to-peer
//! `POST /v1/endorse`: running proposals here, and collecting the
//! endorsements an endorsement policy needs from the channel's orgs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use futures::future::join_all;
use weft_types::batch_verify::{self as signatures, SignatureCheck};
use weft_types::{
    AssembleError, Bytes, Certificate, CertificateBody, CertificateError, ChannelConfig, Digest,
    Domain, EndorsedTransaction, OrgInfo, ProposalResponse, ProposalResponsePayload, PublicKey,
    Response, Role, Signature, SignedProposal, Transaction, TxBody, sha3_256,
};

use super::Gateway;
use super::api::{ChaincodeResponse, EndorseResponse, ProposalRequest};
use super::error::{ErrorBody, ErrorCode, GatewayError, JsonBody, RawJson, Stage};
use super::exec::Admission;
use super::forward::Remote;
use super::plan::choose_orgs;
use super::private::Pushes;
use crate::endorser::{SigBatchError, Verified};

/// How long the gateway waits for another peer's endorsement.
pub const REMOTE_ENDORSE_TIMEOUT_MS: u64 = 30_000;

/// How long a peer asked for an endorsement waits to commit up to the
/// asking gateway's height (so a client that just committed a transaction
/// through one org's gateway is not endorsed against older state by
/// another org's peer), milliseconds. Past it, the peer endorses anyway.
pub const CATCH_UP_WAIT_MS: u64 = 5_000;

/// The longest error text kept from another peer's answer.
pub(crate) const MAX_REMOTE_MESSAGE_BYTES: usize = 1024;

/// Runs a proposal on this peer only, read-only, and returns what the
/// chaincode returned; nothing is signed.
#[utoipa::path(
    post,
    path = "/v1/evaluate",
    tag = "transactions",
    request_body = ProposalRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The chaincode's response", body = ChaincodeResponse),
        (status = 400, description = "Malformed proposal", body = ErrorBody),
        (status = 401, description = "No token, or the proposal's creator or signature is refused", body = ErrorBody),
        (status = 404, description = "Unknown chaincode", body = ErrorBody),
        (status = 422, description = "The chaincode returned an error", body = ErrorBody),
        (status = 429, description = "The peer is overloaded: retry later", body = ErrorBody),
    )
)]
pub(crate) async fn evaluate(
    State(gw): State<Arc<Gateway>>,
    JsonBody(req): JsonBody<ProposalRequest>,
) -> Result<Json<Response>, GatewayError> {
    let admission = gw.executor.admit()?;
    let transient = req.transient.unwrap_or_default();
    let verified = verify_proposal(&gw, &req.proposal, transient).await?;
    let endorser = gw.endorser.clone();
    let result = gw
        .executor
        .run(admission, move || endorser.evaluate_verified(&verified))
        .await?;
    result
        .map(Json)
        .map_err(|e| GatewayError::from_endorse(&e, gw.identity.org()))
}

/// Endorses a proposal by the orgs its chaincode's endorsement policy
/// needs and returns the transaction for the client to sign.
#[utoipa::path(
    post,
    path = "/v1/endorse",
    tag = "transactions",
    request_body = ProposalRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The endorsed transaction to sign", body = EndorseResponse),
        (status = 400, description = "Malformed proposal, or a policy no set of peers can satisfy", body = ErrorBody),
        (status = 401, description = "No token, or the proposal's creator or signature is refused", body = ErrorBody),
        (status = 404, description = "Unknown chaincode", body = ErrorBody),
        (status = 409, description = "The tx id is on the ledger already", body = ErrorBody),
        (status = 422, description = "The chaincode returned an error", body = ErrorBody),
        (status = 429, description = "This peer or every peer of an org is overloaded: retry later", body = ErrorBody),
        (status = 502, description = "An org's peers failed, or the endorsements disagree", body = ErrorBody),
    )
)]
pub(crate) async fn endorse(
    State(gw): State<Arc<Gateway>>,
    body: RawJson,
) -> Result<Json<EndorseResponse>, GatewayError> {
    // An overloaded peer refuses before checking anything, even the JSON:
    // a full simulation queue, or more transactions waiting for their
    // commit than the network takes in.
    gw.pending_submits.admit_endorsement()?;
    let admission = gw.executor.admit()?;
    let ProposalRequest {
        proposal,
        transient,
    } = body.parse()?;
    // The checks here first: a bad proposal costs no peer a simulation.
    let verified = Arc::new(verify_proposal(&gw, &proposal, transient.unwrap_or_default()).await?);
    let auth = verified.authenticated();
    let config = auth.config.clone();
    let chaincode = auth.proposal.chaincode.clone();
    let orgs = plan(&gw, &config, &chaincode)?;
    // The request as it came (it parsed as one); each remote call shares
    // the bytes.
    let request = body.0;
    let config = &config;
    // The turn goes to this org's endorsement (the plan lists it at most once).
    let mut admission = Some(admission);
    let here = orgs.iter().any(|org| *org == gw.identity.org());
    // Private writes: this peer pushes them (and skips the other endorsing
    // orgs' first peers, which keep their own); remote endorsers need not.
    let pushes = Pushes::Here { endorsers: &orgs };
    let calls = orgs.iter().map(|org| {
        let (gw, request, verified) = (gw.clone(), request.clone(), verified.clone());
        let own = *org == gw.identity.org();
        let admission = if own { admission.take() } else { None };
        async move {
            if let Some(admission) = admission {
                endorse_here(&gw, verified, admission, pushes).await
            } else {
                match config.org(org) {
                    Some(info) => {
                        let digest = &auth.proposal_digest;
                        endorse_remote(&gw, config, info, &request, digest, here).await
                    }
                    None => Err(GatewayError::internal(
                        Stage::Endorsement,
                        format!("org {org} vanished from the channel configuration"),
                    )),
                }
            }
        }
    });
    let answers = join_all(calls).await;
    let mut responses = Vec::with_capacity(answers.len());
    for answer in answers {
        responses.push(answer?);
    }
    let endorsed = EndorsedTransaction::assemble(proposal, responses)
        .map_err(|e| cannot_combine(&e, &orgs))?;
    let payload: ProposalResponsePayload =
        serde_json::from_slice(&endorsed.response).map_err(|e| {
            GatewayError::internal(Stage::Endorsement, format!("unreadable response: {e}"))
        })?;
    let tx = Transaction {
        header: auth.proposal.header.clone(),
        body: TxBody::Invoke(endorsed),
    };
    let transaction = serde_json::to_vec(&tx).map_err(|e| {
        GatewayError::internal(
            Stage::Endorsement,
            format!("cannot encode the transaction: {e}"),
        )
    })?;
    Ok(Json(EndorseResponse {
        tx_id: auth.proposal.header.tx_id,
        digest: sha3_256(&transaction),
        transaction: Bytes(transaction),
        endorsed_by: orgs.iter().map(|o| o.to_string()).collect(),
        response: payload.response,
    }))
}

/// 502 naming the org whose endorsement differs from the first org's.
fn cannot_combine(e: &AssembleError, orgs: &[&str]) -> GatewayError {
    let (index, what) = match *e {
        AssembleError::Mismatch { index } => {
            (index, "simulated a different result or read/write set than")
        }
        AssembleError::NotEndorsed { index } => (index, "did not endorse, unlike"),
        AssembleError::NoResponses => (0, "gave no response, unlike"),
    };
    let org = orgs.get(index).copied().unwrap_or("?");
    let first = orgs.first().copied().unwrap_or("?");
    GatewayError::new(
        StatusCode::BAD_GATEWAY,
        ErrorCode::EndorsementFailed,
        Stage::Endorsement,
        format!(
            "the peers of {org} {what} {first}'s: the endorsements cannot be combined \
             (the ledgers may differ in height; retry)"
        ),
    )
    .with_org(org)
}

/// The orgs to ask for `chaincode`'s endorsement policy (its definition's,
/// or the channel's default).
fn plan<'c>(
    gw: &Gateway,
    config: &'c ChannelConfig,
    chaincode: &str,
) -> Result<Vec<&'c str>, GatewayError> {
    let definition = gw
        .committer
        .ledger()
        .definition(chaincode)?
        .ok_or_else(|| {
            GatewayError::not_found(format!(
                "chaincode {chaincode} is not defined on this channel"
            ))
        })?;
    let policy = definition
        .endorsement_policy
        .as_ref()
        .unwrap_or(&config.policies.endorsement);
    let names = config.org_names();
    let unsatisfiable = |why: String| {
        GatewayError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::PolicyUnsatisfiable,
            Stage::Endorsement,
            why,
        )
    };
    let resolved = policy.resolve(&names).map_err(|e| {
        unsatisfiable(format!(
            "the endorsement policy of chaincode {chaincode} ({policy}) does not fit the channel: {e}"
        ))
    })?;
    let own = gw.identity.org();
    let has_peers = |org: &str| config.org(org).is_some_and(|o| !o.peers.is_empty());
    choose_orgs(&resolved, &names, own, has_peers).ok_or_else(|| {
        unsatisfiable(format!(
            "the endorsement policy of chaincode {chaincode} ({resolved}) cannot be satisfied \
             by one peer of each of the channel's orgs that have peers"
        ))
    })
}

/// Runs every check of `proposal` but its signature's here (cheap once
/// the creator's certificate is cached), then has the signature verified
/// in a batch with those of concurrent requests. Refusals are the
/// endorser's, with their usual status (a bad signature is 401
/// `bad_signature`).
async fn verify_proposal(
    gw: &Gateway,
    proposal: &SignedProposal,
    transient: BTreeMap<String, Bytes>,
) -> Result<Verified, GatewayError> {
    let org = gw.identity.org();
    let prepared = gw
        .endorser
        .prepare(proposal, transient)
        .map_err(|e| GatewayError::from_endorse(&e, org))?;
    gw.signatures.verify(prepared).await.map_err(|e| match e {
        SigBatchError::Refused(e) => GatewayError::from_endorse(&e, org),
        SigBatchError::Overloaded => GatewayError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Overloaded,
            Stage::Endorsement,
            e.to_string(),
        ),
        SigBatchError::Stopped(_) => GatewayError::internal(Stage::Endorsement, e.to_string()),
    })
}

/// This peer's own endorsement of a proposal checked already; `pushes`:
/// who disseminates its private writes (see [`Pushes`]).
async fn endorse_here(
    gw: &Gateway,
    verified: Arc<Verified>,
    admission: Admission,
    pushes: Pushes<'_>,
) -> Result<ProposalResponse, GatewayError> {
    let endorser = gw.endorser.clone();
    let tx_id = verified.authenticated().proposal.header.tx_id;
    // At most the height the simulation reads (a block may commit meanwhile).
    let height = gw.committer.height();
    let endorsed = gw
        .executor
        .run(admission, move || endorser.endorse_verified(&verified))
        .await?
        .map_err(|e| GatewayError::from_endorse(&e, gw.identity.org()))?;
    if !endorsed.private_writes.is_empty() {
        // The member peers hold the private writes before anyone holds the
        // endorsement that commits their hashes.
        super::private::disseminate(gw, tx_id, height, &endorsed.private_writes, pushes).await?;
    }
    Ok(endorsed.response)
}

/// One endorsement of `org`: its peers in turn until one answers with an
/// endorsement that checks out.
/// `gateway_pushes`: this peer endorses the proposal too and pushes its
/// private writes.
async fn endorse_remote(
    gw: &Gateway,
    config: &Arc<ChannelConfig>,
    org: &OrgInfo,
    request: &axum::body::Bytes,
    proposal_digest: &Digest,
    gateway_pushes: bool,
) -> Result<ProposalResponse, GatewayError> {
    let mut failures = Vec::new();
    let mut overloaded = 0;
    for peer in &org.peers {
        let who = format!("{}@{} ({})", peer.name, org.name, peer.p2p);
        let min_height = gw.committer.height();
        match gw
            .forwarder
            .call(&peer.p2p, request, min_height, gateway_pushes)
            .await
        {
            Ok(response) => {
                let checked =
                    match check_response(gw, config, &org.name, &response, proposal_digest) {
                        Ok(signature) => signature.verify(gw).await,
                        Err(why) => Err(why),
                    };
                match checked {
                    Ok(()) => return Ok(response),
                    Err(why) => failures.push(format!("{who}: {why}")),
                }
            }
            Err(Remote::Chaincode(message)) => {
                return Err(GatewayError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::ChaincodeError,
                    Stage::Endorsement,
                    message,
                )
                .with_org(&org.name));
            }
            Err(Remote::Failed(why)) => failures.push(format!("{who}: {why}")),
            Err(Remote::Overloaded(why)) => {
                overloaded += 1;
                failures.push(format!("{who}: {why}"));
            }
        }
    }
    if overloaded > 0 && overloaded == failures.len() {
        // Back-pressure, passed on: the client should retry later.
        return Err(GatewayError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Overloaded,
            Stage::Endorsement,
            format!(
                "every peer of {} is overloaded: {}",
                org.name,
                failures.join("; ")
            ),
        )
        .with_org(&org.name));
    }
    Err(GatewayError::new(
        StatusCode::BAD_GATEWAY,
        ErrorCode::EndorsementFailed,
        Stage::Endorsement,
        format!(
            "no peer of {} endorsed the proposal: {}",
            org.name,
            if failures.is_empty() {
                "it has no peers".to_string()
            } else {
                failures.join("; ")
            }
        ),
    )
    .with_org(&org.name))
}

/// An endorsement from another org must be signed by a peer of that org
/// whose certificate the channel accepts now, over a response to this
/// proposal whose rw-set is the one it carries. What is left to check once
/// the rest holds is the signature: [`EndorsementSignature::verify`].
fn check_response(
    gw: &Gateway,
    config: &Arc<ChannelConfig>,
    org: &str,
    response: &ProposalResponse,
    proposal_digest: &Digest,
) -> Result<EndorsementSignature, String> {
    let now = gw.now_ms() / 1000;
    // The certificate through the endorser's cache: the same few peers
    // endorse every transaction, and each fresh check is an ed25519 verify.
    let certificates = |cert: &Certificate| gw.endorser.verify_certificate(config, cert, now);
    check_endorsed_response(&certificates, org, response, proposal_digest)
}

/// [`check_response`] given how certificates are verified.
fn check_endorsed_response(
    certificates: &dyn Fn(&Certificate) -> Result<Arc<CertificateBody>, CertificateError>,
    org: &str,
    response: &ProposalResponse,
    proposal_digest: &Digest,
) -> Result<EndorsementSignature, String> {
    let endorsement = response
        .endorsement
        .as_ref()
        .ok_or("its response is not endorsed")?;
    let signer = certificates(&endorsement.endorser)
        .map_err(|e| format!("its endorsement is refused: {e}"))?;
    if signer.org != org || signer.role != Role::Peer {
        return Err(format!(
            "its endorsement is signed by {}@{} ({}), not by a peer of {org}",
            signer.name, signer.org, signer.role
        ));
    }
    let payload: ProposalResponsePayload = serde_json::from_slice(&response.payload)
        .map_err(|e| format!("its response payload does not parse: {e}"))?;
    if payload.proposal_digest != *proposal_digest {
        return Err("its response answers another proposal".into());
    }
    if payload.rwset_digest != sha3_256(&response.rwset) {
        return Err("its read/write set does not match the digest it signed".into());
    }
    Ok(EndorsementSignature {
        key: signer.public_key,
        digest: sha3_256(&response.payload),
        signature: endorsement.signature,
        signer: format!("{}@{}", signer.name, signer.org),
    })
}

/// The signature of another org's endorsement, still to verify.
struct EndorsementSignature {
    key: PublicKey,
    digest: Digest,
    signature: Signature,
    signer: String,
}

impl EndorsementSignature {
    /// Verifies it in a batch of the gateway's
    /// [`SigBatcher`](crate::endorser::SigBatcher) (the other orgs' peers
    /// are few and sign every transaction, so their signatures batch well),
    /// or alone when the batcher cannot take it. A signature that holds is
    /// remembered for this peer's validation, which then skips it (the same
    /// ZIP 215 rule decides both).
    async fn verify(self, gw: &Gateway) -> Result<(), String> {
        let verified = match gw.signatures.verify_signature(self.check()).await {
            Ok(verified) => verified,
            Err(_) => signatures::verify(vec![self.check()]).is_ok(),
        };
        if verified {
            gw.endorser
                .remember_verified(self.key, self.digest, self.signature);
        }
        verdict(verified, self.signer)
    }

    #[cfg(test)]
    fn verify_alone(self) -> Result<(), String> {
        verdict(signatures::verify(vec![self.check()]).is_ok(), self.signer)
    }

    fn check(&self) -> SignatureCheck<()> {
        SignatureCheck::new(
            (),
            &self.key,
            Domain::Endorsement,
            &self.digest,
            &self.signature,
        )
    }
}

fn verdict(verified: bool, signer: String) -> Result<(), String> {
    if verified {
        return Ok(());
    }
    let e = weft_types::VerifyError::BadSignature {
        signer,
        what: "endorsement",
    };
    Err(format!("its endorsement is refused: {e}"))
}

pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_connect() {
        format!("cannot connect: {e}")
    } else if e.is_timeout() {
        format!("no answer in time: {e}")
    } else {
        e.to_string()
    }
}

pub(crate) fn truncate(s: &str, max_bytes: usize) -> String {
    if s.len() <= max_bytes {
        return s.to_string();
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The query of the peer-to-peer endorsement.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct P2pQuery {
    /// The asking gateway's ledger height: commit up to it first.
    pub(crate) min_height: Option<u64>,
    /// The asking gateway's peer endorses too and pushes the private
    /// writes: skip the collections this peer is a member of.
    pub(crate) gateway_pushes: Option<bool>,
}

/// The peer-to-peer endorsement: this peer's signed response to a
/// proposal another peer's gateway forwards, once this peer has committed
/// as many blocks as the asking one (waiting at most [`CATCH_UP_WAIT_MS`]).
/// No token: the proposal's own signature authenticates its creator.
/// Gateways send batches of them ([`forward`](super::forward)); this route
/// takes one.
pub(crate) async fn p2p_endorse(
    State(gw): State<Arc<Gateway>>,
    query: Result<axum::extract::Query<P2pQuery>, axum::extract::rejection::QueryRejection>,
    body: RawJson,
) -> Result<Json<ProposalResponse>, GatewayError> {
    // An overloaded peer refuses before waiting or checking anything.
    let admission = gw.executor.admit()?;
    let req: ProposalRequest = body.parse()?;
    // A garbled query only costs the wait (and the pushes).
    let query = query.map(|q| q.0).unwrap_or_default();
    if let Some(min_height) = query.min_height {
        catch_up(&gw, min_height).await;
    }
    let gateway_pushes = query.gateway_pushes.unwrap_or(false);
    endorse_forwarded(&gw, admission, req, gateway_pushes)
        .await
        .map(Json)
}

/// This peer's endorsement of a proposal another gateway forwarded, with
/// the simulation turn `admission`; `gateway_pushes`: the asking gateway's
/// peer endorses too and pushes the private writes.
pub(crate) async fn endorse_forwarded(
    gw: &Gateway,
    admission: Admission,
    request: ProposalRequest,
    gateway_pushes: bool,
) -> Result<ProposalResponse, GatewayError> {
    let transient = request.transient.unwrap_or_default();
    let verified = verify_proposal(gw, &request.proposal, transient).await?;
    let pushes = if gateway_pushes {
        Pushes::Gateway
    } else {
        Pushes::Here { endorsers: &[] }
    };
    endorse_here(gw, Arc::new(verified), admission, pushes).await
}

/// Waits until this peer's ledger holds `height` blocks, at most
/// [`CATCH_UP_WAIT_MS`].
pub(crate) async fn catch_up(gw: &Gateway, height: u64) {
    let mut commits = gw.committer.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(CATCH_UP_WAIT_MS);
    while gw.committer.height() < height {
        match tokio::time::timeout_at(deadline, commits.recv()).await {
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) | Err(_) => {
                tracing::debug!(
                    height = gw.committer.height(),
                    wanted = height,
                    "endorsing behind the asking gateway"
                );
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use weft_tests::network::TestNetwork;
    use weft_types::{ChaincodeId, Identity, RwSet, TrustStore};

    use super::*;

    fn response(endorser: &Identity, proposal: Digest) -> ProposalResponse {
        let payload = ProposalResponsePayload {
            proposal_digest: proposal,
            chaincode: ChaincodeId {
                name: "cc".into(),
                version: "1".into(),
                sequence: 1,
            },
            response: Response {
                status: 200,
                message: String::new(),
                payload: Bytes::default(),
            },
            rwset_digest: Digest::default(),
            event: None,
        };
        ProposalResponse::build(payload, &RwSet::default(), Some(endorser))
    }

    /// A gateway over a fresh ledger of a one-org network.
    fn gateway() -> (Arc<Gateway>, tempfile::TempDir) {
        use crate::committer::Committer;
        use crate::endorser::Endorser;
        use crate::ledger::Ledger;
        use crate::runtime::{Runtime, RuntimeConfig};

        let net = TestNetwork::new(&["Org1"]);
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(Ledger::open(dir.path()).unwrap());
        let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
        let committer = Arc::new(
            Committer::open(ledger.clone(), runtime.clone(), &net.genesis(), "Org1").unwrap(),
        );
        let peer = net.peers[0].clone();
        let config = committer.config().clone();
        // As the peer daemon builds it: sharing the committer's memory.
        let endorser = Arc::new(
            Endorser::new(ledger, runtime, peer.clone(), config).remembering(committer.memory()),
        );
        (Gateway::new(peer, committer, endorser).unwrap(), dir)
    }

    #[tokio::test]
    async fn another_orgs_endorsement_is_remembered_for_validation_once_it_verifies() {
        let (gw, _dir) = gateway();
        let net = TestNetwork::new(&["Org1", "Org2"]);
        let certificates =
            |cert: &Certificate| net.config.verify_certificate(cert, 1).map(Arc::new);
        let proposal = sha3_256(b"proposal");
        let org2 = &net.peers[1];
        let known = |r: &ProposalResponse| {
            gw.committer.memory().verified_here().verified(
                &org2.body().public_key,
                &sha3_256(&r.payload),
                &r.endorsement.as_ref().unwrap().signature,
            )
        };
        let good = response(org2, proposal);
        let mut forged = good.clone();
        forged.endorsement.as_mut().unwrap().signature =
            net.peers[0].sign(Domain::Endorsement, &sha3_256(&good.payload));
        assert!(!known(&good) && !known(&forged));

        let checked = check_endorsed_response(&certificates, "Org2", &good, &proposal).unwrap();
        assert_eq!(checked.verify(&gw).await, Ok(()));
        assert!(known(&good), "a signature that verified is remembered");
        let checked = check_endorsed_response(&certificates, "Org2", &forged, &proposal).unwrap();
        assert!(checked.verify(&gw).await.is_err());
        assert!(!known(&forged), "a signature that failed is not");
    }

    #[tokio::test]
    async fn an_overloaded_peer_refuses_before_reading_the_json() {
        let (gw, _dir) = gateway();
        let junk = || RawJson(axum::body::Bytes::from_static(b"not json"));
        // Not overloaded: the body is parsed, and refused as malformed.
        let err = endorse(State(gw.clone()), junk()).await.unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        let err = p2p_endorse(State(gw.clone()), Err(query_rejection()), junk())
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        // Every simulation turn taken: 429 before the body is looked at.
        let held: Vec<_> = std::iter::from_fn(|| gw.executor.admit().ok()).collect();
        assert_eq!(held.len(), super::super::exec::MAX_QUEUED);
        for err in [
            endorse(State(gw.clone()), junk()).await.unwrap_err(),
            p2p_endorse(State(gw.clone()), Err(query_rejection()), junk())
                .await
                .unwrap_err(),
        ] {
            assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS, "{err:?}");
            assert_eq!(err.body.code, ErrorCode::Overloaded);
        }
        drop(held);
        // More submissions waiting than the network takes: endorse refuses.
        let pending: Vec<_> = (0..super::super::submit::MAX_PENDING_SUBMITS)
            .map(|_| gw.pending_submits.enter())
            .collect();
        let err = endorse(State(gw.clone()), junk()).await.unwrap_err();
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS, "{err:?}");
        drop(pending);
    }

    #[tokio::test]
    async fn a_batch_answers_each_line_as_a_single_request_would() {
        use super::super::forward::p2p_endorse_batch;
        let (gw, _dir) = gateway();
        let statuses = |body: &'static [u8]| {
            let gw = gw.clone();
            async move {
                let body = RawJson(axum::body::Bytes::from_static(body));
                // Far ahead of this peer: the refused lines do not wait.
                let far = axum::extract::Query(P2pQuery {
                    min_height: Some(1_000_000),
                    gateway_pushes: None,
                });
                let answer = tokio::time::timeout(
                    Duration::from_millis(CATCH_UP_WAIT_MS / 2),
                    p2p_endorse_batch(State(gw), Ok(far), body),
                )
                .await
                .expect("refusals are answered without waiting to catch up");
                assert_eq!(answer.status(), StatusCode::OK);
                let text = tokio::time::timeout(
                    Duration::from_millis(CATCH_UP_WAIT_MS / 2),
                    axum::body::to_bytes(answer.into_body(), usize::MAX),
                )
                .await
                .expect("refusals are answered without waiting to catch up")
                .unwrap();
                weft_types::ndjson::lines(&text)
                    .map(|l| {
                        let v: serde_json::Value = serde_json::from_slice(l).unwrap();
                        (
                            v["index"].as_u64().unwrap(),
                            v["status"].as_u64().unwrap(),
                            v["error"]["code"].clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            }
        };
        // Blank lines are skipped; each other line has its own answer.
        let answers = statuses(b"not json\n\n{\"proposal\":1}\n").await;
        assert_eq!(answers.len(), 2, "{answers:?}");
        for (index, (at, status, code)) in answers.iter().enumerate() {
            assert_eq!(*at, index as u64, "refusals come in order");
            assert_eq!((*status, code.as_str()), (400, Some("malformed")));
        }
        // Over the line limit: refused whole, nothing admitted or parsed.
        let lines = "x\n".repeat(super::super::forward::MAX_BATCH_PROPOSALS + 1);
        let body = RawJson(axum::body::Bytes::from(lines));
        let answer = p2p_endorse_batch(State(gw.clone()), Err(query_rejection()), body).await;
        assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // No simulation turn left: 429 on every line, parsed or not.
        let held: Vec<_> = std::iter::from_fn(|| gw.executor.admit().ok()).collect();
        let answers = statuses(b"not json\n{}").await;
        assert_eq!(answers.len(), 2, "{answers:?}");
        for (_, status, code) in &answers {
            assert_eq!((*status, code.as_str()), (429, Some("overloaded")));
        }
        drop(held);
    }

    fn query_rejection() -> axum::extract::rejection::QueryRejection {
        use axum::extract::FromRequestParts;
        let (mut parts, ()) = axum::http::Request::get("/?min_height=x")
            .body(())
            .unwrap()
            .into_parts();
        futures::executor::block_on(axum::extract::Query::<P2pQuery>::from_request_parts(
            &mut parts,
            &(),
        ))
        .unwrap_err()
    }

    #[test]
    fn a_remote_response_is_checked_for_signer_signature_and_binding() {
        let net = TestNetwork::new(&["Org1", "Org2"]);
        let config = net.config.clone();
        let certificates = |cert: &Certificate| config.verify_certificate(cert, 1).map(Arc::new);
        let proposal = sha3_256(b"proposal");
        let org2 = &net.peers[1];
        let check = |r: &ProposalResponse, org: &str| {
            check_endorsed_response(&certificates, org, r, &proposal)
                .and_then(EndorsementSignature::verify_alone)
        };
        let good = response(org2, proposal);
        assert_eq!(check(&good, "Org2"), Ok(()));
        let err = check(&good, "Org1").unwrap_err();
        assert!(err.contains("not by a peer of Org1"), "{err}");
        let mut forged = good.clone();
        forged.endorsement.as_mut().unwrap().signature =
            net.peers[0].sign(Domain::Endorsement, &sha3_256(&good.payload));
        let err = check(&forged, "Org2").unwrap_err();
        assert!(
            err.contains("its endorsement is refused: signature of peer0@Org2 does not verify"),
            "{err}"
        );
        let by_client = response(&net.clients[1], proposal);
        let err = check(&by_client, "Org2").unwrap_err();
        assert!(err.contains("not by a peer of Org2"), "{err}");
        let elsewhere = response(org2, sha3_256(b"another"));
        assert_eq!(
            check(&elsewhere, "Org2"),
            Err("its response answers another proposal".into())
        );
        let mut unsigned = good.clone();
        unsigned.endorsement = None;
        assert_eq!(
            check(&unsigned, "Org2"),
            Err("its response is not endorsed".into())
        );
    }
}
