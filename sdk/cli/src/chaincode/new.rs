//! `weft chaincode new`: scaffolds a chaincode crate that builds and passes
//! its tests as created.
//!
//! The crate depends on the SDK of the checkout `weft` was built from, by
//! absolute path ([`SdkPaths::of_this_checkout`]); [`files`] renders it in
//! memory and [`create`] writes it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// The templates, with `{{placeholders}}` filled by [`files`].
const TEMPLATES: [(&str, &str); 8] = [
    ("Cargo.toml", include_str!("template/Cargo.toml.tmpl")),
    (
        ".cargo/config.toml",
        include_str!("template/config.toml.tmpl"),
    ),
    (".gitignore", include_str!("template/gitignore.tmpl")),
    ("README.md", include_str!("template/README.md.tmpl")),
    ("src/lib.rs", include_str!("template/lib.rs.tmpl")),
    (
        "tests/common/mod.rs",
        include_str!("template/common.rs.tmpl"),
    ),
    ("tests/native.rs", include_str!("template/native.rs.tmpl")),
    ("tests/wasm.rs", include_str!("template/wasm.rs.tmpl")),
];

/// Names the contract's type may not take: the SDK items `src/lib.rs` imports.
const TAKEN_TYPE_NAMES: [&str; 3] = ["Context", "Error", "Result"];

/// Rust keywords, which cannot name a crate.
const KEYWORDS: [&str; 51] = [
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Where the SDK crates the scaffold depends on live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkPaths {
    /// `sdk/chaincode` (`weft-chaincode`).
    pub chaincode: PathBuf,
    /// `sdk/abi` (`weft-abi`).
    pub abi: PathBuf,
    /// `node` (`weft-node`, for the Wasm test).
    pub node: PathBuf,
    /// The checkout's `Cargo.lock`, copied so the scaffold builds with the
    /// same dependency versions (and can reuse a shared target directory).
    pub lock: PathBuf,
}

impl SdkPaths {
    /// The crates of the checkout this `weft` was compiled from.
    pub fn of_this_checkout() -> Self {
        let cli = Path::new(env!("CARGO_MANIFEST_DIR"));
        let sdk = cli.parent().unwrap_or(cli);
        let root = sdk.parent().unwrap_or(sdk);
        SdkPaths {
            chaincode: sdk.join("chaincode"),
            abi: sdk.join("abi"),
            node: root.join("node"),
            lock: root.join("Cargo.lock"),
        }
    }

    fn check_present(&self) -> anyhow::Result<()> {
        for dir in [&self.chaincode, &self.abi, &self.node] {
            if !dir.join("Cargo.toml").is_file() {
                bail!(
                    "{} is missing: this weft was built from a checkout that has moved or \
                     changed; rebuild weft from the Weft checkout to scaffold from",
                    dir.display()
                );
            }
        }
        Ok(())
    }
}

/// Checks `name` as a chaincode and crate name: Weft's naming rule
/// (`[A-Za-z0-9_-]`, at most 64 bytes), lowercase, starting with a letter,
/// not a Rust keyword.
pub fn check_crate_name(name: &str) -> anyhow::Result<()> {
    weft_types::check_name("chaincode", name)?;
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        bail!("invalid chaincode name {name:?}: a crate name must start with a letter");
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        bail!(
            "invalid chaincode name {name:?}: use lowercase (crate names are snake_case or kebab-case)"
        );
    }
    let ident = name.replace('-', "_");
    if KEYWORDS.contains(&ident.as_str()) {
        bail!("invalid chaincode name {name:?}: `{ident}` is a Rust keyword");
    }
    let ty = type_name(name);
    if TAKEN_TYPE_NAMES.contains(&ty.as_str()) {
        bail!(
            "invalid chaincode name {name:?}: its contract type `{ty}` would clash with weft_chaincode::{ty}"
        );
    }
    Ok(())
}

