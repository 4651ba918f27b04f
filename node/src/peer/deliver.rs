//! [`OrdererSource`]: blocks pulled from the orderers' deliver API
//! (`GET http://{api}/v1/deliver?from=N`, one JSON block per line, from `N`
//! on, never ending on its own).
//!
//! A worker thread, running a current-thread tokio runtime the source owns,
//! keeps one streaming connection to one orderer, parses its lines and
//! pushes the blocks into a bounded channel; [`BlockSource::next_block`]
//! only takes from that channel, so it never waits for the network.
//!
//! - **Where from.** The orderers are those of the channel configuration in
//!   force when the worker connects ([`ConfigHandle::current`]), so a config
//!   block that changes them takes effect at the next connection. The first
//!   one is picked at random, then they are taken in turn.
//! - **Fail-over.** A refused connection, an error status, a broken or ended
//!   stream, a line that is not the block due, or a line over
//!   [`DeliverSettings::max_line_bytes`] is logged (`warn`, naming the
//!   orderer and the reason) and the worker moves to the next orderer after
//!   a backoff that doubles with each failure in a row. With no data for
//!   [`DeliverSettings::stall_timeout_ms`], the other orderers are asked
//!   their height (`/v1/healthz`); if one has the block due, the worker
//!   moves to it.
//! - **Reconnecting.** The worker streams from the number the committer last
//!   asked for. When the committer asks for another number than the next one
//!   in the stream (it refused a block and asks again, or skipped ahead),
//!   the stream is dropped and reopened from that number — on the next
//!   orderer when a block is asked for again, since the one that sent it
//!   may keep sending a bad one. Blocks already buffered from the old
//!   stream are discarded (each carries the generation of its request).
//! - **Bounds.** At most [`DeliverSettings::buffer_blocks`] blocks wait in
//!   the channel; when it is full the worker stops reading, and TCP flow
//!   control stops the orderer. A partial line is never buffered past
//!   `max_line_bytes`.
//!
//! The source checks only that a block is the one asked for: the committer
//! verifies the orderers' signatures and the chaining.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, watch};
use weft_types::Block;

use super::source::{BlockSource, SourceError};
use crate::channel::ConfigHandle;
use weft_types::ndjson::LineBuffer;

/// Limits and timings of an [`OrdererSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverSettings {
    /// Blocks received but not yet taken by the committer, at most.
    pub buffer_blocks: usize,
    /// The longest line (one block's JSON) accepted; an orderer that sends a
    /// longer one is left for the next.
    pub max_line_bytes: usize,
    /// How long connecting to an orderer may take.
    pub connect_timeout_ms: u64,
    /// With no data from the orderer for this long, the others are asked
    /// whether they have the block due.
    pub stall_timeout_ms: u64,
    /// How long each of those questions may take.
    pub probe_timeout_ms: u64,
    /// The pause before trying the next orderer after a failure; doubled
    /// for each further failure in a row.
    pub backoff_min_ms: u64,
    /// The longest such pause.
    pub backoff_max_ms: u64,
}

impl Default for DeliverSettings {
    fn default() -> Self {
        DeliverSettings {
            buffer_blocks: 64,
            max_line_bytes: 64 * 1024 * 1024,
            connect_timeout_ms: 2_000,
            stall_timeout_ms: 5_000,
            probe_timeout_ms: 1_000,
            backoff_min_ms: 100,
            backoff_max_ms: 2_000,
        }
    }
}

/// A [`BlockSource`] reading the orderers' deliver API; see the module docs
/// for fail-over and bounds. Dropping it stops its worker thread.
#[derive(Debug)]
pub struct OrdererSource {
    control: watch::Sender<Control>,
    blocks: mpsc::Receiver<Delivered>,
    /// Of the latest request; blocks of older ones are stale.
    generation: u64,
    /// The number the current stream delivers next, if one was requested.
    next: Option<u64>,
    worker: Option<JoinHandle<()>>,
}

