//! The `weft` imports ([`weft_abi::imports::ALL`]), each forwarding to the
//! store's [`weft_abi::Host`].
//!
//! Every pointer range is checked against guest memory before anything
//! else; a range outside it traps with a message naming the function and
//! the argument ([`HostTrap`]). Malformed arguments the guest could not have
//! meant (a key that is not UTF-8, an undecodable invocation) are returned as
//! `InvalidArgument`, like any other [`HostError`].
//!
//! **Fuel.** A host call costs [`RuntimeConfig::host_call_fuel`], plus
//! [`RuntimeConfig::host_fuel_per_byte`] for every byte read from guest
//! memory, every byte of result the host produces, and every byte
//! `take_result` (or `sha3_256`) writes back; `ed25519_verify` costs
//! [`RuntimeConfig::ed25519_verify_fuel`] on top. Inputs are charged after
//! their bounds check and before the host does any work, results as soon as
//! they are produced, so a loop of host calls runs out of fuel like any
//! other loop and the host never does more work than the fuel paid for
//! (plus one result of at most `max_result_bytes`). What the host does
//! beyond copying bytes (a ledger read, a callee chaincode run by
//! `invoke_chaincode`) is the host's to bound.
//!
//! [`RuntimeConfig::host_call_fuel`]: super::RuntimeConfig::host_call_fuel
//! [`RuntimeConfig::host_fuel_per_byte`]: super::RuntimeConfig::host_fuel_per_byte
//! [`RuntimeConfig::ed25519_verify_fuel`]: super::RuntimeConfig::ed25519_verify_fuel

use std::fmt;

use wasmtime::{Caller, Extern, Linker, Memory, Trap};
use weft_abi::imports::{MODULE, RetTag, TAKE_RESULT, pack_ret};
use weft_abi::{ErrorCode, HostError, Invocation, LogLevel};

use super::host_state::HostState;

/// A host function refused to go on: the call traps with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HostTrap {
    pub(super) message: String,
}

impl fmt::Display for HostTrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HostTrap {}

fn trap(message: String) -> wasmtime::Error {
    wasmtime::Error::new(HostTrap { message })
}

/// Why a host function did not produce a value.
enum Fault {
    /// The call traps.
    Trap(wasmtime::Error),
    /// The guest gets this error back.
    Host(HostError),
}

impl From<HostError> for Fault {
    fn from(e: HostError) -> Self {
        Fault::Host(e)
    }
}

/// What a host function leaves for the guest.
enum Reply {
    /// A value, fetched with `take_result`.
    Value(Vec<u8>),
    /// No value (a missing key).
    Absent,
    /// Success with nothing to fetch.
    Done,
}

impl From<Option<Vec<u8>>> for Reply {
    fn from(v: Option<Vec<u8>>) -> Self {
        v.map_or(Reply::Absent, Reply::Value)
    }
}

type Ctx<'a> = Caller<'a, HostState>;

/// Defines every function of [`weft_abi::imports::ALL`] in `linker`.
pub(super) fn define_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    define_transfer(linker)?;
    define_state(linker)?;
    define_private(linker)?;
    define_context(linker)?;
    define_crypto(linker)?;
    Ok(())
}

fn define_transfer(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(MODULE, TAKE_RESULT, |mut c: Ctx<'_>, dst: i32| {
        let memory = guest_memory(&mut c, TAKE_RESULT)?;
        let len = c.data().result.len() as u64;
        check_range(TAKE_RESULT, "destination", dst, len, memory.data_size(&c))?;
        charge_inputs(&mut c, len)?;
        let (mem, state) = memory.data_and_store_mut(&mut c);
        let result = std::mem::take(&mut state.result);
        slice_mut(mem, TAKE_RESULT, dst, len)?.copy_from_slice(&result);
        Ok(())
    })?;
    Ok(())
}

