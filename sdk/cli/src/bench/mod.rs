//! `weft bench`: measures a whole network the way Hyperledger Caliper does.
//!
//! A run connects to every gateway of a connection profile (or first starts
//! a network of its own with `weft up` in a temporary directory,
//! `--spawn`), submits the workload's setup transactions, then sends its
//! operations — from `--clients N` concurrent clients, each sending its
//! next operation when the last one finished (closed loop), or at a fixed
//! `--rate` whatever the answers (open loop) — for a warm-up that is not
//! counted and then for `--duration` seconds. Every operation is signed
//! like a real client's (the profile's identity, a fresh nonce, ed25519)
//! and measured from the proposal to its commit (submit) or over its round
//! trip (evaluate). The report — throughput, latency percentiles, failures
//! by stage and code, CPU and peak memory of each node process and of the
//! load generator — is printed as a table and written to `--out` as
//! `report.json` and `chart.svg`.

pub(crate) mod chart;
mod driver;
mod loc_mix;
pub(crate) mod procstat;
pub(crate) mod report;
pub(crate) mod spawn;
mod steps;
pub(crate) mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;
use weft_client::{Contract, Gateway, GatewayConfig, Profile, Signer};

use crate::client_cmd::DEFAULT_PROFILE;
use crate::signals::Signals;
use crate::up::Orgs;
use driver::{Calls, Driver};
use procstat::ProcWatch;
use report::{Mode, Outcome, Report, ReportInput, Sample};
use workload::{RunContext, Workload};

/// `weft bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The workload: asset-put, asset-get, asset-transfer-hot or loc-mix.
    #[arg(long, value_name = "NAME")]
    pub workload: String,
    /// Closed loop: this many concurrent clients, each sending its next
    /// operation when its last one finished [default: 64]. A list
    /// (`10,20,30`) runs one measurement per step on the same network and
    /// sums the steps up in `steps.json`.
    #[arg(
        long,
        value_name = "N[,N…]",
        value_delimiter = ',',
        conflicts_with = "rate"
    )]
    pub clients: Vec<usize>,
    /// Open loop: operations sent per second, whatever the answers.
    #[arg(long, value_name = "TPS")]
    pub rate: Option<f64>,
    /// Seconds measured, after the warm-up.
    #[arg(long, value_name = "S", default_value_t = 30)]
    pub duration: u64,
    /// Seconds of load before the measurement starts, not counted.
    #[arg(long, value_name = "S", default_value_t = 5)]
    pub warmup: u64,
    /// The network's connection profile (default: the one `weft up` writes).
    #[arg(long, value_name = "PROFILE", conflicts_with = "spawn")]
    pub network: Option<PathBuf>,
    /// Start a network of its own (`weft up` in a temporary directory) and
    /// stop it afterwards.
    #[arg(long)]
    pub spawn: bool,
    /// Organisations of the spawned network: a count or comma-separated
    /// names [default: 2; loc-mix: Customer,Bank,CAD,FD,Regulator].
    #[arg(long, value_name = "N|NAMES", requires = "spawn")]
    pub orgs: Option<Orgs>,
    /// Raft orderers of the spawned network [default: 3].
    #[arg(long, value_name = "N", requires = "spawn")]
    pub orderers: Option<usize>,
    /// Where to write report.json and chart.svg.
    #[arg(long, value_name = "DIR", default_value = "bench-report")]
    pub out: PathBuf,
    /// Keys the reading and contending workloads spread over.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub keys: usize,
    /// Open loop: operations allowed in flight at once; one due beyond it
    /// is counted failed at the client (`client`/`in_flight_limit`).
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_in_flight: u64,
    /// Per-request timeout, seconds.
    #[arg(long, value_name = "S", default_value_t = 30)]
    pub timeout: u64,
}

