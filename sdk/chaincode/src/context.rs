//! [`Context`]: a chaincode's one door to its host.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use weft_abi::{Creator, HistoryEntry, Host, InvokeResponse, LogLevel, TxInfo, TxKind};

use crate::composite::{self, partial_key_range};
use crate::error::{Error, Result};
use crate::iter::{MAX_PAGE_SIZE, Page, StateIter};

/// A host shared by a [`Context`] and the iterators it opens, so iterating
/// does not lock the context (a chaincode may `get` or `put` while it walks a
/// range). Borrowed only for the length of one host call.
pub type SharedHost = Rc<RefCell<dyn Host>>;

/// Where [`Context::range`] starts when given an empty start: the first key
/// that is not a composite key (composite keys start with `U+0000`).
pub const PLAIN_KEYS_START: &str = "\u{1}";

/// The call's view of the ledger and the transaction. Every method forwards
/// to the [`Host`]; the only thing cached is the [`TxInfo`], fetched once.
pub struct Context {
    host: SharedHost,
    info: TxInfo,
}

impl core::fmt::Debug for Context {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Context").field("info", &self.info).finish()
    }
}

impl Context {
    /// A context over `host`; asks it for the [`TxInfo`].
    pub fn new(host: SharedHost) -> Result<Self> {
        let info = host.borrow_mut().tx_info()?;
        Ok(Context { host, info })
    }

    fn host<R>(&self, f: impl FnOnce(&mut dyn Host) -> R) -> R {
        f(&mut *self.host.borrow_mut())
    }

    // ----- world state -----

