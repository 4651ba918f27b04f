//! Deploy-time validation of a chaincode module, without running it.
//!
//! [`validate_module`] is a pure function of the bytes and the
//! [`RuntimeConfig`]: it collects every reason to refuse a module, so the
//! deployer sees them all at once.

use wasmparser::{
    CompositeInnerType, ExternalKind, FuncType, Parser, Payload, TypeRef, ValType, Validator,
    WasmFeatures,
};
use weft_abi::exports::{ALLOC, ExportedTx, INVOKE, MEMORY};
use weft_abi::imports::{self, ImportSig};
use weft_types::Digest;

use super::config::{PINNED_FEATURES, RuntimeConfig};
use super::rejection::Rejection;

/// One Wasm page.
const PAGE_BYTES: u64 = 65_536;

/// What deploy learned about a valid module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// sha3-256 of the module bytes: the key the runtime caches it under.
    pub hash: Digest,
    /// The module's size.
    pub size_bytes: usize,
    /// The ABI version the module declares (always [`weft_abi::ABI_VERSION`]
    /// once validated).
    pub abi_version: u32,
    /// The transactions listed in the `weft_contract` section; empty when the
    /// module has no such section.
    pub transactions: Vec<ExportedTx>,
}

/// Checks `bytes` as a chaincode module under `config`'s limits: size, Wasm
/// validity with exactly the pinned features, the ABI section, the required
/// exports, the import allow-list ([`weft_abi::imports::ALL`]) and the
/// memory. Returns every reason to refuse it, or what deploy learned.
pub fn validate_module(bytes: &[u8], config: &RuntimeConfig) -> Result<ModuleInfo, Vec<Rejection>> {
    let mut rejections = Vec::new();
    if bytes.len() > config.max_module_bytes {
        rejections.push(Rejection::TooLarge {
            size_bytes: bytes.len(),
            max_bytes: config.max_module_bytes,
        });
    }
    let scan = match Scan::run(bytes) {
        Ok(scan) => scan,
        Err(reason) => {
            rejections.push(Rejection::NotWasm { reason });
            return Err(rejections);
        }
    };
    if let Err(e) = Validator::new_with_features(PINNED_FEATURES).validate_all(bytes) {
        rejections.push(Rejection::Invalid {
            reason: e.to_string(),
        });
    }
    let abi_version = check_abi_section(&scan, &mut rejections);
    let transactions = match scan.contract_section {
        None => Vec::new(),
        Some(data) => weft_abi::exports::decode_contract(data).unwrap_or_else(|e| {
            rejections.push(Rejection::BadContractSection {
                reason: e.to_string(),
            });
            Vec::new()
        }),
    };
    check_imports(&scan, &mut rejections);
    check_exports(&scan, &mut rejections);
    check_memories(&scan, config, &mut rejections);
    check_tables(&scan, config, &mut rejections);
    if !rejections.is_empty() {
        return Err(rejections);
    }
    Ok(ModuleInfo {
        hash: weft_types::sha3_256(bytes),
        size_bytes: bytes.len(),
        abi_version: abi_version.unwrap_or(weft_abi::ABI_VERSION),
        transactions,
    })
}

/// What one pass over the module's sections found.
#[derive(Default)]
struct Scan<'a> {
    /// Function types by type index (`None` for non-function types).
    types: Vec<Option<FuncType>>,
    /// The type index of every function, imported ones first.
    func_types: Vec<u32>,
    imports: Vec<(&'a str, &'a str, TypeRef)>,
    exports: Vec<(&'a str, ExternalKind, u32)>,
    memories: Vec<wasmparser::MemoryType>,
    tables: Vec<wasmparser::TableType>,
    abi_sections: Vec<&'a [u8]>,
    contract_section: Option<&'a [u8]>,
}

