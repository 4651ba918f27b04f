//! A whole Weft network as users run it: `weft network init` writes it,
//! three `weft-orderer` and two `weft-peer` processes serve it on
//! 127.0.0.1, and connection profiles name each org's client. Also a small
//! raw HTTP client for the gateway, for tests that use no SDK.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use weft_client::{Gateway, Wallet};
use weft_tests::process::{Child, binary};
use weft_types::{Domain, Identity, TxId, ValidationCode, from_base64, sha3_256, to_base64};

/// The organisations of the channel, in channel order.
pub(crate) const ORGS: [&str; 2] = ["Org1", "Org2"];
/// Raft orderers.
pub(crate) const ORDERERS: usize = 3;
/// The channel `weft network init` names by default.
pub(crate) const CHANNEL: &str = "weft";
/// How long anything may take before a test gives up: generous, for a
/// loaded 2-core machine running debug builds.
pub(crate) const PATIENCE: Duration = Duration::from_secs(120);

/// One node of the manifest `weft network init` writes.
#[derive(Debug, Clone)]
struct NodeEntry {
    id: String,
    kind: String,
    org: String,
    config: PathBuf,
    listen: Vec<String>,
}

/// A running network. Dropping it kills every process (the directory,
/// logs included, is removed after them).
pub(crate) struct Network {
    // Declared before `_dir`: the processes die before their files go.
    processes: Vec<(String, Child)>,
    /// How each process was started (its command and log), to restart it.
    commands: Vec<(PathBuf, PathBuf, PathBuf)>,
    /// The channel's orgs, in channel order.
    pub(crate) orgs: Vec<String>,
    /// The network directory (also a wallet of every member).
    pub(crate) dir: PathBuf,
    /// Each org's gateway base URL (`http://127.0.0.1:P`), in `orgs` order.
    pub(crate) gateways: Vec<String>,
    /// Each orderer's API address (`127.0.0.1:P`).
    pub(crate) orderer_apis: Vec<String>,
    _dir: TempDir,
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A base port with `count` consecutive free ports on 127.0.0.1, below
/// Linux's ephemeral range so that the OS does not hand them out meanwhile.
fn free_port_run(count: u16) -> u16 {
    let seed = now_ms() ^ (u64::from(std::process::id()) << 32);
    let mut rng = weft_tests::Rng::new(seed);
    for _ in 0..500 {
        let base = 20_000 + rng.below(12_000) as u16;
        let held: std::io::Result<Vec<TcpListener>> = (base..base + count)
            .map(|p| TcpListener::bind(("127.0.0.1", p)))
            .collect();
        if held.is_ok() {
            return base;
        }
    }
    panic!("no run of {count} free ports on 127.0.0.1 between 20000 and 32000");
}

fn read_manifest(dir: &Path) -> Vec<NodeEntry> {
    let text = std::fs::read_to_string(dir.join("network.json")).expect("read network.json");
    let manifest: Value = serde_json::from_str(&text).expect("network.json is JSON");
    manifest["nodes"]
        .as_array()
        .expect("network.json lists nodes")
        .iter()
        .map(|n| NodeEntry {
            id: n["id"].as_str().expect("node id").to_string(),
            kind: n["kind"].as_str().expect("node kind").to_string(),
            org: n["org"].as_str().expect("node org").to_string(),
            config: dir.join(n["config"].as_str().expect("node config")),
            listen: n["listen"]
                .as_array()
                .expect("node listen")
                .iter()
                .map(|a| a.as_str().expect("an address").to_string())
                .collect(),
        })
        .collect()
}

impl Network {
    /// Builds the binaries, writes the network with `weft network init`,
    /// writes a profile per org's client and admin, and starts every node.
    /// Call [`Network::wait_ready`] before using it.
    pub(crate) fn start() -> Network {
        Network::start_with(&ORGS)
    }

