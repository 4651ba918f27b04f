//! The host functions as a Rust trait.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::HostError;
use crate::types::{HistoryEntry, InvokeResponse, LogLevel, TxInfo};

/// Everything a chaincode can ask of its host, with the semantics every
/// implementation must share: the guest SDK's Wasm backend (which forwards
/// to the [`crate::imports`]), the node's transaction simulator, and
/// `MockContext`.
///
/// Semantics:
/// - Keys are non-empty UTF-8 strings. Keys starting with `\u{0}` are
///   composite keys (see the SDK's composite-key helpers); plain range
///   queries never return them.
/// - **Read your own writes**: after `state_put`/`state_delete` in the same
///   call, `state_get` returns the new value (or `None`), and range iterators
///   see the writes merged into committed state. Only reads served from
///   committed state are recorded (with their versions) in the read set, so
///   validation checks exactly what the ledger supplied.
/// - Writes during a [`crate::TxKind::Query`] fail with `NotAllowed`.
/// - Range `[start, end)`: `end` empty means unbounded. `range_next` returns
///   the next batch in key order; an empty batch means the range is exhausted.
pub trait Host {
    /// The value of `key`, or `None` if it does not exist.
    fn state_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, HostError>;
    /// Sets `key` to `value`.
    fn state_put(&mut self, key: &str, value: &[u8]) -> Result<(), HostError>;
    /// Deletes `key` (deleting a missing key is not an error).
    fn state_delete(&mut self, key: &str) -> Result<(), HostError>;
    /// Opens an iterator over `[start, end)`; returns its handle.
    fn range_open(&mut self, start: &str, end: &str) -> Result<u32, HostError>;
    /// The next batch of `(key, value)` pairs; empty when exhausted.
    fn range_next(&mut self, handle: u32) -> Result<Vec<(String, Vec<u8>)>, HostError>;
    /// Closes an iterator; what it returned so far stays recorded.
    fn range_close(&mut self, handle: u32) -> Result<(), HostError>;
    /// Every committed change of `key`, oldest first. Allowed only in a
    /// [`crate::TxKind::Query`]: history cannot be validated, so it must never
    /// influence a write (`NotAllowed` otherwise).
    fn state_history(&mut self, key: &str) -> Result<Vec<HistoryEntry>, HostError>;

    /// A private value, for members of `collection`.
    fn private_get(&mut self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, HostError>;
    /// Writes a private value (only its hash enters the transaction).
    fn private_put(&mut self, collection: &str, key: &str, value: &[u8]) -> Result<(), HostError>;
    /// Deletes a private value.
    fn private_delete(&mut self, collection: &str, key: &str) -> Result<(), HostError>;
    /// sha3-256 of a private value, readable by non-members too.
    fn private_get_hash(
        &mut self,
        collection: &str,
        key: &str,
    ) -> Result<Option<[u8; 32]>, HostError>;
    /// Deletes a private value and its history from every member's store.
    fn private_purge(&mut self, collection: &str, key: &str) -> Result<(), HostError>;

    /// A transient input (sent beside the proposal, never stored on the ledger).
    fn transient_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, HostError>;
    /// Sets the transaction's one event; a second call replaces the first.
    fn set_event(&mut self, name: &str, payload: &[u8]) -> Result<(), HostError>;
    /// The transaction id, time, channel, creator and kind.
    fn tx_info(&mut self) -> Result<TxInfo, HostError>;
    /// Runs `function` of another chaincode on the same channel, in the same
    /// transaction: its reads and writes join this transaction's rw-set.
    fn invoke_chaincode(
        &mut self,
        chaincode: &str,
        function: &str,
        args: &[String],
    ) -> Result<InvokeResponse, HostError>;

    /// The key-level endorsement policy of `key`, if one is set.
    fn key_policy_get(&mut self, key: &str) -> Result<Option<String>, HostError>;
    /// Sets (`Some`) or removes (`None`) the key-level endorsement policy of `key`.
    fn key_policy_set(&mut self, key: &str, policy: Option<&str>) -> Result<(), HostError>;

    /// sha3-256 of `data`, computed natively.
    fn sha3_256(&mut self, data: &[u8]) -> [u8; 32];
    /// Whether `signature` is a valid ed25519 signature of `message` by
    /// `public_key` (strict verification), computed natively.
    fn ed25519_verify(
        &mut self,
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> bool;
    /// Writes a log line on the host. Never affects the result.
    fn log(&mut self, level: LogLevel, message: &str);
}
