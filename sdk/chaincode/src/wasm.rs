//! The Wasm backend: [`Host`] over the imports of module `weft`
//! ([`weft_abi::imports`]), and the bodies of the `weft_alloc` / `weft_invoke`
//! exports that `#[contract]` generates. The only module with `unsafe`.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;

use weft_abi::exports::pack_buffer;
use weft_abi::imports::{RetTag, unpack_ret};
use weft_abi::{
    ErrorCode, HistoryEntry, Host, HostError, Invocation, InvokeResponse, LogLevel, Outcome,
    TxInfo, decode_history, decode_kv_batch,
};

use crate::context::{Context, SharedHost};
use crate::contract::Contract;

// Pointers and `usize` are `i32` on wasm32, so these are exactly the
// signatures of `weft_abi::imports::ALL`.
#[link(wasm_import_module = "weft")]
unsafe extern "C" {
    fn take_result(dst: *mut u8);
    fn state_get(key: *const u8, key_len: usize) -> i64;
    fn state_put(key: *const u8, key_len: usize, val: *const u8, val_len: usize) -> i64;
    fn state_delete(key: *const u8, key_len: usize) -> i64;
    fn range_open(start: *const u8, start_len: usize, end: *const u8, end_len: usize) -> i64;
    safe fn range_next(handle: i32) -> i64;
    safe fn range_close(handle: i32) -> i64;
    fn state_history(key: *const u8, key_len: usize) -> i64;
    fn private_get(coll: *const u8, coll_len: usize, key: *const u8, key_len: usize) -> i64;
    fn private_put(
        coll: *const u8,
        coll_len: usize,
        key: *const u8,
        key_len: usize,
        val: *const u8,
        val_len: usize,
    ) -> i64;
    fn private_delete(coll: *const u8, coll_len: usize, key: *const u8, key_len: usize) -> i64;
    fn private_get_hash(coll: *const u8, coll_len: usize, key: *const u8, key_len: usize) -> i64;
    fn private_purge(coll: *const u8, coll_len: usize, key: *const u8, key_len: usize) -> i64;
    fn transient_get(key: *const u8, key_len: usize) -> i64;
    fn set_event(name: *const u8, name_len: usize, payload: *const u8, payload_len: usize) -> i64;
    safe fn tx_info() -> i64;
    fn invoke_chaincode(name: *const u8, name_len: usize, call: *const u8, call_len: usize) -> i64;
    fn key_policy_get(key: *const u8, key_len: usize) -> i64;
    fn key_policy_set(key: *const u8, key_len: usize, policy: *const u8, policy_len: usize) -> i64;
    fn sha3_256(data: *const u8, data_len: usize, out: *mut u8);
    fn ed25519_verify(public_key: *const u8, msg: *const u8, msg_len: usize, sig: *const u8)
    -> i32;
    fn log(level: i32, msg: *const u8, msg_len: usize);
}

/// Unpacks a host function's result, fetching its bytes.
fn ret(packed: i64) -> Result<Option<Vec<u8>>, HostError> {
    let (tag, len) = unpack_ret(packed);
    let mut bytes = vec![0u8; len as usize];
    if len > 0 {
        // SAFETY: `bytes` has exactly the `len` bytes the host is about to copy.
        unsafe { take_result(bytes.as_mut_ptr()) };
    }
    match tag {
        RetTag::Present => Ok(Some(bytes)),
        RetTag::Absent => Ok(None),
        RetTag::Error(code) => Err(HostError::new(code, String::from_utf8_lossy(&bytes))),
    }
}

fn unit(packed: i64) -> Result<(), HostError> {
    ret(packed).map(drop)
}

fn present(packed: i64, what: &str) -> Result<Vec<u8>, HostError> {
    ret(packed)?.ok_or_else(|| malformed(what))
}

fn malformed(what: &str) -> HostError {
    HostError::new(
        ErrorCode::Internal,
        format!("the host sent a malformed {what}"),
    )
}

/// [`Host`] over the `weft` imports. Stateless: the host keeps everything.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WasmHost;

