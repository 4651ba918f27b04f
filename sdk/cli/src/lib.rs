//! The `weft` command line's library: what each subcommand does, apart from
//! argument parsing and printing (in `main.rs`), so that it can be tested and
//! reused by later commands (`weft bench --spawn`).
//!
//! - [`chaincode`]: `weft chaincode new | build | check | run` — scaffold,
//!   build and validate chaincode, and run one call against an in-memory ledger.
//! - [`network`]: `weft network init` — keys, certificates, genesis block, node configs.
//! - [`policy_cmd`]: `weft policy eval` — evaluate a policy against signers.
//! - [`up`]: `weft up` — generate (once), start, deploy to and stop a
//!   whole network of child processes, which run [`daemon_cmd`]'s hidden
//!   `weft orderer` and `weft peer`.
//! - [`deploy`]: `weft chaincode deploy` — a lifecycle transaction approved
//!   by the orgs' admins.
//! - [`bench`]: `weft bench` — load a network with a workload and report
//!   its throughput, latency and resource use.
//! - [`client_cmd`]: `weft invoke | query | tx | blocks | events` — a running
//!   network through its connection profile; [`health`]: the probes that
//!   need no login.

pub mod bench;
pub mod chaincode;
pub mod client_cmd;
pub mod daemon_cmd;
pub mod deploy;
pub mod health;
pub mod loc;
pub mod network;
pub mod policy_cmd;
mod signals;
pub mod up;

/// The async runtime a long-running command (`up`, `bench`, `loc`) runs
/// on: two worker threads, timers and I/O. `None`, after saying why on
/// stderr, when it cannot start.
pub(crate) fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            None
        }
    }
}
