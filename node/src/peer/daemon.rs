//! One peer process: reads its config, opens its ledger, serves the
//! gateway and the peer-to-peer endpoint, and commits blocks from the
//! orderers (or a directory) until SIGTERM or Ctrl-C. The `weft-peer`
//! binary and `weft peer` both run [`run`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::serve::ListenerExt as _;

use crate::endorser::Endorser;
use crate::gateway::{self, Gateway};
use crate::peer::{BlockSource, DirectorySource, OrdererSource, PeerNode};

/// What to run.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// The peer's TOML config, as written by `weft network init`.
    pub config: PathBuf,
    /// Commit blocks from `<number>.json` files in this directory instead
    /// of the orderers' deliver API.
    pub blocks_from: Option<PathBuf>,
    /// Stop once the ledger holds this many blocks.
    pub stop_at_height: Option<u64>,
}

/// Runs the peer until a stop signal (or `stop_at_height`): the gateway on
/// `gateway_listen`, the peer-to-peer endpoint on `p2p_listen`, blocks
/// committed on this thread.
pub fn run(options: PeerOptions) -> Result<(), Box<dyn std::error::Error>> {
    let config = PeerNode::read_config(&options.config)?;
    // `WEFT_LOG` wins over the config's `log` filter.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
                .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log))?,
        )
        .with_writer(std::io::stderr)
        .try_init();
    let peer = PeerNode::open(config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let flag = stop.clone();
    runtime.spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping");
        flag.store(true, Ordering::Relaxed);
    });
    let endorser = Arc::new(
        Endorser::new(
            peer.committer.ledger().clone(),
            peer.runtime.clone(),
            peer.identity.clone(),
            peer.committer.config().clone(),
        )
        .remembering(peer.committer.memory()),
    );
    let (gateway_listen, p2p_listen) = (
        peer.config.gateway_listen.clone(),
        peer.config.p2p_listen.clone(),
    );
    let servers = runtime.block_on(async {
        let gw = Gateway::new(peer.identity.clone(), peer.committer.clone(), endorser)?;
        let api = tokio::net::TcpListener::bind(&gateway_listen)
            .await
            .map_err(|e| format!("cannot listen on {gateway_listen} (gateway): {e}"))?;
        let p2p = tokio::net::TcpListener::bind(&p2p_listen)
            .await
            .map_err(|e| format!("cannot listen on {p2p_listen} (peer to peer): {e}"))?;
        // Batch answers stream line by line: without NODELAY a short line
        // waits for the last one's delayed ACK (40 ms).
        let nodelay = |tcp: &mut tokio::net::TcpStream| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY not set: {e}");
            }
        };
        let (api, p2p) = (api.tap_io(nodelay), p2p.tap_io(nodelay));
        let api = tokio::spawn(axum::serve(api, gateway::router(gw.clone())).into_future());
        let p2p = tokio::spawn(axum::serve(p2p, gateway::p2p_router(gw)).into_future());
        tracing::info!(gateway = %gateway_listen, p2p = %p2p_listen, "gateway listening");
        Ok::<_, Box<dyn std::error::Error>>([api, p2p])
    })?;
    let mut source: Box<dyn BlockSource> = match options.blocks_from {
        Some(dir) => Box::new(DirectorySource::new(dir)),
        None => {
            let orderers = peer.committer.config().current().orderers.clone();
            let apis: Vec<&str> = orderers.iter().map(|o| o.api.as_str()).collect();
            tracing::info!(orderers = ?apis, "pulling blocks from the orderers");
            Box::new(OrdererSource::new(peer.committer.config().clone())?)
        }
    };
    let result = peer.run(source.as_mut(), &stop, options.stop_at_height);
    // Dropping the source stops its connection to the orderers.
    drop(source);
    for server in servers {
        server.abort();
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(result?)
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
