//! Deploy-time validation: every hostile module is refused with a reason
//! that names what is wrong.

use weft_abi::imports::{self, ValType};
use weft_node::runtime::{Rejection, RuntimeConfig, RuntimeError, validate_module};

use crate::support::{MapHost, config, fixture, runtime};

fn rejections(bytes: &[u8]) -> Vec<Rejection> {
    validate_module(bytes, &config()).unwrap_err()
}

fn reasons(rejections: &[Rejection]) -> String {
    rejections
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn echo_is_valid_and_lists_its_transactions() {
    let bytes = fixture("echo");
    let info = validate_module(&bytes, &config()).unwrap();
    assert_eq!(info.abi_version, weft_abi::ABI_VERSION);
    assert_eq!(info.hash, weft_types::sha3_256(&bytes));
    assert_eq!(info.size_bytes, bytes.len());
    assert_eq!(info.transactions.len(), 1);
    assert_eq!(info.transactions[0].name, "echo");
}

#[test]
fn unknown_and_foreign_imports_are_named() {
    let found = rejections(&fixture("forbidden_imports"));
    let text = reasons(&found);
    assert!(
        found.contains(&Rejection::UnknownImport {
            name: "open_socket".into()
        }),
        "{text}"
    );
    assert!(
        found.contains(&Rejection::ForeignImport {
            module: "wasi_snapshot_preview1".into(),
            name: "fd_write".into()
        }),
        "{text}"
    );
    assert!(
        found
            .iter()
            .any(|r| matches!(r, Rejection::ImportSignature { name, .. } if name == "state_get")),
        "{text}"
    );
    assert!(
        found
            .iter()
            .any(|r| matches!(r, Rejection::ImportKind { kind: "global", .. })),
        "{text}"
    );
    for word in [
        "open_socket",
        "wasi_snapshot_preview1::fd_write",
        "state_get",
        "heap",
    ] {
        assert!(text.contains(word), "{word} not named in:\n{text}");
    }
}

#[test]
fn missing_exports_are_each_named() {
    let found = rejections(&fixture("missing_exports"));
    for name in ["memory", "weft_alloc", "weft_invoke"] {
        assert!(
            found.contains(&Rejection::MissingExport { name }),
            "{name}: {found:?}"
        );
    }
}

#[test]
fn exports_of_the_wrong_type_are_refused() {
    let found = rejections(&fixture("wrong_export_types"));
    let text = reasons(&found);
    for name in ["memory", "weft_alloc", "weft_invoke"] {
        assert!(
            found
                .iter()
                .any(|r| matches!(r, Rejection::ExportType { name: n, .. } if *n == name)),
            "{name}: {text}"
        );
    }
    assert!(text.contains("(i32) -> (i32)"), "{text}");
}

#[test]
fn wrong_or_missing_abi_version_is_refused() {
    assert_eq!(
        rejections(&fixture("wrong_abi_version")),
        vec![Rejection::AbiVersion {
            found: 2,
            expected: weft_abi::ABI_VERSION
        }]
    );
    assert_eq!(
        rejections(&fixture("no_abi_section")),
        vec![Rejection::MissingAbiSection]
    );
}

/// Appends a custom section of `padding` bytes.
fn padded(mut module: Vec<u8>, padding: usize) -> Vec<u8> {
    let name = b"padding";
    let mut size = name.len() + 1 + padding;
    let mut payload = Vec::new();
    // LEB128 section size
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            payload.push(byte);
            break;
        }
        payload.push(byte | 0x80);
    }
    module.push(0);
    module.extend(payload);
    module.push(name.len() as u8);
    module.extend(name);
    module.resize(module.len() + padding, 0);
    module
}

