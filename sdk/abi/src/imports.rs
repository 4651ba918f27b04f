//! The host functions a chaincode may import, all from module [`MODULE`].
//!
//! Pointers and lengths are `i32` offsets and sizes in guest memory; a
//! pointer range outside memory traps the call (status 500).
//!
//! **Results.** Most functions return an `i64` packed by [`pack_ret`]: the high
//! 32 bits are a [`RetTag`] (value present, absent, or an [`ErrorCode`]) and
//! the low 32 bits a length. When the length is not zero the bytes wait in the
//! host's result buffer: the guest allocates that many bytes and calls
//! [`TAKE_RESULT`] to copy them. For errors the buffer holds the message.
//!
//! | function | parameters | result buffer |
//! |---|---|---|
//! | `take_result` | `(dst)` → nothing | copied to `dst` |
//! | `state_get` | `(key, key_len)` | the value, or absent |
//! | `state_put` | `(key, key_len, val, val_len)` | — |
//! | `state_delete` | `(key, key_len)` | — |
//! | `range_open` | `(start, start_len, end, end_len)` | handle, `u32` LE |
//! | `range_next` | `(handle)` | a batch ([`crate::types`]'s `encode_kv_batch`), empty when exhausted |
//! | `range_close` | `(handle)` | — |
//! | `state_history` | `(key, key_len)` | [`crate::types`]'s `encode_history`; queries only |
//! | `private_get` | `(coll, coll_len, key, key_len)` | the value, or absent |
//! | `private_put` | `(coll, coll_len, key, key_len, val, val_len)` | — |
//! | `private_delete` | `(coll, coll_len, key, key_len)` | — |
//! | `private_get_hash` | `(coll, coll_len, key, key_len)` | 32 bytes, or absent |
//! | `private_purge` | `(coll, coll_len, key, key_len)` | — |
//! | `transient_get` | `(key, key_len)` | the value, or absent |
//! | `set_event` | `(name, name_len, payload, payload_len)` | — |
//! | `tx_info` | `()` | a [`crate::TxInfo`] |
//! | `invoke_chaincode` | `(name, name_len, call, call_len)`, `call` an encoded [`crate::Invocation`] | a [`crate::InvokeResponse`] |
//! | `key_policy_get` | `(key, key_len)` | the policy text, or absent |
//! | `key_policy_set` | `(key, key_len, policy, policy_len)`; `policy_len` 0 removes it | — |
//! | `sha3_256` | `(data, data_len, out)` → nothing | writes 32 bytes at `out` |
//! | `ed25519_verify` | `(public_key, msg, msg_len, signature)` → `i32` 1 valid / 0 not | — |
//! | `log` | `(level, msg, msg_len)` → nothing | — |

use crate::error::ErrorCode;

/// The import module name.
pub const MODULE: &str = "weft";

/// Copies the pending result buffer into guest memory.
pub const TAKE_RESULT: &str = "take_result";

/// A Wasm value type in an import signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
}

use ValType::{I32, I64};

/// An import the host provides: name, parameter types, result types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSig {
    /// Function name in module [`MODULE`].
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [ValType],
    /// Result types.
    pub results: &'static [ValType],
}

const fn sig(
    name: &'static str,
    params: &'static [ValType],
    results: &'static [ValType],
) -> ImportSig {
    ImportSig {
        name,
        params,
        results,
    }
}

/// Every host function, with its exact signature. Modules may import any
/// subset; importing anything else (another module, another name, another
/// signature) is refused at deploy.
pub const ALL: &[ImportSig] = &[
    sig(TAKE_RESULT, &[I32], &[]),
    sig("state_get", &[I32, I32], &[I64]),
    sig("state_put", &[I32, I32, I32, I32], &[I64]),
    sig("state_delete", &[I32, I32], &[I64]),
    sig("range_open", &[I32, I32, I32, I32], &[I64]),
    sig("range_next", &[I32], &[I64]),
    sig("range_close", &[I32], &[I64]),
    sig("state_history", &[I32, I32], &[I64]),
    sig("private_get", &[I32, I32, I32, I32], &[I64]),
    sig("private_put", &[I32, I32, I32, I32, I32, I32], &[I64]),
    sig("private_delete", &[I32, I32, I32, I32], &[I64]),
    sig("private_get_hash", &[I32, I32, I32, I32], &[I64]),
    sig("private_purge", &[I32, I32, I32, I32], &[I64]),
    sig("transient_get", &[I32, I32], &[I64]),
    sig("set_event", &[I32, I32, I32, I32], &[I64]),
    sig("tx_info", &[], &[I64]),
    sig("invoke_chaincode", &[I32, I32, I32, I32], &[I64]),
    sig("key_policy_get", &[I32, I32], &[I64]),
    sig("key_policy_set", &[I32, I32, I32, I32], &[I64]),
    sig("sha3_256", &[I32, I32, I32], &[]),
    sig("ed25519_verify", &[I32, I32, I32, I32], &[I32]),
    sig("log", &[I32, I32, I32], &[]),
];

/// The signature of host function `name`, if there is one.
pub fn find(name: &str) -> Option<&'static ImportSig> {
    ALL.iter().find(|s| s.name == name)
}

/// What a packed result says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetTag {
    /// Success; the result (possibly empty) is in the buffer.
    Present,
    /// Success; there is no value (missing key).
    Absent,
    /// Failure with this code; the message is in the buffer.
    Error(ErrorCode),
}

/// Packs a result tag and buffer length into a host function's `i64` return.
pub fn pack_ret(tag: RetTag, len: u32) -> i64 {
    let tag: i64 = match tag {
        RetTag::Present => 0,
        RetTag::Absent => 1,
        RetTag::Error(code) => 1 + i64::from(code.as_i32()),
    };
    (tag << 32) | i64::from(len)
}

/// Unpacks [`pack_ret`].
pub fn unpack_ret(ret: i64) -> (RetTag, u32) {
    let len = ret as u32;
    let tag = match ret >> 32 {
        0 => RetTag::Present,
        1 => RetTag::Absent,
        n => RetTag::Error(ErrorCode::from_i32(i32::try_from(n - 1).unwrap_or(0))),
    };
    (tag, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_pack_and_unpack() {
        for tag in [RetTag::Present, RetTag::Absent]
            .into_iter()
            .chain(ErrorCode::ALL.into_iter().map(RetTag::Error))
        {
            for len in [0, 1, u32::MAX] {
                assert_eq!(unpack_ret(pack_ret(tag, len)), (tag, len));
            }
        }
        assert_eq!(
            unpack_ret(-1).0,
            RetTag::Error(ErrorCode::Internal),
            "garbage is an error"
        );
    }

    #[test]
    fn import_names_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(ALL[i + 1..].iter().all(|b| b.name != a.name), "{}", a.name);
            assert_eq!(find(a.name), Some(a));
        }
        assert_eq!(find("fd_write"), None);
    }
}
