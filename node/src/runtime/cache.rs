//! The compiled-module cache: one [`InstancePre`] per module hash, so a
//! module is compiled and linked once and every call only instantiates it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use wasmtime::InstancePre;
use weft_types::Digest;

use super::host_state::HostState;
use super::validate::ModuleInfo;

/// A validated, compiled and linked module.
pub(super) struct CachedModule {
    pub(super) pre: InstancePre<HostState>,
    pub(super) info: ModuleInfo,
    last_used: AtomicU64,
}

impl CachedModule {
    pub(super) fn new(pre: InstancePre<HostState>, info: ModuleInfo) -> Self {
        CachedModule {
            pre,
            info,
            last_used: AtomicU64::new(0),
        }
    }
}

/// Modules by hash, at most `capacity`; the least recently used is evicted.
pub(super) struct ModuleCache {
    entries: Mutex<HashMap<Digest, Arc<CachedModule>>>,
    capacity: usize,
    clock: AtomicU64,
    compilations: AtomicU64,
}

impl ModuleCache {
    pub(super) fn new(capacity: usize) -> Self {
        ModuleCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            clock: AtomicU64::new(0),
            compilations: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Digest, Arc<CachedModule>>> {
        // The map is never left half-updated, so a panic elsewhere cannot poison it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn touch(&self, module: &CachedModule) {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        module.last_used.store(now, Ordering::Relaxed);
    }

    /// The module with this hash, if cached.
    pub(super) fn get(&self, hash: &Digest) -> Option<Arc<CachedModule>> {
        let module = self.lock().get(hash).cloned()?;
        self.touch(&module);
        Some(module)
    }

    /// Caches a freshly compiled module. If another thread cached the same
    /// hash meanwhile, keeps (and returns) that one.
    pub(super) fn insert(&self, hash: Digest, module: CachedModule) -> Arc<CachedModule> {
        self.compilations.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.lock();
        if let Some(existing) = entries.get(&hash) {
            return Arc::clone(existing);
        }
        while entries.len() >= self.capacity {
            let oldest = entries
                .iter()
                .min_by_key(|(_, m)| m.last_used.load(Ordering::Relaxed))
                .map(|(h, _)| *h);
            match oldest {
                Some(h) => entries.remove(&h),
                None => break,
            };
        }
        let module = Arc::new(module);
        self.touch(&module);
        entries.insert(hash, Arc::clone(&module));
        module
    }

    pub(super) fn remove(&self, hash: &Digest) -> bool {
        self.lock().remove(hash).is_some()
    }

    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    pub(super) fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }
}