fn define_state(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(MODULE, "state_get", |mut c: Ctx<'_>, k: i32, kl: i32| {
        call(&mut c, "state_get", &[("key", k, kl)], |mem, s| {
            let key = read_str(mem, k, kl, "key")?;
            Ok(s.host.state_get(key)?.into())
        })
    })?;
    linker.func_wrap(
        MODULE,
        "state_put",
        |mut c: Ctx<'_>, k: i32, kl: i32, v: i32, vl: i32| {
            call(
                &mut c,
                "state_put",
                &[("key", k, kl), ("value", v, vl)],
                |mem, s| {
                    let key = read_str(mem, k, kl, "key")?;
                    s.host.state_put(key, read(mem, v, vl)?)?;
                    Ok(Reply::Done)
                },
            )
        },
    )?;
    linker.func_wrap(MODULE, "state_delete", |mut c: Ctx<'_>, k: i32, kl: i32| {
        call(&mut c, "state_delete", &[("key", k, kl)], |mem, s| {
            s.host.state_delete(read_str(mem, k, kl, "key")?)?;
            Ok(Reply::Done)
        })
    })?;
    linker.func_wrap(
        MODULE,
        "range_open",
        |mut c: Ctx<'_>, a: i32, al: i32, b: i32, bl: i32| {
            call(
                &mut c,
                "range_open",
                &[("start", a, al), ("end", b, bl)],
                |mem, s| {
                    let start = read_str(mem, a, al, "start key")?;
                    let end = read_str(mem, b, bl, "end key")?;
                    let handle = s.host.range_open(start, end)?;
                    Ok(Reply::Value(handle.to_le_bytes().to_vec()))
                },
            )
        },
    )?;
    linker.func_wrap(MODULE, "range_next", |mut c: Ctx<'_>, h: i32| {
        call(&mut c, "range_next", &[], |_, s| {
            let batch = s.host.range_next(h as u32)?;
            Ok(Reply::Value(weft_abi::encode_kv_batch(&batch)))
        })
    })?;
    linker.func_wrap(MODULE, "range_close", |mut c: Ctx<'_>, h: i32| {
        call(&mut c, "range_close", &[], |_, s| {
            s.host.range_close(h as u32)?;
            Ok(Reply::Done)
        })
    })?;
    linker.func_wrap(
        MODULE,
        "state_history",
        |mut c: Ctx<'_>, k: i32, kl: i32| {
            call(&mut c, "state_history", &[("key", k, kl)], |mem, s| {
                let history = s.host.state_history(read_str(mem, k, kl, "key")?)?;
                Ok(Reply::Value(weft_abi::encode_history(&history)))
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "key_policy_get",
        |mut c: Ctx<'_>, k: i32, kl: i32| {
            call(&mut c, "key_policy_get", &[("key", k, kl)], |mem, s| {
                let policy = s.host.key_policy_get(read_str(mem, k, kl, "key")?)?;
                Ok(policy.map(String::into_bytes).into())
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "key_policy_set",
        |mut c: Ctx<'_>, k: i32, kl: i32, p: i32, pl: i32| {
            let inputs = [("key", k, kl), ("policy", p, pl)];
            call(&mut c, "key_policy_set", &inputs, |mem, s| {
                let key = read_str(mem, k, kl, "key")?;
                let policy = match pl {
                    0 => None,
                    _ => Some(read_str(mem, p, pl, "policy")?),
                };
                s.host.key_policy_set(key, policy)?;
                Ok(Reply::Done)
            })
        },
    )?;
    Ok(())
}

fn define_private(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "private_get",
        |mut c: Ctx<'_>, co: i32, col: i32, k: i32, kl: i32| {
            let inputs = [("collection", co, col), ("key", k, kl)];
            call(&mut c, "private_get", &inputs, |mem, s| {
                let coll = read_str(mem, co, col, "collection")?;
                let key = read_str(mem, k, kl, "key")?;
                Ok(s.host.private_get(coll, key)?.into())
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "private_put",
        |mut c: Ctx<'_>, co: i32, col: i32, k: i32, kl: i32, v: i32, vl: i32| {
            let inputs = [("collection", co, col), ("key", k, kl), ("value", v, vl)];
            call(&mut c, "private_put", &inputs, |mem, s| {
                let coll = read_str(mem, co, col, "collection")?;
                let key = read_str(mem, k, kl, "key")?;
                s.host.private_put(coll, key, read(mem, v, vl)?)?;
                Ok(Reply::Done)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "private_delete",
        |mut c: Ctx<'_>, co: i32, col: i32, k: i32, kl: i32| {
            let inputs = [("collection", co, col), ("key", k, kl)];
            call(&mut c, "private_delete", &inputs, |mem, s| {
                let coll = read_str(mem, co, col, "collection")?;
                s.host.private_delete(coll, read_str(mem, k, kl, "key")?)?;
                Ok(Reply::Done)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "private_get_hash",
        |mut c: Ctx<'_>, co: i32, col: i32, k: i32, kl: i32| {
            let inputs = [("collection", co, col), ("key", k, kl)];
            call(&mut c, "private_get_hash", &inputs, |mem, s| {
                let coll = read_str(mem, co, col, "collection")?;
                let key = read_str(mem, k, kl, "key")?;
                Ok(s.host
                    .private_get_hash(coll, key)?
                    .map(|h| h.to_vec())
                    .into())
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "private_purge",
        |mut c: Ctx<'_>, co: i32, col: i32, k: i32, kl: i32| {
            let inputs = [("collection", co, col), ("key", k, kl)];
            call(&mut c, "private_purge", &inputs, |mem, s| {
                let coll = read_str(mem, co, col, "collection")?;
                s.host.private_purge(coll, read_str(mem, k, kl, "key")?)?;
                Ok(Reply::Done)
            })
        },
    )?;
    Ok(())
}

fn define_context(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "transient_get",
        |mut c: Ctx<'_>, k: i32, kl: i32| {
            call(&mut c, "transient_get", &[("key", k, kl)], |mem, s| {
                Ok(s.host.transient_get(read_str(mem, k, kl, "key")?)?.into())
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "set_event",
        |mut c: Ctx<'_>, n: i32, nl: i32, p: i32, pl: i32| {
            call(
                &mut c,
                "set_event",
                &[("name", n, nl), ("payload", p, pl)],
                |mem, s| {
                    let name = read_str(mem, n, nl, "event name")?;
                    s.host.set_event(name, read(mem, p, pl)?)?;
                    Ok(Reply::Done)
                },
            )
        },
    )?;
    linker.func_wrap(MODULE, "tx_info", |mut c: Ctx<'_>| {
        call(&mut c, "tx_info", &[], |_, s| {
            Ok(Reply::Value(s.host.tx_info()?.encode()))
        })
    })?;
    linker.func_wrap(
        MODULE,
        "invoke_chaincode",
        |mut c: Ctx<'_>, n: i32, nl: i32, i: i32, il: i32| {
            let inputs = [("chaincode name", n, nl), ("invocation", i, il)];
            call(&mut c, "invoke_chaincode", &inputs, |mem, s| {
                let name = read_str(mem, n, nl, "chaincode name")?;
                let call = Invocation::decode(read(mem, i, il)?)
                    .map_err(|e| HostError::new(ErrorCode::InvalidArgument, e.to_string()))?;
                let response = s.host.invoke_chaincode(name, &call.function, &call.args)?;
                Ok(Reply::Value(response.encode()))
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "log",
        |mut c: Ctx<'_>, level: i32, m: i32, ml: i32| {
            let memory = guest_memory(&mut c, "log")?;
            check_range("log", "message", m, len_of(ml), memory.data_size(&c))?;
            charge_inputs(&mut c, len_of(ml))?;
            let (mem, state) = memory.data_and_store_mut(&mut c);
            let bytes = slice(mem, "log", m, len_of(ml))?;
            // The node's log gets at most one line's worth, whatever the guest sends.
            let shown = &bytes[..bytes.len().min(weft_chaincode::sim::MAX_LOG_LINE_BYTES)];
            let message = String::from_utf8_lossy(shown);
            let level = LogLevel::from_i32(level);
            match level {
                LogLevel::Error => tracing::error!(target: "weft::chaincode", "{message}"),
                LogLevel::Warn => tracing::warn!(target: "weft::chaincode", "{message}"),
                LogLevel::Info => tracing::info!(target: "weft::chaincode", "{message}"),
                LogLevel::Debug => tracing::debug!(target: "weft::chaincode", "{message}"),
            }
            state.host.log(level, &message);
            Ok(())
        },
    )?;
    Ok(())
}

fn define_crypto(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "sha3_256",
        |mut c: Ctx<'_>, d: i32, dl: i32, out: i32| {
            const F: &str = "sha3_256";
            let memory = guest_memory(&mut c, F)?;
            let size = memory.data_size(&c);
            check_range(F, "data", d, len_of(dl), size)?;
            check_range(F, "output", out, 32, size)?;
            charge_inputs(&mut c, len_of(dl) + 32)?;
            let (mem, state) = memory.data_and_store_mut(&mut c);
            let digest = state.host.sha3_256(slice(mem, F, d, len_of(dl))?);
            slice_mut(mem, F, out, 32)?.copy_from_slice(&digest);
            Ok(())
        },
    )?;
    linker.func_wrap(
        MODULE,
        "ed25519_verify",
        |mut c: Ctx<'_>, pk: i32, m: i32, ml: i32, sig: i32| {
            const F: &str = "ed25519_verify";
            let memory = guest_memory(&mut c, F)?;
            let size = memory.data_size(&c);
            check_range(F, "public key", pk, 32, size)?;
            check_range(F, "message", m, len_of(ml), size)?;
            check_range(F, "signature", sig, 64, size)?;
            let extra = c.data().prices.ed25519_verify;
            charge_inputs(&mut c, len_of(ml) + 96)?;
            charge(&mut c, extra)?;
            let (mem, state) = memory.data_and_store_mut(&mut c);
            let mut public_key = [0u8; 32];
            public_key.copy_from_slice(slice(mem, F, pk, 32)?);
            let mut signature = [0u8; 64];
            signature.copy_from_slice(slice(mem, F, sig, 64)?);
            let message = slice(mem, F, m, len_of(ml))?;
            Ok(i32::from(state.host.ed25519_verify(
                &public_key,
                message,
                &signature,
            )))
        },
    )?;
    Ok(())
}

/// Runs one host function that returns a packed result: checks and charges
/// the input ranges, runs `f`, stores its reply for `take_result` and
/// charges it.
fn call<F>(
    c: &mut Ctx<'_>,
    function: &'static str,
    inputs: &[(&'static str, i32, i32)],
    f: F,
) -> wasmtime::Result<i64>
where
    F: FnOnce(&[u8], &mut HostState) -> Result<Reply, Fault>,
{
    let memory = guest_memory(c, function)?;
    let size = memory.data_size(&*c);
    let mut bytes_in = 0u64;
    for &(what, ptr, len) in inputs {
        check_range(function, what, ptr, len_of(len), size)?;
        bytes_in += len_of(len);
    }
    charge_inputs(c, bytes_in)?;
    let (mem, state) = memory.data_and_store_mut(&mut *c);
    let (tag, bytes) = match f(mem, state) {
        Ok(Reply::Value(v)) => (RetTag::Present, v),
        Ok(Reply::Absent) => (RetTag::Absent, Vec::new()),
        Ok(Reply::Done) => (RetTag::Present, Vec::new()),
        Err(Fault::Host(e)) => (RetTag::Error(e.code), e.message.into_bytes()),
        Err(Fault::Trap(e)) => return Err(e),
    };
    let (tag, bytes) = cap_result(function, tag, bytes, state.max_result_bytes);
    let len = bytes.len() as u64;
    state.result = bytes;
    let per_byte = state.prices.per_byte;
    charge(c, per_byte.saturating_mul(len))?;
    Ok(pack_ret(tag, u32::try_from(len).unwrap_or(u32::MAX)))
}

/// Replaces a result over `max_bytes` with a `LimitExceeded` error, and
/// shortens an error message over it.
fn cap_result(
    function: &str,
    tag: RetTag,
    mut bytes: Vec<u8>,
    max_bytes: u32,
) -> (RetTag, Vec<u8>) {
    let max = max_bytes as usize;
    if bytes.len() <= max {
        return (tag, bytes);
    }
    if let RetTag::Error(_) = tag {
        bytes.truncate(max);
        return (tag, bytes);
    }
    let mut message = format!(
        "{function}: result of {} bytes is over the limit of {max} bytes",
        bytes.len()
    )
    .into_bytes();
    message.truncate(max);
    (RetTag::Error(ErrorCode::LimitExceeded), message)
}

fn guest_memory(c: &mut Ctx<'_>, function: &str) -> wasmtime::Result<Memory> {
    if let Some(memory) = c.data().memory {
        return Ok(memory);
    }
    c.get_export(weft_abi::exports::MEMORY)
        .and_then(Extern::into_memory)
        .ok_or_else(|| {
            trap(format!(
                "host function `{function}`: the module exports no memory"
            ))
        })
}

/// A length argument, read as unsigned.
fn len_of(len: i32) -> u64 {
    u64::from(len as u32)
}

fn check_range(
    function: &str,
    what: &str,
    ptr: i32,
    len: u64,
    memory_bytes: usize,
) -> wasmtime::Result<()> {
    let start = u64::from(ptr as u32);
    let end = start + len;
    if end > memory_bytes as u64 {
        return Err(trap(format!(
            "host function `{function}`: {what} at {start:#x}..{end:#x} is outside guest memory ({memory_bytes} bytes)"
        )));
    }
    Ok(())
}

fn bounds(ptr: i32, len: u64) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(ptr as u32).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    Some(start..end)
}

fn slice<'m>(mem: &'m [u8], function: &str, ptr: i32, len: u64) -> wasmtime::Result<&'m [u8]> {
    bounds(ptr, len).and_then(|r| mem.get(r)).ok_or_else(|| {
        trap(format!(
            "host function `{function}`: range outside guest memory"
        ))
    })
}

fn slice_mut<'m>(
    mem: &'m mut [u8],
    function: &str,
    ptr: i32,
    len: u64,
) -> wasmtime::Result<&'m mut [u8]> {
    bounds(ptr, len)
        .and_then(|r| mem.get_mut(r))
        .ok_or_else(|| {
            trap(format!(
                "host function `{function}`: range outside guest memory"
            ))
        })
}

/// Guest bytes already bounds-checked by [`call`] (checked again, never panics).
fn read(mem: &[u8], ptr: i32, len: i32) -> Result<&[u8], Fault> {
    slice(mem, "read", ptr, len_of(len)).map_err(Fault::Trap)
}

/// A UTF-8 argument; other bytes are an `InvalidArgument` error for the guest.
fn read_str<'m>(mem: &'m [u8], ptr: i32, len: i32, what: &str) -> Result<&'m str, Fault> {
    std::str::from_utf8(read(mem, ptr, len)?).map_err(|_| {
        Fault::Host(HostError::new(
            ErrorCode::InvalidArgument,
            format!("{what} is not valid UTF-8"),
        ))
    })
}

