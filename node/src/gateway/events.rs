//! Server-sent events: committed blocks, and the chaincode events of valid
//! transactions.
//!
//! A stream subscribes to the committer first, then replays blocks from
//! the ledger up to its height, then follows live events, skipping those
//! below the next block it owes: no gap and no duplicate at the switch. A
//! subscription that lags (the committer's buffer overflowed) replays the
//! missed blocks from the ledger. At most [`MAX_EVENT_STREAMS`] are open.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast::{self, error::RecvError};

use super::Gateway;
use super::api::{
    BlockEventView, BlocksQuery, ChaincodeEventView, ChaincodeEventsQuery, TxEventView,
};
use super::error::{ErrorBody, ErrorCode, GatewayError, QueryParams, Stage};
use super::replay;
use crate::committer::BlockEvent;

/// Event streams open at once; more are refused with 429.
pub const MAX_EVENT_STREAMS: usize = 1_000;

/// A comment line this often keeps idle connections (and proxies) open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One SSE event per committed block, from block `from` on.
#[utoipa::path(
    get,
    path = "/v1/events/blocks",
    tag = "events",
    params(BlocksQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`event: block`, `id: <number>`, data a BlockEventView, one per block", content_type = "text/event-stream", body = BlockEventView),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 429, description = "Too many streams open", body = ErrorBody),
    )
)]
pub(crate) async fn blocks(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<BlocksQuery>,
) -> Result<Response, GatewayError> {
    let follow = Follow::start(&gw, start(&gw, query.from, &headers)?)?;
    let events = follow.into_stream().filter_map(|ev| async move {
        let data = serde_json::to_string(&block_view(&ev)).ok()?;
        Some(Ok::<_, Infallible>(
            Event::default()
                .event("block")
                .id(ev.number.to_string())
                .data(data),
        ))
    });
    Ok(sse(events))
}

/// One SSE event per chaincode event of a valid transaction of `chaincode`.
#[utoipa::path(
    get,
    path = "/v1/events/chaincode",
    tag = "events",
    params(ChaincodeEventsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`event: chaincode`, `id: <block>`, data a ChaincodeEventView", content_type = "text/event-stream", body = ChaincodeEventView),
        (status = 400, description = "No chaincode named, or bad query", body = ErrorBody),
        (status = 429, description = "Too many streams open", body = ErrorBody),
    )
)]
pub(crate) async fn chaincode(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<ChaincodeEventsQuery>,
) -> Result<Response, GatewayError> {
    let Some(name) = query.chaincode.filter(|c| !c.is_empty()) else {
        return Err(GatewayError::malformed(
            "name the chaincode whose events to stream: ?chaincode=NAME",
        ));
    };
    let follow = Follow::start(&gw, start(&gw, query.from, &headers)?)?;
    let events = follow
        .into_stream()
        .flat_map(move |ev| stream::iter(chaincode_events(&ev, &name)))
        .map(Ok::<_, Infallible>);
    Ok(sse(events))
}

fn sse(events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// The first block to send: `from`, else `Last-Event-ID` + 1, else the
/// next block to commit.
fn start(gw: &Gateway, from: Option<u64>, headers: &HeaderMap) -> Result<u64, GatewayError> {
    if let Some(from) = from {
        return Ok(from);
    }
    match headers.get("last-event-id") {
        None => Ok(gw.committer.height()),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(|n| n.saturating_add(1))
            .ok_or_else(|| GatewayError::malformed("Last-Event-ID is not a block number")),
    }
}

fn block_view(ev: &BlockEvent) -> BlockEventView {
    BlockEventView {
        number: ev.number,
        block_hash: ev.block_hash,
        timestamp_ms: ev.timestamp_ms,
        commit_hash: ev.commit_hash,
        txs: ev
            .txs
            .iter()
            .map(|t| TxEventView {
                index: t.index,
                tx_id: t.tx_id,
                code: t.code,
                chaincode: t.chaincode.clone(),
                event: t.event.clone(),
            })
            .collect(),
    }
}

fn chaincode_events(ev: &BlockEvent, chaincode: &str) -> Vec<Event> {
    ev.valid()
        .filter(|t| t.chaincode.as_deref() == Some(chaincode))
        .filter_map(|t| {
            let event = t.event.as_ref()?;
            let view = ChaincodeEventView {
                block: ev.number,
                tx_id: t.tx_id?,
                chaincode: chaincode.to_string(),
                name: event.name.clone(),
                payload: event.payload.clone(),
            };
            let data = serde_json::to_string(&view).ok()?;
            Some(
                Event::default()
                    .event("chaincode")
                    .id(ev.number.to_string())
                    .data(data),
            )
        })
        .collect()
}

/// A stream's position: the next block it owes, and its subscription.
struct Follow {
    gw: Arc<Gateway>,
    events: broadcast::Receiver<Arc<BlockEvent>>,
    next: u64,
    _permit: OwnedSemaphorePermit,
}

impl Follow {
    /// Subscribes (before anything is replayed) and takes a stream slot.
    fn start(gw: &Arc<Gateway>, from: u64) -> Result<Follow, GatewayError> {
        let permit = gw.streams.clone().try_acquire_owned().map_err(|_| {
            GatewayError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::Overloaded,
                Stage::Request,
                format!("{MAX_EVENT_STREAMS} event streams are open on this peer; retry later"),
            )
            // About streams, not work: new work may still go.
            .without_hold()
        })?;
        Ok(Follow {
            events: gw.committer.subscribe(),
            gw: gw.clone(),
            next: from,
            _permit: permit,
        })
    }

    fn into_stream(self) -> impl Stream<Item = Arc<BlockEvent>> + Send + 'static {
        stream::unfold(self, |mut f| async move {
            let ev = f.next_event().await?;
            Some((ev, f))
        })
    }

    /// The event of block `next`: from the ledger while it is behind the
    /// ledger's height, then from the subscription. `None` ends the stream
    /// (the committer stopped, or the ledger failed).
    async fn next_event(&mut self) -> Option<Arc<BlockEvent>> {
        loop {
            if self.next < self.gw.committer.height() {
                let ledger = self.gw.committer.ledger().clone();
                let number = self.next;
                let replayed =
                    tokio::task::spawn_blocking(move || replay::block_event(&ledger, number)).await;
                return match replayed {
                    Ok(Ok(Some(ev))) => {
                        self.next += 1;
                        Some(Arc::new(ev))
                    }
                    Ok(Ok(None)) => {
                        tracing::warn!(block = number, "a committed block is missing: stream ends");
                        None
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(block = number, "cannot replay block: {e}");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(block = number, "replay failed: {e}");
                        None
                    }
                };
            }
            match self.events.recv().await {
                Ok(ev) if ev.number == self.next => {
                    self.next += 1;
                    return Some(ev);
                }
                // Below `next`: replayed already. Above: the ledger has
                // it, and the loop replays the blocks in between first.
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