impl OrdererSource {
    /// A source reading from the orderers of the channel configuration in
    /// `config`, with the default settings. Nothing is fetched before the
    /// first [`BlockSource::next_block`].
    pub fn new(config: ConfigHandle) -> Result<OrdererSource, SourceError> {
        OrdererSource::with_settings(config, DeliverSettings::default())
    }

    /// A source with explicit `settings`.
    pub fn with_settings(
        config: ConfigHandle,
        settings: DeliverSettings,
    ) -> Result<OrdererSource, SourceError> {
        let first = RandomState::new().hash_one(std::process::id());
        OrdererSource::spawn(config, settings, first as usize)
    }

    /// Starts the worker, which tries orderer `first` (modulo their number)
    /// first.
    fn spawn(
        config: ConfigHandle,
        settings: DeliverSettings,
        first: usize,
    ) -> Result<OrdererSource, SourceError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .build()
            .map_err(std::io::Error::other)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (control, control_rx) = watch::channel(Control::Idle);
        let (tx, blocks) = mpsc::channel(settings.buffer_blocks.max(1));
        let worker = Worker {
            config,
            http,
            settings,
            blocks: tx,
            cursor: first,
            failures: 0,
        };
        let worker = std::thread::Builder::new()
            .name("deliver".into())
            .spawn(move || runtime.block_on(worker.run(control_rx)))?;
        Ok(OrdererSource {
            control,
            blocks,
            generation: 0,
            next: None,
            worker: Some(worker),
        })
    }

    /// Asks the worker for blocks from `from` on.
    fn restart(&mut self, from: u64) {
        let rotate = self.next.is_some_and(|next| from < next);
        self.generation += 1;
        self.next = Some(from);
        self.control.send_replace(Control::Want(Want {
            generation: self.generation,
            from,
            rotate,
        }));
    }
}

impl BlockSource for OrdererSource {
    fn next_block(&mut self, number: u64) -> Result<Option<Block>, SourceError> {
        if self.next != Some(number) {
            self.restart(number);
        }
        loop {
            let delivered = match self.blocks.try_recv() {
                Ok(d) => d,
                Err(TryRecvError::Empty) => return Ok(None),
                Err(TryRecvError::Disconnected) => {
                    return Err(SourceError::Io(std::io::Error::other(
                        "the deliver worker stopped; restart the peer",
                    )));
                }
            };
            if delivered.generation != self.generation {
                continue;
            }
            let got = delivered.block.number();
            if got != number {
                // The next call reconnects.
                self.next = None;
                return Err(SourceError::Invalid(format!(
                    "the orderer sent block {got} where block {number} was due"
                )));
            }
            self.next = Some(number + 1);
            return Ok(Some(delivered.block));
        }
    }
}

impl Drop for OrdererSource {
    fn drop(&mut self) {
        self.control.send_replace(Control::Stop);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// What the worker is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    /// Nothing asked yet.
    Idle,
    /// Stream blocks.
    Want(Want),
    /// The source is dropped.
    Stop,
}

/// Blocks from `from` on, tagged `generation`; `rotate`: start with the
/// next orderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Want {
    generation: u64,
    from: u64,
    rotate: bool,
}

/// A block of the request `generation`.
#[derive(Debug)]
struct Delivered {
    generation: u64,
    block: Block,
}

/// Why a stream ended.
#[derive(Debug)]
enum End {
    /// The source is gone.
    Closed,
    /// The orderer failed; try the next.
    Failed(String),
    /// The orderer sent nothing while orderer `index` has the block due.
    Behind { index: usize },
}

/// The worker thread's state.
struct Worker {
    config: ConfigHandle,
    http: reqwest::Client,
    settings: DeliverSettings,
    blocks: mpsc::Sender<Delivered>,
    /// The orderer to use, an index into the configuration's orderers
    /// (modulo their number, which a config block may change).
    cursor: usize,
    /// Failures in a row, for the backoff.
    failures: u32,
}

