//! [`Rejection`]: one reason deploy refuses a module, readable by the deployer.

use std::fmt;

use weft_abi::imports;

/// One reason a module is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The module is larger than `max_module_bytes`.
    TooLarge {
        /// Its size.
        size_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// The bytes are not a Wasm module (bad header, truncated, malformed).
    NotWasm {
        /// What the parser said.
        reason: String,
    },
    /// The module is malformed or uses a feature outside the pinned list.
    Invalid {
        /// What the validator said.
        reason: String,
    },
    /// There is no `weft_abi` custom section.
    MissingAbiSection,
    /// The `weft_abi` section is not one 4-byte version, or appears twice.
    BadAbiSection {
        /// What is wrong with it.
        reason: String,
    },
    /// The module was built for another ABI version.
    AbiVersion {
        /// The version it declares.
        found: u32,
        /// The version this node speaks.
        expected: u32,
    },
    /// The `weft_contract` section does not decode.
    BadContractSection {
        /// What is wrong with it.
        reason: String,
    },
    /// A required export is missing.
    MissingExport {
        /// The export's name.
        name: &'static str,
    },
    /// A required export has the wrong kind or signature.
    ExportType {
        /// The export's name.
        name: &'static str,
        /// What it must be.
        expected: String,
        /// What it is.
        found: String,
    },
    /// An import from a module other than `weft` (WASI, `env`, …).
    ForeignImport {
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
    },
    /// An import from `weft` that the host does not provide.
    UnknownImport {
        /// The import's name.
        name: String,
    },
    /// A host function imported with another signature than the host's.
    ImportSignature {
        /// The function's name.
        name: String,
        /// The host's signature.
        expected: String,
        /// The module's.
        found: String,
    },
    /// An import of a memory, table, global or tag: only functions are provided.
    ImportKind {
        /// The import's name.
        name: String,
        /// Its kind.
        kind: &'static str,
    },
    /// The memory's initial size is over `max_memory_bytes`.
    MemoryTooLarge {
        /// The initial size.
        initial_bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// The memory's declared maximum is over `max_memory_bytes`.
    MemoryMaximumTooLarge {
        /// The declared maximum.
        maximum_bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// More than one memory.
    TooManyMemories {
        /// How many the module defines.
        count: u32,
    },
    /// A shared memory (threads).
    SharedMemory,
    /// A 64-bit memory.
    Memory64,
    /// A table larger than `max_table_elements`.
    TableTooLarge {
        /// Its initial size.
        initial_elements: u64,
        /// The limit.
        max_elements: u32,
    },
    /// The engine could not compile or link the module.
    Compile {
        /// What wasmtime said.
        reason: String,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::TooLarge {
                size_bytes,
                max_bytes,
            } => write!(
                f,
                "module is {size_bytes} bytes, over the limit of {max_bytes} bytes"
            ),
            Rejection::NotWasm { reason } => write!(f, "not a Wasm module: {reason}"),
            Rejection::Invalid { reason } => write!(f, "invalid Wasm: {reason}"),
            Rejection::MissingAbiSection => write!(
                f,
                "no `{}` custom section: build the chaincode with weft-chaincode",
                weft_abi::exports::ABI_SECTION
            ),
            Rejection::BadAbiSection { reason } => {
                write!(
                    f,
                    "bad `{}` section: {reason}",
                    weft_abi::exports::ABI_SECTION
                )
            }
            Rejection::AbiVersion { found, expected } => write!(
                f,
                "module targets ABI version {found}, this node supports {expected}: rebuild it with a matching weft-chaincode"
            ),
            Rejection::BadContractSection { reason } => write!(
                f,
                "bad `{}` section: {reason}",
                weft_abi::exports::CONTRACT_SECTION
            ),
            Rejection::MissingExport { name } => write!(f, "missing export `{name}`"),
            Rejection::ExportType {
                name,
                expected,
                found,
            } => write!(f, "export `{name}` must be {expected}, found {found}"),
            Rejection::ForeignImport { module, name } => write!(
                f,
                "import `{module}::{name}` is not allowed: chaincode may import only from module `{}`",
                imports::MODULE
            ),
            Rejection::UnknownImport { name } => write!(
                f,
                "import `{}::{name}` is not a host function",
                imports::MODULE
            ),
            Rejection::ImportSignature {
                name,
                expected,
                found,
            } => write!(
                f,
                "import `{}::{name}` must have type {expected}, found {found}",
                imports::MODULE
            ),
            Rejection::ImportKind { name, kind } => write!(
                f,
                "import `{name}` is a {kind}: only host functions can be imported"
            ),
            Rejection::MemoryTooLarge {
                initial_bytes,
                max_bytes,
            } => write!(
                f,
                "initial memory of {initial_bytes} bytes is over the limit of {max_bytes} bytes"
            ),
            Rejection::MemoryMaximumTooLarge {
                maximum_bytes,
                max_bytes,
            } => write!(
                f,
                "declared memory maximum of {maximum_bytes} bytes is over the limit of {max_bytes} bytes"
            ),
            Rejection::TooManyMemories { count } => {
                write!(f, "{count} memories defined, at most one is allowed")
            }
            Rejection::SharedMemory => write!(f, "shared memory is not allowed"),
            Rejection::Memory64 => write!(f, "64-bit memory is not allowed"),
            Rejection::TableTooLarge {
                initial_elements,
                max_elements,
            } => write!(
                f,
                "table of {initial_elements} elements is over the limit of {max_elements}"
            ),
            Rejection::Compile { reason } => write!(f, "cannot compile: {reason}"),
        }
    }
}

impl std::error::Error for Rejection {}
