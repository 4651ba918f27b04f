//! Blocks: a header chained by hash, the ordered envelopes, and metadata that
//! orderers (signatures) and peers (validation flags, commit hash) add.

use serde::{Deserialize, Serialize};

use crate::certificate::{Certificate, Identity, Role, TrustStore};
use crate::channel::ChannelConfig;
use crate::crypto::{Digest, Domain, Hasher, PublicKey, Signature};
use crate::tx::Envelope;
use crate::validation::ValidationCode;

/// Why a block was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The header's data hash does not match the envelopes.
    #[error(
        "block {number}: data hash {claimed} does not match the envelopes (computed {computed})"
    )]
    DataHashMismatch {
        /// Block number.
        number: u64,
        /// The hash in the header.
        claimed: Digest,
        /// The hash of the data.
        computed: Digest,
    },
    /// Fewer valid orderer signatures than required.
    #[error(
        "block {number}: {valid} valid orderer signature(s), {required} required{}",
        rejected_list(rejected)
    )]
    NotEnoughSignatures {
        /// Block number.
        number: u64,
        /// Valid distinct signatures found.
        valid: usize,
        /// Signatures required.
        required: usize,
        /// Why each rejected signature was rejected.
        rejected: Vec<String>,
    },
    /// The block does not follow the previous one.
    #[error("block {number} does not follow block {previous_number}: {reason}")]
    BrokenChain {
        /// Block number.
        number: u64,
        /// The block it should follow.
        previous_number: u64,
        /// What was wrong.
        reason: &'static str,
    },
}

fn rejected_list(rejected: &[String]) -> String {
    if rejected.is_empty() {
        String::new()
    } else {
        format!(" (rejected: {})", rejected.join("; "))
    }
}

/// The part of a block that orderers sign and the next block chains to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Height: 0 for the genesis block.
    pub number: u64,
    /// When the orderer cut the block, unix milliseconds; never less than the
    /// previous block's. Validators check certificates against this time, not
    /// their own clock, so every peer reaches the same verdict whenever it
    /// validates the block.
    pub timestamp_ms: u64,
    /// Hash of the previous block's header; zero for the genesis block.
    pub previous_hash: Digest,
    /// Hash of this block's envelopes, in order ([`data_hash`]).
    pub data_hash: Digest,
}

impl BlockHeader {
    /// Length of [`BlockHeader::encode`].
    pub const ENCODED_LEN: usize = 8 + 8 + 32 + 32;

    /// The fixed binary layout that is hashed: number and timestamp (u64
    /// big-endian each), previous hash, data hash.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.number.to_be_bytes());
        out[8..16].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        out[16..48].copy_from_slice(self.previous_hash.as_bytes());
        out[48..].copy_from_slice(self.data_hash.as_bytes());
        out
    }

    /// Decodes [`BlockHeader::encode`].
    pub fn decode(bytes: &[u8; Self::ENCODED_LEN]) -> BlockHeader {
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let digest_at = |i: usize| {
            let mut d = [0u8; 32];
            d.copy_from_slice(&bytes[i..i + 32]);
            Digest(d)
        };
        BlockHeader {
            number: u64_at(0),
            timestamp_ms: u64_at(8),
            previous_hash: digest_at(16),
            data_hash: digest_at(48),
        }
    }

    /// The block time in unix seconds, the `now` certificates are checked against.
    pub fn time_secs(&self) -> u64 {
        self.timestamp_ms / 1000
    }

    /// sha3-256 over a domain tag and [`BlockHeader::encode`].
    pub fn hash(&self) -> Digest {
        let mut h = Hasher::new();
        h.update(b"weft/v1/block-header\0").update(&self.encode());
        h.finalize()
    }
}

/// Hash of a block's envelopes: a domain tag, the count, then each envelope's digest.
pub fn data_hash(envelopes: &[Envelope]) -> Digest {
    let digests: Vec<Digest> = envelopes.iter().map(Envelope::digest).collect();
    data_hash_of(&digests)
}

/// [`data_hash`] from the envelopes' [`Signed::digest`]s, for a caller that
/// computed them already (in parallel, or to reuse their payload digests).
///
/// [`Signed::digest`]: crate::Signed::digest
pub fn data_hash_of(envelope_digests: &[Digest]) -> Digest {
    let mut h = Hasher::new();
    h.update(b"weft/v1/block-data\0")
        .update(&(envelope_digests.len() as u64).to_be_bytes());
    for d in envelope_digests {
        h.update(d.as_bytes());
    }
    h.finalize()
}

/// An orderer's signature over a block header hash ([`Domain::Block`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSignature {
    /// The orderer's certificate.
    pub signer: Certificate,
    /// Signature over `Domain::Block || header hash`.
    pub signature: Signature,
}

/// What is added to a block after its header is fixed. None of it is covered
/// by the header hash: signatures are checked one by one, and a peer computes
/// its own validation flags and commit hash — never trust another node's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMetadata {
    /// Orderer signatures over the header (one for Raft; a quorum for a BFT engine).
    #[serde(default)]
    pub signatures: Vec<BlockSignature>,
    /// One code per envelope, set by the peer that validated the block; empty
    /// until then.
    #[serde(default)]
    pub validation_flags: Vec<ValidationCode>,
    /// The peer's running commit hash after this block; `None` until committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_hash: Option<Digest>,
}

/// A block of ordered transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Number and hashes.
    pub header: BlockHeader,
    /// The envelopes, in order.
    pub data: Vec<Envelope>,
    /// Signatures, validation flags, commit hash.
    #[serde(default)]
    pub metadata: BlockMetadata,
}

