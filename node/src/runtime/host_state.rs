//! What a store carries while a call runs: the [`Host`] (the transaction
//! simulator), the pending result buffer, the resource limiter, and the
//! fuel prices of host calls.

use std::any::Any;
use std::fmt;

use wasmtime::{Memory, ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use weft_abi::Host;

use super::config::RuntimeConfig;

/// A [`Host`] the runtime can run a call against and hand back afterwards:
/// any `'static` host. [`Execution::host`](super::Execution::host) returns it
/// boxed; upcast to `Box<dyn Any>` and downcast to get the concrete simulator
/// (and its recorded rw-set) back.
pub trait RuntimeHost: Host + Any {}

impl<T: Host + Any> RuntimeHost for T {}

/// The data of one call's `Store`: the host the imports forward to, and the
/// state the imports need between calls (the result waiting for
/// `take_result`).
pub struct HostState {
    pub(super) host: Box<dyn RuntimeHost>,
    /// Bytes waiting for `take_result`; replaced by every host call.
    pub(super) result: Vec<u8>,
    pub(super) limits: GuestLimits,
    /// The instance's exported memory, once instantiated.
    pub(super) memory: Option<Memory>,
    pub(super) max_result_bytes: u32,
    pub(super) prices: FuelPrices,
}

impl fmt::Debug for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostState")
            .field("result_bytes", &self.result.len())
            .field("memory_limit_hit", &self.limits.memory_limit_hit)
            .finish_non_exhaustive()
    }
}

impl HostState {
    /// A state for one call of a module under `config`, forwarding to `host`.
    pub fn new(host: Box<dyn RuntimeHost>, config: &RuntimeConfig) -> Self {
        let max_memory_bytes = usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX);
        HostState {
            host,
            result: Vec::new(),
            limits: GuestLimits {
                inner: StoreLimitsBuilder::new()
                    .memory_size(max_memory_bytes)
                    .table_elements(config.max_table_elements as usize)
                    .instances(1)
                    .tables(1)
                    .memories(1)
                    .build(),
                max_memory_bytes,
                memory_limit_hit: false,
            },
            memory: None,
            max_result_bytes: config.max_result_bytes,
            prices: FuelPrices::from(config),
        }
    }

    /// Whether the guest tried to grow its memory past the limit.
    pub fn memory_limit_hit(&self) -> bool {
        self.limits.memory_limit_hit
    }

    /// Gives the host back (with whatever it recorded).
    pub fn into_host(self) -> Box<dyn RuntimeHost> {
        self.host
    }
}

/// What host calls cost in fuel (see [`RuntimeConfig::host_call_fuel`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct FuelPrices {
    pub(super) call: u64,
    pub(super) per_byte: u64,
    pub(super) ed25519_verify: u64,
}

impl From<&RuntimeConfig> for FuelPrices {
    fn from(c: &RuntimeConfig) -> Self {
        FuelPrices {
            call: c.host_call_fuel,
            per_byte: c.host_fuel_per_byte,
            ed25519_verify: c.ed25519_verify_fuel,
        }
    }
}

/// wasmtime's [`StoreLimits`], plus a record of the memory limit being hit:
/// growing past it traps (rather than returning -1, which a Rust guest
/// turns into an abort anyway), and the trap is reported as a memory limit.
pub(super) struct GuestLimits {
    inner: StoreLimits,
    max_memory_bytes: usize,
    pub(super) memory_limit_hit: bool,
}

/// The error a `memory.grow` past the limit traps with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MemoryLimitExceeded {
    pub(super) desired_bytes: usize,
    pub(super) limit_bytes: usize,
}

impl fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory would grow to {} bytes, over the limit of {} bytes",
            self.desired_bytes, self.limit_bytes
        )
    }
}

impl std::error::Error for MemoryLimitExceeded {}

impl ResourceLimiter for GuestLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            self.memory_limit_hit = true;
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                desired_bytes: desired,
                limit_bytes: self.max_memory_bytes,
            }));
        }
        self.inner.memory_growing(current, desired, maximum)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
