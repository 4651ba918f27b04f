//! `weft`: the Weft command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use weft::bench::{self, BenchArgs};
use weft::chaincode::run::{DEFAULT_CREATOR, DEFAULT_MEMBER, RunError, RunRequest};
use weft::chaincode::{self, Checked};
use weft::client_cmd::{self, BlocksArgs, CallArgs, EventsArgs, TxArgs};
use weft::daemon_cmd::{self, OrdererArgs, PeerArgs};
use weft::deploy::{self, DeployArgs};
use weft::loc::{self, demo::LocArgs};
use weft::network::{self, NetworkSpec};
use weft::policy_cmd::{self, EvalOutcome};
use weft::up::{self, UpArgs};

/// mimalloc: the nodes allocate many small, short-lived buffers per
/// transaction from several threads, where glibc's allocator cost a tenth
/// of the CPU under load (measured with `weft bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Write, build, check and try chaincode; deploy it to a network.
    #[command(subcommand)]
    Chaincode(ChaincodeCommand),
    /// Run a whole network here until Ctrl-C: create it in --data on the
    /// first run (resume it after), start every node, deploy asset-transfer,
    /// write DIR/profile.json and print `ready`.
    Up(UpArgs),
    /// Submit a transaction and wait for its commit; prints `tx`, `block`,
    /// `code` and `result` lines. Errors print `stage:` and `code:` (exit 1).
    Invoke(CallArgs),
    /// Evaluate a function on one peer, changing nothing; prints its result
    /// (as text when UTF-8, else base64).
    Query(CallArgs),
    /// Show a committed transaction: block, index, validation code, what it did.
    Tx(TxArgs),
    /// List committed blocks, one `block N txs COUNT hash HASH` line each.
    Blocks(BlocksArgs),
    /// Stream chaincode events as JSON lines until Ctrl-C.
    Events(EventsArgs),
    /// Measure a network under a workload (Caliper-style): throughput,
    /// latency percentiles, failures, CPU and memory; writes report.json
    /// and chart.svg to --out.
    Bench(BenchArgs),
    /// The LoC loan-management system: `weft loc demo` plays its events
    /// end to end as its five roles.
    Loc(LocArgs),
    /// Run an orderer (as `weft up` does for each of its nodes).
    #[command(hide = true)]
    Orderer(OrdererArgs),
    /// Run a peer (as `weft up` does for each of its nodes).
    #[command(hide = true)]
    Peer(PeerArgs),
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

