//! The runtime's limits and the deterministic wasmtime [`Engine`] built from them.
//!
//! Every peer of a channel must run chaincode with the same configuration:
//! fuel, memory and stack limits decide whether a call succeeds, so two
//! peers with different limits could endorse different results.

use wasmparser::WasmFeatures;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Strategy,
};

/// The Wasm features a chaincode module may use, and the only ones the
/// engine enables.
///
/// Enabled: what rustc's `wasm32-unknown-unknown` target emits by default
/// today — floats, mutable globals, sign extension, non-trapping
/// float-to-int, bulk memory, multi-value and reference types (rustc uses
/// the latter only for the table-index encoding of `call_indirect`; GC
/// reference types such as `externref` stay off, as `gc_types` is not set).
///
/// Disabled, each for a reason:
/// - threads and shared memory: no concurrency inside a call, ever;
/// - relaxed SIMD: its results are implementation-defined (non-deterministic);
/// - SIMD: deterministic in principle, but rustc emits it only with
///   `-C target-feature=+simd128`, and leaving it out keeps the surface of
///   NaN-producing vector operations out of consensus-critical code;
/// - memory64, multi-memory: one 32-bit memory is the ABI;
/// - GC, function references, exceptions, tail calls, stack switching,
///   extended-const, wide arithmetic, custom page sizes, the component model:
///   not emitted by rustc for this target, and each is engine surface we do
///   not need.
pub const PINNED_FEATURES: WasmFeatures = WasmFeatures::FLOATS
    .union(WasmFeatures::MUTABLE_GLOBAL)
    .union(WasmFeatures::SIGN_EXTENSION)
    .union(WasmFeatures::SATURATING_FLOAT_TO_INT)
    .union(WasmFeatures::BULK_MEMORY)
    .union(WasmFeatures::MULTI_VALUE)
    .union(WasmFeatures::REFERENCE_TYPES);

/// Limits for running chaincode. Units are in the names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Fuel one invocation gets (the caller passes it to
    /// [`crate::runtime::Runtime::invoke`]); roughly one unit per Wasm
    /// instruction, plus the host-call charges below.
    pub fuel_per_call: u64,
    /// The largest linear memory an instance may have.
    pub max_memory_bytes: u64,
    /// The most native stack Wasm code may use; deeper recursion traps with
    /// a stack overflow. The calling thread's stack must be larger.
    pub max_stack_bytes: usize,
    /// The largest module accepted at deploy.
    pub max_module_bytes: usize,
    /// How many instances may exist at once (slots of the pooling allocator);
    /// an invocation beyond that fails to instantiate. Each slot reserves
    /// address space for a full memory (wasmtime's default, 4 GiB on 64-bit
    /// hosts, so bounds checks are free), not physical memory.
    pub max_instances: u32,
    /// The largest table (in elements) a module may declare or grow to.
    pub max_table_elements: u32,
    /// The largest byte string crossing the boundary in one piece: a host
    /// function's result, or the [`weft_abi::Outcome`] a call returns.
    pub max_result_bytes: u32,
    /// How many compiled modules the cache keeps; the least recently used
    /// goes first.
    pub max_cached_modules: usize,
    /// Fuel charged for every host-function call, before any byte is copied.
    pub host_call_fuel: u64,
    /// Fuel charged per byte a host function reads from or writes to guest
    /// memory (keys, values, results, hashed data).
    pub host_fuel_per_byte: u64,
    /// Fuel charged for one `ed25519_verify`, on top of the per-byte charge
    /// (a verification costs about as much as this many Wasm instructions).
    pub ed25519_verify_fuel: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            fuel_per_call: 100_000_000,
            max_memory_bytes: 64 * 1024 * 1024,
            max_stack_bytes: 512 * 1024,
            max_module_bytes: 4 * 1024 * 1024,
            max_instances: 64,
            max_table_elements: 10_000,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
            max_cached_modules: 64,
            host_call_fuel: 1_000,
            host_fuel_per_byte: 1,
            ed25519_verify_fuel: 100_000,
        }
    }
}

