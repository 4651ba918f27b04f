//! Private data between peers.
//!
//! - **Dissemination**: a peer that endorses a transaction with private
//!   writes keeps them in its transient store if its org is a member of the
//!   collection, and pushes them to other member peers (at most the
//!   collection's `maximum_peer_count`, signed, `POST /v1/private/push` on
//!   their p2p address) before its endorsement is returned; fewer than
//!   `required_peer_count` acknowledgements fail the endorsement. The
//!   endorsers of one proposal share the work ([`Pushes`]): the gateway's
//!   own peer pushes, skipping (and counting as holders) the member orgs
//!   that endorse too, and the remote endorsers it asks push nothing —
//!   each keeps its own copy of its members' collections, which others
//!   reconcile from if a push is lost.
//! - **Reconciliation**: a member peer that committed a transaction without
//!   its private writes asks the other member peers for them
//!   ([`reconcile`], `POST /v1/private/pull`) and stores them once they
//!   match the hash the transaction committed.
//!
//! Both messages are signed by the sending peer; the receiver accepts them
//! only from a peer the channel configuration lists. A push is taken only
//! for collections of which the receiver's org is a member (the endorser
//! may not be one: a non-member may write a collection that is not
//! member-only-write); a pull is answered only for collections of which
//! the asking peer's org is a member, and only by the peer it names.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use futures::future::join_all;
use weft_types::{
    ChannelConfig, CollectionConfig, CollectionData, MissingPrivateData, PeerInfo, PrivateDataPull,
    PrivateDataPullResponse, PrivateDataPush, Role, Signed, SignedPayload, TxId,
};

use super::Gateway;
use super::endorse::describe_reqwest;
use super::error::{ErrorCode, GatewayError, RawJson, Stage};

/// How long a peer waits for another to answer a push or a pull: longer
/// than a receiver behind the pusher may wait to catch up first
/// ([`CATCH_UP_WAIT_MS`](super::endorse::CATCH_UP_WAIT_MS)).
pub const P2P_TIMEOUT_MS: u64 = super::endorse::CATCH_UP_WAIT_MS + 2_000;

/// How far a pull request's time may be from the answering peer's clock.
pub const PULL_MAX_SKEW_MS: u64 = 5 * 60 * 1000;

/// Most items one pull may ask for.
pub const MAX_PULL_ITEMS: usize = 256;

/// How often the reconciler looks for private data this peer owes.
pub const RECONCILE_INTERVAL_MS: u64 = 2_000;

/// Collection `name` of `namespace`'s current definition (or an org's
/// implicit collection).
fn collection(
    gw: &Gateway,
    namespace: &str,
    name: &str,
) -> Result<Option<CollectionConfig>, GatewayError> {
    let channel = gw.committer.config().current();
    let orgs = channel.org_names();
    Ok(gw
        .committer
        .ledger()
        .definition(namespace)?
        .and_then(|d| d.collection(name, &orgs).map(std::borrow::Cow::into_owned)))
}

/// The other peers (than `own`, `name@org`) of the channel's member orgs
/// of `config`, rotated left
/// by `spread` (so the pushes of many transactions, each spreading by its
/// tx id, start at different peers).
fn member_peers<'c>(
    channel: &'c ChannelConfig,
    config: &CollectionConfig,
    own: &str,
    spread: u8,
) -> Vec<(&'c str, &'c PeerInfo)> {
    let mut peers: Vec<(&str, &PeerInfo)> = channel
        .orgs
        .iter()
        .filter(|o| config.has_member(&o.name))
        .flat_map(|o| o.peers.iter().map(move |p| (o.name.as_str(), p)))
        .filter(|(org, p)| {
            own.strip_prefix(p.name.as_str())
                .and_then(|rest| rest.strip_prefix('@'))
                != Some(*org)
        })
        .collect();
    if !peers.is_empty() {
        let start = usize::from(spread) % peers.len();
        peers.rotate_left(start);
    }
    peers
}