impl Host for WasmHost {
    fn state_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        ret(unsafe { state_get(key.as_ptr(), key.len()) })
    }

    fn state_put(&mut self, key: &str, value: &[u8]) -> Result<(), HostError> {
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        unit(unsafe { state_put(key.as_ptr(), key.len(), value.as_ptr(), value.len()) })
    }

    fn state_delete(&mut self, key: &str) -> Result<(), HostError> {
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        unit(unsafe { state_delete(key.as_ptr(), key.len()) })
    }

    fn range_open(&mut self, start: &str, end: &str) -> Result<u32, HostError> {
        let bytes = present(
            // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
            unsafe { range_open(start.as_ptr(), start.len(), end.as_ptr(), end.len()) },
            "range handle",
        )?;
        let handle: [u8; 4] = bytes.try_into().map_err(|_| malformed("range handle"))?;
        Ok(u32::from_le_bytes(handle))
    }

    fn range_next(&mut self, handle: u32) -> Result<Vec<(String, Vec<u8>)>, HostError> {
        let bytes = present(range_next(handle as i32), "range batch")?;
        decode_kv_batch(&bytes).map_err(|_| malformed("range batch"))
    }

    fn range_close(&mut self, handle: u32) -> Result<(), HostError> {
        unit(range_close(handle as i32))
    }

    fn state_history(&mut self, key: &str) -> Result<Vec<HistoryEntry>, HostError> {
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        let bytes = present(unsafe { state_history(key.as_ptr(), key.len()) }, "history")?;
        decode_history(&bytes).map_err(|_| malformed("history"))
    }

    fn private_get(&mut self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        let (c, k) = (collection, key);
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        ret(unsafe { private_get(c.as_ptr(), c.len(), k.as_ptr(), k.len()) })
    }

    fn private_put(&mut self, collection: &str, key: &str, value: &[u8]) -> Result<(), HostError> {
        let (c, k, v) = (collection, key, value);
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        unit(unsafe {
            private_put(
                c.as_ptr(),
                c.len(),
                k.as_ptr(),
                k.len(),
                v.as_ptr(),
                v.len(),
            )
        })
    }

    fn private_delete(&mut self, collection: &str, key: &str) -> Result<(), HostError> {
        let (c, k) = (collection, key);
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        unit(unsafe { private_delete(c.as_ptr(), c.len(), k.as_ptr(), k.len()) })
    }

    fn private_get_hash(
        &mut self,
        collection: &str,
        key: &str,
    ) -> Result<Option<[u8; 32]>, HostError> {
        let (c, k) = (collection, key);
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        match ret(unsafe { private_get_hash(c.as_ptr(), c.len(), k.as_ptr(), k.len()) })? {
            Some(bytes) => Ok(Some(bytes.try_into().map_err(|_| malformed("hash"))?)),
            None => Ok(None),
        }
    }

    fn private_purge(&mut self, collection: &str, key: &str) -> Result<(), HostError> {
        let (c, k) = (collection, key);
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        unit(unsafe { private_purge(c.as_ptr(), c.len(), k.as_ptr(), k.len()) })
    }

    fn transient_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        ret(unsafe { transient_get(key.as_ptr(), key.len()) })
    }

    fn set_event(&mut self, name: &str, payload: &[u8]) -> Result<(), HostError> {
        let (n, p) = (name, payload);
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        unit(unsafe { set_event(n.as_ptr(), n.len(), p.as_ptr(), p.len()) })
    }

    fn tx_info(&mut self) -> Result<TxInfo, HostError> {
        let bytes = present(tx_info(), "tx info")?;
        TxInfo::decode(&bytes).map_err(|_| malformed("tx info"))
    }

    fn invoke_chaincode(
        &mut self,
        chaincode: &str,
        function: &str,
        args: &[String],
    ) -> Result<InvokeResponse, HostError> {
        let call = Invocation {
            function: function.to_string(),
            args: args.to_vec(),
        }
        .encode();
        let n = chaincode;
        let bytes = present(
            // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
            unsafe { invoke_chaincode(n.as_ptr(), n.len(), call.as_ptr(), call.len()) },
            "invoke response",
        )?;
        InvokeResponse::decode(&bytes).map_err(|_| malformed("invoke response"))
    }

    fn key_policy_get(&mut self, key: &str) -> Result<Option<String>, HostError> {
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        match ret(unsafe { key_policy_get(key.as_ptr(), key.len()) })? {
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| malformed("policy")),
            None => Ok(None),
        }
    }

    fn key_policy_set(&mut self, key: &str, policy: Option<&str>) -> Result<(), HostError> {
        // An empty policy removes it (the ABI's convention).
        let p = policy.unwrap_or("");
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        unit(unsafe { key_policy_set(key.as_ptr(), key.len(), p.as_ptr(), p.len()) })
    }

    fn sha3_256(&mut self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SAFETY: `out` has room for the 32 bytes the host writes.
        unsafe { sha3_256(data.as_ptr(), data.len(), out.as_mut_ptr()) };
        out
    }

    fn ed25519_verify(
        &mut self,
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> bool {
        let (k, m, s) = (public_key, message, signature);
        // SAFETY: the key and signature are fixed-size arrays of the sizes the host reads.
        unsafe { ed25519_verify(k.as_ptr(), m.as_ptr(), m.len(), s.as_ptr()) == 1 }
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        // SAFETY: live slices passed as (pointer, length); the host reads them only during the call.
        // SAFETY: a live slice passed as (pointer, length), read during the call.
        unsafe { log(level as i32, message.as_ptr(), message.len()) }
    }
}

/// The body of the `weft_alloc` export: `len` bytes, never freed (a fresh
/// instance runs each invocation). A negative length allocates nothing.
pub fn alloc(len: i32) -> i32 {
    let mut buf = Vec::<u8>::with_capacity(usize::try_from(len).unwrap_or(0));
    let ptr = buf.as_mut_ptr();
    core::mem::forget(buf);
    ptr as i32
}

/// The body of the `weft_invoke` export: decodes the [`Invocation`] at
/// `ptr..ptr+len`, runs it through `C`'s dispatcher, and returns the encoded
/// [`Outcome`]'s packed location.
///
/// # Safety
/// `ptr..ptr+len` must be readable guest memory — the buffer the host got
/// from `weft_alloc(len)` and filled.
pub unsafe fn invoke<C: Contract>(ptr: i32, len: i32) -> i64 {
    let input: &[u8] = match usize::try_from(len) {
        Ok(n) if n > 0 => {
            // SAFETY: the caller guarantees `ptr..ptr+len` is readable.
            unsafe { core::slice::from_raw_parts(ptr as usize as *const u8, n) }
        }
        _ => &[],
    };
    let outcome = match Invocation::decode(input) {
        Ok(call) => run::<C>(&call),
        Err(e) => Outcome::Err(format!("the host sent a malformed invocation: {e}")),
    };
    let out: &'static mut [u8] = outcome.encode().leak();
    pack_buffer(out.as_ptr() as u32, out.len() as u32) as i64
}

fn run<C: Contract>(call: &Invocation) -> Outcome {
    let host: SharedHost = Rc::new(RefCell::new(WasmHost));
    match Context::new(host) {
        Ok(mut ctx) => C::dispatch(&mut ctx, &call.function, &call.args),
        Err(e) => Outcome::Err(format!("cannot read the transaction: {e}")),
    }
}
