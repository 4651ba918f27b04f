//! The private-positions reference chaincode: a fund manager shares each
//! client's positions with that client only, Quorum-style.
//!
//! Each manager–client relationship is a private data collection of the
//! chaincode's definition whose members are the two orgs (and a regulator,
//! if the deployment adds one). A position travels in the proposal's
//! transient data (key [`POSITION`]), never in its arguments, so neither the
//! transaction nor the block holds it: the block carries only the hashes of
//! key and value, member peers store the position itself, and every other
//! peer refuses to read it ("not a member"). Anyone may check a position
//! shown to them against the committed hash with [`PrivatePositions::hash`].

use serde::{Deserialize, Serialize};
use weft_chaincode::{Context, Error, Result, contract};

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: weft_chaincode::BumpAllocator = weft_chaincode::BumpAllocator::new();

/// The transient key that carries the position `record` stores.
pub const POSITION: &str = "position";

/// A position: how much of an instrument the fund holds for the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// The instrument, e.g. an ISIN.
    pub instrument: String,
    /// Units held; negative for a short position.
    pub quantity: i64,
    /// Average cost per unit, in cents.
    pub cost_cents: u64,
}

/// The contract.
#[derive(Debug)]
pub struct PrivatePositions;

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::new("the position id must not be empty"));
    }
    Ok(())
}

#[contract]
impl PrivatePositions {
    /// Records position `id` in `collection` from the transient data under
    /// [`POSITION`] (JSON of a [`Position`]) and returns the hex sha3-256
    /// of the stored bytes, which is what the block commits.
    #[tx]
    pub fn record(ctx: &mut Context, collection: String, id: String) -> Result<String> {
        check_id(&id)?;
        let bytes = ctx.transient(POSITION)?.ok_or_else(|| {
            Error::new(format!(
                "the position goes in the transient data under {POSITION:?}, not in the arguments"
            ))
        })?;
        let position: Position = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(format!("the transient {POSITION:?} is not a position: {e}"))
        })?;
        if position.instrument.is_empty() {
            return Err(Error::new("the instrument must not be empty"));
        }
        let stored = serde_json::to_vec(&position)?;
        ctx.private_put(&collection, &id, &stored)?;
        Ok(hex(&ctx.sha3_256(&stored)))
    }

    /// Position `id` of `collection`. Only a peer of a member org holds it;
    /// other peers refuse.
    #[query]
    pub fn read(ctx: &mut Context, collection: String, id: String) -> Result<Position> {
        let bytes = ctx
            .private_get(&collection, &id)?
            .ok_or_else(|| Error::new(format!("no position {id} in {collection}")))?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// The hex sha3-256 of position `id` as committed; any peer answers.
    #[query]
    pub fn hash(ctx: &mut Context, collection: String, id: String) -> Result<String> {
        let hash = ctx
            .private_get_hash(&collection, &id)?
            .ok_or_else(|| Error::new(format!("no position {id} in {collection}")))?;
        Ok(hex(&hash))
    }

    /// Closes position `id` of `collection`.
    #[tx]
    pub fn close(ctx: &mut Context, collection: String, id: String) -> Result<()> {
        if ctx.private_get_hash(&collection, &id)?.is_none() {
            return Err(Error::new(format!("no position {id} in {collection}")));
        }
        ctx.private_delete(&collection, &id)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
