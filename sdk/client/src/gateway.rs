//! [`Gateway`]: a logged-in connection to a channel's gateways.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use weft_types::{Block, Certificate, ChaincodeDefinition, Envelope, TxId, ValidationCode};

use crate::api::{
    CommitStatus, EndorseResponse, Health, ProposalRequest, SubmitResponse, Submitted,
    TransactionRecord,
};
use crate::contract::Contract;
use crate::error::{ClientError, Result, Stage};
use crate::http::{Call, Transport};
use crate::profile::Profile;
use crate::proposal::{Endorsed, PreparedProposal};
use crate::signer::Signer;
use crate::verifier::EndorsementVerifier;

/// The channel `weft network init` names by default.
pub const DEFAULT_CHANNEL: &str = "weft";
/// Default limit for one request to the gateway, and for a commit wait.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default limit for opening a TCP connection to a gateway.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An event stream with no bytes for this long is reopened (from where it
/// stopped), in case the connection died silently.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Consecutive failed attempts to reopen an event stream before it ends with the error.
pub const DEFAULT_MAX_RECONNECTS: u32 = 10;
/// Time the client gives the gateway beyond a commit wait's `timeout_ms`,
/// so that the gateway's own 504 arrives before the client gives up.
const WAIT_GRACE: Duration = Duration::from_secs(5);

/// Where and how to connect. Built from a [`Profile`], a URL or a list of URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Gateway base URLs (`http://host:port`), tried in order.
    pub urls: Vec<String>,
    /// The channel proposals are for.
    pub channel: String,
    /// Default limit per request (overridable per call with
    /// [`Gateway::with_timeout`]); also the commit wait of a submit.
    pub timeout: Duration,
    /// Limit for opening a TCP connection.
    pub connect_timeout: Duration,
    /// See [`DEFAULT_STREAM_IDLE_TIMEOUT`].
    pub stream_idle_timeout: Duration,
    /// See [`DEFAULT_MAX_RECONNECTS`].
    pub max_reconnects: u32,
    /// Concurrent evaluate, endorse and submit calls to one gateway travel
    /// together in `POST /v1/batch` requests (one HTTP exchange for many;
    /// each call answered as it would be alone). On by default.
    pub batches: bool,
}

impl GatewayConfig {
    /// Gateways `urls` on `channel`, with default limits.
    pub fn new<I, S>(urls: I, channel: &str) -> GatewayConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        GatewayConfig {
            urls: urls.into_iter().map(Into::into).collect(),
            channel: channel.to_string(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            stream_idle_timeout: DEFAULT_STREAM_IDLE_TIMEOUT,
            max_reconnects: DEFAULT_MAX_RECONNECTS,
            batches: true,
        }
    }

    /// Sets the default per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> GatewayConfig {
        self.timeout = timeout;
        self
    }

    /// Sends each call as its own request (`false`) or concurrent calls
    /// together (`true`, the default); see [`GatewayConfig::batches`].
    pub fn with_batches(mut self, batches: bool) -> GatewayConfig {
        self.batches = batches;
        self
    }
}

impl From<&Profile> for GatewayConfig {
    fn from(p: &Profile) -> GatewayConfig {
        let mut c = GatewayConfig::new(p.gateway_urls(), &p.channel);
        if let Some(ms) = p.timeout_ms {
            c.timeout = Duration::from_millis(ms);
        }
        c
    }
}

impl From<Profile> for GatewayConfig {
    fn from(p: Profile) -> GatewayConfig {
        GatewayConfig::from(&p)
    }
}

/// One gateway URL on the [`DEFAULT_CHANNEL`].
impl From<&str> for GatewayConfig {
    fn from(url: &str) -> GatewayConfig {
        GatewayConfig::new([url], DEFAULT_CHANNEL)
    }
}

/// One gateway URL on the [`DEFAULT_CHANNEL`].
impl From<String> for GatewayConfig {
    fn from(url: String) -> GatewayConfig {
        GatewayConfig::new([url], DEFAULT_CHANNEL)
    }
}

/// A connection to a channel's gateways, logged in as one member.
///
/// Cheap to clone: clones share the HTTP client and the login sessions.
/// Every call logs in again by itself when the token is about to expire or
/// the gateway answers 401 (once per call), and moves on to the next
/// gateway when one cannot be reached; the one that answered is tried
/// first next time.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
    timeout: Duration,
}

struct Inner {
    transport: Transport,
    config: GatewayConfig,
    /// Batches the endorsement checks of this connection's concurrent calls.
    verifier: EndorsementVerifier,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("urls", &self.inner.config.urls)
            .field("channel", &self.inner.config.channel)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Connects and logs in as `signer` (usually an [`weft_types::Identity`]).
    pub async fn connect(
        config: impl Into<GatewayConfig>,
        signer: impl Signer + 'static,
    ) -> Result<Gateway> {
        Gateway::connect_with(config, Arc::new(signer)).await
    }

