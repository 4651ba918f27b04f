//! `weft-peer --config FILE`: runs a Weft peer.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use weft_node::peer::{DirectorySource, PeerNode};

/// A Weft peer: validates and commits the channel's blocks to its ledger.
#[derive(Debug, Parser)]
#[command(name = "weft-peer", version)]
struct Args {
    /// The peer's TOML config, as written by `weft network init`
    /// (`nodes/<peer>.toml`).
    #[arg(long)]
    config: PathBuf,
    /// Commit blocks from `<number>.json` files in this directory instead
    /// of pulling them from the orderers.
    #[arg(long, value_name = "DIR")]
    blocks_from: Option<PathBuf>,
    /// Stop once the ledger holds this many blocks.
    #[arg(long, value_name = "HEIGHT")]
    stop_at_height: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weft-peer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let Some(dir) = args.blocks_from else {
        return Err(
            "pulling blocks from the orderers' deliver API is not available yet; \
                    pass --blocks-from DIR"
                .into(),
        );
    };
    let config = PeerNode::read_config(&args.config)?;
    // `WEFT_LOG` wins over the config's `log` filter.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
                .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log))?,
        )
        .with_writer(std::io::stderr)
        .init();
    let peer = PeerNode::open(config)?;
    let stop = Arc::new(AtomicBool::new(false));
    // One worker thread waits for signals while this thread commits.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let flag = stop.clone();
    runtime.spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping");
        flag.store(true, Ordering::Relaxed);
    });
    let mut source = DirectorySource::new(dir);
    peer.run(&mut source, &stop, args.stop_at_height)?;
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
