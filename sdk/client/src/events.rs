//! Block and chaincode events from the gateway's server-sent-event
//! endpoints, as streams that reopen a broken connection where it stopped.

use std::collections::HashSet;
use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use serde::{Deserialize, Serialize};
use weft_types::{Bytes, ChaincodeEvent, Digest, TxId, ValidationCode};

use crate::checkpoint::Checkpoint;
use crate::error::{ClientError, Result, Stage};
use crate::gateway::Gateway;
use crate::http::{Call, transport_error};
use crate::sse::{SseEvent, SseParser};

/// A stream of events; it ends after yielding its first error.
pub type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T>> + Send>>;

/// One committed block (SSE `event: block`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEvent {
    /// The block number.
    pub number: u64,
    /// The block's header hash.
    pub block_hash: Digest,
    /// The block's time, unix milliseconds.
    pub timestamp_ms: u64,
    /// The peer's commit hash after the block.
    pub commit_hash: Digest,
    /// Every transaction of the block, in order.
    #[serde(default)]
    pub txs: Vec<TxEvent>,
}

/// One transaction of a committed block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxEvent {
    /// Its index in the block.
    pub index: u32,
    /// Its id (none for an envelope too broken to name one).
    #[serde(default)]
    pub tx_id: Option<TxId>,
    /// The peers' verdict.
    pub code: ValidationCode,
    /// The chaincode a valid invocation ran.
    #[serde(default)]
    pub chaincode: Option<String>,
    /// The chaincode event of a valid invocation.
    #[serde(default)]
    pub event: Option<ChaincodeEvent>,
    /// Why it is invalid, in words, when the gateway says.
    #[serde(default)]
    pub detail: Option<String>,
}

/// One chaincode event of a valid transaction (SSE `event: chaincode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractEvent {
    /// The block of the transaction.
    pub block: u64,
    /// The transaction that set it.
    pub tx_id: TxId,
    /// The chaincode.
    pub chaincode: String,
    /// The event name.
    pub name: String,
    /// The event payload.
    pub payload: Bytes,
}

impl Gateway {
    /// Every committed block from block `from` on (default: the next one).
    /// A broken connection is reopened from the block after the last one
    /// yielded, so no block is missed or repeated.
    pub fn block_events(&self, from: Option<u64>) -> EventStream<BlockEvent> {
        subscribe(self.clone(), BlockFeed { next: from })
    }

    /// [`Gateway::block_events`] from where `checkpoint` says (the next
    /// block when it is fresh).
    pub fn block_events_after(&self, checkpoint: &Checkpoint) -> EventStream<BlockEvent> {
        self.block_events(checkpoint.next_block())
    }

    /// The events of chaincode `name`'s valid transactions from block
    /// `from` on (default: the next block). A broken connection is reopened
    /// from the block of the last event yielded, skipping the events of that
    /// block already yielded.
    pub fn chaincode_events(&self, name: &str, from: Option<u64>) -> EventStream<ContractEvent> {
        subscribe(
            self.clone(),
            ChaincodeFeed {
                chaincode: name.to_string(),
                block: from,
                seen: HashSet::new(),
            },
        )
    }

    /// [`Gateway::chaincode_events`] from where `checkpoint` says, skipping
    /// the events it records as processed.
    pub fn chaincode_events_after(
        &self,
        name: &str,
        checkpoint: &Checkpoint,
    ) -> EventStream<ContractEvent> {
        let (block, seen) = match checkpoint.position() {
            Some(p) => (Some(p.next_block), p.tx_ids.iter().copied().collect()),
            None => (None, HashSet::new()),
        };
        subscribe(
            self.clone(),
            ChaincodeFeed {
                chaincode: name.to_string(),
                block,
                seen,
            },
        )
    }
}

/// What one kind of event stream keeps to resume without loss or repeats.
/// A core without I/O: [`Subscription`] drives it.
pub(crate) trait Feed: Send + 'static {
    type Item: Send + 'static;
    /// The SSE `event:` type carrying items; others are ignored.
    const EVENT: &'static str;
    /// The block to (re)open the stream from; `None` for "the next one".
    fn from(&self) -> Option<u64>;
    /// Sets the start when it was `None` (resolved from the gateway's height).
    fn start_at(&mut self, block: u64);
    /// The request opening the stream at [`Feed::from`].
    fn call(&self) -> Call;
    /// Takes one event's data: the item, `None` for one already yielded,
    /// or an error for one that does not parse or does not fit.
    fn accept(&mut self, data: &str) -> Result<Option<Self::Item>>;
}

pub(crate) struct BlockFeed {
    pub(crate) next: Option<u64>,
}

impl Feed for BlockFeed {
    type Item = BlockEvent;
    const EVENT: &'static str = "block";

    fn from(&self) -> Option<u64> {
        self.next
    }

    fn start_at(&mut self, block: u64) {
        self.next.get_or_insert(block);
    }