/// Who pushes a proposal's private writes to the member peers that need
/// them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pushes<'c> {
    /// This peer, skipping what the other orgs in `endorsers` (the orgs
    /// asked for the same endorsement) hold: every endorsement is needed,
    /// so each member org among them holds the data (in its endorsing
    /// peer's transient store) once the transaction is endorsed — it
    /// counts towards `required_peer_count`, and the peer the gateway asks
    /// first for it is not pushed to.
    Here {
        /// The orgs asked for the endorsement (empty: none known).
        endorsers: &'c [&'c str],
    },
    /// The asking gateway's peer, which endorses too (`gateway_pushes`):
    /// this (remote) endorser only keeps the collections it is a member of.
    Gateway,
}

/// How many of `endorsers`, other than `own_org`, are members of `config`.
fn co_members(endorsers: &[&str], own_org: &str, config: &CollectionConfig) -> u32 {
    let n = endorsers
        .iter()
        .filter(|org| **org != own_org && config.has_member(org))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Whether peer `name` of `org` is the one a gateway asks first for the
/// endorsement of `org`, one of `endorsers` other than `own_org`.
fn asked_first(
    channel: &ChannelConfig,
    endorsers: &[&str],
    own_org: &str,
    org: &str,
    name: &str,
) -> bool {
    org != own_org
        && endorsers.contains(&org)
        && channel
            .org(org)
            .and_then(|info| info.peers.first())
            .is_some_and(|first| first.name == name)
}

/// The peers this gateway's peer (`own`, `name@org`) pushes a
/// collection's data to: [`member_peers`] but the first peers of the other
/// endorsing orgs, which keep their own copy.
fn push_targets<'c>(
    channel: &'c ChannelConfig,
    config: &CollectionConfig,
    own: &str,
    endorsers: &[&str],
    spread: u8,
) -> Vec<(&'c str, &'c PeerInfo)> {
    let own_org = own.rsplit_once('@').map_or("", |(_, org)| org);
    let mut targets = member_peers(channel, config, own, spread);
    targets.retain(|(org, p)| !asked_first(channel, endorsers, own_org, org, &p.name));
    targets
}

/// One collection being disseminated.
struct Dissemination<'c> {
    data: &'c CollectionData,
    config: CollectionConfig,
    /// The other member peers, in the order they are tried.
    targets: Vec<(&'c str, &'c PeerInfo)>,
    /// How many of `targets` were tried.
    tried: usize,
    /// How many took the data.
    acks: u32,
}