    /// The value of `key`, or `None` if it does not exist (including when
    /// this transaction deleted it).
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.host(|h| h.state_get(key))?)
    }

    /// The value of `key` parsed as JSON.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key)? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::new(format!(
                    "the value of {key:?} is not the JSON expected: {e}"
                ))
            }),
            None => Ok(None),
        }
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &str, value: &[u8]) -> Result<()> {
        Ok(self.host(|h| h.state_put(key, value))?)
    }

    /// Sets `key` to the JSON of `value`.
    pub fn put_json<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value)?;
        self.put(key, &bytes)
    }

    /// Deletes `key`; deleting a missing key is not an error.
    pub fn delete(&mut self, key: &str) -> Result<()> {
        Ok(self.host(|h| h.state_delete(key))?)
    }

    /// The plain keys in `[start, end)` in key order, `end` empty meaning
    /// unbounded. An empty `start` means [`PLAIN_KEYS_START`]; a `start`
    /// beginning with `U+0000` is refused (use
    /// [`Context::by_partial_composite_key`]), so composite keys never appear.
    pub fn range(&self, start: &str, end: &str) -> Result<StateIter> {
        if start.starts_with(composite::COMPOSITE_KEY_NAMESPACE)
            || end.starts_with(composite::COMPOSITE_KEY_NAMESPACE)
        {
            return Err(Error::new(
                "range bounds may not start with U+0000; use by_partial_composite_key for composite keys",
            ));
        }
        let start = if start.is_empty() {
            PLAIN_KEYS_START
        } else {
            start
        };
        self.open(start, end)
    }

    fn open(&self, start: &str, end: &str) -> Result<StateIter> {
        let handle = self.host(|h| h.range_open(start, end))?;
        Ok(StateIter::new(Rc::clone(&self.host), handle))
    }

    /// One page of [`Context::range`]: at most `page_size` items (1 to
    /// [`MAX_PAGE_SIZE`]) from `bookmark` (empty for the first page). The
    /// returned bookmark is the key the next page starts at, empty after the
    /// last page. Queries only: a page cannot be checked for phantoms at commit.
    pub fn range_paged(
        &self,
        start: &str,
        end: &str,
        page_size: u32,
        bookmark: &str,
    ) -> Result<Page> {
        if self.info.kind != TxKind::Query {
            return Err(Error::new(
                "range_paged is allowed only in queries (a paged range cannot be validated)",
            ));
        }
        if page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(Error::new(format!(
                "page size {page_size} is not between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        let from = if bookmark.is_empty() {
            start
        } else {
            let in_range = bookmark >= start && (end.is_empty() || bookmark < end);
            if !in_range {
                return Err(Error::new(format!(
                    "bookmark {bookmark:?} is outside the range [{start:?}, {end:?})"
                )));
            }
            bookmark
        };
        let mut items = Vec::new();
        let mut next = String::new();
        for item in self.range(from, end)? {
            let (key, value) = item?;
            if items.len() == page_size as usize {
                next = key;
                break;
            }
            items.push((key, value));
        }
        Ok(Page {
            items,
            bookmark: next,
        })
    }

    /// The composite key of `object_type` and `attrs` (see [`crate::composite_key`]).
    pub fn composite_key<S: AsRef<str>>(&self, object_type: &str, attrs: &[S]) -> Result<String> {
        composite::composite_key(object_type, attrs)
    }

    /// Splits a composite key (see [`crate::split_composite_key`]).
    pub fn split_composite_key(&self, key: &str) -> Result<(String, Vec<String>)> {
        composite::split_composite_key(key)
    }

    /// Every composite key of `object_type` whose attributes start with `attrs`.
    pub fn by_partial_composite_key<S: AsRef<str>>(
        &self,
        object_type: &str,
        attrs: &[S],
    ) -> Result<StateIter> {
        let (start, end) = partial_key_range(object_type, attrs)?;
        self.open(&start, &end)
    }

    /// Every committed change of `key`, oldest first. Queries only.
    pub fn history(&self, key: &str) -> Result<Vec<HistoryEntry>> {
        Ok(self.host(|h| h.state_history(key))?)
    }

    /// The key-level endorsement policy of `key`, if one is set.
    pub fn key_policy(&self, key: &str) -> Result<Option<String>> {
        Ok(self.host(|h| h.key_policy_get(key))?)
    }

    /// Sets (`Some`, in the policy language) or removes (`None`) the
    /// key-level endorsement policy of `key`.
    pub fn set_key_policy(&mut self, key: &str, policy: Option<&str>) -> Result<()> {
        Ok(self.host(|h| h.key_policy_set(key, policy))?)
    }

    // ----- private data -----

    /// A private value of `collection` (members only).
    pub fn private_get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.host(|h| h.private_get(collection, key))?)
    }

    /// Writes a private value; only its hash enters the transaction.
    pub fn private_put(&mut self, collection: &str, key: &str, value: &[u8]) -> Result<()> {
        Ok(self.host(|h| h.private_put(collection, key, value))?)
    }

    /// Deletes a private value.
    pub fn private_delete(&mut self, collection: &str, key: &str) -> Result<()> {
        Ok(self.host(|h| h.private_delete(collection, key))?)
    }

    /// sha3-256 of a private value, readable by non-members too.
    pub fn private_get_hash(&self, collection: &str, key: &str) -> Result<Option<[u8; 32]>> {
        Ok(self.host(|h| h.private_get_hash(collection, key))?)
    }

    /// Deletes a private value and its history from every member's store.
    pub fn private_purge(&mut self, collection: &str, key: &str) -> Result<()> {
        Ok(self.host(|h| h.private_purge(collection, key))?)
    }

    /// A transient input (sent beside the proposal, never on the ledger).
    pub fn transient(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.host(|h| h.transient_get(key))?)
    }

    // ----- events and other chaincodes -----

    /// Sets the transaction's event; a second call replaces the first.
    pub fn set_event(&mut self, name: &str, payload: &[u8]) -> Result<()> {
        Ok(self.host(|h| h.set_event(name, payload))?)
    }

    /// Sets the transaction's event with a JSON payload.
    pub fn set_event_json<T: Serialize + ?Sized>(&mut self, name: &str, payload: &T) -> Result<()> {
        let bytes = serde_json::to_vec(payload)?;
        self.set_event(name, &bytes)
    }

    /// Runs `function` of chaincode `name` on the same channel, in this
    /// transaction. The callee's own errors come back in the response
    /// (status 400); `Err` means it could not be run at all.
    pub fn invoke_chaincode<S: AsRef<str>>(
        &mut self,
        name: &str,
        function: &str,
        args: &[S],
    ) -> Result<InvokeResponse> {
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
        Ok(self.host(|h| h.invoke_chaincode(name, function, &args))?)
    }

    // ----- the transaction -----

    /// Everything the host said about the call.
    pub fn tx_info(&self) -> &TxInfo {
        &self.info
    }

    /// The transaction id (hex).
    pub fn tx_id(&self) -> &str {
        &self.info.tx_id
    }

    /// The creator's timestamp, unix milliseconds: the only clock there is.
    pub fn timestamp_ms(&self) -> u64 {
        self.info.timestamp_ms
    }

    /// The channel.
    pub fn channel(&self) -> &str {
        &self.info.channel
    }

    /// Who submitted the transaction.
    pub fn creator(&self) -> &Creator {
        &self.info.creator
    }

    /// Whether this call may write.
    pub fn kind(&self) -> TxKind {
        self.info.kind
    }

    // ----- natives -----

    /// sha3-256 of `data`, computed by the host.
    pub fn sha3_256(&self, data: &[u8]) -> [u8; 32] {
        self.host(|h| h.sha3_256(data))
    }

    /// Whether `signature` is a valid (strict) ed25519 signature of `message`.
    pub fn ed25519_verify(
        &self,
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> bool {
        self.host(|h| h.ed25519_verify(public_key, message, signature))
    }

    /// Writes a line to the host's log; never affects the result.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.host(|h| h.log(level, message));
    }
}
