//! The regulator's view: any record by kind and id, or a page of a kind.

use serde_json::Value;
use weft_chaincode::{Context, Error, Result};

use crate::model::Role;
use crate::store::{self, INSPECT_KINDS, MAX_INSPECT_RECORDS, caller_is, require};

fn check(ctx: &Context, kind: &str) -> Result<()> {
    let d = store::deployment(ctx)?;
    require(caller_is(ctx, &d, Role::Regulator), || {
        "only the regulator inspects".into()
    })?;
    if !INSPECT_KINDS.contains(&kind) {
        return Err(Error::new(format!(
            "unknown kind {kind:?}: inspect one of {}",
            INSPECT_KINDS.join(", ")
        )));
    }
    Ok(())
}

pub(crate) fn inspect(ctx: &Context, kind: &str, id: &str) -> Result<Value> {
    check(ctx, kind)?;
    if let Some(value) = store::get::<Value>(ctx, kind, &[id])? {
        return Ok(value);
    }
    // A loan is also found by its customer: their current loan.
    if kind == "loan"
        && let Some(loan) = store::current_loan(ctx, id)?
    {
        return Ok(serde_json::to_value(loan)?);
    }
    Err(Error::new(format!("no {kind} {id}")))
}

pub(crate) fn inspect_all(ctx: &Context, kind: &str) -> Result<Vec<Value>> {
    check(ctx, kind)?;
    let mut records = Vec::new();
    for entry in ctx
        .by_partial_composite_key::<&str>(kind, &[])?
        .take(MAX_INSPECT_RECORDS)
    {
        let (_, value) = entry?;
        records.push(serde_json::from_slice(&value)?);
    }
    Ok(records)
}
