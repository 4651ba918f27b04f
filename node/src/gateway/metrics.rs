//! Prometheus metrics in the text format, kept by hand: the ledger height,
//! requests by route and status, and committed transactions by
//! validation code.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use tokio::sync::broadcast::{self, error::RecvError};
use weft_types::ValidationCode;

use super::Gateway;
use crate::committer::{BlockEvent, Committer};

/// The counters.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// Requests answered, by route template and status. Bounded: routes
    /// are the router's templates (or `unmatched`), statuses are few.
    requests: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
    /// Transactions committed since the gateway started, by code.
    committed: [AtomicU64; 256],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            committed: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Metrics {
    fn count_request(&self, route: &str, status: u16) {
        let mut requests = self.requests.lock();
        let by_status = match requests.get_mut(route) {
            Some(m) => m,
            None => requests.entry(route.to_string()).or_default(),
        };
        *by_status.entry(status).or_insert(0) += 1;
    }

    fn count_block(&self, codes: impl Iterator<Item = ValidationCode>) {
        for code in codes {
            self.committed[usize::from(code.as_u8())].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn render(&self, height: u64) -> String {
        let mut out = String::with_capacity(2048);
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP weft_ledger_height Blocks committed to this peer's ledger.\n\
             # TYPE weft_ledger_height gauge\n\
             weft_ledger_height {height}"
        );
        let _ = writeln!(
            out,
            "# HELP weft_gateway_requests_total Gateway requests answered, by route and status.\n\
             # TYPE weft_gateway_requests_total counter"
        );
        for (route, by_status) in self.requests.lock().iter() {
            for (status, n) in by_status {
                let _ = writeln!(
                    out,
                    "weft_gateway_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP weft_transactions_committed_total Transactions committed since the gateway \
             started, by validation code.\n\
             # TYPE weft_transactions_committed_total counter"
        );
        for code in ValidationCode::ALL {
            let n = self.committed[usize::from(code.as_u8())].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "weft_transactions_committed_total{{code=\"{}\"}} {n}",
                code.name()
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// What [`track`] counts into, and the prefix of its route labels
/// (`""` for the client API, `"p2p "` for the peer-to-peer one, whose
/// `/v1/endorse` is another route than the client's).
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) prefix: &'static str,
}

/// Counts every answer by its route template and status.
pub(crate) async fn track(State(tracker): State<Tracker>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let response = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let status = response.status().as_u16();
    if tracker.prefix.is_empty() {
        tracker.metrics.count_request(route, status);
    } else {
        let label = format!("{}{route}", tracker.prefix);
        tracker.metrics.count_request(&label, status);
    }
    response
}

/// Counts the transactions of every block committed from `next` on, until
/// the committer goes away. A lagging subscription reads the missed
/// blocks' flags from the ledger (off the async threads).
pub(crate) async fn count_commits(
    metrics: Arc<Metrics>,
    committer: Weak<Committer>,
    mut events: broadcast::Receiver<Arc<BlockEvent>>,
    mut next: u64,
) {
    loop {
        let until = match events.recv().await {
            Ok(ev) if ev.number < next => continue,
            Ok(ev) => {
                next = catch_up(&metrics, &committer, next, ev.number).await;
                if next == ev.number {
                    metrics.count_block(ev.txs.iter().map(|t| t.code));
                    next += 1;
                }
                continue;
            }
            Err(RecvError::Lagged(_)) => match committer.upgrade() {
                Some(c) => c.height(),
                None => return,
            },
            Err(RecvError::Closed) => return,
        };
        next = catch_up(&metrics, &committer, next, until).await;
    }
}

/// Counts blocks `next..until` from the ledger; the next block not counted.
async fn catch_up(
    metrics: &Arc<Metrics>,
    committer: &Weak<Committer>,
    next: u64,
    until: u64,
) -> u64 {
    if next >= until {
        return next;
    }
    let Some(committer) = committer.upgrade() else {
        return next;
    };
    let metrics = metrics.clone();
    let counted = tokio::task::spawn_blocking(move || {
        let mut n = next;
        while n < until {
            match committer.ledger().block(n) {
                Ok(Some(block)) => metrics.count_block(block.metadata.validation_flags.into_iter()),
                Ok(None) | Err(_) => break,
            }
            n += 1;
        }
        n
    })
    .await;
    counted.unwrap_or(next)
}

/// Prometheus metrics (text format).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub(crate) async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    let text = gw.metrics.render(gw.committer.height());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_documented_families() {
        let m = Metrics::default();
        m.count_request("/v1/evaluate", 200);
        m.count_request("/v1/evaluate", 200);
        m.count_request("unmatched", 404);
        m.count_block([ValidationCode::Valid, ValidationCode::MvccReadConflict].into_iter());
        let text = m.render(7);
        assert!(text.contains("weft_ledger_height 7\n"), "{text}");
        assert!(
            text.contains("weft_gateway_requests_total{route=\"/v1/evaluate\",status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("weft_transactions_committed_total{code=\"VALID\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("weft_transactions_committed_total{code=\"MVCC_READ_CONFLICT\"} 1\n"),
            "{text}"
        );
    }
}