impl Worker {
    /// Serves requests until the source stops or is dropped.
    async fn run(mut self, mut control: watch::Receiver<Control>) {
        loop {
            let want = match *control.borrow_and_update() {
                Control::Stop => return,
                Control::Idle => None,
                Control::Want(want) => Some(want),
            };
            let Some(want) = want else {
                if control.changed().await.is_err() {
                    return;
                }
                continue;
            };
            if want.rotate {
                self.cursor = self.cursor.wrapping_add(1);
            }
            let mut position = want.from;
            // Streams, failing over, until the request changes.
            loop {
                let end = tokio::select! {
                    changed = control.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        break;
                    }
                    end = self.stream(want.generation, &mut position) => end,
                };
                match end {
                    End::Closed => return,
                    End::Failed(reason) => {
                        self.failures = self.failures.saturating_add(1);
                        self.cursor = self.cursor.wrapping_add(1);
                        tracing::warn!(
                            from = position,
                            "deliver: {reason}; trying the next orderer"
                        );
                    }
                    End::Behind { index } => self.cursor = index,
                }
            }
        }
    }

    /// The pause before the next connection.
    fn backoff(&self) -> Duration {
        if self.failures == 0 {
            return Duration::ZERO;
        }
        let shift = (self.failures - 1).min(20);
        let ms = self
            .settings
            .backoff_min_ms
            .saturating_mul(1 << shift)
            .min(self.settings.backoff_max_ms);
        Duration::from_millis(ms)
    }

    /// Streams blocks of request `generation` from `position` on from the
    /// current orderer, advancing `position`, until that fails.
    async fn stream(&mut self, generation: u64, position: &mut u64) -> End {
        tokio::time::sleep(self.backoff()).await;
        let config = self.config.current();
        if config.orderers.is_empty() {
            return End::Failed("the channel configuration names no orderer".into());
        }
        let index = self.cursor % config.orderers.len();
        let api = config.orderers[index].api.clone();
        let failed = |reason: String| End::Failed(format!("orderer {api}: {reason}"));
        let url = format!("http://{api}/v1/deliver?from={position}");
        // Not reqwest's request timeout, which would also cut the stream.
        let stall = Duration::from_millis(self.settings.stall_timeout_ms);
        let mut response = match tokio::time::timeout(stall, self.http.get(&url).send()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return failed(format!("cannot connect: {}", error_chain(&e))),
            Err(_) => return failed(format!("no answer in {stall:?}")),
        };
        let status = response.status();
        if !status.is_success() {
            let body = tokio::time::timeout(stall, response.chunk()).await;
            let body = body.ok().and_then(Result::ok).flatten().unwrap_or_default();
            let body = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            return failed(format!("answered {status}: {body}"));
        }
        tracing::info!(orderer = %api, from = *position, "receiving blocks");
        let mut lines = LineBuffer::new(self.settings.max_line_bytes);
        loop {
            let chunk = match tokio::time::timeout(stall, response.chunk()).await {
                Err(_) => match self.probe(&config.orderers, index, *position).await {
                    Some(ahead) => {
                        tracing::warn!(
                            orderer = %api,
                            ahead = %config.orderers[ahead].api,
                            "deliver: orderer {api} sent nothing for {stall:?} while orderer {} has block {position}; switching",
                            config.orderers[ahead].api
                        );
                        return End::Behind { index: ahead };
                    }
                    None => continue,
                },
                Ok(Err(e)) => return failed(format!("the stream broke: {}", error_chain(&e))),
                Ok(Ok(None)) => return failed("the stream ended".into()),
                Ok(Ok(Some(chunk))) => chunk,
            };
            lines.push(&chunk);
            loop {
                let line = match lines.next_line() {
                    Ok(Some(line)) => line,
                    Ok(None) => break,
                    Err(e) => return failed(e.to_string()),
                };
                let block: Block = match serde_json::from_slice(&line) {
                    Ok(b) => b,
                    Err(e) => return failed(format!("block {position} is not a block: {e}")),
                };
                if block.number() != *position {
                    return failed(format!(
                        "sent block {} where block {position} was due",
                        block.number()
                    ));
                }
                self.failures = 0;
                if self
                    .blocks
                    .send(Delivered { generation, block })
                    .await
                    .is_err()
                {
                    return End::Closed;
                }
                *position += 1;
            }
        }
    }

    /// The first other orderer whose height shows it has block `position`.
    async fn probe(
        &self,
        orderers: &[weft_types::OrdererInfo],
        current: usize,
        position: u64,
    ) -> Option<usize> {
        let timeout = Duration::from_millis(self.settings.probe_timeout_ms);
        for (index, orderer) in orderers.iter().enumerate() {
            if index == current {
                continue;
            }
            let url = format!("http://{}/v1/healthz", orderer.api);
            let answer = async {
                let response = self.http.get(&url).timeout(timeout).send().await.ok()?;
                let health: serde_json::Value = response.json().await.ok()?;
                health["height"].as_u64()
            };
            if answer.await.is_some_and(|height| height > position) {
                return Some(index);
            }
        }
        None
    }
}

