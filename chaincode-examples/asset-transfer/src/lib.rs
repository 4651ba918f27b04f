//! The asset-transfer reference chaincode: the small create / read / update /
//! delete / transfer contract every platform ships, and Weft's benchmark
//! workload.
//!
//! [`AssetTransfer`] stores each [`Asset`] as JSON under its id, and keeps an
//! `owner~id` composite-key index (maintained by `create`, `transfer` and
//! `delete`) so [`AssetTransfer::list_by_owner`] is a range query. Only the
//! asset's owner (the creator's member name) may transfer it. Events:
//! `AssetCreated`, `AssetUpdated`, `AssetDeleted`, `AssetTransferred`, each
//! with the asset as JSON.

use serde::{Deserialize, Serialize};
use weft_chaincode::{Context, Error, Result, contract};

// Each call allocates a few small buffers: a bump allocator serves them with
// no bookkeeping and no memory growth in the common case.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: weft_chaincode::BumpAllocator = weft_chaincode::BumpAllocator::new();

/// The object type of the owner index's composite keys.
pub const OWNER_INDEX: &str = "owner~id";

/// An asset, as stored and as returned by `read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// Its id, the state key.
    pub id: String,
    /// Its owner: a member name.
    pub owner: String,
    /// Its value.
    pub value: u64,
}

/// One committed change of an asset, as returned by `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetChange {
    /// The transaction that made it.
    pub tx_id: String,
    /// Its block.
    pub block: u64,
    /// The transaction's timestamp, unix milliseconds.
    pub timestamp_ms: u64,
    /// The asset after the change; `None` when it was deleted.
    pub asset: Option<Asset>,
}

/// The contract.
#[derive(Debug)]
pub struct AssetTransfer;

fn load(ctx: &Context, id: &str) -> Result<Asset> {
    ctx.get_json::<Asset>(id)?
        .ok_or_else(|| Error::new(format!("asset ID {id} does not exist")))
}

fn index_key(ctx: &Context, owner: &str, id: &str) -> Result<String> {
    ctx.composite_key(OWNER_INDEX, &[owner, id])
}

#[contract]
impl AssetTransfer {
    /// Creates asset `id` owned by `owner`.
    #[tx]
    pub fn create(ctx: &mut Context, id: String, owner: String, value: u64) -> Result<Asset> {
        if id.is_empty() || owner.is_empty() {
            return Err(Error::new("asset ID and owner must not be empty"));
        }
        if ctx.get(&id)?.is_some() {
            return Err(Error::new(format!("asset ID {id} already exists")));
        }
        let asset = Asset { id, owner, value };
        ctx.put_json(&asset.id, &asset)?;
        let index = index_key(ctx, &asset.owner, &asset.id)?;
        ctx.put(&index, &[0])?;
        ctx.set_event_json("AssetCreated", &asset)?;
        Ok(asset)
    }

    /// The asset `id`.
    #[query]
    pub fn read(ctx: &mut Context, id: String) -> Result<Asset> {
        load(ctx, &id)
    }

    /// Whether asset `id` exists.
    #[query]
    pub fn exists(ctx: &mut Context, id: String) -> Result<bool> {
        Ok(ctx.get(&id)?.is_some())
    }

    /// Sets the value of asset `id`.
    #[tx]
    pub fn update(ctx: &mut Context, id: String, value: u64) -> Result<Asset> {
        let mut asset = load(ctx, &id)?;
        asset.value = value;
        ctx.put_json(&id, &asset)?;
        ctx.set_event_json("AssetUpdated", &asset)?;
        Ok(asset)
    }

    /// Deletes asset `id`.
    #[tx]
    pub fn delete(ctx: &mut Context, id: String) -> Result<()> {
        let asset = load(ctx, &id)?;
        ctx.delete(&id)?;
        let index = index_key(ctx, &asset.owner, &id)?;
        ctx.delete(&index)?;
        ctx.set_event_json("AssetDeleted", &asset)
    }

    /// Gives asset `id` to `new_owner`; only its current owner may.
    #[tx]
    pub fn transfer(ctx: &mut Context, id: String, new_owner: String) -> Result<Asset> {
        if new_owner.is_empty() {
            return Err(Error::new("the new owner must not be empty"));
        }
        let mut asset = load(ctx, &id)?;
        let caller = ctx.creator().name.clone();
        if caller != asset.owner {
            return Err(Error::new(format!(
                "{caller} is not the owner of asset ID {id}; only its owner {} may transfer it",
                asset.owner
            )));
        }
        let old_index = index_key(ctx, &asset.owner, &id)?;
        ctx.delete(&old_index)?;
        asset.owner = new_owner;
        ctx.put_json(&id, &asset)?;
        let new_index = index_key(ctx, &asset.owner, &id)?;
        ctx.put(&new_index, &[0])?;
        ctx.set_event_json("AssetTransferred", &asset)?;
        Ok(asset)
    }

    /// Every asset of `owner`, by id.
    #[query]
    pub fn list_by_owner(ctx: &mut Context, owner: String) -> Result<Vec<Asset>> {
        let mut assets = Vec::new();
        for entry in ctx.by_partial_composite_key(OWNER_INDEX, &[owner.as_str()])? {
            let (key, _) = entry?;
            let (_, attrs) = ctx.split_composite_key(&key)?;
            let [_, id] = attrs.as_slice() else {
                return Err(Error::new(format!("malformed owner index key {key:?}")));
            };
            assets.push(load(ctx, id)?);
        }
        Ok(assets)
    }

    /// Every committed change of asset `id`, oldest first.
    #[query]
    pub fn history(ctx: &mut Context, id: String) -> Result<Vec<AssetChange>> {
        let entries = ctx.history(&id)?;
        if entries.is_empty() {
            return Err(Error::new(format!("asset ID {id} does not exist")));
        }
        entries
            .into_iter()
            .map(|e| {
                let asset = match e.value {
                    Some(bytes) => Some(serde_json::from_slice(&bytes)?),
                    None => None,
                };
                Ok(AssetChange {
                    tx_id: e.tx_id,
                    block: e.block,
                    timestamp_ms: e.timestamp_ms,
                    asset,
                })
            })
            .collect()
    }
}
