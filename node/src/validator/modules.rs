//! [`ModuleCheck`]: how stage 1 decides whether a lifecycle transaction's
//! module may run on this channel.

use crate::runtime::{Runtime, RuntimeConfig, validate_module};

/// Checks a chaincode module carried by a lifecycle transaction. An error
/// makes the transaction INVALID_LIFECYCLE_TRANSACTION, with the reason in
/// its detail.
pub trait ModuleCheck: Sync {
    /// `Ok` if `module` may be deployed; otherwise why not, in words.
    fn check(&self, module: &[u8]) -> Result<(), String>;
}

/// Validates modules without compiling them: exports, imports, size and
/// memory limits, as [`validate_module`] checks them under a runtime
/// configuration.
#[derive(Debug, Clone, Default)]
pub struct StaticModuleCheck(pub RuntimeConfig);

impl ModuleCheck for StaticModuleCheck {
    fn check(&self, module: &[u8]) -> Result<(), String> {
        validate_module(module, &self.0)
            .map(drop)
            .map_err(|rejections| join(&rejections))
    }
}

/// A peer's runtime validates and compiles the module, and keeps it cached,
/// so the definition is ready to run the moment its block commits.
impl ModuleCheck for Runtime {
    fn check(&self, module: &[u8]) -> Result<(), String> {
        self.prepare(module).map(drop).map_err(|e| e.to_string())
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