/// The default of [`RuntimeConfig::max_result_bytes`]: above the largest
/// result the simulator produces (a range batch may pass its byte budget by
/// one key and value, plus framing), so a result is never refused in Wasm
/// that `MockContext` would return natively.
const DEFAULT_MAX_RESULT_BYTES: u32 = 8 * 1024 * 1024;

const _: () = {
    use weft_chaincode::sim::{MAX_BATCH_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES, RANGE_BATCH};
    let largest_batch = MAX_BATCH_BYTES + MAX_KEY_BYTES + MAX_VALUE_BYTES + 16 * (RANGE_BATCH + 1);
    assert!(largest_batch <= DEFAULT_MAX_RESULT_BYTES as usize);
};

/// Bytes of each pooled memory reset in place between calls (see `pooling`).
const KEEP_RESIDENT_BYTES: usize = 256 * 1024;

/// Bytes per table element in the pool (a function reference).
const TABLE_ELEMENT_BYTES: usize = 8;

impl RuntimeConfig {
    /// The wasmtime configuration: Cranelift, canonical NaNs, fuel, a stack
    /// limit, exactly [`PINNED_FEATURES`], no WASI (nothing is linked but the
    /// `weft` imports, so there is no clock or randomness), and the pooling
    /// allocator sized by these limits.
    pub fn wasmtime_config(&self) -> Config {
        let mut config = Config::new();
        config
            .strategy(Strategy::Cranelift)
            .cranelift_opt_level(OptLevel::Speed)
            .cranelift_nan_canonicalization(true)
            .consume_fuel(true)
            .max_wasm_stack(self.max_stack_bytes)
            // Traps report a message, not a backtrace: cheaper and the same on every peer.
            .wasm_backtrace_max_frames(None)
            .wasm_features(WasmFeatures::all(), false)
            .wasm_features(PINNED_FEATURES, true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(self.pooling()));
        config
    }

    fn pooling(&self) -> PoolingAllocationConfig {
        let memory_bytes = usize::try_from(self.max_memory_bytes).unwrap_or(usize::MAX);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(self.max_instances)
            .total_memories(self.max_instances)
            .total_tables(self.max_instances)
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            .table_elements(self.max_table_elements as usize)
            .max_memory_size(memory_bytes)
            // Every call gets a recycled slot. Resetting the first 256 KiB with
            // memset instead of unmapping them saves the page faults a fresh
            // instance would take on its stack, data and first heap pages
            // (chaincode is linked with a 64 KiB stack; see .cargo/config.toml).
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            // The same for the table: zeroing it in place instead of an
            // madvise per call, which on 2 cores made every call interrupt
            // the other core (endorsing on 2 threads was slower than on 1).
            .table_keep_resident(self.max_table_elements as usize * TABLE_ELEMENT_BYTES);
        pool
    }

    /// Builds the engine for [`Self::wasmtime_config`].
    pub fn engine(&self) -> Result<Engine, wasmtime::Error> {
        Engine::new(&self.wasmtime_config())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_engine_builds() {
        let config = RuntimeConfig::default();
        assert!(config.engine().is_ok());
    }

    #[test]
    fn pinned_features_exclude_nondeterminism() {
        for off in [
            WasmFeatures::THREADS,
            WasmFeatures::RELAXED_SIMD,
            WasmFeatures::SIMD,
            WasmFeatures::MEMORY64,
            WasmFeatures::MULTI_MEMORY,
            WasmFeatures::GC,
            WasmFeatures::GC_TYPES,
            WasmFeatures::EXCEPTIONS,
            WasmFeatures::COMPONENT_MODEL,
        ] {
            assert!(!PINNED_FEATURES.intersects(off), "{off:?}");
        }
    }
}
