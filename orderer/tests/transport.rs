#![allow(clippy::unwrap_used)]
//! The cluster transport on real sockets: messages between authenticated
//! orderers arrive with their sender; impostors (a client's certificate, an
//! orderer claiming another id, a forged signature, garbage) are refused and
//! deliver nothing; a peer that is down does not block sending, and
//! messages flow once it is up.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use raft::eraftpb::{Message, MessageType};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use weft_orderer::transport::ClusterTransport;
use weft_types::{
    ChannelConfig, Domain, Identity, OrdererInfo, OrgAuthority, OrgInfo, Role, SigningKey,
};

struct Cluster {
    config: Arc<ChannelConfig>,
    orderers: Vec<Identity>,
    client: Identity,
}

fn cluster() -> Cluster {
    let org = OrgAuthority::new("Org1", SigningKey::generate()).unwrap();
    let orderers: Vec<Identity> = (0..3)
        .map(|i| {
            org.enroll(&format!("orderer{i}"), Role::Orderer, 0, u64::MAX)
                .unwrap()
        })
        .collect();
    let client = org.enroll("client", Role::Client, 0, u64::MAX).unwrap();
    let infos = orderers
        .iter()
        .enumerate()
        .map(|(i, o)| OrdererInfo {
            id: i as u64 + 1,
            name: o.name().into(),
            org: "Org1".into(),
            api: "127.0.0.1:1".into(),
            cluster: "127.0.0.1:1".into(),
            public_key: o.body().public_key,
        })
        .collect();
    let config = ChannelConfig::new(
        "weft",
        vec![OrgInfo {
            name: "Org1".into(),
            root_key: org.root_key(),
            peers: vec![],
        }],
        infos,
    );
    Cluster {
        config: Arc::new(config),
        orderers,
        client,
    }
}

fn message(from: u64, to: u64, term: u64) -> Message {
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgHeartbeat);
    m.from = from;
    m.to = to;
    m.term = term;
    m
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

async fn recv(rx: &mut tokio::sync::mpsc::Receiver<Message>) -> Option<Message> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderers_exchange_messages_and_reconnect() {
    let c = cluster();
    let (l1, a1) = listener().await;
    let (l2, a2) = listener().await;
    let peers: HashMap<u64, String> = [(1, a1.clone()), (2, a2.clone())].into();
    let (t1, mut rx1) = ClusterTransport::start(
        1,
        c.orderers[0].clone(),
        c.config.clone(),
        l1,
        peers.clone(),
    );
    let (t2, mut rx2) =
        ClusterTransport::start(2, c.orderers[1].clone(), c.config.clone(), l2, peers);
    for term in 1..=50 {
        t1.send(message(1, 2, term));
    }
    for term in 1..=50 {
        let got = recv(&mut rx2).await.unwrap();
        assert_eq!((got.from, got.to, got.term), (1, 2, term));
    }
    t2.send(message(2, 1, 7));
    assert_eq!(recv(&mut rx1).await.unwrap().term, 7);

    // Orderer 3 is not up: sending to it neither blocks nor fails.
    let (l3, a3) = listener().await;
    drop(l3);
    let peers: HashMap<u64, String> = [(1, a1.clone()), (3, a3.clone())].into();
    let (l1b, _) = listener().await;
    let (t1b, _rx) =
        ClusterTransport::start(1, c.orderers[0].clone(), c.config.clone(), l1b, peers);
    for term in 0..10_000 {
        t1b.send(message(1, 3, term));
    }
    // Once it listens, new messages get through.
    let l3 = TcpListener::bind(&a3).await.unwrap();
    let (_t3, mut rx3) = ClusterTransport::start(
        3,
        c.orderers[2].clone(),
        c.config.clone(),
        l3,
        HashMap::new(),
    );
    let mut delivered = false;
    for term in 20_000..20_200 {
        t1b.send(message(1, 3, term));
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(1), rx3.recv()).await {
            assert_eq!(m.from, 1);
            delivered = true;
            break;
        }
    }
    assert!(delivered, "no message reached orderer 3 after it came up");
}

/// Dials `addr` with a hand-made handshake, then sends `msg`.
async fn impostor(addr: &str, handshake: serde_json::Value, msg: Message) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let json = serde_json::to_vec(&handshake).unwrap();
    s.write_u32(json.len() as u32).await.unwrap();
    s.write_all(&json).await.unwrap();
    let bytes = protobuf::Message::write_to_bytes(&msg).unwrap();
    let _ = s.write_u32(bytes.len() as u32).await;
    let _ = s.write_all(&bytes).await;
}

/// A handshake by `id` claiming `from` → `to`, whose signature covers
/// `signed_from` instead of `from` when they differ.
fn handshake(id: &Identity, from: u64, to: u64, signed_from: u64) -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut h = weft_types::Hasher::new();
    h.update(&signed_from.to_be_bytes())
        .update(&to.to_be_bytes())
        .update(&now.to_be_bytes());
    let sig = id.sign(Domain::ClusterHandshake, &h.finalize());
    serde_json::json!({
        "from": from, "to": to, "timestamp_ms": now,
        "certificate": id.certificate(), "signature": sig,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impostors_are_refused_and_deliver_nothing() {
    let c = cluster();
    let (l1, a1) = listener().await;
    let (t1, mut rx1) = ClusterTransport::start(
        1,
        c.orderers[0].clone(),
        c.config.clone(),
        l1,
        HashMap::new(),
    );
    let cases = [
        ("a client", handshake(&c.client, 2, 1, 2)),
        (
            "orderer 3 claiming to be 2",
            handshake(&c.orderers[2], 2, 1, 2),
        ),
        (
            "a signature over other fields",
            handshake(&c.orderers[1], 2, 1, 9),
        ),
        ("meant for orderer 3", handshake(&c.orderers[1], 2, 3, 2)),
        ("garbage", serde_json::json!({"hello": "world"})),
    ];
    let n = cases.len() as u64;
    for (what, h) in cases {
        impostor(&a1, h, message(2, 1, 99)).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(300), rx1.recv())
                .await
                .is_err(),
            "{what}: a message was delivered"
        );
    }
    // A genuine orderer 2 whose message claims to come from orderer 3.
    impostor(&a1, handshake(&c.orderers[1], 2, 1, 2), message(3, 1, 99)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx1.recv())
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(t1.stats().refused.load(Ordering::Relaxed), n + 1);
    // And a genuine one gets through.
    impostor(&a1, handshake(&c.orderers[1], 2, 1, 2), message(2, 1, 5)).await;
    assert_eq!(recv(&mut rx1).await.unwrap().term, 5);
}