/// An error with its sources ("error sending request: connection refused"):
/// reqwest's own message alone rarely says what happened.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use axum::Router;
    use axum::body::{Body, Bytes};
    use axum::extract::{Query, State};
    use axum::routing::get;
    use futures::StreamExt;
    use weft_tests::network::TestNetwork;

    use super::*;

    /// What a canned orderer does on `/v1/deliver`.
    #[derive(Debug, Clone, Copy)]
    enum Behaviour {
        /// Its blocks from `from` on, then nothing, forever.
        Serve,
        /// `n` blocks from `from` on, then the stream breaks.
        BreakAfter(usize),
        /// A line that is not a block.
        Garbage,
        /// A line longer than any limit set in these tests.
        Huge,
        /// A 503.
        Unavailable,
        /// Nothing, forever; its health says it has only block 0.
        Hang,
        /// No answer at all, not even a status.
        Silent,
    }

    #[derive(Clone)]
    struct Canned {
        chain: Arc<Vec<Block>>,
        behaviour: Behaviour,
        /// The `from` of every deliver request.
        requests: Arc<Mutex<Vec<u64>>>,
    }

    #[derive(serde::Deserialize)]
    struct DeliverQuery {
        from: u64,
    }

    type Lines = futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>>;

    async fn deliver(
        State(c): State<Canned>,
        Query(q): Query<DeliverQuery>,
    ) -> axum::response::Response {
        c.requests.lock().unwrap().push(q.from);
        let lines = |n: usize| -> Vec<Result<Bytes, std::io::Error>> {
            let from = usize::try_from(q.from).unwrap().min(c.chain.len());
            c.chain[from..]
                .iter()
                .take(n)
                .map(|b| {
                    let mut json = serde_json::to_vec(b).unwrap();
                    json.push(b'\n');
                    Ok(Bytes::from(json))
                })
                .collect()
        };
        let pending = || -> Lines { futures::stream::pending().boxed() };
        let stream: Lines = match c.behaviour {
            Behaviour::Serve => futures::stream::iter(lines(usize::MAX))
                .chain(pending())
                .boxed(),
            Behaviour::BreakAfter(n) => futures::stream::iter(lines(n))
                // Once the blocks are out: hyper drops unsent data on an error.
                .chain(futures::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Err(std::io::Error::other("cut"))
                }))
                .boxed(),
            Behaviour::Garbage => futures::stream::iter([Ok(Bytes::from("{not a block}\n"))])
                .chain(pending())
                .boxed(),
            Behaviour::Huge => futures::stream::iter([Ok(Bytes::from(vec![b' '; 64 * 1024]))])
                .chain(pending())
                .boxed(),
            Behaviour::Unavailable => {
                return axum::response::Response::builder()
                    .status(503)
                    .body(Body::from("no leader"))
                    .unwrap();
            }
            Behaviour::Hang => pending(),
            Behaviour::Silent => futures::future::pending().await,
        };
        axum::response::Response::new(Body::from_stream(stream))
    }

    async fn healthz(State(c): State<Canned>) -> axum::Json<serde_json::Value> {
        let height = match c.behaviour {
            Behaviour::Hang => 1,
            _ => c.chain.len(),
        };
        axum::Json(serde_json::json!({ "height": height }))
    }

    /// Canned orderers on 127.0.0.1, one per behaviour, serving one chain.
    struct Orderers {
        _runtime: tokio::runtime::Runtime,
        chain: Arc<Vec<Block>>,
        requests: Vec<Arc<Mutex<Vec<u64>>>>,
        config: ConfigHandle,
    }

    /// Genesis and `blocks` more empty blocks.
    fn chain(net: &TestNetwork, blocks: usize) -> Vec<Block> {
        let mut chain = vec![net.genesis()];
        for _ in 0..blocks {
            let last = &chain[chain.len() - 1].header;
            chain.push(net.next_block(last, vec![]));
        }
        chain
    }

    /// A port nothing listens on.
    fn closed_port() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }

    /// `None` is an address where nothing listens.
    fn orderers(behaviours: &[Option<Behaviour>], blocks: usize) -> Orderers {
        let net = TestNetwork::with_orderers(&["Org1"], behaviours.len());
        let chain = Arc::new(chain(&net, blocks));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut config = net.config.clone();
        let mut requests = Vec::new();
        for (i, behaviour) in behaviours.iter().enumerate() {
            let log = Arc::new(Mutex::new(Vec::new()));
            requests.push(log.clone());
            let Some(behaviour) = *behaviour else {
                config.orderers[i].api = closed_port().to_string();
                continue;
            };
            let app = Router::new()
                .route("/v1/deliver", get(deliver))
                .route("/v1/healthz", get(healthz))
                .with_state(Canned {
                    chain: chain.clone(),
                    behaviour,
                    requests: log,
                });
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .unwrap();
            config.orderers[i].api = listener.local_addr().unwrap().to_string();
            runtime.spawn(async move { axum::serve(listener, app).await });
        }
        Orderers {
            _runtime: runtime,
            chain,
            requests,
            config: ConfigHandle::new(config),
        }
    }

    fn fast() -> DeliverSettings {
        DeliverSettings {
            buffer_blocks: 4,
            max_line_bytes: 16 * 1024,
            connect_timeout_ms: 1_000,
            stall_timeout_ms: 300,
            probe_timeout_ms: 500,
            backoff_min_ms: 10,
            backoff_max_ms: 50,
        }
    }

    /// Polls `source` for block `number` for up to 20 s.
    fn wait_for(source: &mut OrdererSource, number: u64) -> Block {
        let started = Instant::now();
        loop {
            if let Some(block) = source.next_block(number).unwrap() {
                assert_eq!(block.number(), number);
                return block;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "block {number} never came"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Takes blocks `from..to` and checks they are the chain's.
    fn takes(source: &mut OrdererSource, orderers: &Orderers, from: u64, to: u64) {
        for n in from..to {
            let block = wait_for(source, n);
            assert_eq!(block.hash(), orderers.chain[n as usize].hash(), "block {n}");
        }
    }

    fn requests(orderers: &Orderers, index: usize) -> Vec<u64> {
        orderers.requests[index].lock().unwrap().clone()
    }

    #[test]
    fn blocks_come_in_order_and_none_at_once_when_caught_up() {
        let orderers = orderers(&[Some(Behaviour::Serve)], 5);
        let mut source = OrdererSource::spawn(orderers.config.clone(), fast(), 0).unwrap();
        takes(&mut source, &orderers, 1, 6);
        let started = Instant::now();
        assert!(source.next_block(6).unwrap().is_none());
        assert!(started.elapsed() < Duration::from_millis(50));
        // One stream served them all.
        assert_eq!(requests(&orderers, 0), [1]);
    }

    #[test]
    fn asking_again_reconnects_from_that_number_on_the_next_orderer() {
        let orderers = orderers(&[Some(Behaviour::Serve), Some(Behaviour::Serve)], 8);
        let mut source = OrdererSource::spawn(orderers.config.clone(), fast(), 0).unwrap();
        takes(&mut source, &orderers, 2, 5);
        // The committer refused block 3 and asks for it again.
        takes(&mut source, &orderers, 3, 6);
        // A restarted peer, or one that skipped ahead: the same orderer.
        takes(&mut source, &orderers, 7, 9);
        assert_eq!(requests(&orderers, 0), [2]);
        assert_eq!(requests(&orderers, 1), [3, 7]);
    }

    #[test]
    fn asking_again_while_the_buffer_is_full_restarts_the_stream() {
        let orderers = orderers(&[Some(Behaviour::Serve)], 40);
        let settings = DeliverSettings {
            buffer_blocks: 1,
            ..fast()
        };
        let mut source = OrdererSource::spawn(orderers.config.clone(), settings, 0).unwrap();
        takes(&mut source, &orderers, 1, 3);
        // The worker now waits on the full buffer.
        std::thread::sleep(Duration::from_millis(100));
        takes(&mut source, &orderers, 1, 41);
        assert_eq!(requests(&orderers, 0), [1, 1]);
    }

    #[test]
    fn failing_orderers_are_left_for_the_next() {
        for bad in [
            None,
            Some(Behaviour::Unavailable),
            Some(Behaviour::BreakAfter(2)),
            Some(Behaviour::Garbage),
            Some(Behaviour::Huge),
            Some(Behaviour::Silent),
        ] {
            let orderers = orderers(&[bad, Some(Behaviour::Serve)], 6);
            let mut source = OrdererSource::spawn(orderers.config.clone(), fast(), 0).unwrap();
            takes(&mut source, &orderers, 1, 7);
            let tried = requests(&orderers, 0);
            assert!(bad.is_none() || tried == [1], "{bad:?}: {tried:?}");
            // After a broken stream, the next orderer goes on where it broke.
            let from = if matches!(bad, Some(Behaviour::BreakAfter(_))) {
                3
            } else {
                1
            };
            assert_eq!(requests(&orderers, 1), [from], "{bad:?}");
        }
    }

    #[test]
    fn every_orderer_failing_keeps_the_source_trying_without_blocking() {
        let orderers = orderers(&[None, Some(Behaviour::Unavailable)], 3);
        let mut source = OrdererSource::spawn(orderers.config.clone(), fast(), 0).unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(500) {
            let call = Instant::now();
            assert!(source.next_block(1).unwrap().is_none());
            assert!(call.elapsed() < Duration::from_millis(50));
            std::thread::sleep(Duration::from_millis(10));
        }
        // Backing off: a few tries, not hundreds.
        let tries = requests(&orderers, 1).len();
        assert!((1..=10).contains(&tries), "{tries} tries");
    }

    #[test]
    fn a_stalled_orderer_is_left_when_another_has_the_block() {
        let orderers = orderers(&[Some(Behaviour::Hang), Some(Behaviour::Serve)], 3);
        let mut source = OrdererSource::spawn(orderers.config.clone(), fast(), 0).unwrap();
        takes(&mut source, &orderers, 1, 4);
        assert_eq!(requests(&orderers, 0), [1]);
        assert_eq!(requests(&orderers, 1), [1]);
    }

    #[test]
    fn dropping_the_source_stops_its_worker_at_once() {
        let orderers = orderers(&[Some(Behaviour::Hang)], 1);
        let mut source = OrdererSource::spawn(orderers.config.clone(), fast(), 0).unwrap();
        assert!(source.next_block(1).unwrap().is_none());
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        drop(source);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
