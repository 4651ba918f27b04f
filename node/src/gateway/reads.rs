//! Reads of the ledger: transactions, blocks, chaincode definitions, and
//! the health check.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use weft_types::{Block, ChaincodeDefinition};

use super::Gateway;
use super::api::{Health, TxRecord};
use super::error::{ErrorBody, GatewayError, Stage};
use super::submit::parse_tx_id;

/// A committed transaction with its envelope.
#[utoipa::path(
    get,
    path = "/v1/transactions/{tx_id}",
    tag = "ledger",
    params(("tx_id" = String, Path, description = "The transaction id, hex")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The transaction", body = TxRecord),
        (status = 400, description = "Not a tx id", body = ErrorBody),
        (status = 404, description = "Not committed on this peer", body = ErrorBody),
    )
)]
pub(crate) async fn transaction(
    State(gw): State<Arc<Gateway>>,
    Path(tx_id): Path<String>,
) -> Result<Json<TxRecord>, GatewayError> {
    let tx_id = parse_tx_id(&tx_id)?;
    let ledger = gw.committer.ledger();
    let Some((block, index, code)) = ledger.tx(&tx_id)? else {
        return Err(GatewayError::not_found(format!(
            "transaction {tx_id} is not committed on this peer"
        )));
    };
    let envelope = ledger
        .block(block)?
        .and_then(|b| b.data.into_iter().nth(index as usize))
        .ok_or_else(|| {
            GatewayError::internal(
                Stage::Request,
                format!("the ledger indexes {tx_id} at block {block}, index {index}, but holds no such envelope"),
            )
        })?;
    Ok(Json(TxRecord {
        tx_id,
        block,
        index,
        code,
        envelope,
    }))
}

/// A committed block, with this peer's validation flags and commit hash.
#[utoipa::path(
    get,
    path = "/v1/blocks/{number}",
    tag = "ledger",
    params(("number" = u64, Path, description = "The block number")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The block as committed", body = Object),
        (status = 400, description = "Not a block number", body = ErrorBody),
        (status = 404, description = "Not committed on this peer", body = ErrorBody),
    )
)]
pub(crate) async fn block(
    State(gw): State<Arc<Gateway>>,
    Path(number): Path<String>,
) -> Result<Json<Block>, GatewayError> {
    let number: u64 = number.parse().map_err(|_| {
        GatewayError::malformed(format!("{number:?} is not a block number (0 or more)"))
    })?;
    let ledger = gw.committer.ledger().clone();
    // A block can be megabytes: read off the async threads.
    let block = tokio::task::spawn_blocking(move || ledger.block(number))
        .await
        .map_err(|e| GatewayError::internal(Stage::Request, format!("the read failed: {e}")))??;
    block.map(Json).ok_or_else(|| {
        GatewayError::not_found(format!(
            "block {number} is not committed on this peer (height {})",
            gw.committer.height()
        ))
    })
}

/// Every chaincode defined on the channel.
#[utoipa::path(
    get,
    path = "/v1/chaincodes",
    tag = "ledger",
    security(("bearer" = [])),
    responses((status = 200, description = "The chaincode definitions", body = [Object]))
)]
pub(crate) async fn chaincodes(
    State(gw): State<Arc<Gateway>>,
) -> Result<Json<Vec<ChaincodeDefinition>>, GatewayError> {
    Ok(Json(gw.committer.ledger().definitions()?))
}

/// One chaincode's definition.
#[utoipa::path(
    get,
    path = "/v1/chaincodes/{name}",
    tag = "ledger",
    params(("name" = String, Path, description = "The chaincode name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The definition", body = Object),
        (status = 404, description = "Not defined on the channel", body = ErrorBody),
    )
)]
pub(crate) async fn chaincode(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
) -> Result<Json<ChaincodeDefinition>, GatewayError> {
    gw.committer
        .ledger()
        .definition(&name)?
        .map(Json)
        .ok_or_else(|| {
            GatewayError::not_found(format!("chaincode {name} is not defined on this channel"))
        })
}

/// Whether the peer is up, and its height and commit hash.
#[utoipa::path(
    get,
    path = "/v1/healthz",
    tag = "operations",
    responses((status = 200, description = "The peer is up", body = Health))
)]
pub(crate) async fn healthz(State(gw): State<Arc<Gateway>>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        height: gw.committer.height(),
        peer: gw.peer.clone(),
        commit_hash: gw.committer.commit_hash(),
    })
}
