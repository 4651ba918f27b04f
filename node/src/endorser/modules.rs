//! Getting a defined chaincode's module into the runtime's cache.

use weft_types::ChaincodeDefinition;

use crate::ledger::Snapshot;
use crate::runtime::Runtime;

use super::error::EndorseError;

/// Makes sure the module of `def` is prepared in `runtime`: a cache lookup
/// when it is, else its bytes are read from `snapshot` (the ledger stores
/// every defined module by hash) and compiled once. Compiling happens under
/// the snapshot, so it holds commits back the first time a module is used
/// after a restart or an upgrade; every later call finds it cached.
pub(crate) fn ensure_prepared(
    runtime: &Runtime,
    snapshot: &Snapshot,
    def: &ChaincodeDefinition,
) -> Result<(), EndorseError> {
    let hash = def.module_hash;
    if runtime.is_prepared(&hash) {
        return Ok(());
    }
    let missing = || EndorseError::ModuleMissing {
        chaincode: def.name.clone(),
        hash,
    };
    let bytes = snapshot.module(&hash)?.ok_or_else(missing)?;
    let prepared = runtime
        .prepare(&bytes)
        .map_err(|source| EndorseError::ModuleUnusable {
            chaincode: def.name.clone(),
            hash,
            source,
        })?;
    // The ledger stores modules under their own hash; anything else is a
    // damaged store, and the module the definition names is not there.
    if prepared.hash != hash {
        return Err(missing());
    }
    Ok(())
}