/// Runs `weft bench`: 0 when the run completed (whatever its failures), 1
/// when it could not run.
pub fn run(args: &BenchArgs) -> ExitCode {
    let Some(runtime) = crate::runtime() else {
        return ExitCode::FAILURE;
    };
    let result = runtime.block_on(bench(args));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(reports) => {
            let stepped = reports.len() > 1;
            for report in &reports {
                let out = step_dir(args, report, stepped);
                if stepped {
                    println!("--- step: {}", report.mode_text());
                }
                print!("{}", report.table());
                println!("report: {}", out.join("report.json").display());
                println!("chart: {}", out.join("chart.svg").display());
            }
            if stepped {
                print!("{}", steps::table(&steps::summarize(&reports)));
                println!("steps: {}", args.out.join(steps::FILE).display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Where a report goes: `--out`, or `--out/clients-N` for a step.
fn step_dir(args: &BenchArgs, report: &Report, stepped: bool) -> PathBuf {
    match (stepped, report.clients) {
        (true, Some(n)) => args.out.join(format!("clients-{n}")),
        _ => args.out.clone(),
    }
}

async fn bench(args: &BenchArgs) -> anyhow::Result<Vec<Report>> {
    let Some(chosen) = Chosen::by_name(&args.workload) else {
        bail!(
            "no workload {:?}; known: {}, {}",
            args.workload,
            workload::NAMES.join(", "),
            loc_mix::NAME
        );
    };
    let modes = match (args.clients.as_slice(), args.rate) {
        (_, Some(rate)) if !(rate.is_finite() && rate > 0.0) => {
            bail!("--rate must be a positive number of operations per second")
        }
        (_, Some(rate)) => vec![Mode::Open { rate }],
        (clients, None) if clients.contains(&0) => bail!("--clients must be at least 1"),
        ([], None) => vec![Mode::Closed { clients: 64 }],
        (clients, None) => clients
            .iter()
            .map(|&clients| Mode::Closed { clients })
            .collect(),
    };
    if args.duration == 0 {
        bail!("--duration must be at least 1 second");
    }
    if matches!(chosen, Chosen::LocMix) && matches!(modes[..], [Mode::Open { .. }]) {
        bail!(
            "{} runs closed loop only (--clients N concurrent requests, as the LoC paper's \
             evaluation): each client plays its own customers",
            loc_mix::NAME
        );
    }
    // A signal stops the run, and the spawned network with it.
    let mut signals = Signals::install().context("cannot handle signals")?;
    let orgs = args
        .orgs
        .clone()
        .or_else(|| chosen.default_orgs())
        .unwrap_or_else(|| Orgs::from_iter(["Org1", "Org2"]));
    let spawned = if args.spawn {
        tokio::select! {
            started = spawn::Spawned::start("bench", orgs, args.orderers) => Some(started?),
            signal = signals.recv() => bail!("stopped by {signal} while the network was starting"),
        }
    } else {
        None
    };
    let work = async {
        let (profile_path, network, nodes) = match &spawned {
            Some(s) => (s.profile(), s.describe(), s.nodes()),
            None => {
                let path = args
                    .network
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_PROFILE));
                let nodes = spawn::nodes_of_profile(&path);
                (path.clone(), format!("profile {}", path.display()), nodes)
            }
        };
        let stepped = modes.len() > 1;
        let mut reports = Vec::new();
        for &mode in &modes {
            let report = measure(
                args,
                &chosen,
                mode,
                &profile_path,
                network.clone(),
                nodes.clone(),
            )
            .await?;
            let out = step_dir(args, &report, stepped);
            report
                .write(&out)
                .with_context(|| format!("cannot write the report to {}", out.display()))?;
            reports.push(report);
        }
        if stepped {
            steps::write(&args.out, &steps::summarize(&reports))?;
        }
        Ok(reports)
    };
    let outcome = tokio::select! {
        outcome = work => outcome,
        signal = signals.recv() => Err(anyhow::anyhow!("stopped by {signal}; no report written")),
    };
    if let Some(s) = spawned {
        s.stop().await;
    }
    outcome
}

/// One connection per gateway of the profile, all signing as its identity.
async fn connect(
    profile_path: &std::path::Path,
    timeout: Duration,
) -> anyhow::Result<Vec<Gateway>> {
    let profile = Profile::load(profile_path)?;
    let signer: Arc<dyn Signer> = Arc::new(profile.identity()?);
    let mut gateways = Vec::new();
    for url in profile.gateway_urls() {
        let config = GatewayConfig::new([url.as_str()], &profile.channel).with_timeout(timeout);
        let gateway = Gateway::connect_with(config, signer.clone())
            .await
            .with_context(|| format!("cannot connect to the gateway {url}"))?;
        gateways.push(gateway);
    }
    if gateways.is_empty() {
        bail!("{} lists no gateway", profile_path.display());
    }
    Ok(gateways)
}

/// What every sender shares during the run.
struct Run {
    driver: Arc<dyn Driver>,
    measure_start: Instant,
    measure_end: Instant,
    samples: Mutex<Vec<Sample>>,
    /// Sent during the window and not finished yet.
    measured_in_flight: AtomicU64,
    /// Every operation not finished yet (warm-up ones included).
    in_flight: AtomicU64,
    committed: AtomicU64,
    failed: AtomicU64,
    seq: AtomicU64,
}

impl Run {
    /// Sends one operation as client `client` and records it.
    async fn send(&self, client: usize) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let measured = started >= self.measure_start && started < self.measure_end;
        if measured {
            self.measured_in_flight.fetch_add(1, Ordering::Relaxed);
        }
        let (label, outcome) = self.driver.send(client, seq).await;
        let latency = started.elapsed();
        match outcome {
            Outcome::Ok => self.committed.fetch_add(1, Ordering::Relaxed),
            Outcome::Failed { .. } => self.failed.fetch_add(1, Ordering::Relaxed),
        };
        if measured {
            self.record(label, started, latency, outcome);
            self.measured_in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn record(&self, op: &'static str, started: Instant, latency: Duration, outcome: Outcome) {
        let sample = Sample {
            op,
            start: started.saturating_duration_since(self.measure_start),
            latency,
            outcome,
        };
        if let Ok(mut samples) = self.samples.lock() {
            samples.push(sample);
        }
    }
}

/// How long operations still in flight when the window closes may take to
/// finish before the run ends without them.
const DRAIN: Duration = Duration::from_secs(30);

/// The workload a run sends.
enum Chosen {
    /// One call per operation.
    Calls(Arc<dyn Workload>),
    /// The LoC mix: flows of several calls, as the five LoC roles.
    LocMix,
}

impl Chosen {
    fn by_name(name: &str) -> Option<Chosen> {
        if name == loc_mix::NAME {
            return Some(Chosen::LocMix);
        }
        workload::by_name(name).map(|w| Chosen::Calls(Arc::from(w)))
    }

    fn name(&self) -> &'static str {
        match self {
            Chosen::Calls(workload) => workload.name(),
            Chosen::LocMix => loc_mix::NAME,
        }
    }

    /// The orgs a spawned network has unless `--orgs` says otherwise.
    fn default_orgs(&self) -> Option<Orgs> {
        match self {
            Chosen::Calls(_) => None,
            Chosen::LocMix => Some(crate::loc::role_orgs()),
        }
    }

    /// Runs the setup and returns the driver.
    async fn prepare(
        &self,
        args: &BenchArgs,
        mode: Mode,
        profile_path: &std::path::Path,
    ) -> anyhow::Result<Arc<dyn Driver>> {
        let timeout = Duration::from_secs(args.timeout);
        let run_id = format!(
            "b{}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
        );
        match self {
            Chosen::Calls(workload) => {
                let gateways = connect(profile_path, timeout).await?;
                let contracts: Vec<Contract> = gateways
                    .iter()
                    .map(|g| g.contract(workload.chaincode()))
                    .collect();
                let context = RunContext {
                    run_id,
                    client: "bench".into(),
                    keys: args.keys.max(1),
                };
                Ok(Arc::new(
                    Calls::prepare(workload.clone(), context, contracts).await?,
                ))
            }
            Chosen::LocMix => {
                // Every operation in flight holds a customer; four per
                // client leave some free for the next loan and refund.
                let customers = match mode {
                    Mode::Closed { clients } => clients * 4,
                    Mode::Open { .. } => args.keys.max(1),
                };
                Ok(Arc::new(
                    loc_mix::LocMix::prepare(profile_path, &run_id, customers, timeout).await?,
                ))
            }
        }
    }
}

async fn measure(
    args: &BenchArgs,
    chosen: &Chosen,
    mode: Mode,
    profile_path: &std::path::Path,
    network: String,
    nodes: Vec<(String, u32)>,
) -> anyhow::Result<Report> {
    let driver = chosen.prepare(args, mode, profile_path).await?;

    let warmup = Duration::from_secs(args.warmup);
    let duration = Duration::from_secs(args.duration);
    let start = Instant::now();
    let run = Arc::new(Run {
        driver,
        seq: AtomicU64::new(0),
        measure_start: start + warmup,
        measure_end: start + warmup + duration,
        samples: Mutex::new(Vec::new()),
        measured_in_flight: AtomicU64::new(0),
        in_flight: AtomicU64::new(0),
        committed: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let progress = Progress::start(run.clone(), start, warmup + duration);
    let loadgen_pid = procstat::self_pid();
    // CPU and memory are read over the measured window only.
    let watch = {
        let measure_start = run.measure_start;
        let mut procs = nodes;
        procs.push(("weft bench (load generator)".into(), loadgen_pid));
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_start).await;
            ProcWatch::start(procs)
        })
    };
    match mode {
        Mode::Closed { clients } => closed_loop(&run, clients).await,
        Mode::Open { rate } => open_loop(&run, rate, args.max_in_flight).await,
    }
    let mut stats = match watch.await {
        Ok(watch) => watch.finish(),
        Err(_) => Vec::new(),
    };
    progress.finish();
    let loadgen = stats
        .iter()
        .position(|s| s.pid == loadgen_pid)
        .map(|i| stats.remove(i));
    let samples = std::mem::take(
        &mut *run
            .samples
            .lock()
            .map_err(|_| anyhow::anyhow!("a sender panicked"))?,
    );
    Ok(Report::build(ReportInput {
        workload: chosen.name().to_string(),
        mode,
        warmup,
        duration,
        samples,
        unfinished: run.measured_in_flight.load(Ordering::Relaxed),
        nodes: stats,
        loadgen,
        network,
    }))
}

/// `clients` tasks, each sending its next operation when the last one
/// finished, until the window closes; then waits for those in flight.
async fn closed_loop(run: &Arc<Run>, clients: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let run = run.clone();
        tasks.spawn(async move {
            while Instant::now() < run.measure_end {
                run.in_flight.fetch_add(1, Ordering::Relaxed);
                run.send(client).await;
                run.in_flight.fetch_sub(1, Ordering::Relaxed);
                // A well-behaved client: no new work while its gateway
                // holds it off (its calls would fail at once), and not all
                // at the same instant when the hold ends.
                if let Some(hold) = run.driver.hold(client) {
                    tokio::time::sleep(hold + jitter(client, hold)).await;
                }
            }
        });
    }
    drain(run, tasks).await;
}

