//! `weft orderer` and `weft peer` (hidden subcommands): run one node in this
//! process with the daemons' library functions, so that one binary runs a
//! whole network — `weft up` starts itself once per node.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::Args;
use weft_node::peer::daemon::PeerOptions;

/// `weft orderer --config FILE`.
#[derive(Debug, Args)]
pub struct OrdererArgs {
    /// The orderer's TOML config, as `weft network init` writes it
    /// (`nodes/<orderer>.toml`).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Stop as on SIGTERM once standard input reaches its end. `weft up`
    /// holds the other end of a pipe, so its nodes stop when it dies, even
    /// by SIGKILL.
    #[arg(long, hide = true)]
    pub stop_on_stdin_eof: bool,
}

/// `weft peer --config FILE [--blocks-from DIR] [--stop-at-height N]`.
#[derive(Debug, Args)]
pub struct PeerArgs {
    /// The peer's TOML config, as `weft network init` writes it
    /// (`nodes/<peer>.toml`).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Commit blocks from `<number>.json` files in this directory instead
    /// of pulling them from the orderers.
    #[arg(long, value_name = "DIR")]
    pub blocks_from: Option<PathBuf>,
    /// Stop once the ledger holds this many blocks.
    #[arg(long, value_name = "HEIGHT")]
    pub stop_at_height: Option<u64>,
    /// See `weft orderer --stop-on-stdin-eof`.
    #[arg(long, hide = true)]
    pub stop_on_stdin_eof: bool,
}

/// Runs an orderer until SIGTERM or Ctrl-C; exit 1 if it fails.
pub fn orderer(args: &OrdererArgs) -> ExitCode {
    if args.stop_on_stdin_eof {
        stop_on_stdin_eof();
    }
    finish("orderer", weft_orderer::daemon::run(&args.config))
}

/// Runs a peer until SIGTERM or Ctrl-C (or the height asked for); exit 1
/// if it fails.
pub fn peer(args: PeerArgs) -> ExitCode {
    if args.stop_on_stdin_eof {
        stop_on_stdin_eof();
    }
    let options = PeerOptions {
        config: args.config,
        blocks_from: args.blocks_from,
        stop_at_height: args.stop_at_height,
    };
    finish("peer", weft_node::peer::daemon::run(options))
}

fn finish(what: &str, result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weft {what}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Sends this process SIGTERM once standard input is closed, from a thread
/// that reads (and discards) it. The daemons stop cleanly on SIGTERM; a
/// signal sent through `kill` keeps the workspace free of `unsafe`.
fn stop_on_stdin_eof() {
    std::thread::spawn(|| {
        let mut stdin = std::io::stdin().lock();
        let mut buffer = [0u8; 256];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        eprintln!("weft: standard input closed (weft up is gone): stopping");
        let status = Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("weft: cannot signal myself to stop; exiting at once");
            std::process::exit(1);
        }
    });
}
