//! The regulator's view: any record by kind and id, or a page of a kind;
//! and any lock's private event, through a peer of a member org.

use serde_json::Value;
use weft_chaincode::{Context, Error, Result};

use crate::model::Role;
use crate::store::{
    self, EVENTS_COLLECTION, INSPECT_KINDS, MAX_INSPECT_RECORDS, caller_is, require,
};

/// The kind `inspect` reads from [`EVENTS_COLLECTION`], one at a time.
const EVENT_KIND: &str = "event";

fn check_regulator(ctx: &Context) -> Result<()> {
    let d = store::deployment(ctx)?;
    require(caller_is(ctx, &d, Role::Regulator), || {
        "only the regulator inspects".into()
    })
}

/// The regulator asks, for a kind of public record.
fn check(ctx: &Context, kind: &str) -> Result<()> {
    check_regulator(ctx)?;
    if !INSPECT_KINDS.contains(&kind) {
        return Err(Error::new(format!(
            "unknown kind {kind:?}: inspect one of {} (or, one at a time, {EVENT_KIND})",
            INSPECT_KINDS.join(", ")
        )));
    }
    Ok(())
}

pub(crate) fn inspect(ctx: &Context, kind: &str, id: &str) -> Result<Value> {
    if kind == EVENT_KIND {
        return inspect_event(ctx, id);
    }
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

/// The signed event of lock `id` (or the event whose id is `id`).
fn inspect_event(ctx: &Context, id: &str) -> Result<Value> {
    check_regulator(ctx)?;
    let event = match store::get::<crate::LockRecord>(ctx, "lock", &[id])? {
        Some(record) => store::event_of(ctx, &record)?,
        None => store::event(ctx, id)?,
    };
    Ok(serde_json::to_value(event)?)
}

pub(crate) fn inspect_all(ctx: &Context, kind: &str) -> Result<Vec<Value>> {
    if kind == EVENT_KIND {
        return Err(Error::new(format!(
            "events are private ({EVENTS_COLLECTION}): inspect them one at a time, by lock or \
             event id, through a peer of a member org"
        )));
    }
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