/// Up to half of `hold` more, different for each client, so that clients
/// released by the same hold do not all send at once.
fn jitter(client: usize, hold: Duration) -> Duration {
    hold * ((client as u32).wrapping_mul(2_654_435_761) % 50) / 100
}

/// Sends `rate` operations a second from the start of the warm-up to the
/// end of the window, each in a task of its own, at most `max_in_flight`
/// at once; then waits for those in flight.
async fn open_loop(run: &Arc<Run>, rate: f64, max_in_flight: u64) {
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let now = tick.tick().await;
        if now >= run.measure_end {
            break;
        }
        let due = (now.duration_since(start).as_secs_f64() * rate) as u64;
        while sent < due {
            sent += 1;
            let client = sent as usize;
            if run.in_flight.load(Ordering::Relaxed) >= max_in_flight {
                let now = Instant::now();
                run.failed.fetch_add(1, Ordering::Relaxed);
                if now >= run.measure_start {
                    run.record(
                        "refused",
                        now,
                        Duration::ZERO,
                        Outcome::Failed {
                            stage: "client".into(),
                            code: "in_flight_limit".into(),
                        },
                    );
                }
                continue;
            }
            run.in_flight.fetch_add(1, Ordering::Relaxed);
            let run = run.clone();
            tasks.spawn(async move {
                run.send(client).await;
                run.in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
        // Reap finished tasks so that the set does not grow with the run.
        while tasks.try_join_next().is_some() {}
    }
    drain(run, tasks).await;
}

/// Waits up to [`DRAIN`] for the senders to finish; aborts the rest (their
/// operations count as unfinished).
async fn drain(run: &Run, mut tasks: tokio::task::JoinSet<()>) {
    let deadline = run.measure_end.max(Instant::now()) + DRAIN;
    while !tasks.is_empty() {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(_) => {}
            Err(_) => {
                tasks.abort_all();
                break;
            }
        }
    }
}

/// The live progress line: phase, elapsed, current throughput, failures
/// and operations in flight. Hidden when stderr is not a terminal.
struct Progress {
    bar: ProgressBar,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(run: Arc<Run>, start: Instant, total: Duration) -> Progress {
        let bar = ProgressBar::new(total.as_secs());
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} s  {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let bar = bar.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut last = (Instant::now(), 0u64);
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                while !stop.load(Ordering::Relaxed) {
                    let now = tick.tick().await;
                    let committed = run.committed.load(Ordering::Relaxed);
                    let secs = now.duration_since(last.0).as_secs_f64();
                    let tps = if secs > 0.0 {
                        (committed - last.1) as f64 / secs
                    } else {
                        0.0
                    };
                    last = (now, committed);
                    let phase = if now < run.measure_start {
                        "warm-up"
                    } else if now < run.measure_end {
                        "measuring"
                    } else {
                        "draining"
                    };
                    bar.set_position(now.duration_since(start).as_secs().min(total.as_secs()));
                    bar.set_message(format!(
                        "{phase}  {tps:>8.0} ok/s  ok {committed}  failed {}  in flight {}",
                        run.failed.load(Ordering::Relaxed),
                        run.in_flight.load(Ordering::Relaxed)
                    ));
                }
            })
        };
        Progress { bar, stop, task }
    }

    fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.abort();
        self.bar.finish_and_clear();
    }
}
