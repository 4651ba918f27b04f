//! [`Runtime`]: the engine, the linker with every host function, and the
//! module cache.

use std::fmt;
use std::sync::Arc;

use wasmtime::{Engine, Linker, Module, Store};

use weft_types::Digest;

use super::cache::{CachedModule, ModuleCache};
use super::config::RuntimeConfig;
use super::error::{RuntimeError, execution_error, is_execution_error};
use super::host_fns::define_imports;
use super::host_state::{HostState, RuntimeHost};
use super::rejection::Rejection;
use super::validate::{ModuleInfo, validate_module};

/// Runs chaincode modules. Cheap to share (`&Runtime` is all a call needs)
/// and safe to use from many threads at once.
pub struct Runtime {
    pub(super) config: RuntimeConfig,
    pub(super) engine: Engine,
    linker: Linker<HostState>,
    pub(super) cache: ModuleCache,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .field("cached_modules", &self.cache.len())
            .finish_non_exhaustive()
    }
}

/// A module ready to run: its hash (the key for [`Runtime::invoke`]) and
/// what validation learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// sha3-256 of the module bytes.
    pub hash: Digest,
    /// The module's ABI version, transactions and size.
    pub info: ModuleInfo,
}

impl Runtime {
    /// A runtime with `config`'s limits and an empty cache.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine_error = |e: wasmtime::Error| RuntimeError::Engine {
            message: format!("{e:#}"),
        };
        let engine = config.engine().map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        define_imports(&mut linker).map_err(engine_error)?;
        let cache = ModuleCache::new(config.max_cached_modules);
        Ok(Runtime {
            config,
            engine,
            linker,
            cache,
        })
    }

    /// The limits this runtime enforces.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Validates, compiles and links `bytes`, once per module hash: a module
    /// already cached is returned without any work but hashing.
    pub fn prepare(&self, bytes: &[u8]) -> Result<Prepared, RuntimeError> {
        if bytes.len() <= self.config.max_module_bytes {
            let hash = weft_types::sha3_256(bytes);
            if let Some(cached) = self.cache.get(&hash) {
                return Ok(Prepared {
                    hash,
                    info: cached.info.clone(),
                });
            }
        }
        let info = validate_module(bytes, &self.config).map_err(RuntimeError::BadModule)?;
        let compile_error = |e: wasmtime::Error| {
            RuntimeError::BadModule(vec![Rejection::Compile {
                reason: format!("{e:#}"),
            }])
        };
        let module = Module::new(&self.engine, bytes).map_err(compile_error)?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(compile_error)?;
        let hash = info.hash;
        let cached = self.cache.insert(hash, CachedModule::new(pre, info));
        Ok(Prepared {
            hash,
            info: cached.info.clone(),
        })
    }

    /// Whether the module with this hash is cached.
    pub fn is_prepared(&self, hash: &Digest) -> bool {
        self.cache.get(hash).is_some()
    }

    /// What validation learned about a cached module.
    pub fn module_info(&self, hash: &Digest) -> Option<ModuleInfo> {
        self.cache.get(hash).map(|m| m.info.clone())
    }

    /// Drops a module from the cache (a chaincode upgraded away); returns
    /// whether it was there.
    pub fn evict(&self, hash: &Digest) -> bool {
        self.cache.remove(hash)
    }

    /// How many modules this runtime has compiled since it was created.
    pub fn compilations(&self) -> u64 {
        self.cache.compilations()
    }

    /// How many modules the cache holds.
    pub fn cached_modules(&self) -> usize {
        self.cache.len()
    }

    /// Creates a fresh store and instance of a cached module, then drops
    /// them, without calling anything: what every invocation pays before
    /// the guest runs (the benches measure it).
    pub fn instantiate_only(
        &self,
        hash: &Digest,
        host: Box<dyn RuntimeHost>,
    ) -> Result<(), RuntimeError> {
        let module = self.cached(hash)?;
        let mut store = self.new_store(host, self.config.fuel_per_call)?;
        module
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.instantiate_error(&e, &store, self.config.fuel_per_call))?;
        Ok(())
    }

    pub(super) fn cached(&self, hash: &Digest) -> Result<Arc<CachedModule>, RuntimeError> {
        self.cache
            .get(hash)
            .ok_or(RuntimeError::NotPrepared { hash: *hash })
    }

    /// A store for one call, with `fuel` and the memory limiter in place.
    pub(super) fn new_store(
        &self,
        host: Box<dyn RuntimeHost>,
        fuel: u64,
    ) -> Result<Store<HostState>, RuntimeError> {
        let mut store = Store::new(&self.engine, HostState::new(host, &self.config));
        store.limiter(|state| &mut state.limits);
        store.set_fuel(fuel).map_err(|e| RuntimeError::Engine {
            message: format!("{e:#}"),
        })?;
        Ok(store)
    }

    /// The error for a failed instantiation: the guest's start function
    /// failing, or no slot free.
    pub(super) fn instantiate_error(
        &self,
        err: &wasmtime::Error,
        store: &Store<HostState>,
        fuel: u64,
    ) -> RuntimeError {
        if is_execution_error(err, store.data()) {
            self.execution_error(err, store, fuel)
        } else {
            RuntimeError::Instantiate {
                message: format!("{err:#}"),
            }
        }
    }

    pub(super) fn execution_error(
        &self,
        err: &wasmtime::Error,
        store: &Store<HostState>,
        fuel: u64,
    ) -> RuntimeError {
        execution_error(err, store.data(), fuel, self.config.max_memory_bytes)
    }
}
