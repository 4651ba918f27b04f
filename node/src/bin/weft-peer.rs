//! `weft-peer --config FILE`: runs a Weft peer.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use weft_node::peer::daemon::{self, PeerOptions};

/// mimalloc: the nodes allocate many small, short-lived buffers per
/// transaction from several threads, where glibc's allocator cost a tenth
/// of the CPU under load (measured with `weft bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Weft peer: serves the gateway, endorses, and validates and commits
/// the channel's blocks to its ledger.
#[derive(Debug, Parser)]
#[command(name = "weft-peer", version)]
struct Args {
    /// The peer's TOML config, as written by `weft network init`
    /// (`nodes/<peer>.toml`).
    #[arg(long)]
    config: PathBuf,
    /// Commit blocks from `<number>.json` files in this directory instead
    /// of pulling them from the orderers' deliver API (the orderers of the
    /// channel configuration in force).
    #[arg(long, value_name = "DIR")]
    blocks_from: Option<PathBuf>,
    /// Stop once the ledger holds this many blocks.
    #[arg(long, value_name = "HEIGHT")]
    stop_at_height: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let options = PeerOptions {
        config: args.config,
        blocks_from: args.blocks_from,
        stop_at_height: args.stop_at_height,
    };
    match daemon::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weft-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
