//! How concurrent calls are gathered into batch requests — the SDK's
//! calls to a gateway (`POST /v1/batch`), and a peer's gateway's envelopes
//! to the orderers and proposals to another org's peer: [`drain`]; and
//! [`Pause`], how each stops trusting a server's behaviour for a while
//! (e.g. sends single requests after a 404 to a batch).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use weft_types::ndjson::LineBuffer;

use crate::http::error_chain;

/// A switch that stays on for a while once set (lock-free: read on every
/// batch).
#[derive(Debug)]
pub struct Pause {
    origin: std::time::Instant,
    /// Milliseconds after `origin` until which it is on.
    until_ms: AtomicU64,
}

impl Default for Pause {
    fn default() -> Self {
        Pause::new()
    }
}

impl Pause {
    /// A pause that is off.
    pub fn new() -> Self {
        Pause {
            origin: std::time::Instant::now(),
            until_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether it is on now.
    pub fn on(&self) -> bool {
        self.now_ms() < self.until_ms.load(Ordering::Relaxed)
    }

    /// On for `duration` from now.
    pub fn start(&self, duration: Duration) {
        let duration = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let until = self.now_ms().saturating_add(duration);
        self.until_ms.store(until, Ordering::Relaxed);
    }
}

/// The limits of one queue's batches.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Batches sent and not answered yet, at most.
    pub in_flight: usize,
    /// Items per batch, at most.
    pub items: usize,
    /// Bytes per batch (each item's size plus one, its separator), at
    /// most; a single larger item goes alone.
    pub bytes: usize,
}

/// Takes batches off `queue` and runs `send` on each in a task of its
/// own, at most `limits.in_flight` at once. Nothing waits on a timer: a
/// batch is whatever queued while the batches in flight were answered,
/// so a lone item leaves at once. `size` is an item's size in bytes;
/// `taken` sees each item as it leaves the queue. Ends when every sender
/// of `queue` is gone.
pub async fn drain<T, S>(
    mut queue: mpsc::Receiver<T>,
    limits: Limits,
    size: impl Fn(&T) -> usize,
    taken: impl Fn(&T),
    send: impl Fn(Vec<T>) -> S,
) where
    T: Send + 'static,
    S: Future<Output = ()> + Send + 'static,
{
    let in_flight = Arc::new(Semaphore::new(limits.in_flight.max(1)));
    let mut carried: Option<T> = None;
    loop {
        // A free slot first: what arrives meanwhile joins the next batch.
        let Ok(slot) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let first = match carried.take() {
            Some(item) => item,
            None => match queue.recv().await {
                Some(item) => {
                    taken(&item);
                    item
                }
                None => return,
            },
        };
        let (batch, rest) = gather(first, &mut queue, limits, &size, &taken);
        carried = rest;
        let sent = send(batch);
        tokio::spawn(async move {
            sent.await;
            drop(slot);
        });
    }
}

/// A batch of `first` and what else is queued, within `limits`; the item
/// that did not fit, if any, starts the next one.
fn gather<T>(
    first: T,
    queue: &mut mpsc::Receiver<T>,
    limits: Limits,
    size: &impl Fn(&T) -> usize,
    taken: &impl Fn(&T),
) -> (Vec<T>, Option<T>) {
    let mut bytes = size(&first) + 1;
    let mut batch = vec![first];
    while batch.len() < limits.items {
        let Ok(next) = queue.try_recv() else {
            break;
        };
        taken(&next);
        let more = size(&next) + 1;
        if bytes + more > limits.bytes {
            return (batch, Some(next));
        }
        bytes += more;
        batch.push(next);
    }
    (batch, None)
}

/// A queue of `capacity` items whose batches [`drain`] sends with `send`
/// (on the caller's tokio runtime), within `limits`; `size` is an item's
/// size in bytes. The task ends when the returned sender is dropped.
pub fn start<T, S>(
    capacity: usize,
    limits: Limits,
    size: impl Fn(&T) -> usize + Send + 'static,
    send: impl Fn(Vec<T>) -> S + Send + 'static,
) -> mpsc::Sender<T>
where
    T: Send + 'static,
    S: Future<Output = ()> + Send + 'static,
{
    let (queue, receiver) = mpsc::channel(capacity);
    tokio::spawn(drain(receiver, limits, size, |_| {}, send));
    queue
}

/// A batch answer line: it names its call by its place in the request.
pub trait Indexed {
    /// The call's place among the request's lines, from 0.
    fn index(&self) -> usize;
}

/// Reads a batch answer streamed as NDJSON (one line `L` per call, naming
/// it by its index, in any order) and gives each of `calls` its line as it
/// arrives: `answer(call, line)`, the line's parse error if it names the
/// call but does not parse. Reading stops once every call has its line;
/// the calls left without one when the answer ends, breaks off or has a
/// line over `max_line_bytes` get `missing(call, why)`.
pub async fn answer_calls<P, L>(
    response: reqwest::Response,
    calls: Vec<P>,
    max_line_bytes: usize,
    mut answer: impl FnMut(P, Result<L, serde_json::Error>),
    mut missing: impl FnMut(P, &str),
) where
    L: serde::de::DeserializeOwned + Indexed,
{
    let mut waiting: Vec<Option<P>> = calls.into_iter().map(Some).collect();
    let left = waiting.len();
    let read = read_lines(response, left, max_line_bytes, |line| {
        match take_named::<P, L>(&mut waiting, line) {
            Some((call, parsed)) => {
                answer(call, parsed);
                true
            }
            None => false,
        }
    })
    .await;
    let why = match read {
        Ok(()) => "the batch answer has no line for it".to_string(),
        Err(why) => format!("the batch answer stopped short: {why}"),
    };
    for call in waiting.into_iter().flatten() {
        missing(call, &why);
    }
}

/// Reads `answer`'s lines until `settle` has settled `calls` of them (it
/// says whether a line settled one) or the answer ends; `Err` says why it
/// stopped short. A last line without its newline counts.
async fn read_lines(
    mut answer: reqwest::Response,
    calls: usize,
    max_line_bytes: usize,
    mut settle: impl FnMut(&[u8]) -> bool,
) -> Result<(), String> {
    let mut left = calls;
    let mut lines = LineBuffer::new(max_line_bytes);
    while left > 0 {
        match answer.chunk().await {
            Ok(Some(chunk)) => lines.push(&chunk),
            Ok(None) => {
                if let Some(line) = lines.rest() {
                    settle(&line);
                }
                return Ok(());
            }
            Err(e) => return Err(format!("the answer broke off: {}", error_chain(&e))),
        }
        loop {
            match lines.next_line() {
                Ok(Some(line)) if settle(&line) => left = left.saturating_sub(1),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => return Err(format!("the answer has {e}")),
            }
        }
    }
    Ok(())
}

/// The waiting call `line` names by its `"index"`, taken out of
/// `waiting`, with the line parsed (or why it does not parse). `None` when
/// the line names no call still waiting.
fn take_named<P, L>(
    waiting: &mut [Option<P>],
    line: &[u8],
) -> Option<(P, Result<L, serde_json::Error>)>
where
    L: serde::de::DeserializeOwned + Indexed,
{
    #[derive(serde::Deserialize)]
    struct Index {
        index: usize,
    }
    let parsed = serde_json::from_slice::<L>(line);
    let index = match &parsed {
        Ok(parsed) => Some(parsed.index()),
        Err(_) => serde_json::from_slice::<Index>(line).ok().map(|i| i.index),
    };
    let taken = index
        .and_then(|i| waiting.get_mut(i))
        .and_then(Option::take);
    if taken.is_none() {
        tracing::debug!(?index, "a batch answer line for no call waiting");
    }
    taken.map(|call| (call, parsed))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn batches_stay_within_the_item_and_byte_limits() {
        let limits = Limits {
            in_flight: 1,
            items: 100,
            bytes: 1000,
        };
        let taken = AtomicUsize::new(0);
        let gather = |first: Vec<u8>, rx: &mut mpsc::Receiver<Vec<u8>>| {
            gather(first, rx, limits, &|v: &Vec<u8>| v.len(), &|_: &Vec<u8>| {
                taken.fetch_add(1, Ordering::Relaxed);
            })
        };
        let (queue, mut rx) = mpsc::channel(4096);
        for _ in 0..limits.items + 1 {
            queue.try_send(vec![b'x'; 5]).unwrap();
        }
        let first = rx.try_recv().unwrap();
        let (batch, carried) = gather(first, &mut rx);
        assert_eq!(batch.len(), limits.items);
        assert!(carried.is_none());
        assert_eq!(taken.load(Ordering::Relaxed), limits.items - 1);
        assert_eq!(rx.try_recv().unwrap().len(), 5, "one is left queued");

        // Each item counts its separator: 3 × (332 + 1) = 999 fits, a
        // fourth does not and starts the next batch.
        for _ in 0..3 {
            queue.try_send(vec![b'x'; 332]).unwrap();
        }
        let (batch, carried) = gather(vec![b'x'; 332], &mut rx);
        assert_eq!(batch.len(), 3, "the third queued item does not fit");
        assert_eq!(carried.map(|v| v.len()), Some(332));

        // An item over the byte limit still goes, alone.
        let (batch, carried) = gather(vec![b'x'; 2 * limits.bytes], &mut rx);
        assert_eq!(batch.len(), 1);
        assert!(carried.is_none());
    }

    #[tokio::test]
    async fn a_lone_item_leaves_at_once_and_the_slots_bound_the_batches_in_flight() {
        let (queue, rx) = mpsc::channel(64);
        let (sent_tx, mut sent) = mpsc::unbounded_channel();
        let (release_tx, release) = tokio::sync::watch::channel(false);
        let limits = Limits {
            in_flight: 2,
            items: 100,
            bytes: 1 << 20,
        };
        tokio::spawn(drain(
            rx,
            limits,
            |_: &u32| 4,
            |_| {},
            move |batch: Vec<u32>| {
                let (sent_tx, mut release) = (sent_tx.clone(), release.clone());
                async move {
                    sent_tx.send(batch).unwrap();
                    // Held until released: the slot stays taken.
                    let _ = release.wait_for(|r| *r).await;
                }
            },
        ));
        queue.send(1).await.unwrap();
        assert_eq!(sent.recv().await.unwrap(), vec![1]);
        queue.send(2).await.unwrap();
        assert_eq!(sent.recv().await.unwrap(), vec![2]);
        // Both slots taken: what arrives now waits, then leaves together.
        for i in 3..8 {
            queue.send(i).await.unwrap();
        }
        // Time for the task to send a third batch, were it allowed to.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(sent.try_recv().is_err(), "no third batch in flight");
        release_tx.send(true).unwrap();
        assert_eq!(sent.recv().await.unwrap(), vec![3, 4, 5, 6, 7]);
    }
}
