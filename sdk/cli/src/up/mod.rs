//! `weft up`: a whole network on this machine in one command.
//!
//! On the first run in a directory it generates a network as `weft network
//! init` does (orgs `Org1` … `OrgN`, three Raft orderers, one peer per org,
//! consecutive free ports on 127.0.0.1, recorded in the node configs and
//! `network.json`); every run then starts each node as a child process of
//! this binary (`weft orderer`, `weft peer`), waits until the orderers have
//! a leader and every gateway answers, deploys the reference chaincode
//! `asset-transfer` unless it is defined, writes the client profile, prints
//! where everything listens and a line `ready`, and runs until SIGINT or
//! SIGTERM — then stops the nodes (SIGTERM, SIGKILL after a timeout) and
//! exits 0. A node that dies meanwhile stops everything with exit 1. A
//! second run in the same directory resumes the same ledgers.

mod layout;
mod nodes;
mod ports;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use tokio::time::Instant;
use weft_client::{Gateway, Profile, Wallet};
use weft_types::{ChaincodeDefinition, Policy};

use crate::chaincode::build;
use crate::deploy::{self, DeployRequest};
use crate::health;
use crate::signals::Signals;
use layout::Network;
pub use layout::Orgs;
use nodes::{Exited, Nodes};

/// The chaincode `weft up` deploys.
pub const CHAINCODE: &str = "asset-transfer";
/// Its endorsement policy.
pub const CHAINCODE_POLICY: &str = "MAJORITY";
/// How long the orderers may take to elect a leader and the gateways to
/// answer, from the start.
pub const START_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the peers may take to commit every block the orderers hold.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(180);
/// How long each group of nodes (peers, then orderers) has to stop after
/// SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// How long `weft up` waits for the network's ports to be free before it
/// gives up (the nodes of a `weft up` just killed are still stopping).
pub const PORTS_GRACE: Duration = Duration::from_secs(5);

/// `weft up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The network directory: a new network is created in it if it holds
    /// none; otherwise its network resumes with its ledgers.
    #[arg(long, value_name = "DIR", default_value = ".weft")]
    pub data: PathBuf,
    /// Organisations of a new network: a count N (named Org1 … OrgN) or
    /// the names, comma-separated (e.g. Customer,Bank,CAD,FD,Regulator)
    /// [default: 2].
    #[arg(long, value_name = "N|NAMES")]
    pub orgs: Option<Orgs>,
    /// Raft orderers of a new network [default: 3].
    #[arg(long, value_name = "N")]
    pub orderers: Option<usize>,
    /// First port of a new network. Default: 7050 when its whole range is
    /// free, else a free range.
    #[arg(long, value_name = "PORT")]
    pub base_port: Option<u16>,
}

/// Runs `weft up` to the end: exit 0 after a stop signal, 1 if the network
/// cannot start or a node dies.
pub fn run(args: &UpArgs) -> ExitCode {
    let Some(runtime) = crate::runtime() else {
        return ExitCode::FAILURE;
    };
    let code = runtime.block_on(up(args));
    // A chaincode build still running (interrupted by a signal) is not waited for.
    runtime.shutdown_background();
    code
}