    fn call(&self) -> Call {
        let call = Call::get("/v1/events/blocks", Stage::Request);
        match self.next {
            Some(n) => call.query("from", n),
            None => call,
        }
    }

    fn accept(&mut self, data: &str) -> Result<Option<BlockEvent>> {
        let event: BlockEvent = parse_event(Self::EVENT, data)?;
        if let Some(next) = self.next {
            if event.number < next {
                return Ok(None);
            }
            if event.number > next {
                return Err(ClientError::protocol(format!(
                    "the block stream jumped from block {next} to block {}",
                    event.number
                )));
            }
        }
        self.next = Some(event.number.saturating_add(1));
        Ok(Some(event))
    }
}

pub(crate) struct ChaincodeFeed {
    pub(crate) chaincode: String,
    /// The block of the last event yielded (or the start).
    pub(crate) block: Option<u64>,
    /// Transactions of `block` whose events were yielded.
    pub(crate) seen: HashSet<TxId>,
}

impl Feed for ChaincodeFeed {
    type Item = ContractEvent;
    const EVENT: &'static str = "chaincode";

    fn from(&self) -> Option<u64> {
        self.block
    }

    fn start_at(&mut self, block: u64) {
        self.block.get_or_insert(block);
    }

    fn call(&self) -> Call {
        let call =
            Call::get("/v1/events/chaincode", Stage::Request).query("chaincode", &self.chaincode);
        match self.block {
            Some(b) => call.query("from", b),
            None => call,
        }
    }

    fn accept(&mut self, data: &str) -> Result<Option<ContractEvent>> {
        let event: ContractEvent = parse_event(Self::EVENT, data)?;
        if event.chaincode != self.chaincode {
            return Err(ClientError::protocol(format!(
                "asked for events of {}, got one of {}",
                self.chaincode, event.chaincode
            )));
        }
        match self.block {
            Some(b) if event.block < b => return Ok(None),
            Some(b) if event.block == b => {
                if !self.seen.insert(event.tx_id) {
                    return Ok(None);
                }
            }
            _ => {
                self.block = Some(event.block);
                self.seen.clear();
                self.seen.insert(event.tx_id);
            }
        }
        Ok(Some(event))
    }
}

