//! `weft`: the Weft command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use weft::network::{self, NetworkSpec};
use weft::policy_cmd::{self, EvalOutcome};

#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "Weft: a permissioned blockchain with Wasm chaincode"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create and manage network directories.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Work with endorsement policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Subcommand)]
enum NetworkCommand {
    /// Write org root keys, member certificates, the genesis block and one
    /// TOML config per node into a directory.
    Init(InitArgs),
}

#[derive(Args)]
struct InitArgs {
    /// Organisations, comma-separated, e.g. Bank,CAD,FD.
    #[arg(long, value_delimiter = ',', required = true)]
    orgs: Vec<String>,
    /// Number of Raft orderers, spread over the orgs in turn.
    #[arg(long, default_value_t = 3)]
    orderers: usize,
    /// Peers per organisation.
    #[arg(long, default_value_t = 1)]
    peers_per_org: usize,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Channel name.
    #[arg(long, default_value = "weft")]
    channel: String,
    /// First port on 127.0.0.1; nodes use consecutive ports from here.
    #[arg(long, default_value_t = 7050)]
    base_port: u16,
    /// Certificate validity in days.
    #[arg(long, default_value_t = 3650)]
    validity_days: u64,
    /// Replace a network already in the directory (its ledgers included).
    #[arg(long)]
    force: bool,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Evaluate a policy: prints `satisfied` (exit 0) or `not satisfied: …`
    /// (exit 1); an invalid policy exits 2 and shows where it is wrong.
    Eval {
        /// The policy, e.g. "AND('A.peer', OR('B.peer', 'C.peer'))".
        policy: String,
        /// The channel's organisations, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        orgs: Vec<String>,
        /// Who signed, comma-separated `Org.role` (role: client, peer, admin, orderer).
        #[arg(long, value_delimiter = ',')]
        signers: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Network(NetworkCommand::Init(args)) => report(network_init(args)),
        Command::Policy(PolicyCommand::Eval {
            policy,
            orgs,
            signers,
        }) => {
            let outcome = policy_cmd::eval(&policy, &orgs, &signers);
            match &outcome {
                EvalOutcome::Satisfied => println!("satisfied"),
                EvalOutcome::NotSatisfied(missing) => println!("not satisfied: {missing}"),
                EvalOutcome::Invalid(message) => eprintln!("error: {message}"),
            }
            ExitCode::from(outcome.exit_code())
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn network_init(args: InitArgs) -> anyhow::Result<()> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let spec = NetworkSpec {
        channel: args.channel,
        orgs: args.orgs,
        orderers: args.orderers,
        peers_per_org: args.peers_per_org,
        base_port: args.base_port,
        validity_days: args.validity_days,
        now,
    };
    let net = network::generate(&spec)?;
    net.write(&args.out, args.force)?;
    let manifest = net.manifest();
    println!(
        "wrote network {} to {} (genesis block {})",
        spec.channel,
        args.out.display(),
        manifest.genesis_hash
    );
    for node in &manifest.nodes {
        println!(
            "  {:<8} {:<16} {}  config {}",
            node.kind,
            node.id,
            node.listen.join(" "),
            node.config.display()
        );
    }
    Ok(())
}
