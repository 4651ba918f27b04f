//! The cluster transport: Raft messages between orderers over TCP.
//!
//! - Each connection starts with a signed handshake: the dialling orderer
//!   sends its id, the id it means to reach, the time and its certificate,
//!   signed for [`Domain::ClusterHandshake`]. The listener accepts it only if
//!   the certificate is an orderer's of a channel org, valid now, its key is
//!   the channel's orderer with that id, the target is this orderer and the
//!   time is within [`HANDSHAKE_SKEW_MS`]. Every message on the connection
//!   must then come `from` that id; one that does not closes it.
//! - Frames are `len u32 BE || protobuf Message`, at most
//!   [`MAX_FRAME_BYTES`]; a larger one closes the connection.
//! - [`ClusterTransport::send`] never blocks the Raft loop: each peer has a
//!   bounded queue drained by its own writer task, which batches whatever is
//!   queued into one write and reconnects with backoff. A full queue or a
//!   dead peer drops messages — Raft retransmits what matters.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protobuf::Message as _;
use raft::eraftpb::Message;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use weft_types::{
    Certificate, ChannelConfig, Domain, Hasher, Identity, Role, Signature, TrustStore,
};

/// Largest frame accepted: a Raft message carrying a few full blocks.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// How far a handshake's time may be from the listener's clock.
pub const HANDSHAKE_SKEW_MS: u64 = 5 * 60 * 1000;

/// Messages queued per peer before new ones are dropped.
const QUEUE: usize = 4096;

/// Why a connection was refused or closed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The handshake does not prove the peer is the orderer it claims.
    #[error("handshake refused: {0}")]
    Handshake(String),
    /// The peer broke the framing or sent a message it may not.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

/// The first frame of a connection, as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Handshake {
    from: u64,
    to: u64,
    timestamp_ms: u64,
    certificate: Certificate,
    signature: Signature,
}

fn handshake_digest(from: u64, to: u64, timestamp_ms: u64) -> weft_types::Digest {
    let mut h = Hasher::new();
    h.update(&from.to_be_bytes())
        .update(&to.to_be_bytes())
        .update(&timestamp_ms.to_be_bytes());
    h.finalize()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Counters for the metrics endpoint and tests.
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Messages handed to a writer.
    pub queued: AtomicU64,
    /// Messages dropped: queue full, unknown peer.
    pub dropped: AtomicU64,
    /// Connections refused at the handshake or closed for a violation.
    pub refused: AtomicU64,
}

/// Sends and receives the Raft messages of one orderer.
#[derive(Debug, Clone)]
pub struct ClusterTransport {
    peers: Arc<HashMap<u64, mpsc::Sender<Message>>>,
    stats: Arc<TransportStats>,
}

impl ClusterTransport {
    /// Listens on `listener` for the other orderers and dials each of
    /// `peers` (`id → host:port`) as `identity` (orderer `my_id`).
    /// Received messages, from authenticated orderers only, come out of
    /// the returned receiver. Must be called within a tokio runtime.
    pub fn start(
        my_id: u64,
        identity: Identity,
        config: Arc<ChannelConfig>,
        listener: TcpListener,
        peers: HashMap<u64, String>,
    ) -> (ClusterTransport, mpsc::Receiver<Message>) {
        let stats = Arc::new(TransportStats::default());
        let (inbox, received) = mpsc::channel(QUEUE);
        tokio::spawn(accept_loop(my_id, config, listener, inbox, stats.clone()));
        let identity = Arc::new(identity);
        let mut queues = HashMap::new();
        for (id, addr) in peers {
            if id == my_id {
                continue;
            }
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(writer(my_id, id, addr, identity.clone(), rx));
            queues.insert(id, tx);
        }
        (
            ClusterTransport {
                peers: Arc::new(queues),
                stats,
            },
            received,
        )
    }

    /// Queues `message` for `message.to`; never waits. `false` when it was
    /// dropped (unknown peer, or its queue is full).
    pub fn send(&self, message: Message) -> bool {
        let queued = self
            .peers
            .get(&message.to)
            .is_some_and(|q| q.try_send(message).is_ok());
        let counter = if queued {
            &self.stats.queued
        } else {
            &self.stats.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
        queued
    }

    /// Counters of what was sent, dropped and refused.
    pub fn stats(&self) -> &TransportStats {
        &self.stats
    }
}

async fn accept_loop(
    my_id: u64,
    config: Arc<ChannelConfig>,
    listener: TcpListener,
    inbox: mpsc::Sender<Message>,
    stats: Arc<TransportStats>,
) {
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (config, inbox, stats) = (config.clone(), inbox.clone(), stats.clone());
        tokio::spawn(async move {
            if let Err(e) = serve(my_id, &config, stream, &inbox).await
                && !matches!(e, TransportError::Io(_))
            {
                stats.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%addr, "cluster connection closed: {e}");
            }
        });
    }
}