/// Charges a host call reading `bytes_in` bytes.
fn charge_inputs(c: &mut Ctx<'_>, bytes_in: u64) -> wasmtime::Result<()> {
    let prices = c.data().prices;
    charge(
        c,
        prices
            .call
            .saturating_add(prices.per_byte.saturating_mul(bytes_in)),
    )
}

/// Takes `fuel` from the store; with too little left, empties it and traps
/// as running out of fuel.
fn charge(c: &mut Ctx<'_>, fuel: u64) -> wasmtime::Result<()> {
    let left = c.get_fuel()?;
    match left.checked_sub(fuel) {
        Some(rest) => c.set_fuel(rest),
        None => {
            c.set_fuel(0)?;
            Err(wasmtime::Error::new(Trap::OutOfFuel))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_over_the_limit_become_limit_errors() {
        let (tag, bytes) = cap_result("state_get", RetTag::Present, vec![1; 10], 10);
        assert_eq!((tag, bytes.len()), (RetTag::Present, 10));
        let (tag, bytes) = cap_result("state_get", RetTag::Present, vec![1; 11], 100);
        assert_eq!((tag, bytes.len()), (RetTag::Present, 11));
        let (tag, bytes) = cap_result("state_get", RetTag::Present, vec![1; 1000], 100);
        assert_eq!(tag, RetTag::Error(ErrorCode::LimitExceeded));
        assert!(String::from_utf8(bytes).unwrap().contains("1000 bytes"));
        let error = RetTag::Error(ErrorCode::Internal);
        let (tag, bytes) = cap_result("state_get", error, vec![b'x'; 1000], 100);
        assert_eq!((tag, bytes.len()), (error, 100));
    }

    #[test]
    fn ranges_are_checked_without_overflow() {
        assert!(check_range("f", "key", 0, 65_536, 65_536).is_ok());
        assert!(check_range("f", "key", 1, 65_536, 65_536).is_err());
        assert!(check_range("f", "key", -1, u64::from(u32::MAX), 65_536).is_err());
        let err = check_range("state_get", "key", -65_536, 8, 65_536).unwrap_err();
        assert_eq!(
            err.to_string(),
            "host function `state_get`: key at 0xffff0000..0xffff0008 is outside guest memory (65536 bytes)"
        );
        assert_eq!(bounds(-1, 1), Some(0xffff_ffff..0x1_0000_0000));
    }
}
