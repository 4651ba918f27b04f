//! [`TestNetwork`]: a channel of real identities (org roots, admins,
//! clients, peers, one orderer) that builds what a peer is fed — a genesis
//! block, signed blocks chaining to it, lifecycle transactions approved by
//! every admin, signed proposals and endorsed transactions. Every signature
//! is a real ed25519 signature; nothing is mocked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use weft_types::{
    Block, BlockHeader, Bytes, ChaincodeDefinition, ChaincodeEvent, ChaincodeId, ChannelConfig,
    ConfigTransaction, Digest, Domain, EndorsedTransaction, Endorsement, Envelope, Identity,
    LifecycleTransaction, OrdererInfo, OrgAuthority, OrgInfo, PeerInfo, Policy, Proposal,
    ProposalResponse, ProposalResponsePayload, Response, Role, RwSet, SignedProposal, SigningKey,
    Transaction, TxBody, TxHeader, sha3_256,
};

/// The channel every test network uses.
pub const CHANNEL: &str = "weft";

/// The genesis block's time, unix milliseconds; later blocks add one second each.
pub const GENESIS_MS: u64 = 1_700_000_000_000;

/// A channel with one admin, one client and one peer per org, and one
/// orderer (run by the first org). Certificates never expire.
pub struct TestNetwork {
    /// Org certificate authorities, in channel order.
    pub orgs: Vec<OrgAuthority>,
    /// The channel configuration the genesis block carries.
    pub config: ChannelConfig,
    /// `admin` of each org.
    pub admins: Vec<Identity>,
    /// `client` of each org.
    pub clients: Vec<Identity>,
    /// `peer0` of each org.
    pub peers: Vec<Identity>,
    /// Every orderer (`orderer0`, `orderer1`, …; Raft ids 1, 2, …).
    pub orderers: Vec<Identity>,
    genesis: Block,
}

