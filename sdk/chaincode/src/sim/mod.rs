//! [`TxSimulator`]: the pure-Rust [`Host`](weft_abi::Host) that runs a
//! chaincode call against committed state and records what the validator
//! needs — the node wraps this same code in its wasmtime host functions, and
//! [`MockContext`](crate::mock::MockContext) runs it natively, so a chaincode
//! behaves identically everywhere.
//!
//! What it records ([`SimulationResult`]), for the chaincode's namespace:
//! - point reads served from committed state, first read of a key only, with
//!   the committed version (`None` for a missing key);
//! - writes and deletes, one per key (the last wins), in key order;
//! - one [`RangeQueryInfo`](weft_types::RangeQueryInfo) per range opened:
//!   every committed key the scan passed (with its version) — including keys
//!   hidden or replaced by this transaction's own writes, so that the
//!   validator's re-run over committed state sees the same keys — and whether
//!   the scan reached the end of the range;
//! - key-level policy changes, parsed;
//! - private collections as hashes, with the private writes kept aside;
//! - the event, and log lines.
//!
//! **Keys** are non-empty, at most [`MAX_KEY_BYTES`] bytes of UTF-8; a key
//! containing `U+0000` must start with it (a composite key). A range whose
//! start is empty starts at `"\u{1}"`, so it never returns composite keys, and
//! is recorded with that start.
//!
//! **Kinds.** Writes (state, private, key policies) during a
//! [`TxKind::Query`](weft_abi::TxKind) fail with `NotAllowed`; history during a
//! `Transaction` fails with `NotAllowed`. Events are accepted in both.
//!
//! **Invoking chaincodes.** Done by an [`Invoker`] (the node's runtime, or
//! `MockContext`'s registry): the callee runs in its own simulator and its
//! rw-set joins this one's. A namespace may be simulated once per
//! transaction: a call that would touch a namespace already touched fails
//! with `InvokeFailed` (a second simulator would not see the first's writes).

mod range;
mod simulator;
#[cfg(test)]
mod tests;

use std::rc::Rc;
use std::sync::Arc;

use weft_abi::codec::Writer;
use weft_abi::{HistoryEntry, HostError, InvokeResponse, LogLevel, Outcome, TxInfo};
use weft_types::{ChaincodeEvent, Digest, RwSet, Version};
pub use weft_types::{CollectionData, PrivateWriteData};

pub use simulator::TxSimulator;

use crate::context::{Context, SharedHost};

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value (public or private), in bytes.
pub const MAX_VALUE_BYTES: usize = 1_048_576;
/// Most keys one call may write (public, private and key-policy writes together).
pub const MAX_WRITES: usize = 10_000;
/// Most range iterators open at once.
pub const MAX_OPEN_ITERATORS: usize = 64;
/// Most range queries one call may open in total.
pub const MAX_RANGE_QUERIES: usize = 1_000;
/// Most items in one `range_next` batch.
pub const RANGE_BATCH: usize = 100;
/// A `range_next` batch stops growing past this many bytes of keys and values
/// (it always holds at least one item).
pub const MAX_BATCH_BYTES: usize = 4 * 1_048_576;
/// Longest event name, in bytes.
pub const MAX_EVENT_NAME_BYTES: usize = 256;
/// Largest event payload, in bytes.
pub const MAX_EVENT_PAYLOAD_BYTES: usize = MAX_VALUE_BYTES;
/// Longest key-level policy text, in bytes.
pub const MAX_POLICY_BYTES: usize = 4096;
/// Most log lines kept per call; later ones are dropped.
pub const MAX_LOG_LINES: usize = 256;
/// Longest log line kept, in bytes; longer ones are cut.
pub const MAX_LOG_LINE_BYTES: usize = 4096;

/// Committed state as the simulator sees it: one consistent snapshot for the
/// whole call. Every method may fail with [`weft_abi::ErrorCode::Internal`]
/// (ledger I/O), which makes the call fail; `private_get` may also refuse a
/// non-member with `NotAllowed`.
pub trait StateView {
    /// The committed value and version of `key` in namespace `ns`.
    fn get(&self, ns: &str, key: &str) -> Result<Option<(Vec<u8>, Version)>, HostError>;
    /// Up to `limit` committed entries with `start <= key < end` (`end` empty:
    /// unbounded), in key order. The simulator asks again from after the last
    /// key while it needs more, so a view never has to materialise a whole range.
    fn range(
        &self,
        ns: &str,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>, Version)>, HostError>;
    /// Every committed change of `key`, oldest first.
    fn history(&self, ns: &str, key: &str) -> Result<Vec<HistoryEntry>, HostError>;
    /// A committed private value and its version.
    fn private_get(
        &self,
        ns: &str,
        collection: &str,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Version)>, HostError>;
    /// The sha3-256 of a committed private value and its version (non-members
    /// have the hashes too).
    fn private_hash(
        &self,
        ns: &str,
        collection: &str,
        key: &str,
    ) -> Result<Option<([u8; 32], Version)>, HostError>;
    /// The committed key-level endorsement policy of `key`, as text.
    fn key_policy(&self, ns: &str, key: &str) -> Result<Option<String>, HostError>;
}

