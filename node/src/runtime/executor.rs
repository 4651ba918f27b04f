//! One invocation: a fresh store and instance, the invocation written into
//! guest memory, `weft_invoke`, the [`Outcome`] read back.

use wasmtime::{Memory, Store};
use weft_abi::exports::{ALLOC, INVOKE, MEMORY, unpack_buffer};
use weft_abi::{Invocation, Outcome};
use weft_types::Digest;

use super::error::RuntimeError;
use super::host_state::{HostState, RuntimeHost};
use super::runtime::Runtime;

/// What a successful call returns.
pub struct Execution {
    /// The guest's outcome: a result, or its own error (status 400).
    pub outcome: Outcome,
    /// Fuel the call used, host-call charges included.
    pub fuel_used: u64,
    /// The host the call ran against, given back so the caller can take the
    /// simulator's results (the rw-set, the event).
    pub host: Box<dyn RuntimeHost>,
}

impl std::fmt::Debug for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Execution")
            .field("outcome", &self.outcome)
            .field("fuel_used", &self.fuel_used)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Runs `invocation` in a fresh instance of the prepared module
    /// `module_hash`, against `host`, with `fuel` (usually
    /// [`super::RuntimeConfig::fuel_per_call`]). Nothing survives the call
    /// but what `host` recorded.
    pub fn invoke(
        &self,
        module_hash: &Digest,
        host: Box<dyn RuntimeHost>,
        invocation: &Invocation,
        fuel: u64,
    ) -> Result<Execution, RuntimeError> {
        let module = self.cached(module_hash)?;
        let mut store = self.new_store(host, fuel)?;
        let instance = module
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.instantiate_error(&e, &store, fuel))?;
        // Validation checked the exports; a failure here is a bug, reported as bad output.
        let missing = |what: &str| RuntimeError::BadOutput {
            reason: format!("export `{what}` is missing or has the wrong type"),
        };
        let memory = instance
            .get_memory(&mut store, MEMORY)
            .ok_or_else(|| missing(MEMORY))?;
        store.data_mut().memory = Some(memory);
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, ALLOC)
            .map_err(|_| missing(ALLOC))?;
        let run = instance
            .get_typed_func::<(i32, i32), i64>(&mut store, INVOKE)
            .map_err(|_| missing(INVOKE))?;

        let input = invocation.encode();
        let input_len = i32::try_from(input.len()).map_err(|_| RuntimeError::BadOutput {
            reason: format!(
                "invocation of {} bytes does not fit in guest memory",
                input.len()
            ),
        })?;
        let ptr = alloc
            .call(&mut store, input_len)
            .map_err(|e| self.execution_error(&e, &store, fuel))?;
        memory
            .write(&mut store, ptr as u32 as usize, &input)
            .map_err(|_| RuntimeError::BadOutput {
                reason: format!(
                    "`{ALLOC}({input_len})` returned {:#x}, outside guest memory",
                    ptr as u32
                ),
            })?;
        let packed = run
            .call(&mut store, (ptr, input_len))
            .map_err(|e| self.execution_error(&e, &store, fuel))?;
        let outcome = self.read_outcome(&store, memory, packed as u64)?;
        let fuel_used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        Ok(Execution {
            outcome,
            fuel_used,
            host: store.into_data().into_host(),
        })
    }

    fn read_outcome(
        &self,
        store: &Store<HostState>,
        memory: Memory,
        packed: u64,
    ) -> Result<Outcome, RuntimeError> {
        let (ptr, len) = unpack_buffer(packed);
        if len > self.config.max_result_bytes {
            return Err(RuntimeError::BadOutput {
                reason: format!(
                    "outcome of {len} bytes is over the limit of {} bytes",
                    self.config.max_result_bytes
                ),
            });
        }
        let data = memory.data(store);
        let start = ptr as usize;
        let bytes = start
            .checked_add(len as usize)
            .and_then(|end| data.get(start..end))
            .ok_or_else(|| RuntimeError::BadOutput {
                reason: format!(
                    "outcome at {ptr:#x}+{len} is outside guest memory ({} bytes)",
                    data.len()
                ),
            })?;
        Outcome::decode(bytes).map_err(|e| RuntimeError::BadOutput {
            reason: e.to_string(),
        })
    }
}