/// A free port on 127.0.0.1 (bound, then released: another process could
/// take it in between, which tests accept).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl TestNetwork {
    /// A network of the orgs named, with the channel's default policies
    /// (MAJORITY endorsement and lifecycle approval).
    pub fn new(org_names: &[&str]) -> TestNetwork {
        TestNetwork::with_orderers(org_names, 1)
    }

    /// A network with `orderers` orderers of the first org, each on its
    /// own free ports for the API and the cluster (when more than one).
    pub fn with_orderers(org_names: &[&str], orderers: usize) -> TestNetwork {
        let orgs: Vec<OrgAuthority> = org_names
            .iter()
            .map(|n| OrgAuthority::new(n, SigningKey::generate()).expect("valid org name"))
            .collect();
        let enroll = |role: Role, name: &str| -> Vec<Identity> {
            orgs.iter()
                .map(|o| o.enroll(name, role, 0, u64::MAX).expect("enroll"))
                .collect()
        };
        let admins = enroll(Role::Admin, "admin");
        let clients = enroll(Role::Client, "client");
        let peers = enroll(Role::Peer, "peer0");
        let orderer_ids: Vec<Identity> = (0..orderers.max(1))
            .map(|i| {
                orgs[0]
                    .enroll(&format!("orderer{i}"), Role::Orderer, 0, u64::MAX)
                    .expect("enroll")
            })
            .collect();
        let infos = orgs
            .iter()
            .zip(&peers)
            .enumerate()
            .map(|(i, (o, p))| OrgInfo {
                name: o.org().to_string(),
                root_key: o.root_key(),
                peers: vec![PeerInfo {
                    name: "peer0".into(),
                    gateway: format!("127.0.0.1:{}", 17_000 + i),
                    p2p: format!("127.0.0.1:{}", 18_000 + i),
                    public_key: p.body().public_key,
                }],
            })
            .collect();
        let infos_orderers = orderer_ids
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let (api, cluster) = if orderer_ids.len() == 1 {
                    (17_050, 17_051)
                } else {
                    (free_port(), free_port())
                };
                OrdererInfo {
                    id: i as u64 + 1,
                    name: o.name().to_string(),
                    org: orgs[0].org().to_string(),
                    api: format!("127.0.0.1:{api}"),
                    cluster: format!("127.0.0.1:{cluster}"),
                    public_key: o.body().public_key,
                }
            })
            .collect();
        let config = ChannelConfig::new(CHANNEL, infos, infos_orderers);
        config.validate().expect("the test channel config is valid");
        let creator = &admins[0];
        let tx = Transaction {
            header: TxHeader::new(CHANNEL, creator.certificate(), GENESIS_MS),
            body: TxBody::Config(ConfigTransaction::new(&config)),
        };
        let mut genesis = Block::new(
            0,
            Digest::ZERO,
            GENESIS_MS,
            vec![Envelope::sign(&tx, creator)],
        );
        for o in &orderer_ids {
            genesis.sign(o);
        }
        TestNetwork {
            orgs,
            config,
            admins,
            clients,
            peers,
            orderers: orderer_ids,
            genesis,
        }
    }

    /// `orderer0`, who signs the blocks [`TestNetwork::next_block`] makes.
    pub fn orderer(&self) -> &Identity {
        &self.orderers[0]
    }

    /// Block 0 (always the same one): the channel configuration, created by
    /// the first admin and signed by the orderer.
    pub fn genesis(&self) -> Block {
        self.genesis.clone()
    }

    /// Writes what `weft-peer --config` needs for the first org's peer under
    /// `root`, laid out as `weft network init` does: `peer/cert.json`,
    /// `peer/key.pem` (0600 is not enforced here), `genesis.json`, and the
    /// config `peer.toml` with its ledger in `data/`. Returns the config's path.
    pub fn write_peer_files(&self, root: &Path) -> PathBuf {
        let peer = &self.peers[0];
        let write = |name: &str, bytes: &[u8]| {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().expect("a file under root"))
                .expect("create the peer's directories");
            std::fs::write(path, bytes).expect("write a peer file");
        };
        write(
            "peer/cert.json",
            &serde_json::to_vec(peer.certificate()).expect("serialize"),
        );
        let pem = peer.signing_key().to_pkcs8_pem().expect("encode the key");
        write("peer/key.pem", pem.as_bytes());
        write(
            "genesis.json",
            &serde_json::to_vec(&self.genesis).expect("serialize"),
        );
        let toml = format!(
            "genesis_block = \"genesis.json\"\n\
             data_dir = \"data\"\n\
             gateway_listen = \"127.0.0.1:0\"\n\
             p2p_listen = \"127.0.0.1:0\"\n\
             [identity]\n\
             org = \"{}\"\n\
             name = \"{}\"\n\
             certificate = \"peer/cert.json\"\n\
             key = \"peer/key.pem\"\n",
            peer.org(),
            peer.name()
        );
        write("peer.toml", toml.as_bytes());
        root.join("peer.toml")
    }

    /// Writes what `weft-orderer --config` needs for orderer `index` (Raft
    /// id `index + 1`) under `root`: its identity in `orderer<index>/`,
    /// `genesis.json`, and `orderer<index>.toml` with its data in
    /// `data/orderer<index>`. Returns the config's path.
    pub fn write_orderer_files(&self, root: &Path, index: usize) -> PathBuf {
        let orderer = &self.orderers[index];
        let info = &self.config.orderers[index];
        let write = |name: &str, bytes: &[u8]| {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().expect("a file under root"))
                .expect("create the orderer's directories");
            std::fs::write(path, bytes).expect("write an orderer file");
        };
        write(
            &format!("orderer{index}/cert.json"),
            &serde_json::to_vec(orderer.certificate()).expect("serialize"),
        );
        let pem = orderer
            .signing_key()
            .to_pkcs8_pem()
            .expect("encode the key");
        write(&format!("orderer{index}/key.pem"), pem.as_bytes());
        write(
            "genesis.json",
            &serde_json::to_vec(&self.genesis).expect("serialize"),
        );
        let toml = format!(
            "raft_id = {}\n\
             genesis_block = \"genesis.json\"\n\
             data_dir = \"data/orderer{index}\"\n\
             api_listen = \"{}\"\n\
             cluster_listen = \"{}\"\n\
             [identity]\n\
             org = \"{}\"\n\
             name = \"{}\"\n\
             certificate = \"orderer{index}/cert.json\"\n\
             key = \"orderer{index}/key.pem\"\n",
            info.id,
            info.api,
            info.cluster,
            orderer.org(),
            orderer.name()
        );
        let path = root.join(format!("orderer{index}.toml"));
        write(&format!("orderer{index}.toml"), toml.as_bytes());
        path
    }

    /// The block after `previous` holding `envelopes`, one second later,
    /// signed by the orderer.
    pub fn next_block(&self, previous: &BlockHeader, envelopes: Vec<Envelope>) -> Block {
        let mut block = Block::new(
            previous.number + 1,
            previous.hash(),
            previous.timestamp_ms + 1_000,
            envelopes,
        );
        block.sign(self.orderer());
        block
    }

    /// A definition of chaincode `name` at `sequence` for `module`, with the
    /// channel's endorsement policy unless `policy` is given.
    pub fn definition(
        &self,
        name: &str,
        sequence: u64,
        module: &[u8],
        policy: Option<&str>,
    ) -> ChaincodeDefinition {
        ChaincodeDefinition {
            channel: CHANNEL.into(),
            name: name.into(),
            version: format!("{sequence}.0"),
            sequence,
            module_hash: sha3_256(module),
            endorsement_policy: policy.map(|p| Policy::parse(p).expect("valid policy")),
            collections: vec![],
        }
    }

    /// A lifecycle transaction committing `def` with `module`, approved by
    /// every admin and created by the first.
    pub fn lifecycle(&self, def: &ChaincodeDefinition, module: &[u8]) -> Envelope {
        let definition = serde_json::to_vec(def).expect("a definition serializes");
        let approvals = self
            .admins
            .iter()
            .map(|a| Endorsement::sign(Domain::LifecycleApproval, &definition, a))
            .collect();
        let creator = &self.admins[0];
        let tx = Transaction {
            header: TxHeader::new(CHANNEL, creator.certificate(), GENESIS_MS),
            body: TxBody::Lifecycle(LifecycleTransaction {
                definition: Bytes(definition),
                module: Bytes(module.to_vec()),
                approvals,
            }),
        };
        Envelope::sign(&tx, creator)
    }

    /// A proposal by `creator` to run `function(args)` of `chaincode`, with
    /// the digest of `transient` when it is not empty.
    pub fn proposal(
        &self,
        creator: &Identity,
        chaincode: &str,
        function: &str,
        args: &[&str],
        transient: &BTreeMap<String, Bytes>,
    ) -> SignedProposal {
        let proposal = Proposal {
            header: TxHeader::new(CHANNEL, creator.certificate(), GENESIS_MS),
            chaincode: chaincode.into(),
            function: function.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            transient_digest: (!transient.is_empty())
                .then(|| weft_types::transient_digest(transient)),
        };
        SignedProposal::sign(&proposal, creator)
    }

    /// An invocation of `def`'s chaincode by `creator` whose simulation
    /// produced `rwset` and `event`, endorsed by every org's peer: what a
    /// client submits after endorsement, without running the chaincode.
    pub fn endorsed(
        &self,
        creator: &Identity,
        def: &ChaincodeDefinition,
        rwset: &RwSet,
        event: Option<ChaincodeEvent>,
    ) -> Envelope {
        let proposal = self.proposal(creator, &def.name, "simulated", &[], &BTreeMap::new());
        let payload = ProposalResponsePayload {
            proposal_digest: proposal.payload_digest(),
            chaincode: ChaincodeId {
                name: def.name.clone(),
                version: def.version.clone(),
                sequence: def.sequence,
            },
            response: Response {
                status: 200,
                message: String::new(),
                payload: Bytes::default(),
            },
            rwset_digest: Digest::ZERO,
            event,
        };
        let responses = self
            .peers
            .iter()
            .map(|p| ProposalResponse::build(payload.clone(), rwset, Some(p)))
            .collect();
        self.submit(creator, proposal, responses)
    }

    /// The envelope submitting `proposal` with the endorsers' identical
    /// `responses`, signed by `creator` (the proposal's creator).
    pub fn submit(
        &self,
        creator: &Identity,
        proposal: SignedProposal,
        responses: Vec<ProposalResponse>,
    ) -> Envelope {
        let header = proposal
            .decode()
            .expect("a proposal this network signed")
            .header;
        let endorsed =
            EndorsedTransaction::assemble(proposal, responses).expect("the responses agree");
        let tx = Transaction {
            header,
            body: TxBody::Invoke(endorsed),
        };
        Envelope::sign(&tx, creator)
    }
}
