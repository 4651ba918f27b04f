//! Health probes that need no login: an orderer's `GET /v1/healthz`
//! (height and known Raft leader) and a gateway's (its peer's height).

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

/// Limit of one probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between probes while waiting.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// An orderer's `GET /v1/healthz`.
#[derive(Debug, Clone, Deserialize)]
pub struct OrdererHealth {
    /// Blocks in its block store (the genesis block included).
    pub height: u64,
    /// The Raft leader it knows of, if any.
    #[serde(default)]
    pub leader: Option<u64>,
}

/// A gateway's `GET /v1/healthz`.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerHealth {
    /// Blocks its peer committed (the genesis block included).
    pub height: u64,
}

/// An HTTP client for probes.
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .connect_timeout(PROBE_TIMEOUT)
        .build()?)
}

async fn probe<T: serde::de::DeserializeOwned>(client: &reqwest::Client, base: &str) -> Option<T> {
    let url = format!("{}/v1/healthz", base.trim_end_matches('/'));
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// The orderer's health at `base` (`http://host:port`); `None` when it
/// does not answer (yet).
pub async fn orderer(client: &reqwest::Client, base: &str) -> Option<OrdererHealth> {
    probe(client, base).await
}

/// The gateway's health at `base`; `None` when it does not answer (yet).
pub async fn peer(client: &reqwest::Client, base: &str) -> Option<PeerHealth> {
    probe(client, base).await
}

/// Waits until every gateway of `bases` reports at least `height`, up to
/// `timeout`; returns the gateways that did not get there.
pub async fn wait_for_height(
    client: &reqwest::Client,
    bases: &[String],
    height: u64,
    timeout: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut behind: Vec<String> = bases.to_vec();
    loop {
        let mut still = Vec::new();
        for base in behind {
            if peer(client, &base).await.is_none_or(|h| h.height < height) {
                still.push(base);
            }
        }
        behind = still;
        if behind.is_empty() || Instant::now() >= deadline {
            return behind;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