/// Reads one connection: handshake, then messages.
async fn serve(
    my_id: u64,
    config: &ChannelConfig,
    mut stream: TcpStream,
    inbox: &mpsc::Sender<Message>,
) -> Result<(), TransportError> {
    stream.set_nodelay(true)?;
    let first = read_frame(&mut stream).await?;
    let from = check_handshake(my_id, config, &first, now_ms())?;
    loop {
        let frame = read_frame(&mut stream).await?;
        let message = Message::parse_from_bytes(&frame)
            .map_err(|e| TransportError::Protocol(format!("not a Raft message: {e}")))?;
        if message.from != from || message.to != my_id {
            return Err(TransportError::Protocol(format!(
                "orderer {from} sent a message from {} to {}",
                message.from, message.to
            )));
        }
        if inbox.send(message).await.is_err() {
            return Ok(()); // the node is shutting down
        }
    }
}

/// Checks a handshake frame; returns the authenticated sender's id.
fn check_handshake(
    my_id: u64,
    config: &ChannelConfig,
    frame: &[u8],
    now_ms: u64,
) -> Result<u64, TransportError> {
    let refuse = |why: String| Err(TransportError::Handshake(why));
    let h: Handshake = match serde_json::from_slice(frame) {
        Ok(h) => h,
        Err(e) => return refuse(format!("not a handshake: {e}")),
    };
    if h.to != my_id {
        return refuse(format!("it is for orderer {}, this is {my_id}", h.to));
    }
    if h.timestamp_ms.abs_diff(now_ms) > HANDSHAKE_SKEW_MS {
        return refuse(format!(
            "its time is {} ms away from this orderer's clock",
            h.timestamp_ms.abs_diff(now_ms)
        ));
    }
    let body = match config.verify_certificate(&h.certificate, now_ms / 1000) {
        Ok(body) => body,
        Err(e) => return refuse(e.to_string()),
    };
    if body.role != Role::Orderer {
        return refuse(format!("{}@{} is not an orderer", body.name, body.org));
    }
    match config.orderer_by_key(&body.public_key) {
        Some(o) if o.id == h.from => {}
        Some(o) => {
            return refuse(format!(
                "{}@{} is orderer {}, not {}",
                body.name, body.org, o.id, h.from
            ));
        }
        None => {
            return refuse(format!(
                "{}@{} is not an orderer of this channel",
                body.name, body.org
            ));
        }
    }
    let digest = handshake_digest(h.from, h.to, h.timestamp_ms);
    if body
        .public_key
        .verify(Domain::ClusterHandshake, &digest, &h.signature)
        .is_err()
    {
        return refuse("its signature does not verify".into());
    }
    Ok(h.from)
}

async fn read_frame(stream: &mut TcpStream) -> Result<Vec<u8>, TransportError> {
    let len = stream.read_u32().await? as usize;
    if len > MAX_FRAME_BYTES {
        return Err(TransportError::Protocol(format!(
            "a frame of {len} bytes; at most {MAX_FRAME_BYTES}"
        )));
    }
    let mut frame = vec![0u8; len];
    stream.read_exact(&mut frame).await?;
    Ok(frame)
}

fn push_frame(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Dials `to` and writes its queue, batching, reconnecting with backoff.
async fn writer(
    my_id: u64,
    to: u64,
    addr: String,
    identity: Arc<Identity>,
    mut queue: mpsc::Receiver<Message>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut connection: Option<TcpStream> = None;
    while let Some(first) = queue.recv().await {
        let mut buffer = Vec::new();
        for message in std::iter::once(first).chain(std::iter::from_fn(|| queue.try_recv().ok())) {
            match message.write_to_bytes() {
                Ok(bytes) => push_frame(&mut buffer, &bytes),
                Err(e) => tracing::error!(to, "cannot encode a Raft message: {e}"),
            }
        }
        if connection.is_none() {
            match dial(my_id, to, &addr, &identity).await {
                Ok(stream) => {
                    backoff = Duration::from_millis(50);
                    connection = Some(stream);
                }
                Err(e) => {
                    tracing::debug!(to, %addr, "cannot reach orderer {to}: {e}");
                    // Drop what was queued meanwhile: it is stale by the
                    // time the peer is back, and Raft resends.
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    while queue.try_recv().is_ok() {}
                    continue;
                }
            }
        }
        if let Some(stream) = connection.as_mut()
            && let Err(e) = stream.write_all(&buffer).await
        {
            tracing::debug!(to, "lost the connection to orderer {to}: {e}");
            connection = None;
        }
    }
}

async fn dial(
    my_id: u64,
    to: u64,
    addr: &str,
    identity: &Identity,
) -> Result<TcpStream, TransportError> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let timestamp_ms = now_ms();
    let handshake = Handshake {
        from: my_id,
        to,
        timestamp_ms,
        certificate: identity.certificate().clone(),
        signature: identity.sign(
            Domain::ClusterHandshake,
            &handshake_digest(my_id, to, timestamp_ms),
        ),
    };
    let json = serde_json::to_vec(&handshake)
        .map_err(|e| TransportError::Protocol(format!("handshake does not serialize: {e}")))?;
    let mut frame = Vec::new();
    push_frame(&mut frame, &json);
    stream.write_all(&frame).await?;
    Ok(stream)
}