/// Why `weft up` ends.
enum End {
    Signal(&'static str),
    Died(Exited),
    Failed(anyhow::Error),
}

async fn up(args: &UpArgs) -> ExitCode {
    // First, so that a signal during start-up still stops the nodes.
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (network, mut nodes) = match start(args).await {
        Ok(started) => started,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let started = tokio::select! {
        result = bring_up(&network) => result.map_err(End::Failed),
        signal = signals.recv() => Err(End::Signal(signal)),
        exited = nodes.first_exit() => Err(End::Died(exited)),
    };
    let end = match started {
        Ok(summary) => {
            print!("{summary}");
            println!("ready");
            tokio::select! {
                signal = signals.recv() => End::Signal(signal),
                exited = nodes.first_exit() => End::Died(exited),
            }
        }
        Err(end) => end,
    };
    let code = match &end {
        End::Signal(name) => {
            eprintln!("{name}: stopping the network");
            ExitCode::SUCCESS
        }
        End::Died(exited) => {
            eprintln!("error: {}", exited.describe());
            eprintln!("stopping the other nodes");
            ExitCode::FAILURE
        }
        End::Failed(e) => {
            eprintln!("error: {e:#}");
            eprintln!(
                "the nodes' logs are in {}; stopping the network",
                network.logs_dir().display()
            );
            ExitCode::FAILURE
        }
    };
    let killed = nodes.stop(STOP_TIMEOUT).await;
    if !killed.is_empty() {
        eprintln!(
            "killed {} (still running {} s after SIGTERM)",
            killed.join(", "),
            STOP_TIMEOUT.as_secs()
        );
    }
    eprintln!("stopped");
    code
}

/// Opens or creates the network and starts its nodes.
async fn start(args: &UpArgs) -> anyhow::Result<(Network, Nodes)> {
    let network = Network::open_or_create(
        &args.data,
        args.orgs.as_ref(),
        args.orderers,
        args.base_port,
        &mut |line| {
            eprintln!("{line}");
        },
    )?;
    // Nodes of a `weft up` that was just killed stop by themselves (their
    // stdin closed): give them a moment to free their ports.
    let deadline = Instant::now() + PORTS_GRACE;
    while let Err(e) = network.check_ports_free() {
        if Instant::now() >= deadline {
            return Err(e);
        }
        tokio::time::sleep(health::POLL_INTERVAL).await;
    }
    let exe = std::env::current_exe().context("cannot find this executable to start nodes")?;
    let nodes = Nodes::start(&exe, &network.nodes, &network.logs_dir())?;
    eprintln!(
        "{} network in {}: started {} nodes, logs in {}",
        if network.created {
            "new"
        } else {
            "resuming the"
        },
        network.dir.display(),
        network.nodes.len(),
        network.logs_dir().display()
    );
    Ok((network, nodes))
}

/// What `weft up` did with the chaincode.
enum ChaincodeState {
    Deployed(ChaincodeDefinition),
    AlreadyThere(ChaincodeDefinition),
    NotDeployed,
}

/// Waits for the nodes, writes the profile, deploys the chaincode if
/// needed and waits for every peer to catch up; returns the summary to print.
async fn bring_up(network: &Network) -> anyhow::Result<String> {
    let client = health::client()?;
    let deadline = Instant::now() + START_TIMEOUT;
    wait_for_leader(network, &client, deadline).await?;
    wait_for_gateways(network, &client, deadline).await?;
    let profile_path = network.profile_path();
    network
        .profile()
        .save(&profile_path)
        .context("cannot write the profile")?;
    let profile = Profile::load(&profile_path)?;
    let gateway = Gateway::connect(&profile, profile.identity()?).await?;
    let chaincode = ensure_chaincode(network, &gateway).await?;
    catch_up(network, &client).await?;
    Ok(summary(network, &chaincode))
}

async fn wait_for_leader(
    network: &Network,
    client: &reqwest::Client,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        let mut without_leader = Vec::new();
        for orderer in network.orderers() {
            let health = health::orderer(client, &orderer.url()).await;
            if health.and_then(|h| h.leader).is_none() {
                without_leader.push(orderer.id.as_str());
            }
        }
        if without_leader.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "after {} s, {} still know no Raft leader (or do not answer)",
                START_TIMEOUT.as_secs(),
                without_leader.join(", ")
            );
        }
        tokio::time::sleep(health::POLL_INTERVAL).await;
    }
}

async fn wait_for_gateways(
    network: &Network,
    client: &reqwest::Client,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        let mut silent = Vec::new();
        for peer in network.peers() {
            if health::peer(client, &peer.url()).await.is_none() {
                silent.push(peer.id.as_str());
            }
        }
        if silent.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "after {} s, the gateways of {} do not answer",
                START_TIMEOUT.as_secs(),
                silent.join(", ")
            );
        }
        tokio::time::sleep(health::POLL_INTERVAL).await;
    }
}

/// Waits until every peer holds every block the orderers hold.
async fn catch_up(network: &Network, client: &reqwest::Client) -> anyhow::Result<()> {
    let mut height = 0;
    for orderer in network.orderers() {
        if let Some(h) = health::orderer(client, &orderer.url()).await {
            height = height.max(h.height);
        }
    }
    let urls: Vec<String> = network.peers().map(|p| p.url()).collect();
    let behind = health::wait_for_height(client, &urls, height, CATCH_UP_TIMEOUT).await;
    if !behind.is_empty() {
        bail!(
            "after {} s, the peers at {} have not committed the orderers' {height} blocks",
            CATCH_UP_TIMEOUT.as_secs(),
            behind.join(", ")
        );
    }
    Ok(())
}