    /// [`Network::start`] for the orgs `orgs`, one peer each.
    pub(crate) fn start_with(orgs: &[&str]) -> Network {
        let weft = binary("weft", "weft");
        let orderer = binary("weft-orderer", "weft-orderer");
        let peer = binary("weft-node", "weft-peer");
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let dir = tmp.path().join("net");
        // Two ports per orderer, two per peer.
        let base_port = free_port_run((ORDERERS + orgs.len()) as u16 * 2);
        let out = Command::new(&weft)
            .args(["network", "init", "--orgs"])
            .arg(orgs.join(","))
            .arg("--orderers")
            .arg(ORDERERS.to_string())
            .args(["--peers-per-org", "1", "--base-port"])
            .arg(base_port.to_string())
            .arg("--out")
            .arg(&dir)
            .output()
            .expect("run weft network init");
        assert!(
            out.status.success(),
            "weft network init failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let nodes = read_manifest(&dir);
        let logs = tmp.path().join("logs");
        std::fs::create_dir_all(&logs).expect("create the log directory");
        let mut processes = Vec::new();
        let mut commands = Vec::new();
        // Orderers first: peers pull blocks from them.
        for kind in ["orderer", "peer"] {
            for node in nodes.iter().filter(|n| n.kind == kind) {
                let program = if kind == "orderer" { &orderer } else { &peer };
                let mut command = Command::new(program);
                command.arg("--config").arg(&node.config);
                let log = logs.join(format!("{}.log", node.id));
                processes.push((node.id.clone(), Child::spawn(&node.id, &mut command, &log)));
                commands.push((program.clone(), node.config.clone(), log));
            }
        }
        let gateways = orgs
            .iter()
            .map(|org| {
                let node = nodes
                    .iter()
                    .find(|n| n.kind == "peer" && n.org == *org)
                    .unwrap_or_else(|| panic!("network.json has no peer of {org}"));
                format!("http://{}", node.listen[0])
            })
            .collect::<Vec<_>>();
        let orderer_apis = nodes
            .iter()
            .filter(|n| n.kind == "orderer")
            .map(|n| n.listen[0].clone())
            .collect::<Vec<_>>();
        assert_eq!(orderer_apis.len(), ORDERERS, "network.json: {nodes:?}");
        let net = Network {
            processes,
            commands,
            orgs: orgs.iter().map(|o| o.to_string()).collect(),
            dir,
            gateways,
            orderer_apis,
            _dir: tmp,
        };
        for (i, org) in orgs.iter().enumerate() {
            net.write_profile(i, &format!("client@{org}"));
            net.write_profile(i, &format!("admin@{org}"));
        }
        net
    }

    /// `DIR/profile-<label>.json`: the member `label` on the channel, its
    /// own org's gateway (`org`, index into [`ORGS`]) first, then the others.
    fn write_profile(&self, org: usize, label: &str) {
        let mut order: Vec<usize> = vec![org];
        order.extend((0..self.orgs.len()).filter(|i| *i != org));
        let gateways: Vec<Value> = order
            .iter()
            .map(|&i| json!({"org": self.orgs[i], "gateway": self.gateways[i]}))
            .collect();
        let profile = json!({
            "channel": CHANNEL,
            "gateways": gateways,
            "identity": {"wallet": ".", "label": label},
            "timeout_ms": PATIENCE.as_millis() as u64,
        });
        let text = serde_json::to_string_pretty(&profile).expect("serialize a profile");
        std::fs::write(self.profile(label), text).expect("write a profile");
    }

    /// The profile file of member `label` (`client@Org1`, `admin@Org2`).
    pub(crate) fn profile(&self, label: &str) -> PathBuf {
        self.dir.join(format!("profile-{label}.json"))
    }

    /// Connects with member `label`'s profile: its org's gateway first.
    pub(crate) async fn connect(&self, label: &str) -> Gateway {
        let gateway = Gateway::connect_profile(self.profile(label))
            .await
            .unwrap_or_else(|e| panic!("connect as {label}: {e}"));
        let org = label.split('@').nth(1).expect("a label is name@org");
        let index = self
            .orgs
            .iter()
            .position(|o| o == org)
            .expect("a known org");
        assert_eq!(
            gateway.current_url(),
            self.gateways[index],
            "{label} logs in at its own org's gateway"
        );
        gateway
    }

    /// Member `label`'s identity from the network directory (a wallet).
    pub(crate) fn identity(&self, label: &str) -> Identity {
        Wallet::open(&self.dir)
            .and_then(|w| w.get(label))
            .unwrap_or_else(|e| panic!("load {label}: {e}"))
    }

    /// Kills process `name` (`kill -9`).
    pub(crate) fn kill(&mut self, name: &str) {
        let (_, child) = self
            .processes
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no process {name}"));
        child.kill();
    }

    /// Starts process `name` again, with its configuration and data.
    pub(crate) fn restart(&mut self, name: &str) {
        let i = self
            .processes
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no process {name}"));
        let (program, config, log) = &self.commands[i];
        let mut command = Command::new(program);
        command.arg("--config").arg(config);
        self.processes[i].1 = Child::spawn(name, &mut command, log);
    }

    /// The process names (`network.json` ids).
    pub(crate) fn process_names(&self) -> Vec<String> {
        self.processes.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Panics, naming it, if a process has exited.
    pub(crate) fn assert_running(&mut self) {
        for (name, child) in &mut self.processes {
            if let Some(status) = child.try_wait() {
                panic!("{name} exited ({status}):\n{}", child.log());
            }
        }
    }

    /// Waits until every orderer knows the same leader and every peer has
    /// committed the genesis block.
    pub(crate) async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            self.assert_running();
            let mut leaders = Vec::new();
            for api in &self.orderer_apis {
                let health = get_json(&http, &format!("http://{api}/v1/healthz")).await;
                leaders.push(health.and_then(|h| h["leader"].as_u64()));
            }
            let mut heights = Vec::new();
            for url in &self.gateways {
                let health = get_json(&http, &format!("{url}/v1/healthz")).await;
                heights.push(health.and_then(|h| h["height"].as_u64()));
            }
            let one_leader = leaders[0].is_some() && leaders.iter().all(|l| *l == leaders[0]);
            if one_leader && heights.iter().all(|h| h.is_some_and(|h| h >= 1)) {
                eprintln!(
                    "network ready after {:?}: leader {leaders:?}, heights {heights:?}",
                    started.elapsed()
                );
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the network is not ready after {PATIENCE:?}: leaders {leaders:?}, peer heights {heights:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The runtime the scenarios run on: two workers, like the machine.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Waits until `gateway`'s peer committed `tx_id`, and checks it as `code`
/// (so that, say, the next endorsement sees the same state everywhere).
pub(crate) async fn committed_on(gateway: &Gateway, tx_id: TxId, code: ValidationCode) {
    let status = gateway
        .transaction_status(tx_id, PATIENCE)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{} never committed {tx_id}", gateway.current_url()));
    assert_eq!(
        status.code,
        code,
        "{} committed {tx_id}",
        gateway.current_url()
    );
}

/// GET `url` as JSON; `None` on any failure (not up yet).
async fn get_json(http: &reqwest::Client, url: &str) -> Option<Value> {
    let response = http
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// A gateway spoken to over plain HTTP and JSON, as any language would.
pub(crate) struct RawGateway {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl RawGateway {
    /// The gateway at `base` (`http://host:port`), not logged in.
    pub(crate) fn new(base: &str) -> RawGateway {
        RawGateway {
            http: reqwest::Client::new(),
            base: base.to_string(),
            token: None,
        }
    }

    /// Sends a request; the status and the JSON body (`Null` if not JSON).
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(PATIENCE + Duration::from_secs(10));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// POST `body` to `path`.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// GET `path`.
    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Logs in as `who` with the challenge/token flow; the token answer.
    pub(crate) async fn login(&mut self, who: &Identity) -> Value {
        let (status, body) = self
            .call(reqwest::Method::POST, "/v1/auth/challenge", None)
            .await;
        assert_eq!(status, StatusCode::OK, "challenge: {body}");
        let challenge = from_base64(body["challenge"].as_str().expect("a challenge"))
            .expect("the challenge is base64");
        assert_eq!(challenge.len(), 32, "a 32-byte challenge: {body}");
        let signature = who.sign(Domain::AuthChallenge, &sha3_256(&challenge));
        let request = json!({
            "challenge": to_base64(&challenge),
            "certificate": who.certificate(),
            "signature": signature,
        });
        let (status, body) = self.post("/v1/auth/token", &request).await;
        assert_eq!(status, StatusCode::OK, "token: {body}");
        self.token = Some(body["token"].as_str().expect("a token").to_string());
        body
    }
}
