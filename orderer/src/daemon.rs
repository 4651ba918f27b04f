//! One orderer process: reads its config, opens its log and block store,
//! joins the cluster and serves broadcast and deliver until SIGTERM or
//! Ctrl-C. The `weft-orderer` binary and `weft orderer` both run [`run`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::serve::ListenerExt as _;
use weft_types::node_config::{OrdererNodeConfig, load_genesis, read_node_config};
use weft_types::{Block, ChannelConfig};

use crate::api::{ApiState, Consensus, router};
use crate::blockstore::BlockStore;
use crate::service::RaftService;
use crate::sled_log::SledLog;
use crate::transport::ClusterTransport;

/// Runs the orderer configured by the TOML at `config` (as written by
/// `weft network init`) until a stop signal; builds its own async runtime.
pub fn run(config: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(serve(config))
}

fn read_config(path: &Path) -> Result<OrdererNodeConfig, String> {
    read_node_config(path).map_err(|e| format!("config {}: {e}", path.display()))
}

fn channel_config(genesis: &Block) -> Result<ChannelConfig, String> {
    genesis
        .genesis_config()
        .map_err(|why| format!("the genesis block is unusable: {why}"))
}

async fn serve(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let config = read_config(path)?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
                .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log))?,
        )
        .with_writer(std::io::stderr)
        .try_init();
    let identity = config.identity.load(Path::new("."))?;
    let genesis = load_genesis(&config.genesis_block)?;
    let channel = Arc::new(channel_config(&genesis)?);
    if !channel.orderers.iter().any(|o| o.id == config.raft_id) {
        return Err(format!(
            "orderer {} is not in the channel configuration",
            config.raft_id
        )
        .into());
    }
    let store = Arc::new(BlockStore::open(&config.data_dir.join("blocks"))?);
    if store.height() == 0 {
        store.append(&genesis, 0)?;
    } else if store.get(0)?.map(|b| b.hash()) != Some(genesis.hash()) {
        return Err("the block store belongs to another channel (its genesis differs)".into());
    }
    let log = SledLog::open(&config.data_dir.join("raft"))?;
    let cluster = tokio::net::TcpListener::bind(&config.cluster_listen).await?;
    let peers: HashMap<u64, String> = channel
        .orderers
        .iter()
        .map(|o| (o.id, o.cluster.clone()))
        .collect();
    let (transport, mut received) = ClusterTransport::start(
        config.raft_id,
        identity.clone(),
        channel.clone(),
        cluster,
        peers,
    );
    let service = RaftService::start(
        config.raft_id,
        identity,
        channel.clone(),
        log,
        store.clone(),
        transport,
    )?;
    let inbound = service.clone();
    tokio::spawn(async move {
        while let Some(message) = received.recv().await {
            inbound.handle_message(message);
        }
    });
    let api = tokio::net::TcpListener::bind(&config.api_listen).await?;
    tracing::info!(
        orderer = config.raft_id,
        api = %config.api_listen,
        cluster = %config.cluster_listen,
        height = store.height(),
        "orderer started"
    );
    let app = router(ApiState::new(service, channel));
    // Streamed answers (deliver, broadcast batches) go out line by line:
    // without NODELAY a short line waits for the last one's delayed ACK.
    let api = api.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
    });
    axum::serve(api, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!(height = store.height(), "orderer stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