    /// [`Gateway::connect`] with a shared signer.
    pub async fn connect_with(
        config: impl Into<GatewayConfig>,
        signer: Arc<dyn Signer>,
    ) -> Result<Gateway> {
        let config = config.into();
        weft_types::check_name("channel", &config.channel)
            .map_err(|e| ClientError::invalid(e.to_string()))?;
        let transport = Transport::new(
            &config.urls,
            signer,
            config.connect_timeout,
            config.timeout,
            config.batches,
        )?;
        transport.login().await?;
        Ok(Gateway {
            timeout: config.timeout,
            inner: Arc::new(Inner {
                transport,
                config,
                verifier: EndorsementVerifier::new(),
            }),
        })
    }

    /// Reads the profile at `path` and connects as the identity it names.
    pub async fn connect_profile(path: impl AsRef<Path>) -> Result<Gateway> {
        let profile = Profile::load(path)?;
        let identity = profile.identity()?;
        Gateway::connect(&profile, identity).await
    }

    /// This connection with another per-request timeout (sessions shared).
    pub fn with_timeout(&self, timeout: Duration) -> Gateway {
        Gateway {
            inner: Arc::clone(&self.inner),
            timeout,
        }
    }

    /// The per-request timeout in force.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The channel.
    pub fn channel(&self) -> &str {
        &self.inner.config.channel
    }

    /// The configuration connected with.
    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    /// The gateway that answered last (calls go there first).
    pub fn current_url(&self) -> &str {
        self.inner.transport.current_url()
    }

    /// How much longer that gateway asked to be sent no new work: after a
    /// 429 (overloaded) naming a time (`x-weft-retry-after-ms`), endorse and
    /// evaluate calls fail at once with [`ClientError::Overloaded`] until it
    /// has passed, before anything is signed or sent, so that refused work
    /// costs neither side; submits of endorsed transactions still go. A
    /// client that loops should wait this long before its next call.
    pub fn hold(&self) -> Option<Duration> {
        self.inner.transport.hold()
    }

    /// [`Gateway::hold`] as the error new work gets.
    pub(crate) fn check_hold(&self) -> Result<()> {
        self.inner.transport.check_hold()
    }

    /// Who this connection signs as.
    pub fn signer(&self) -> &Arc<dyn Signer> {
        self.inner.transport.signer()
    }

    /// The signer's certificate.
    pub fn certificate(&self) -> &Certificate {
        self.signer().certificate()
    }