macro_rules! forward_state_view {
    ($($ptr:ty),*) => {$(
        impl<T: StateView + ?Sized> StateView for $ptr {
            fn get(&self, ns: &str, key: &str) -> Result<Option<(Vec<u8>, Version)>, HostError> {
                (**self).get(ns, key)
            }
            fn range(
                &self,
                ns: &str,
                start: &str,
                end: &str,
                limit: usize,
            ) -> Result<Vec<(String, Vec<u8>, Version)>, HostError> {
                (**self).range(ns, start, end, limit)
            }
            fn history(&self, ns: &str, key: &str) -> Result<Vec<HistoryEntry>, HostError> {
                (**self).history(ns, key)
            }
            fn private_get(
                &self,
                ns: &str,
                collection: &str,
                key: &str,
            ) -> Result<Option<(Vec<u8>, Version)>, HostError> {
                (**self).private_get(ns, collection, key)
            }
            fn private_hash(
                &self,
                ns: &str,
                collection: &str,
                key: &str,
            ) -> Result<Option<([u8; 32], Version)>, HostError> {
                (**self).private_hash(ns, collection, key)
            }
            fn key_policy(&self, ns: &str, key: &str) -> Result<Option<String>, HostError> {
                (**self).key_policy(ns, key)
            }
        }
    )*};
}

forward_state_view!(&T, Rc<T>, Arc<T>, Box<T>);

/// Runs another chaincode for [`weft_abi::Host::invoke_chaincode`].
pub trait Invoker {
    /// Runs `function` of `chaincode` in the caller's transaction (`caller`:
    /// same id, creator and kind). The callee's own refusal is a response with
    /// status 400 (and no result); `Err(InvokeFailed)` means it could not run.
    fn invoke(
        &mut self,
        caller: &TxInfo,
        chaincode: &str,
        function: &str,
        args: &[String],
    ) -> Result<Invoked, HostError>;
}

/// What an [`Invoker`] returns.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The callee's response.
    pub response: InvokeResponse,
    /// The callee's simulation, when it succeeded; it joins the caller's.
    pub result: Option<SimulationResult>,
}

/// The sha3-256 over the private writes of a collection (what the rw-set's
/// `private_rwset_hash` holds), in a fixed layout (`weft_abi::codec`): a
/// tag, the namespace and collection, the count, then per write the key,
/// the optional value and the purge flag. Member peers recompute it over
/// the data they receive.
pub fn private_rwset_hash(data: &CollectionData) -> Digest {
    let mut w = Writer::new();
    w.str("weft-private-rwset-v1")
        .str(&data.namespace)
        .str(&data.collection);
    w.u32(u32::try_from(data.writes.len()).unwrap_or(u32::MAX));
    for pw in &data.writes {
        w.str(&pw.key)
            .opt_bytes(pw.value.as_ref().map(|v| v.0.as_slice()))
            .u8(u8::from(pw.purge));
    }
    weft_types::sha3_256(&w.finish())
}

/// Everything one simulated call produced.
#[derive(Debug, Clone, Default)]
pub struct SimulationResult {
    /// The rw-set: this chaincode's namespace and those of chaincodes it invoked.
    pub rwset: RwSet,
    /// The event the chaincode set, if any.
    pub event: Option<ChaincodeEvent>,
    /// Private writes, per collection (including invoked chaincodes'), in
    /// the form they travel to member peers.
    pub private_writes: Vec<CollectionData>,
    /// Log lines, at most [`MAX_LOG_LINES`].
    pub logs: Vec<(LogLevel, String)>,
    /// The first ledger failure (`ErrorCode::Internal` from the
    /// [`StateView`]) the call saw. When set, the call must be treated as
    /// failed whatever the chaincode returned: it may have swallowed the
    /// error and carried on without a read the validator needs.
    pub failure: Option<HostError>,
}

/// The dispatcher of a [`crate::Contract`] (`C::dispatch`).
pub type DispatchFn = fn(&mut Context, &str, &[String]) -> Outcome;

/// Runs a native contract's `dispatch` over `sim` and returns its outcome and
/// what it recorded. An iterator the chaincode leaked past the call makes the
/// outcome an error.
pub fn simulate<S: StateView + 'static>(
    sim: TxSimulator<S>,
    dispatch: DispatchFn,
    function: &str,
    args: &[String],
) -> (Outcome, SimulationResult) {
    let shared = Rc::new(std::cell::RefCell::new(sim));
    let outcome = {
        let host: SharedHost = shared.clone();
        match Context::new(host) {
            Ok(mut ctx) => dispatch(&mut ctx, function, args),
            Err(e) => Outcome::Err(format!("cannot read the transaction: {e}")),
        }
    };
    match Rc::try_unwrap(shared) {
        Ok(sim) => (outcome, sim.into_inner().finish()),
        Err(shared) => {
            let result = shared.borrow_mut().take_result();
            let leaked = "a range iterator outlived the call".to_string();
            (Outcome::Err(leaked), result)
        }
    }
}
