//! Blocks: a header chained by hash, the ordered envelopes, and metadata that
//! orderers (signatures) and peers (validation flags, commit hash) add.

use serde::{Deserialize, Serialize};

use crate::certificate::{Certificate, Identity, Role, TrustStore};
use crate::channel::ChannelConfig;
use crate::crypto::{Digest, Domain, Hasher, Signature};
use crate::signed::VerifyError;
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
    /// A signature is not from a configured orderer, or does not verify.
    #[error("block {number}: signature {index} rejected: {reason}")]
    BadSignature {
        /// Block number.
        number: u64,
        /// Index in the signature list.
        index: usize,
        /// What was wrong.
        reason: String,
    },
    /// Fewer valid orderer signatures than required.
    #[error("block {number}: {valid} valid orderer signature(s), {required} required")]
    NotEnoughSignatures {
        /// Block number.
        number: u64,
        /// Valid distinct signatures found.
        valid: usize,
        /// Signatures required.
        required: usize,
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

/// The part of a block that orderers sign and the next block chains to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Height: 0 for the genesis block.
    pub number: u64,
    /// Hash of the previous block's header; zero for the genesis block.
    pub previous_hash: Digest,
    /// Hash of this block's envelopes, in order ([`data_hash`]).
    pub data_hash: Digest,
}

impl BlockHeader {
    /// Length of [`BlockHeader::encode`].
    pub const ENCODED_LEN: usize = 8 + 32 + 32;

    /// The fixed binary layout that is hashed: number (u64 big-endian),
    /// previous hash, data hash.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.number.to_be_bytes());
        out[8..40].copy_from_slice(self.previous_hash.as_bytes());
        out[40..].copy_from_slice(self.data_hash.as_bytes());
        out
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
    let mut h = Hasher::new();
    h.update(b"weft/v1/block-data\0")
        .update(&(envelopes.len() as u64).to_be_bytes());
    for e in envelopes {
        h.update(e.digest().as_bytes());
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

/// What is added to a block after its header is fixed.
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
    /// A block chaining to `previous_hash` (`Digest::ZERO` for the genesis block).
    pub fn new(number: u64, previous_hash: Digest, data: Vec<Envelope>) -> Block {
        Block {
            header: BlockHeader {
                number,
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
        if self.header.number != previous.number + 1 {
            return Err(fail("the numbers are not consecutive"));
        }
        if self.header.previous_hash != previous.hash() {
            return Err(fail("its previous hash is not the previous header's hash"));
        }
        Ok(())
    }

    /// Checks the data hash and that at least `required` distinct orderers of
    /// `config` signed the header at time `now` (unix seconds). Any signature
    /// that fails is an error: a well-behaved orderer never adds a bad one.
    pub fn verify(
        &self,
        config: &ChannelConfig,
        required: usize,
        now: u64,
    ) -> Result<(), BlockError> {
        self.verify_data_hash()?;
        let header_hash = self.header.hash();
        let mut signers = Vec::new();
        for (index, sig) in self.metadata.signatures.iter().enumerate() {
            let reject = |reason: String| BlockError::BadSignature {
                number: self.header.number,
                index,
                reason,
            };
            let body = config
                .verify_certificate(&sig.signer, now)
                .map_err(|e| reject(e.to_string()))?;
            if body.role != Role::Orderer {
                return Err(reject(format!(
                    "{}@{} is not an orderer",
                    body.name, body.org
                )));
            }
            if config.orderer_by_key(&body.public_key).is_none() {
                return Err(reject(format!(
                    "{}@{} is not one of the channel's orderers",
                    body.name, body.org
                )));
            }
            body.public_key
                .verify(Domain::Block, &header_hash, &sig.signature)
                .map_err(|_| {
                    reject(
                        VerifyError::BadSignature {
                            signer: format!("{}@{}", body.name, body.org),
                            what: "block header",
                        }
                        .to_string(),
                    )
                })?;
            if !signers.contains(&body.public_key) {
                signers.push(body.public_key);
            }
        }
        if signers.len() < required {
            return Err(BlockError::NotEnoughSignatures {
                number: self.header.number,
                valid: signers.len(),
                required,
            });
        }
        Ok(())
    }
}