impl Block {
    /// The channel configuration a genesis block carries: it must be
    /// block 0 holding exactly one configuration transaction. The error
    /// says what is wrong with the block.
    pub fn genesis_config(&self) -> Result<ChannelConfig, String> {
        if self.number() != 0 {
            return Err(format!("it is block {}, not block 0", self.number()));
        }
        let [envelope] = self.data.as_slice() else {
            return Err(format!(
                "it holds {} transactions, not one configuration transaction",
                self.data.len()
            ));
        };
        match envelope.decode().map_err(|e| e.to_string())?.body {
            crate::TxBody::Config(c) => c.decode().map_err(|e| e.to_string()),
            _ => Err("its transaction is not a configuration transaction".into()),
        }
    }

    /// A block chaining to `previous_hash` (`Digest::ZERO` for the genesis
    /// block), cut at `timestamp_ms`.
    pub fn new(
        number: u64,
        previous_hash: Digest,
        timestamp_ms: u64,
        data: Vec<Envelope>,
    ) -> Block {
        Block {
            header: BlockHeader {
                number,
                timestamp_ms,
                previous_hash,
                data_hash: data_hash(&data),
            },
            data,
            metadata: BlockMetadata::default(),
        }
    }

    /// The block's number.
    pub fn number(&self) -> u64 {
        self.header.number
    }

    /// The header hash, which the next block chains to.
    pub fn hash(&self) -> Digest {
        self.header.hash()
    }

    /// Adds `orderer`'s signature over the header.
    pub fn sign(&mut self, orderer: &Identity) {
        let signature = orderer.sign(Domain::Block, &self.header.hash());
        self.metadata.signatures.push(BlockSignature {
            signer: orderer.certificate().clone(),
            signature,
        });
    }

    /// Checks that the header's data hash matches the envelopes.
    pub fn verify_data_hash(&self) -> Result<(), BlockError> {
        let computed = data_hash(&self.data);
        if computed != self.header.data_hash {
            return Err(BlockError::DataHashMismatch {
                number: self.header.number,
                claimed: self.header.data_hash,
                computed,
            });
        }
        Ok(())
    }

    /// Checks that this block follows `previous`.
    pub fn verify_follows(&self, previous: &BlockHeader) -> Result<(), BlockError> {
        let fail = |reason| BlockError::BrokenChain {
            number: self.header.number,
            previous_number: previous.number,
            reason,
        };
        if previous.number.checked_add(1) != Some(self.header.number) {
            return Err(fail("the numbers are not consecutive"));
        }
        if self.header.timestamp_ms < previous.timestamp_ms {
            return Err(fail("its timestamp is earlier than the previous block's"));
        }
        if self.header.previous_hash != previous.hash() {
            return Err(fail("its previous hash is not the previous header's hash"));
        }
        Ok(())
    }

    /// Checks the data hash and that enough distinct orderers of `config`
    /// signed the header ([`ChannelConfig::block_signatures_required`]), with
    /// certificates valid at the block's own time. Signatures are not covered
    /// by the header hash, so anyone relaying a block could append junk:
    /// invalid ones are skipped, and only if too few valid ones remain is the
    /// block rejected, with the reasons.
    pub fn verify(&self, config: &ChannelConfig) -> Result<(), BlockError> {
        self.verify_data_hash()?;
        self.verify_signatures(config)
    }

    /// [`Block::verify_data_hash`] given the envelopes' digests (see [`data_hash_of`]).
    pub fn verify_data_hash_of(&self, envelope_digests: &[Digest]) -> Result<(), BlockError> {
        let computed = data_hash_of(envelope_digests);
        if envelope_digests.len() != self.data.len() || computed != self.header.data_hash {
            return Err(BlockError::DataHashMismatch {
                number: self.header.number,
                claimed: self.header.data_hash,
                computed,
            });
        }
        Ok(())
    }

    /// The orderer-signature half of [`Block::verify`].
    pub fn verify_signatures(&self, config: &ChannelConfig) -> Result<(), BlockError> {
        let required = config.block_signatures_required();
        let header_hash = self.header.hash();
        let mut signers: Vec<PublicKey> = Vec::new();
        let mut rejected = Vec::new();
        for (index, sig) in self.metadata.signatures.iter().enumerate() {
            match self.check_signature(config, &header_hash, sig) {
                Ok(key) if !signers.contains(&key) => signers.push(key),
                Ok(_) => {}
                Err(reason) => rejected.push(format!("signature {index}: {reason}")),
            }
            if signers.len() >= required {
                return Ok(());
            }
        }
        Err(BlockError::NotEnoughSignatures {
            number: self.header.number,
            valid: signers.len(),
            required,
            rejected,
        })
    }

    fn check_signature(
        &self,
        config: &ChannelConfig,
        header_hash: &Digest,
        sig: &BlockSignature,
    ) -> Result<PublicKey, String> {
        let body = config
            .verify_certificate(&sig.signer, self.header.time_secs())
            .map_err(|e| e.to_string())?;
        let who = format!("{}@{}", body.name, body.org);
        if body.role != Role::Orderer {
            return Err(format!("{who} is not an orderer"));
        }
        if config.orderer_by_key(&body.public_key).is_none() {
            return Err(format!("{who} is not one of the channel's orderers"));
        }
        body.public_key
            .verify(Domain::Block, header_hash, &sig.signature)
            .map_err(|_| format!("{who}'s signature does not verify over the header"))?;
        Ok(body.public_key)
    }
}