    /// The chaincode `name` on this channel.
    pub fn contract(&self, name: &str) -> Contract {
        Contract::new(self.clone(), name)
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The gateway's health (`GET /v1/healthz`).
    pub async fn health(&self) -> Result<Health> {
        let call = Call::get("/v1/healthz", Stage::Request).timeout(self.timeout);
        self.transport().json(&call).await
    }

    /// Runs a signed proposal on the gateway's peer, read-only, and returns
    /// what the chaincode returned (`POST /v1/evaluate`).
    pub async fn evaluate_signed(&self, proposal: &PreparedProposal) -> Result<Vec<u8>> {
        let body = ProposalRequest {
            proposal: proposal.signed(),
            transient: proposal.transient(),
        };
        let call = Call::post("/v1/evaluate", Stage::Endorsement, &body)
            .timeout(self.timeout)
            .tx(proposal.tx_id())
            .new_work();
        let response: weft_types::Response = self.transport().json(&call).await?;
        if !response.is_ok() {
            return Err(ClientError::ChaincodeError {
                org: None,
                message: response.message,
            });
        }
        Ok(response.payload.into_vec())
    }

    /// Has a signed proposal endorsed (`POST /v1/endorse`) and checks the
    /// answer against it (see [`Endorsed`]); nothing is signed yet.
    pub async fn endorse_signed(&self, proposal: &PreparedProposal) -> Result<Endorsed> {
        let body = ProposalRequest {
            proposal: proposal.signed(),
            transient: proposal.transient(),
        };
        let call = Call::post("/v1/endorse", Stage::Endorsement, &body)
            .timeout(self.timeout)
            .tx(proposal.tx_id())
            .new_work();
        let answer: EndorseResponse = self.transport().json(&call).await?;
        let checked = Endorsed::precheck(answer, proposal)?;
        self.inner.verifier.finish(checked).await
    }

    /// Submits a signed transaction (`POST /v1/submit`). With `wait`, waits
    /// up to the timeout until the gateway's peer committed it: a
    /// transaction committed invalid is [`ClientError::Validation`].
    pub async fn submit_signed(&self, envelope: &Envelope, wait: bool) -> Result<Submitted> {
        let tx = envelope
            .decode()
            .map_err(|e| ClientError::invalid(format!("the envelope: {e}")))?;
        self.submit_envelope(envelope, tx.header.tx_id, wait).await
    }

    /// [`Gateway::submit_signed`] of an envelope whose transaction id is
    /// known already (it was just endorsed and signed here): its bytes are
    /// not parsed again.
    pub(crate) async fn submit_envelope(
        &self,
        envelope: &Envelope,
        tx_id: TxId,
        wait: bool,
    ) -> Result<Submitted> {
        let wait_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        let stage = if wait {
            Stage::CommitWait
        } else {
            Stage::Ordering
        };
        let call = Call::post("/v1/submit", stage, envelope)
            .query("wait", wait)
            .query("timeout_ms", wait_ms)
            .timeout(self.timeout + WAIT_GRACE)
            .tx(tx_id);
        let answer: SubmitResponse = self.transport().json(&call).await?;
        if answer.tx_id != tx_id {
            return Err(ClientError::protocol(format!(
                "submitted {tx_id}, the gateway answered for {}",
                answer.tx_id
            )));
        }
        let (Some(block), Some(index), Some(code)) = (answer.block, answer.index, answer.code)
        else {
            if !wait {
                return Ok(Submitted::Ordered { tx_id });
            }
            // Ordered but not waited for by the gateway: wait here.
            return match self.transaction_status(tx_id, self.timeout).await? {
                Some(status) => committed(status).map(Submitted::Committed),
                None => Err(ClientError::Timeout {
                    stage: Stage::CommitWait,
                    message: format!("{tx_id} not committed after {wait_ms} ms"),
                }),
            };
        };
        committed(CommitStatus {
            tx_id,
            block,
            index,
            code,
        })
        .map(Submitted::Committed)
    }

    /// Where `tx_id` was committed, waiting up to `wait` for it
    /// (`GET /v1/transactions/{tx_id}/status`). `None` when the gateway's
    /// peer has not committed it (yet). An invalid transaction is a status
    /// with its code, not an error.
    pub async fn transaction_status(
        &self,
        tx_id: TxId,
        wait: Duration,
    ) -> Result<Option<CommitStatus>> {
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        let call = Call::get(
            format!("/v1/transactions/{tx_id}/status"),
            Stage::CommitWait,
        )
        .query("timeout_ms", wait_ms)
        .timeout(wait + self.timeout)
        .tx(tx_id);
        match self.transport().json::<CommitStatus>(&call).await {
            Ok(status) if status.tx_id == tx_id => Ok(Some(status)),
            Ok(status) => Err(ClientError::protocol(format!(
                "asked for the status of {tx_id}, got {}",
                status.tx_id
            ))),
            Err(ClientError::NotFound { .. })
            | Err(ClientError::Timeout {
                stage: Stage::CommitWait,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A committed transaction and its envelope (`GET /v1/transactions/{tx_id}`).
    pub async fn transaction(&self, tx_id: TxId) -> Result<TransactionRecord> {
        let call =
            Call::get(format!("/v1/transactions/{tx_id}"), Stage::Request).timeout(self.timeout);
        let record: TransactionRecord = self.transport().json(&call).await?;
        if record.tx_id != tx_id {
            return Err(ClientError::protocol(format!(
                "asked for {tx_id}, got {}",
                record.tx_id
            )));
        }
        Ok(record)
    }

    /// Block `number` as the gateway's peer committed it (`GET /v1/blocks/{number}`).
    pub async fn block(&self, number: u64) -> Result<Block> {
        let call = Call::get(format!("/v1/blocks/{number}"), Stage::Request).timeout(self.timeout);
        let block: Block = self.transport().json(&call).await?;
        if block.number() != number {
            return Err(ClientError::protocol(format!(
                "asked for block {number}, got block {}",
                block.number()
            )));
        }
        Ok(block)
    }

    /// Every chaincode defined on the channel (`GET /v1/chaincodes`).
    pub async fn chaincodes(&self) -> Result<Vec<ChaincodeDefinition>> {
        let call = Call::get("/v1/chaincodes", Stage::Request).timeout(self.timeout);
        self.transport().json(&call).await
    }

    /// The definition of chaincode `name` (`GET /v1/chaincodes/{name}`).
    pub async fn chaincode(&self, name: &str) -> Result<ChaincodeDefinition> {
        weft_types::check_name("chaincode", name)
            .map_err(|e| ClientError::invalid(e.to_string()))?;
        let call =
            Call::get(format!("/v1/chaincodes/{name}"), Stage::Request).timeout(self.timeout);
        self.transport().json(&call).await
    }
}

/// A commit status as the answer to a submit: an invalid code is an error.
fn committed(status: CommitStatus) -> Result<CommitStatus> {
    if status.code != ValidationCode::Valid {
        return Err(ClientError::Validation {
            code: status.code,
            tx_id: Some(status.tx_id),
        });
    }
    Ok(status)
}