#[test]
fn a_module_over_the_size_limit_is_refused() {
    let limit = RuntimeConfig::default().max_module_bytes;
    let big = padded(fixture("echo"), limit);
    assert!(big.len() > limit);
    assert_eq!(
        rejections(&big),
        vec![Rejection::TooLarge {
            size_bytes: big.len(),
            max_bytes: limit
        }]
    );
    let err = runtime().prepare(&big).unwrap_err();
    assert!(matches!(err, RuntimeError::BadModule(_)), "{err}");
    assert!(err.to_string().contains("over the limit"), "{err}");
}

#[test]
fn bytes_that_are_not_wasm_are_refused() {
    let found = rejections(b"\0asm but not really");
    assert!(
        matches!(found[..], [Rejection::NotWasm { .. }]),
        "{found:?}"
    );
    let found = rejections(b"#!/bin/sh\nrm -rf /\n");
    assert!(
        matches!(found[..], [Rejection::NotWasm { .. }]),
        "{found:?}"
    );
}

#[test]
fn memory_over_the_limits_is_refused() {
    let found = rejections(&fixture("big_memory"));
    let text = reasons(&found);
    assert!(
        found.contains(&Rejection::TooManyMemories { count: 2 }),
        "{text}"
    );
    assert!(found.contains(&Rejection::SharedMemory), "{text}");
    assert!(
        found.contains(&Rejection::MemoryTooLarge {
            initial_bytes: 1280 * 65536,
            max_bytes: 64 << 20
        }),
        "{text}"
    );
    assert!(
        found.contains(&Rejection::MemoryMaximumTooLarge {
            maximum_bytes: 2048 * 65536,
            max_bytes: 64 << 20
        }),
        "{text}"
    );
    // The validator, run with the pinned features, refuses it too.
    assert!(
        found.iter().any(|r| matches!(r, Rejection::Invalid { .. })),
        "{text}"
    );
}

#[test]
fn features_outside_the_pinned_list_are_refused() {
    let found = rejections(&fixture("simd"));
    let text = reasons(&found);
    assert!(
        matches!(&found[..], [Rejection::Invalid { reason }] if reason.contains("SIMD")),
        "{text}"
    );
}

#[test]
fn hostile_modules_never_reach_the_cache() {
    let rt = runtime();
    for name in [
        "forbidden_imports",
        "missing_exports",
        "wrong_export_types",
        "wrong_abi_version",
        "no_abi_section",
        "big_memory",
        "simd",
    ] {
        for _ in 0..3 {
            let err = rt.prepare(&fixture(name)).unwrap_err();
            assert!(
                matches!(err, RuntimeError::BadModule(ref r) if !r.is_empty()),
                "{name}: {err}"
            );
        }
    }
    assert_eq!(rt.cached_modules(), 0);
    assert_eq!(rt.compilations(), 0);
}

fn wat_type(t: &ValType) -> &'static str {
    match t {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
    }
}

/// A module importing every host function with its exact signature.
fn importing_everything() -> Vec<u8> {
    let mut text = String::from("(module\n");
    for sig in imports::ALL {
        let params: Vec<_> = sig.params.iter().map(wat_type).collect();
        let results: Vec<_> = sig.results.iter().map(wat_type).collect();
        text.push_str(&format!(
            "  (import \"weft\" \"{}\" (func (param {}) (result {})))\n",
            sig.name,
            params.join(" "),
            results.join(" ")
        ));
    }
    text.push_str(
        r#"  (memory (export "memory") 1)
  (func (export "weft_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "weft_invoke") (param i32 i32) (result i64) (i64.const 0))
  (@custom "weft_abi" "\01\00\00\00"))"#,
    );
    wat::parse_str(&text).unwrap()
}

#[test]
fn every_host_function_is_allowed_and_linked() {
    let bytes = importing_everything();
    validate_module(&bytes, &config()).unwrap();
    let rt = runtime();
    let prepared = rt.prepare(&bytes).unwrap();
    let (host, _) = MapHost::new();
    rt.instantiate_only(&prepared.hash, host).unwrap();
}