/// The contract's type name: `asset-transfer` → `AssetTransfer`.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// A path as a quoted TOML string.
fn toml_path(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// The scaffold's files (path relative to the crate, contents) for chaincode `name`.
pub fn files(name: &str, sdk: &SdkPaths) -> anyhow::Result<Vec<(&'static str, String)>> {
    check_crate_name(name)?;
    let fills = [
        ("{{name}}", name.to_string()),
        ("{{crate}}", name.replace('-', "_")),
        ("{{Contract}}", type_name(name)),
        (
            "{{rust_version}}",
            env!("CARGO_PKG_RUST_VERSION").to_string(),
        ),
        ("{{weft_chaincode}}", toml_path(&sdk.chaincode)),
        ("{{weft_abi}}", toml_path(&sdk.abi)),
        ("{{weft_node}}", toml_path(&sdk.node)),
    ];
    Ok(TEMPLATES
        .iter()
        .map(|(path, template)| {
            let text = fills.iter().fold(template.to_string(), |text, (from, to)| {
                text.replace(from, to)
            });
            (*path, text)
        })
        .collect())
}

/// Creates chaincode crate `name` in `parent/name` and returns its path.
/// Refuses a path that exists; if writing fails half-way, removes what it wrote.
pub fn create(name: &str, parent: &Path) -> anyhow::Result<PathBuf> {
    let sdk = SdkPaths::of_this_checkout();
    sdk.check_present()?;
    let files = files(name, &sdk)?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let dir = parent.join(name);
    // Creating the directory claims the name: two `new`s cannot both write it.
    if let Err(e) = fs::create_dir(&dir) {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            bail!(
                "{} already exists: choose another name or --dir",
                dir.display()
            );
        }
        return Err(e).with_context(|| format!("cannot create {}", dir.display()));
    }
    match write_files(&dir, &files, &sdk.lock) {
        Ok(()) => Ok(dir),
        Err(e) => {
            // The directory is ours (created above), so it is safe to remove.
            let _ = fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

fn write_files(dir: &Path, files: &[(&str, String)], lock: &Path) -> anyhow::Result<()> {
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if lock.is_file() {
        // Cargo prunes what the new crate does not use and adds the crate itself.
        fs::copy(lock, dir.join("Cargo.lock"))
            .with_context(|| format!("cannot copy {}", lock.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk() -> SdkPaths {
        SdkPaths {
            chaincode: PathBuf::from("/w/sdk/chaincode"),
            abi: PathBuf::from("/w/sdk/abi"),
            node: PathBuf::from("/w/node"),
            lock: PathBuf::from("/w/Cargo.lock"),
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        let files = files("my-store", &sdk()).unwrap();
        assert_eq!(files.len(), TEMPLATES.len());
        for (path, text) in &files {
            assert!(!text.contains("{{"), "{path} keeps a placeholder");
        }
        let lib = &files.iter().find(|(p, _)| *p == "src/lib.rs").unwrap().1;
        assert!(lib.contains("pub struct MyStore;"), "{lib}");
        let native = &files
            .iter()
            .find(|(p, _)| *p == "tests/native.rs")
            .unwrap()
            .1;
        assert!(native.contains("use my_store::MyStore;"), "{native}");
    }

    #[test]
    fn the_manifest_is_toml_with_an_empty_workspace() {
        let files = files("demo", &sdk()).unwrap();
        let manifest: toml::Table = toml::from_str(&files[0].1).unwrap();
        assert_eq!(manifest["package"]["name"].as_str(), Some("demo"));
        assert_eq!(manifest["package"]["edition"].as_str(), Some("2024"));
        assert!(manifest["workspace"].as_table().unwrap().is_empty());
        let dep = &manifest["dependencies"]["weft-chaincode"];
        assert_eq!(dep["path"].as_str(), Some("/w/sdk/chaincode"));
        let dev = &manifest["dev-dependencies"];
        assert_eq!(dev["weft-chaincode"]["features"][0].as_str(), Some("mock"));
        assert_eq!(dev["weft-node"]["path"].as_str(), Some("/w/node"));
    }

    /// A scaffold built with a target directory shared with this checkout
    /// reuses its dependencies only if its profiles are the workspace's.
    #[test]
    fn the_manifest_has_the_workspace_profiles() {
        let files = files("demo", &sdk()).unwrap();
        let manifest: toml::Table = toml::from_str(&files[0].1).unwrap();
        let workspace =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml"))
                .unwrap();
        let workspace: toml::Table = toml::from_str(&workspace).unwrap();
        assert_eq!(manifest.get("profile"), workspace.get("profile"));
    }

    #[test]
    fn names_follow_the_rules() {
        for ok in ["demo", "asset-transfer", "kv_store", "a1"] {
            check_crate_name(ok).unwrap();
        }
        for bad in [
            "", "9lives", "-x", "a.b", "Demo", "fn", "self", "context", "result",
        ] {
            assert!(check_crate_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(type_name("asset-transfer"), "AssetTransfer");
        assert_eq!(type_name("kv_store2"), "KvStore2");
    }
}