/// Deploys [`CHAINCODE`] unless it is defined. A failed build is not fatal:
/// the network stays up and the user is told how to deploy it.
async fn ensure_chaincode(network: &Network, gateway: &Gateway) -> anyhow::Result<ChaincodeState> {
    let defined = gateway.chaincodes().await?;
    if let Some(d) = defined.into_iter().find(|d| d.name == CHAINCODE) {
        return Ok(ChaincodeState::AlreadyThere(d));
    }
    let source = example_source(CHAINCODE);
    let module = match build_chaincode(source.clone()).await {
        Ok(module) => module,
        Err(e) => {
            eprintln!("warning: {CHAINCODE} is not deployed: {e:#}");
            eprint!("{}", deploy_instructions(network, &source));
            return Ok(ChaincodeState::NotDeployed);
        }
    };
    eprintln!("deploying {CHAINCODE} with endorsement policy {CHAINCODE_POLICY}");
    let wallet = Wallet::open(&network.dir)?;
    let request = DeployRequest {
        name: CHAINCODE.into(),
        module,
        version: None,
        policy: Some(Policy::parse(CHAINCODE_POLICY)?),
        collections: None,
    };
    let deployed = deploy::deploy(gateway, &wallet, request)
        .await
        .with_context(|| format!("deploying {CHAINCODE} failed"))?;
    Ok(ChaincodeState::Deployed(deployed.definition))
}

/// `chaincode-examples/NAME` of the checkout this binary was built from.
pub(crate) fn example_source(name: &str) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../chaincode-examples")
        .join(name);
    source.canonicalize().unwrap_or(source)
}

/// Builds the reference chaincode in `source` for Wasm (cargo's output on
/// stderr) and returns the module.
pub(crate) async fn build_chaincode(source: PathBuf) -> anyhow::Result<Vec<u8>> {
    let name = source.file_name().map_or_else(
        || "the chaincode".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    if !source.join("Cargo.toml").is_file() {
        bail!(
            "its source is not at {} (this weft was built from a checkout that is gone)",
            source.display()
        );
    }
    eprintln!(
        "building {name} for Wasm from {} (cargo build --release; the first build takes \
         a few minutes)",
        source.display()
    );
    let checked = tokio::task::spawn_blocking(move || {
        build::build(&source, &mut |line: &str| eprintln!("{line}"))
    })
    .await
    .context("the build task failed")??;
    if let Err(reasons) = &checked.verdict {
        let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        bail!(
            "the module {} would not deploy: {}",
            checked.path.display(),
            reasons.join("; ")
        );
    }
    std::fs::read(&checked.path).with_context(|| format!("cannot read {}", checked.path.display()))
}

/// What to do when `weft up` could not build the chaincode.
fn deploy_instructions(network: &Network, source: &Path) -> String {
    let data = network.dir.display();
    format!(
        "  The network runs without it. To deploy it, fix what is said above (a missing\n\
         \x20 Wasm target is added with `rustup target add wasm32-unknown-unknown`), then:\n\
         \x20   - stop this network (Ctrl-C) and run `weft up --data {data}` again: it deploys what is missing;\n\
         \x20   - or build and deploy it yourself while the network runs:\n\
         \x20       weft chaincode build {src}\n\
         \x20       weft chaincode deploy {CHAINCODE} <the .wasm it prints> --policy {CHAINCODE_POLICY} --profile {profile}\n",
        src = source.display(),
        profile = network.profile_path().display(),
    )
}

/// Where everything is, one `key value …` line each.
fn summary(network: &Network, chaincode: &ChaincodeState) -> String {
    let mut out = format!(
        "network {} ({}), orgs {}\n",
        network.channel,
        if network.created { "new" } else { "resumed" },
        network.orgs.join(", ")
    );
    for o in network.orderers() {
        out.push_str(&format!(
            "orderer {} api {} raft {} org {}\n",
            o.id,
            o.url(),
            o.listen.get(1).map_or("", String::as_str),
            o.org
        ));
    }
    for p in network.peers() {
        out.push_str(&format!(
            "peer {} gateway {} p2p {} org {}\n",
            p.id,
            p.url(),
            p.listen.get(1).map_or("", String::as_str),
            p.org
        ));
    }
    match chaincode {
        ChaincodeState::Deployed(d) | ChaincodeState::AlreadyThere(d) => {
            let how = if matches!(chaincode, ChaincodeState::Deployed(_)) {
                "deployed now"
            } else {
                "already deployed"
            };
            out.push_str(&format!(
                "chaincode {} version {} sequence {} ({how})\n",
                d.name, d.version, d.sequence
            ));
        }
        ChaincodeState::NotDeployed => {
            out.push_str(&format!("chaincode {CHAINCODE} not deployed (see above)\n"));
        }
    }
    out.push_str(&format!("data {}\n", network.dir.display()));
    out.push_str(&format!("logs {}\n", network.logs_dir().display()));
    out.push_str(&format!("profile {}\n", network.profile_path().display()));
    out
}