fn parse_event<T: serde::de::DeserializeOwned>(kind: &str, data: &str) -> Result<T> {
    serde_json::from_str(data)
        .map_err(|e| ClientError::protocol(format!("a {kind} event does not parse: {e}")))
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// The shell around a [`Feed`]: the connection, the parser, reconnects.
struct Subscription<F: Feed> {
    gateway: Gateway,
    feed: F,
    body: Option<Body>,
    parser: SseParser,
    /// Consecutive failed or fruitless connections.
    failures: u32,
    start_resolved: bool,
    done: bool,
}

fn subscribe<F: Feed>(gateway: Gateway, feed: F) -> EventStream<F::Item> {
    let sub = Subscription {
        gateway,
        feed,
        body: None,
        parser: SseParser::new(),
        failures: 0,
        start_resolved: false,
        done: false,
    };
    Box::pin(futures::stream::unfold(sub, |mut sub| async move {
        let item = sub.next().await?;
        Some((item, sub))
    }))
}

impl<F: Feed> Subscription<F> {
    async fn next(&mut self) -> Option<Result<F::Item>> {
        while !self.done {
            if let Some(event) = self.parser.next_event() {
                if let Some(item) = self.take(event) {
                    return Some(item);
                }
                continue;
            }
            let Some(body) = self.body.as_mut() else {
                if let Err(e) = self.connect().await
                    && let Some(e) = self.failed(e).await
                {
                    return Some(Err(e));
                }
                continue;
            };
            let idle = self.gateway.config().stream_idle_timeout;
            match tokio::time::timeout(idle, body.next()).await {
                Ok(Some(Ok(chunk))) => {
                    if self.parser.push(&chunk).is_err() {
                        self.done = true;
                        return Some(Err(ClientError::protocol(format!(
                            "an event is larger than {} bytes",
                            crate::sse::MAX_EVENT_BYTES
                        ))));
                    }
                }
                Ok(Some(Err(e))) => {
                    let e = transport_error(e, &Stage::Request);
                    tracing::debug!(error = %e, "event stream broke, reopening");
                    self.disconnect();
                    if let Some(e) = self.failed(e).await {
                        return Some(Err(e));
                    }
                }
                Ok(None) => {
                    tracing::debug!("event stream ended, reopening");
                    self.disconnect();
                    let e = ClientError::Transport {
                        message: "the gateway keeps closing the event stream".into(),
                    };
                    if let Some(e) = self.failed(e).await {
                        return Some(Err(e));
                    }
                }
                Err(_) => {
                    tracing::debug!(?idle, "event stream idle, reopening");
                    self.disconnect();
                }
            }
        }
        None
    }

    /// Hands one parsed event to the feed.
    fn take(&mut self, event: SseEvent) -> Option<Result<F::Item>> {
        if event.event != F::EVENT {
            return None;
        }
        match self.feed.accept(&event.data) {
            Ok(Some(item)) => {
                self.failures = 0;
                Some(Ok(item))
            }
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    async fn connect(&mut self) -> Result<()> {
        if !self.start_resolved && self.feed.from().is_none() {
            // Pin "the next block" to a number, so that a reconnect before the
            // first event neither misses nor repeats a block.
            if let Ok(health) = self.gateway.health().await {
                self.feed.start_at(health.height);
            }
        }
        self.start_resolved = true;
        let mut call = self.feed.call();
        call.sse = true;
        let timeout = self.gateway.timeout();
        let send = self.gateway.transport().send(&call);
        let resp =
            tokio::time::timeout(timeout, send)
                .await
                .map_err(|_| ClientError::Timeout {
                    stage: Stage::Request,
                    message: format!("no answer to {} within {timeout:?}", call.path),
                })??;
        self.parser = SseParser::new();
        self.body = Some(Box::pin(resp.bytes_stream()));
        Ok(())
    }

    fn disconnect(&mut self) {
        self.body = None;
        self.parser = SseParser::new();
    }

    /// Counts a failure; sleeps before the next attempt, or returns the
    /// error to end the stream with.
    async fn failed(&mut self, e: ClientError) -> Option<ClientError> {
        self.failures += 1;
        if !e.is_transient() || self.failures > self.gateway.config().max_reconnects {
            self.done = true;
            return Some(e);
        }
        tokio::time::sleep(backoff(self.failures)).await;
        None
    }
}

/// 100 ms doubling per consecutive failure, at most 5 s.
fn backoff(failures: u32) -> Duration {
    let ms = 100u64.saturating_mul(1 << failures.min(6));
    Duration::from_millis(ms.min(5_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::sha3_256;

    fn block_json(n: u64) -> String {
        serde_json::json!({
            "number": n,
            "block_hash": Digest::ZERO,
            "timestamp_ms": 1,
            "commit_hash": Digest::ZERO,
            "txs": [{"index": 0, "tx_id": TxId(sha3_256(b"t")), "code": "MVCC_READ_CONFLICT",
                     "chaincode": null, "event": null}]
        })
        .to_string()
    }

    fn cc_json(block: u64, tx: &str) -> String {
        serde_json::to_string(&ContractEvent {
            block,
            tx_id: TxId(sha3_256(tx.as_bytes())),
            chaincode: "cc".into(),
            name: "moved".into(),
            payload: Bytes::from("p"),
        })
        .unwrap()
    }

    #[test]
    fn block_feed_drops_repeats_and_refuses_gaps() {
        let mut feed = BlockFeed { next: Some(3) };
        assert_eq!(feed.call().query, [("from", "3".to_string())]);
        assert!(
            feed.accept(&block_json(2)).unwrap().is_none(),
            "before start"
        );
        let e = feed.accept(&block_json(3)).unwrap().unwrap();
        assert_eq!(e.txs[0].code, ValidationCode::MvccReadConflict);
        assert!(feed.accept(&block_json(3)).unwrap().is_none(), "repeat");
        assert_eq!(feed.from(), Some(4), "a reconnect asks for the next block");
        assert!(feed.accept(&block_json(6)).is_err(), "gap");
        assert!(feed.accept("{").is_err());

        let mut fresh = BlockFeed { next: None };
        assert!(fresh.call().query.is_empty());
        fresh.start_at(10);
        assert_eq!(fresh.from(), Some(10));
    }

    #[test]
    fn chaincode_feed_resumes_inside_a_block() {
        let mut feed = ChaincodeFeed {
            chaincode: "cc".into(),
            block: None,
            seen: HashSet::new(),
        };
        assert!(feed.accept(&cc_json(4, "a")).unwrap().is_some());
        assert!(feed.accept(&cc_json(5, "b")).unwrap().is_some());
        // The stream broke here: it reopens at block 5, which repeats "b".
        assert_eq!(
            feed.call().query,
            [("chaincode", "cc".to_string()), ("from", "5".to_string())]
        );
        assert!(feed.accept(&cc_json(5, "b")).unwrap().is_none());
        assert!(feed.accept(&cc_json(5, "c")).unwrap().is_some());
        assert!(feed.accept(&cc_json(4, "a")).unwrap().is_none());
        assert!(feed.accept(&cc_json(6, "b")).unwrap().is_some());
        let other = cc_json(7, "d").replace("\"cc\"", "\"other\"");
        assert!(feed.accept(&other).is_err());
    }

    #[test]
    fn backoff_grows_and_stops_growing() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert!(backoff(3) > backoff(2));
        assert_eq!(backoff(40), Duration::from_millis(5_000));
    }
}
