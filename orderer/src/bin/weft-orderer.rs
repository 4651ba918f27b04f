//! `weft-orderer --config FILE`: runs one orderer of the channel's Raft cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the nodes allocate many small, short-lived buffers per
/// transaction from several threads, where glibc's allocator cost a tenth
/// of the CPU under load (measured with `weft bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Weft orderer: orders envelopes into blocks with the other orderers
/// and serves broadcast and deliver.
#[derive(Debug, Parser)]
#[command(name = "weft-orderer", version)]
struct Args {
    /// The orderer's TOML config, as written by `weft network init`
    /// (`nodes/<orderer>.toml`).
    #[arg(long)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match weft_orderer::daemon::run(&args.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weft-orderer: {e}");
            ExitCode::FAILURE
        }
    }
}