/// Keeps `tx_id`'s private writes here where this peer is a member, and
/// pushes them to the member peers each collection asks for (`height`: this
/// peer's height when it simulated): `maximum_peer_count` of them at first,
/// then, while fewer than `required_peer_count` took them, as many further
/// member peers as are missing. Fails when a collection's
/// `required_peer_count` cannot be reached. `pushes` tells whether this
/// peer pushes at all, and which pushes the other endorsers of the proposal
/// make unnecessary.
pub(crate) async fn disseminate(
    gw: &Gateway,
    tx_id: TxId,
    height: u64,
    writes: &[CollectionData],
    pushes: Pushes<'_>,
) -> Result<(), GatewayError> {
    let channel = gw.committer.config().current();
    let own_org = gw.identity.org();
    let mut sets = Vec::with_capacity(writes.len());
    let mut here = Vec::new();
    for w in writes {
        let config = collection(gw, &w.namespace, &w.collection)?.ok_or_else(|| {
            GatewayError::internal(
                Stage::Endorsement,
                format!(
                    "collection {}/{} vanished from its definition",
                    w.namespace, w.collection
                ),
            )
        })?;
        if config.has_member(own_org) {
            here.push(w);
        }
        let Pushes::Here { endorsers } = pushes else {
            // The asking gateway's peer sends every collection on.
            continue;
        };
        let targets = push_targets(
            &channel,
            &config,
            &gw.peer,
            endorsers,
            tx_id.0.as_bytes()[0],
        );
        sets.push(Dissemination {
            data: w,
            acks: co_members(endorsers, own_org, &config),
            config,
            targets,
            tried: 0,
        });
    }
    // A sled batch, no flush: cheap enough for this thread.
    gw.committer.ledger().store_transient(&tx_id, here)?;
    let mut failures = Vec::new();
    for round in 0.. {
        // Peer (p2p address) → its `name@org` and the collections pushed to it.
        let mut pushes: BTreeMap<&str, (String, Vec<usize>)> = BTreeMap::new();
        for (i, set) in sets.iter_mut().enumerate() {
            let wanted = if round == 0 {
                set.config.maximum_peer_count
            } else {
                set.config.required_peer_count.saturating_sub(set.acks)
            };
            let end = (set.tried + wanted as usize).min(set.targets.len());
            for (org, peer) in &set.targets[set.tried..end] {
                pushes
                    .entry(peer.p2p.as_str())
                    .or_insert_with(|| (format!("{}@{org}", peer.name), Vec::new()))
                    .1
                    .push(i);
            }
            set.tried = end;
        }
        if pushes.is_empty() {
            break;
        }
        // One signed push per distinct set of collections (usually one for
        // every peer), its bytes shared by the peers that get it.
        let mut bodies: BTreeMap<&[usize], Vec<u8>> = BTreeMap::new();
        for (_, indices) in pushes.values() {
            bodies.entry(indices.as_slice()).or_insert_with(|| {
                let push = PrivateDataPush {
                    channel: channel.channel.clone(),
                    tx_id,
                    height,
                    collections: indices.iter().map(|&i| sets[i].data.clone()).collect(),
                };
                weft_types::to_json_bytes(&Signed::sign(&push, &gw.identity))
            });
        }
        let calls = pushes.iter().map(|(p2p, (who, indices))| {
            let body = bodies[indices.as_slice()].clone();
            async move {
                let outcome = post_signed(gw, p2p, "/v1/private/push", body).await;
                (who.as_str(), indices, outcome)
            }
        });
        for (who, indices, outcome) in join_all(calls).await {
            match outcome {
                Ok(_) => {
                    for &i in indices {
                        sets[i].acks += 1;
                    }
                }
                Err(why) => {
                    tracing::warn!(peer = who, tx = %tx_id, "private data push failed: {why}");
                    failures.push(format!("{who}: {why}"));
                }
            }
        }
    }
    for set in &sets {
        if set.acks < set.config.required_peer_count {
            return Err(GatewayError::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::EndorsementFailed,
                Stage::Endorsement,
                format!(
                    "the private data of collection {}/{} reached {} member peer(s) but must \
                     reach {} before the endorsement is returned{}",
                    set.data.namespace,
                    set.data.collection,
                    set.acks,
                    set.config.required_peer_count,
                    if failures.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", failures.join("; "))
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// Posts `body` (a signed message) to `path` on the p2p address `p2p`;
/// the answer's bytes on success.
async fn post_signed(
    gw: &Gateway,
    p2p: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<axum::body::Bytes, String> {
    let answer = gw
        .http
        .post(format!("http://{p2p}{path}"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(Duration::from_millis(P2P_TIMEOUT_MS))
        .body(body)
        .send()
        .await
        .map_err(|e| describe_reqwest(&e))?;
    let status = answer.status();
    let bytes = answer.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "{status}: {}",
            super::endorse::truncate(&String::from_utf8_lossy(&bytes), 512)
        ));
    }
    Ok(bytes)
}

/// Checks that `signed` comes from a peer the channel lists, and returns
/// its org.
fn sending_peer<T: SignedPayload>(
    gw: &Gateway,
    channel: &Arc<ChannelConfig>,
    signed: &Signed<T>,
) -> Result<String, GatewayError> {
    let now = gw.now_ms() / 1000;
    let refused = |why: String| {
        GatewayError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            Stage::Auth,
            why,
        )
    };
    let signer = gw
        .endorser
        .verify_certificate(channel, &signed.signer, now)
        .map_err(|e| refused(format!("the sender's certificate is refused: {e}")))?;
    let listed = channel.org(&signer.org).is_some_and(|o| {
        o.peers
            .iter()
            .any(|p| p.name == signer.name && p.public_key == signer.public_key)
    });
    if signer.role != Role::Peer || !listed {
        return Err(refused(format!(
            "{}@{} ({}) is not a peer of the channel",
            signer.name, signer.org, signer.role
        )));
    }
    signed.verify_signature().map_err(|e| {
        GatewayError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::BadSignature,
            Stage::Auth,
            e.to_string(),
        )
    })?;
    Ok(signer.org.clone())
}

fn wrong_channel(channel: &ChannelConfig, named: &str) -> GatewayError {
    GatewayError::malformed(format!(
        "the message is for channel {named}, this peer serves {}",
        channel.channel
    ))
}

/// `POST /v1/private/push` (peer to peer): another peer hands over the
/// private writes of a transaction it endorsed, for collections of which
/// this peer's org is a member; they wait in the transient store until the
/// transaction commits. 403 `forbidden` for a sender that is not a peer of
/// the channel or a collection this peer is not a member of (nothing is
/// stored then).
pub(crate) async fn push(
    State(gw): State<Arc<Gateway>>,
    body: RawJson,
) -> Result<StatusCode, GatewayError> {
    let signed: Signed<PrivateDataPush> = body.parse()?;
    let channel = gw.committer.config().current();
    sending_peer(&gw, &channel, &signed)?;
    let push = signed
        .decode()
        .map_err(|e| GatewayError::malformed(e.to_string()))?;
    if push.channel != channel.channel {
        return Err(wrong_channel(&channel, &push.channel));
    }
    // The definitions the endorsement used, at most a while later.
    super::endorse::catch_up(&gw, push.height).await;
    let own = gw.identity.org();
    for data in &push.collections {
        let name = format!("{}/{}", data.namespace, data.collection);
        let why = match collection(&gw, &data.namespace, &data.collection)? {
            Some(c) if c.has_member(own) => continue,
            Some(_) => format!(
                "{own} is not a member of collection {name}: its peers keep no private data of it"
            ),
            None => format!(
                "this peer knows no collection {name} at height {} (it may not have \
                 committed the chaincode's definition yet)",
                gw.committer.height()
            ),
        };
        return Err(GatewayError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            Stage::Request,
            why,
        ));
    }
    gw.committer
        .ledger()
        .store_transient(&push.tx_id, &push.collections)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/private/pull` (peer to peer): a member peer asks for private
/// writes of committed transactions it lacks. Answers the items this peer
/// holds and the asking peer's org may see (a member of the collection);
/// leaves out the others.
pub(crate) async fn pull(
    State(gw): State<Arc<Gateway>>,
    body: RawJson,
) -> Result<Json<PrivateDataPullResponse>, GatewayError> {
    let signed: Signed<PrivateDataPull> = body.parse()?;
    let channel = gw.committer.config().current();
    let asker = sending_peer(&gw, &channel, &signed)?;
    let pull = signed
        .decode()
        .map_err(|e| GatewayError::malformed(e.to_string()))?;
    if pull.channel != channel.channel {
        return Err(wrong_channel(&channel, &pull.channel));
    }
    if pull.to != gw.peer {
        return Err(GatewayError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            Stage::Auth,
            format!("the pull request is for {}, not for {}", pull.to, gw.peer),
        ));
    }
    if pull.requested_at_ms.abs_diff(gw.now_ms()) > PULL_MAX_SKEW_MS {
        return Err(GatewayError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            Stage::Auth,
            "the pull request is stale (or the clocks differ by more than 5 minutes)",
        ));
    }
    if pull.wanted.len() > MAX_PULL_ITEMS {
        return Err(GatewayError::malformed(format!(
            "a pull asks for at most {MAX_PULL_ITEMS} items"
        )));
    }
    let mut found = Vec::new();
    for item in &pull.wanted {
        let allowed = collection(&gw, &item.namespace, &item.collection)?
            .is_some_and(|c| c.has_member(&asker));
        if !allowed {
            continue;
        }
        let data = gw.committer.ledger().private_data_of(
            item.block,
            item.tx,
            &item.namespace,
            &item.collection,
        )?;
        if let Some(data) = data {
            found.push(weft_types::PrivateDataFound {
                block: item.block,
                tx: item.tx,
                data,
            });
        }
    }
    Ok(Json(PrivateDataPullResponse { found }))
}

/// Runs for the life of the peer: every [`RECONCILE_INTERVAL_MS`], asks the
/// other member peers for the private data this peer owes, and stores what
/// matches. Returns when the gateway is dropped.
pub async fn reconcile(gw: std::sync::Weak<Gateway>) {
    let mut tick = tokio::time::interval(Duration::from_millis(RECONCILE_INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Where the last round stopped: each round takes the next owed items,
    // so ones no member can provide do not keep the others waiting.
    let mut cursor = None;
    loop {
        tick.tick().await;
        let Some(gw) = gw.upgrade() else { return };
        match reconcile_once(&gw, cursor.take()).await {
            Ok((stored, last)) => {
                if stored > 0 {
                    tracing::info!(items = stored, "reconciled private data");
                }
                cursor = last;
            }
            Err(e) => tracing::warn!("private data reconciliation: {e}"),
        }
    }
}

/// One round of [`reconcile`] over the owed items after `after`: how many
/// were stored, and where the next round starts (`None`: from the oldest).
pub(crate) async fn reconcile_once(
    gw: &Gateway,
    after: Option<MissingPrivateData>,
) -> Result<(usize, Option<MissingPrivateData>), String> {
    let ledger = gw.committer.ledger().clone();
    let owed = tokio::task::spawn_blocking(move || {
        ledger.missing_private_after(after.as_ref(), MAX_PULL_ITEMS)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let next = if owed.len() == MAX_PULL_ITEMS {
        owed.last().map(|(item, _)| item.clone())
    } else {
        None
    };
    let channel = gw.committer.config().current();
    let own = gw.identity.org();
    // (Peer's p2p address, its `name@org`) → the owed items its org may hold.
    let mut asks: BTreeMap<(&str, String), Vec<MissingPrivateData>> = BTreeMap::new();
    for (item, _) in &owed {
        let config =
            collection(gw, &item.namespace, &item.collection).map_err(|e| e.to_string())?;
        let Some(config) = config.filter(|c| c.has_member(own)) else {
            // Removed, or this org left it: nothing to wait for.
            tracing::info!(
                collection = %format!("{}/{}", item.namespace, item.collection),
                block = item.block,
                "this peer's org is not a member any more; its private data is not fetched"
            );
            gw.committer
                .ledger()
                .forget_owed(item)
                .map_err(|e| e.to_string())?;
            continue;
        };
        for (org, peer) in member_peers(&channel, &config, &gw.peer, 0) {
            asks.entry((peer.p2p.as_str(), format!("{}@{org}", peer.name)))
                .or_default()
                .push(item.clone());
        }
    }
    let mut stored = 0;
    let mut remaining: Vec<MissingPrivateData> = owed.into_iter().map(|(i, _)| i).collect();
    for ((p2p, to), mut wanted) in asks {
        wanted.retain(|w| remaining.contains(w));
        if wanted.is_empty() {
            continue;
        }
        let pull = PrivateDataPull {
            channel: channel.channel.clone(),
            to,
            requested_at_ms: gw.now_ms(),
            wanted,
        };
        let answer = match pull_from(gw, p2p, &Signed::sign(&pull, &gw.identity)).await {
            Ok(answer) => answer,
            Err(why) => {
                tracing::debug!(peer = p2p, "private data pull failed: {why}");
                continue;
            }
        };
        for found in answer.found {
            let item = MissingPrivateData {
                block: found.block,
                tx: found.tx,
                namespace: found.data.namespace.clone(),
                collection: found.data.collection.clone(),
            };
            if !remaining.contains(&item) {
                continue;
            }
            let ledger = gw.committer.ledger().clone();
            let key = item.clone();
            let done = tokio::task::spawn_blocking(move || ledger.reconcile(&key, &found.data))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            if done {
                stored += 1;
                remaining.retain(|r| *r != item);
            } else {
                tracing::warn!(
                    peer = p2p,
                    block = item.block,
                    tx = item.tx,
                    "private data from a peer does not match the committed hash; ignored"
                );
            }
        }
    }
    Ok((stored, next))
}

async fn pull_from(
    gw: &Gateway,
    p2p: &str,
    signed: &Signed<PrivateDataPull>,
) -> Result<PrivateDataPullResponse, String> {
    let body = weft_types::to_json_bytes(signed);
    let bytes = post_signed(gw, p2p, "/v1/private/pull", body).await?;
    serde_json::from_slice(&bytes).map_err(|e| format!("its answer does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use weft_tests::network::TestNetwork;
    use weft_types::Policy;

    use super::*;

    fn collection(members: &str) -> CollectionConfig {
        CollectionConfig {
            required_peer_count: 1,
            maximum_peer_count: 3,
            ..CollectionConfig::new("c", Policy::parse(members).unwrap())
        }
    }

    #[test]
    fn the_other_endorsing_members_hold_the_data_and_are_not_pushed_to() {
        let net = TestNetwork::new(&["Org1", "Org2", "Org3", "Org4"]);
        let channel = &net.config;
        let config = collection("OR('Org1.member', 'Org2.member', 'Org4.member')");
        let endorsers = ["Org1", "Org2", "Org3"];
        // Seen from Org1's peer: Org2 endorses and is a member, Org3
        // endorses and is not, Org4 is a member that does not endorse; its
        // own org never counts.
        assert_eq!(co_members(&endorsers, "Org1", &config), 1);
        assert_eq!(co_members(&[], "Org1", &config), 0);
        let first = |org: &str| channel.org(org).unwrap().peers[0].name.clone();
        assert!(asked_first(
            channel,
            &endorsers,
            "Org1",
            "Org2",
            &first("Org2")
        ));
        assert!(!asked_first(
            channel,
            &endorsers,
            "Org1",
            "Org1",
            &first("Org1")
        ));
        assert!(!asked_first(
            channel,
            &endorsers,
            "Org1",
            "Org4",
            &first("Org4")
        ));
        assert!(!asked_first(
            channel,
            &endorsers,
            "Org1",
            "Org2",
            "another-peer"
        ));
        // So Org1's peer pushes to Org4's peer only.
        let own = format!("{}@Org1", first("Org1"));
        let pushed: Vec<&str> = push_targets(channel, &config, &own, &endorsers, 0)
            .iter()
            .map(|(org, _)| *org)
            .collect();
        assert_eq!(pushed, ["Org4"]);
        // Endorsing alone, it pushes to every other member's peer.
        let pushed: Vec<&str> = push_targets(channel, &config, &own, &["Org1"], 0)
            .iter()
            .map(|(org, _)| *org)
            .collect();
        assert_eq!(pushed.len(), 2, "{pushed:?}");
        assert!(pushed.contains(&"Org2") && pushed.contains(&"Org4"));
    }
}