impl<'a> Scan<'a> {
    fn run(bytes: &'a [u8]) -> Result<Self, String> {
        let mut scan = Scan::default();
        let mut parser = Parser::new(0);
        // Parse everything, so a module using a disabled feature is still
        // inspected; the validator reports the feature.
        parser.set_features(WasmFeatures::all());
        for payload in parser.parse_all(bytes) {
            scan.payload(payload.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        }
        Ok(scan)
    }

    fn payload(&mut self, payload: Payload<'a>) -> Result<(), wasmparser::BinaryReaderError> {
        match payload {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group?.into_types() {
                        self.types.push(match sub.composite_type.inner {
                            CompositeInnerType::Func(f) => Some(f),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    if let TypeRef::Func(ty) | TypeRef::FuncExact(ty) = import.ty {
                        self.func_types.push(ty);
                    }
                    if let TypeRef::Memory(m) = import.ty {
                        self.memories.push(m);
                    }
                    self.imports.push((import.module, import.name, import.ty));
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    self.func_types.push(ty?);
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    self.memories.push(memory?);
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    self.tables.push(table?.ty);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    self.exports.push((export.name, export.kind, export.index));
                }
            }
            Payload::CustomSection(reader) => match reader.name() {
                weft_abi::exports::ABI_SECTION => self.abi_sections.push(reader.data()),
                weft_abi::exports::CONTRACT_SECTION => self.contract_section = Some(reader.data()),
                _ => {}
            },
            _ => {}
        }
        Ok(())
    }

    fn func_type(&self, func_index: u32) -> Option<&FuncType> {
        let ty = *self.func_types.get(func_index as usize)?;
        self.types.get(ty as usize)?.as_ref()
    }

    fn type_at(&self, type_index: u32) -> Option<&FuncType> {
        self.types.get(type_index as usize)?.as_ref()
    }
}

fn check_abi_section(scan: &Scan<'_>, out: &mut Vec<Rejection>) -> Option<u32> {
    let data = match scan.abi_sections.as_slice() {
        [] => {
            out.push(Rejection::MissingAbiSection);
            return None;
        }
        [data] => *data,
        more => {
            out.push(Rejection::BadAbiSection {
                reason: format!("it appears {} times", more.len()),
            });
            return None;
        }
    };
    let Ok(bytes) = <[u8; 4]>::try_from(data) else {
        out.push(Rejection::BadAbiSection {
            reason: format!("it holds {} bytes, expected a 4-byte version", data.len()),
        });
        return None;
    };
    let found = u32::from_le_bytes(bytes);
    if found != weft_abi::ABI_VERSION {
        out.push(Rejection::AbiVersion {
            found,
            expected: weft_abi::ABI_VERSION,
        });
        return None;
    }
    Some(found)
}

fn check_imports(scan: &Scan<'_>, out: &mut Vec<Rejection>) {
    for &(module, name, ty) in &scan.imports {
        if module != imports::MODULE {
            out.push(Rejection::ForeignImport {
                module: module.to_string(),
                name: name.to_string(),
            });
            continue;
        }
        let type_index = match ty {
            TypeRef::Func(t) | TypeRef::FuncExact(t) => t,
            TypeRef::Memory(_) => {
                out.push(import_kind(name, "memory"));
                continue;
            }
            TypeRef::Table(_) => {
                out.push(import_kind(name, "table"));
                continue;
            }
            TypeRef::Global(_) => {
                out.push(import_kind(name, "global"));
                continue;
            }
            TypeRef::Tag(_) => {
                out.push(import_kind(name, "tag"));
                continue;
            }
        };
        let Some(sig) = imports::find(name) else {
            out.push(Rejection::UnknownImport {
                name: name.to_string(),
            });
            continue;
        };
        let found = scan.type_at(type_index);
        if !found.is_some_and(|f| matches_sig(f, sig)) {
            out.push(Rejection::ImportSignature {
                name: name.to_string(),
                expected: describe_sig(sig.params, sig.results),
                found: found.map_or_else(|| "a non-function type".to_string(), describe_func),
            });
        }
    }
}

fn import_kind(name: &str, kind: &'static str) -> Rejection {
    Rejection::ImportKind {
        name: format!("{}::{name}", imports::MODULE),
        kind,
    }
}

fn check_exports(scan: &Scan<'_>, out: &mut Vec<Rejection>) {
    let find = |name: &str| scan.exports.iter().find(|e| e.0 == name);
    match find(MEMORY) {
        None => out.push(Rejection::MissingExport { name: MEMORY }),
        Some(&(_, ExternalKind::Memory, _)) => {}
        Some(&(_, kind, _)) => out.push(Rejection::ExportType {
            name: MEMORY,
            expected: "a memory".to_string(),
            found: format!("a {}", kind_name(kind)),
        }),
    }
    use imports::ValType::{I32, I64};
    for (name, params, results) in [
        (ALLOC, &[I32][..], &[I32][..]),
        (INVOKE, &[I32, I32][..], &[I64][..]),
    ] {
        let expected = format!("a function {}", describe_sig(params, results));
        match find(name) {
            None => out.push(Rejection::MissingExport { name }),
            Some(&(_, ExternalKind::Func | ExternalKind::FuncExact, index)) => {
                let sig = ImportSig {
                    name,
                    params,
                    results,
                };
                let found = scan.func_type(index);
                if !found.is_some_and(|f| matches_sig(f, &sig)) {
                    out.push(Rejection::ExportType {
                        name,
                        expected,
                        found: found.map_or_else(
                            || "a function of unknown type".to_string(),
                            |f| format!("a function {}", describe_func(f)),
                        ),
                    });
                }
            }
            Some(&(_, kind, _)) => out.push(Rejection::ExportType {
                name,
                expected,
                found: format!("a {}", kind_name(kind)),
            }),
        }
    }
}

fn check_memories(scan: &Scan<'_>, config: &RuntimeConfig, out: &mut Vec<Rejection>) {
    if scan.memories.len() > 1 {
        out.push(Rejection::TooManyMemories {
            count: u32::try_from(scan.memories.len()).unwrap_or(u32::MAX),
        });
    }
    for memory in &scan.memories {
        if memory.shared {
            out.push(Rejection::SharedMemory);
        }
        if memory.memory64 {
            out.push(Rejection::Memory64);
        }
        let page_bytes = memory
            .page_size_log2
            .map_or(PAGE_BYTES, |log2| 1u64 << log2.min(16));
        let initial_bytes = memory.initial.saturating_mul(page_bytes);
        if initial_bytes > config.max_memory_bytes {
            out.push(Rejection::MemoryTooLarge {
                initial_bytes,
                max_bytes: config.max_memory_bytes,
            });
        }
        if let Some(maximum) = memory.maximum {
            let maximum_bytes = maximum.saturating_mul(page_bytes);
            if maximum_bytes > config.max_memory_bytes {
                out.push(Rejection::MemoryMaximumTooLarge {
                    maximum_bytes,
                    max_bytes: config.max_memory_bytes,
                });
            }
        }
    }
}

fn check_tables(scan: &Scan<'_>, config: &RuntimeConfig, out: &mut Vec<Rejection>) {
    for table in &scan.tables {
        if table.initial > u64::from(config.max_table_elements) {
            out.push(Rejection::TableTooLarge {
                initial_elements: table.initial,
                max_elements: config.max_table_elements,
            });
        }
    }
}

fn kind_name(kind: ExternalKind) -> &'static str {
    match kind {
        ExternalKind::Func | ExternalKind::FuncExact => "function",
        ExternalKind::Table => "table",
        ExternalKind::Memory => "memory",
        ExternalKind::Global => "global",
        ExternalKind::Tag => "tag",
    }
}

fn abi_type(t: imports::ValType) -> ValType {
    match t {
        imports::ValType::I32 => ValType::I32,
        imports::ValType::I64 => ValType::I64,
    }
}

fn matches_sig(f: &FuncType, sig: &ImportSig) -> bool {
    f.params()
        .iter()
        .copied()
        .eq(sig.params.iter().copied().map(abi_type))
        && f.results()
            .iter()
            .copied()
            .eq(sig.results.iter().copied().map(abi_type))
}

fn describe_sig(params: &[imports::ValType], results: &[imports::ValType]) -> String {
    let list = |ts: &[imports::ValType]| {
        ts.iter()
            .map(|t| abi_type(*t).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(params), list(results))
}

fn describe_func(f: &FuncType) -> String {
    let list = |ts: &[ValType]| {
        ts.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(f.params()), list(f.results()))
}
