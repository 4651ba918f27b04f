//! `weft network init` run as a process, checked through the files it writes.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use weft_types::node_config::{IdentityFiles, OrdererNodeConfig, PeerNodeConfig};
use weft_types::{
    Block, Certificate, ChannelConfig, Identity, Role, SigningKey, TrustStore, TxBody,
};

fn weft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .output()
        .expect("run weft")
}

fn init(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["network", "init", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    weft(&args)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn read_genesis(dir: &Path) -> (Block, ChannelConfig) {
    let block: Block =
        serde_json::from_slice(&std::fs::read(dir.join("genesis.json")).unwrap()).unwrap();
    let payload = block.data[0].decode().unwrap();
    let TxBody::Config(cfg) = payload.body else {
        panic!("genesis must hold a config transaction")
    };
    (block, cfg.decode().unwrap())
}

fn load_identity(config_dir: &Path, files: &IdentityFiles) -> Identity {
    let cert: Certificate =
        serde_json::from_slice(&std::fs::read(config_dir.join(&files.certificate)).unwrap())
            .unwrap();
    let pem = std::fs::read_to_string(config_dir.join(&files.key)).unwrap();
    Identity::from_parts(cert, SigningKey::from_pkcs8_pem(&pem).unwrap()).unwrap()
}

#[test]
fn writes_a_consistent_network() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let out = init(
        &dir,
        &[
            "--orgs",
            "Bank,CAD,FD",
            "--orderers",
            "3",
            "--base-port",
            "21000",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (genesis, config) = read_genesis(&dir);
    config.validate().unwrap();
    assert_eq!(config.org_names(), ["Bank", "CAD", "FD"]);
    assert_eq!(config.orderers.len(), 3);
    assert_eq!(genesis.number(), 0);
    assert_eq!(config.sequence, 0);
    genesis.verify(&config).unwrap();
    assert_eq!(
        genesis.metadata.signatures.len(),
        3,
        "every orderer signs the genesis block"
    );
    genesis.data[0].verify(&config, now()).unwrap();

    let nodes: Vec<PathBuf> = std::fs::read_dir(dir.join("nodes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(nodes.len(), 6, "3 orderers and one peer per org: {nodes:?}");
    let mut ports = BTreeSet::new();
    let config_dir = dir.join("nodes");
    for path in &nodes {
        let text = std::fs::read_to_string(path).unwrap();
        let (files, listen, genesis_path, key_in_config) = if text.contains("raft_id") {
            let c: OrdererNodeConfig = toml::from_str(&text).unwrap();
            let info = config.orderers.iter().find(|o| o.id == c.raft_id).unwrap();
            assert_eq!(
                (c.api_listen.as_str(), c.cluster_listen.as_str()),
                (info.api.as_str(), info.cluster.as_str())
            );
            (
                c.identity,
                vec![c.api_listen, c.cluster_listen],
                c.genesis_block,
                info.public_key,
            )
        } else {
            let c: PeerNodeConfig = toml::from_str(&text).unwrap();
            let org = config.org(&c.identity.org).unwrap();
            let info = org
                .peers
                .iter()
                .find(|p| p.name == c.identity.name)
                .unwrap();
            assert_eq!(
                (c.gateway_listen.as_str(), c.p2p_listen.as_str()),
                (info.gateway.as_str(), info.p2p.as_str())
            );
            (
                c.identity,
                vec![c.gateway_listen, c.p2p_listen],
                c.genesis_block,
                info.public_key,
            )
        };
        assert_eq!(
            config_dir.join(genesis_path).canonicalize().unwrap(),
            dir.join("genesis.json").canonicalize().unwrap()
        );
        let id = load_identity(&config_dir, &files);
        assert_eq!(
            id.body().public_key,
            key_in_config,
            "{path:?}: the node's key is the one the channel config lists"
        );
        let body = config.verify_certificate(id.certificate(), now()).unwrap();
        assert_eq!((body.org, body.name), (files.org, files.name));
        for addr in listen {
            assert!(addr.starts_with("127.0.0.1:"), "{addr}");
            assert!(ports.insert(addr.clone()), "port {addr} used twice");
        }
    }
    assert_eq!(ports.len(), 12);

    // An admin, a client and a peer per org, each with a certificate the channel trusts.
    for org in ["Bank", "CAD", "FD"] {
        for (name, role) in [
            ("admin", Role::Admin),
            ("client", Role::Client),
            ("peer0", Role::Peer),
        ] {
            let m = dir.join("orgs").join(org).join("members").join(name);
            let files = IdentityFiles {
                org: org.into(),
                name: name.into(),
                certificate: m.join("cert.json"),
                key: m.join("key.pem"),
            };
            assert_eq!(load_identity(Path::new("/"), &files).role(), role);
        }
        let root = SigningKey::from_pkcs8_pem(
            &std::fs::read_to_string(dir.join("orgs").join(org).join("root.key.pem")).unwrap(),
        )
        .unwrap();
        assert_eq!(Some(&root.public_key()), config.org_root(org));
    }

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = dir.join("orgs/Bank/members/admin/key.pem");
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "private keys are readable by their owner only"
        );
    }
}

#[test]
fn refuses_an_existing_network_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    assert!(
        init(&dir, &["--orgs", "A,B", "--orderers", "1"])
            .status
            .success()
    );
    let (first, _) = read_genesis(&dir);
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();

    let again = init(&dir, &["--orgs", "A,B", "--orderers", "1"]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(
        read_genesis(&dir).0,
        first,
        "a refused init changes nothing"
    );

    let forced = init(&dir, &["--orgs", "A,B,C", "--orderers", "1", "--force"]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    let (second, config) = read_genesis(&dir);
    assert_ne!(second.hash(), first.hash());
    assert_eq!(config.orgs.len(), 3);
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, (args, expected)) in [
        (vec!["--orgs", "Bank,Bank"], "listed twice"),
        (vec!["--orgs", "Bank,bank"], "ignoring case"),
        (vec!["--orgs", "Bad.Org"], "invalid organisation name"),
        (vec!["--orgs", "A", "--orderers", "0"], "at least 1"),
        (vec!["--orgs", "A", "--base-port", "65533"], "beyond 65535"),
        (vec!["--orgs", "A", "--base-port", "80"], "at least 1024"),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = tmp.path().join(format!("n{i}"));
        let out = init(&dir, &args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!dir.exists(), "{args:?}: a failed init writes nothing");
    }
}

/// A forced init that dies half-way (here: a file size limit kills it while it
/// writes) must leave the previous network as it was.
#[cfg(unix)]
#[test]
fn an_init_that_fails_half_way_leaves_the_old_network() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    assert!(
        init(&dir, &["--orgs", "A,B", "--orderers", "1"])
            .status
            .success()
    );
    let (before, _) = read_genesis(&dir);
    let script = format!(
        "ulimit -f 4; exec {} network init --orgs A,B,C,D,E,F --orderers 5 --force --out {}",
        env!("CARGO_BIN_EXE_weft"),
        dir.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(
        !out.status.success(),
        "the size limit must make the init fail"
    );
    let (after, config) = read_genesis(&dir);
    assert_eq!(after, before);
    assert_eq!(config.orgs.len(), 2);
}