#[derive(Subcommand)]
enum ChaincodeCommand {
    /// Scaffold a chaincode crate at DIR/NAME.
    ///
    /// A small contract (set, get, delete), native and Wasm tests, and a
    /// README; it builds and passes `cargo test` as created. Refuses a path
    /// that exists.
    New {
        /// The chaincode (and crate) name: letters, digits, '_' and '-',
        /// starting with a letter.
        name: String,
        /// The directory to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build a chaincode crate for Wasm and validate the module.
    ///
    /// Builds for wasm32-unknown-unknown in release mode with debug info
    /// stripped (installing the target with rustup if it is missing), then
    /// validates the module as deploy would and prints its path, size, ABI
    /// version, hash and transactions. Exits 1 if the build or the
    /// validation fails.
    Build {
        /// The crate's directory (holding its Cargo.toml).
        dir: PathBuf,
    },
    /// Validate a module as deploy would.
    ///
    /// Prints `ok: FILE would deploy` and what the module is (exit 0), or
    /// every reason it would be refused, one a line (exit 1). An unreadable
    /// file exits 2.
    Check {
        /// The .wasm file.
        file: PathBuf,
    },
    /// Define or upgrade a chaincode on a running network.
    ///
    /// One lifecycle transaction: the module's hash at the next sequence,
    /// approved by admins of enough orgs for the channel's
    /// LifecycleEndorsement policy (from the wallet), waited for. Prints the
    /// name, version, sequence, tx id, block and validation code; a refusal
    /// prints its stage and code (exit 1).
    Deploy(DeployArgs),
    /// Run one call of a module against an in-memory ledger.
    ///
    /// The call runs in the node's Wasm runtime. Prints `ok: <result>` or
    /// `error: <message>`, the rw-set as JSON (written values as text when
    /// they are UTF-8), the event and the fuel used. Exits 0 when the
    /// chaincode succeeds, 1 when it returns an error or fails to run (trap,
    /// out of fuel or memory, module refused), 2 for bad input (unreadable
    /// file, bad state file, bad --creator or --name).
    Run(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The .wasm file.
    file: PathBuf,
    /// The function to call.
    function: String,
    /// Its arguments, one string each (JSON for typed parameters, e.g. 100).
    /// Put `--` before arguments that start with '-'.
    args: Vec<String>,
    /// Seed the ledger from a JSON object file, {"key": value, …}: a JSON
    /// string value is stored as its raw UTF-8 ("blue" → blue), any other
    /// value as its compact JSON text ({"id": "a1"} → {"id":"a1"}).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Who calls: `Org.role`, role one of client, peer, admin, orderer.
    #[arg(long, default_value = DEFAULT_CREATOR)]
    creator: String,
    /// The caller's member name.
    #[arg(long, default_value = DEFAULT_MEMBER)]
    name: String,
    /// The chaincode's name on the channel (its state namespace); default:
    /// the file's stem.
    #[arg(long)]
    chaincode: Option<String>,
    /// Fuel for the call (about one unit per Wasm instruction); default: the
    /// node's fuel_per_call.
    #[arg(long)]
    fuel: Option<u64>,
    /// Run as a query (evaluate): writes are refused.
    #[arg(long)]
    query: bool,
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
        Command::Chaincode(command) => chaincode_command(command),
        Command::Up(args) => up::run(&args),
        Command::Invoke(args) => client_cmd::invoke(args),
        Command::Query(args) => client_cmd::query(args),
        Command::Tx(args) => client_cmd::tx(args),
        Command::Blocks(args) => client_cmd::blocks(args),
        Command::Events(args) => client_cmd::events(args),
        Command::Bench(args) => bench::run(&args),
        Command::Loc(args) => loc::demo::run(&args),
        Command::Orderer(args) => daemon_cmd::orderer(&args),
        Command::Peer(args) => daemon_cmd::peer(args),
    }
}

fn chaincode_command(command: ChaincodeCommand) -> ExitCode {
    match command {
        ChaincodeCommand::New { name, dir } => report(chaincode_new(&name, &dir)),
        ChaincodeCommand::Build { dir } => {
            let mut note = |line: &str| eprintln!("{line}");
            match chaincode::build::build(&dir, &mut note) {
                Ok(checked) if checked.is_ok() => {
                    println!("built {}", checked.path.display());
                    print_description(&checked);
                    ExitCode::SUCCESS
                }
                Ok(checked) => {
                    eprint_rejections(&checked);
                    ExitCode::FAILURE
                }
                Err(e) => report(Err(e)),
            }
        }
        ChaincodeCommand::Check { file } => match chaincode::check::check(&file) {
            Ok(checked) => {
                if checked.is_ok() {
                    println!("ok: {} would deploy", checked.path.display());
                    print_description(&checked);
                } else {
                    println!("rejected: {} would not deploy:", checked.path.display());
                    for reason in checked.rejections() {
                        println!("  {reason}");
                    }
                }
                ExitCode::from(checked.exit_code())
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        ChaincodeCommand::Run(args) => chaincode_run(args),
        ChaincodeCommand::Deploy(args) => deploy::run(args),
    }
}

fn chaincode_new(name: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let created = chaincode::new::create(name, dir)?;
    let shown = created.display();
    println!("created chaincode crate {name} in {shown}");
    println!("  test:  cd {shown} && cargo test");
    println!("  build: weft chaincode build {shown}");
    Ok(())
}

fn print_description(checked: &Checked) {
    if let Some(description) = checked.describe() {
        print!("{description}");
    }
}

fn eprint_rejections(checked: &Checked) {
    eprintln!("error: {} would not deploy:", checked.path.display());
    for reason in checked.rejections() {
        eprintln!("  {reason}");
    }
}

fn chaincode_run(args: RunArgs) -> ExitCode {
    let request = RunRequest {
        wasm: args.file,
        function: args.function,
        args: args.args,
        state: args.state,
        creator: args.creator,
        member: args.name,
        chaincode: args.chaincode,
        fuel: args.fuel,
        query: args.query,
    };
    match chaincode::run::run(&request) {
        Ok(report) => {
            print!("{report}");
            ExitCode::from(report.exit_code())
        }
        Err(RunError::Rejected(reasons)) => {
            eprintln!("error: {} would not deploy:", request.wasm.display());
            for reason in reasons {
                eprintln!("  {reason}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
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
