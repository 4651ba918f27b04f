//! `weft chaincode build`: builds a chaincode crate for
//! `wasm32-unknown-unknown` (installing the target with rustup when it is
//! missing), finds the module with `cargo metadata`, and validates it as
//! deploy would ([`super::check`]).

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail, ensure};
use serde::Deserialize;

use super::check::{Checked, check};

/// The target chaincode is built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The rustflags of every Wasm build: no debug info (modules are size-limited
/// at deploy) and a 64 KiB stack (what a fresh instance touches stays in the
/// memory the runtime keeps resident). Given for the Wasm target only, so
/// native artifacts are not rebuilt.
pub const WASM_RUSTFLAGS: &str = "-C link-arg=--strip-debug -C link-arg=-zstack-size=65536";

/// The environment variable carrying [`WASM_RUSTFLAGS`] to cargo.
const WASM_RUSTFLAGS_VAR: &str = "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS";

/// The cargo to run: the one running us (`CARGO`, under `cargo run` or
/// `cargo test`), else `cargo` from `PATH`.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Makes sure the toolchain used in `dir` has the Wasm target, running
/// `rustup target add` when it does not; `note` receives what is being done.
/// Without rustup, assumes the target is there (the build says if not).
pub fn ensure_wasm_target(dir: &Path, note: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    let listed = Command::new("rustup")
        .current_dir(dir)
        .args(["target", "list", "--installed"])
        .output();
    let out = match listed {
        Ok(out) => out,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            note(&format!(
                "rustup not found: assuming the {WASM_TARGET} target is installed"
            ));
            return Ok(());
        }
        Err(e) => return Err(e).context("cannot run rustup"),
    };
    ensure!(
        out.status.success(),
        "`rustup target list --installed` failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = String::from_utf8_lossy(&out.stdout);
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        return Ok(());
    }
    note(&format!(
        "the {WASM_TARGET} target is not installed: running `rustup target add {WASM_TARGET}`"
    ));
    let status = Command::new("rustup")
        .current_dir(dir)
        .args(["target", "add", WASM_TARGET])
        .stdout(Stdio::from(io::stderr()))
        .status()
        .context("cannot run rustup")?;
    ensure!(
        status.success(),
        "`rustup target add {WASM_TARGET}` failed ({status})"
    );
    Ok(())
}

/// Builds the crate in `dir` for Wasm in release mode and validates the
/// module. Cargo's output (its errors included) goes to stderr; an error
/// means the module was not built, a [`Checked`] that is not ok that it was
/// built but would not deploy.
pub fn build(dir: &Path, note: &mut dyn FnMut(&str)) -> anyhow::Result<Checked> {
    let manifest = dir.join("Cargo.toml");
    ensure!(
        manifest.is_file(),
        "{} has no Cargo.toml: give the chaincode crate's directory",
        dir.display()
    );
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let manifest = dir.join("Cargo.toml");
    ensure_wasm_target(&dir, note)?;
    // Run from the crate's directory, so its `.cargo/config.toml` applies to
    // the build and to `cargo metadata` alike.
    let mut cargo_build = Command::new(cargo());
    cargo_build
        .current_dir(&dir)
        .args(["build", "--release", "--lib", "--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdout(Stdio::from(io::stderr()));
    if !config_strips_debug(&dir) {
        cargo_build.env(WASM_RUSTFLAGS_VAR, WASM_RUSTFLAGS);
    }
    let status = cargo_build.status().context("cannot run cargo")?;
    ensure!(
        status.success(),
        "cargo build failed ({status}): see its errors above"
    );
    let wasm = locate_module(&dir, &manifest)?;
    check(&wasm)
}

/// Whether cargo, run in `dir`, already passes `--strip-debug` to the Wasm
/// linker: through the environment or a `.cargo/config.toml` (in `dir`, an
/// ancestor, or `$CARGO_HOME`) — as a crate made by `weft chaincode new` and
/// Weft's workspace do. Cargo appends rustflags given in the environment to
/// those of config files, so giving them again would change the flags and
/// make cargo rebuild everything whenever a plain `cargo build` and
/// `weft chaincode build` alternate.
fn config_strips_debug(dir: &Path) -> bool {
    if std::env::var(WASM_RUSTFLAGS_VAR).is_ok_and(|flags| strips_debug(flags.split_whitespace())) {
        return true;
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    let mut files = Vec::new();
    for d in dir.ancestors() {
        files.push(d.join(".cargo").join("config.toml"));
        files.push(d.join(".cargo").join("config"));
    }
    if let Some(home) = cargo_home {
        files.push(home.join("config.toml"));
        files.push(home.join("config"));
    }
    files.iter().any(|file| config_file_strips_debug(file))
}

/// Whether the cargo config file `path` sets Wasm rustflags with `--strip-debug`.
fn config_file_strips_debug(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(config) = toml::from_str::<toml::Table>(&text) else {
        return false;
    };
    let flags = config
        .get("target")
        .and_then(|t| t.get(WASM_TARGET))
        .and_then(|t| t.get("rustflags"));
    match flags {
        Some(toml::Value::String(flags)) => strips_debug(flags.split_whitespace()),
        Some(toml::Value::Array(flags)) => strips_debug(flags.iter().filter_map(|f| f.as_str())),
        _ => false,
    }
}

fn strips_debug<'a>(mut flags: impl Iterator<Item = &'a str>) -> bool {
    flags.any(|flag| flag.ends_with("link-arg=--strip-debug"))
}

/// What `cargo metadata` says that `build` needs.
#[derive(Deserialize)]
struct Metadata {
    target_directory: PathBuf,
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

/// The built module of the package whose manifest is `manifest`:
/// `<target dir>/wasm32-unknown-unknown/release/<cdylib name, '-' → '_'>.wasm`.
fn locate_module(dir: &Path, manifest: &Path) -> anyhow::Result<PathBuf> {
    let out = Command::new(cargo())
        .current_dir(dir)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .arg("--manifest-path")
        .arg(manifest)
        .output()
        .context("cannot run cargo metadata")?;
    ensure!(
        out.status.success(),
        "cargo metadata failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Metadata =
        serde_json::from_slice(&out.stdout).context("cannot read cargo metadata's output")?;
    module_path(&metadata, manifest)
}

/// Whether `a` and `b` name the same file (`b` is canonical; `a` may go through symlinks).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || a.canonicalize().is_ok_and(|a| a == b)
}

fn module_path(metadata: &Metadata, manifest: &Path) -> anyhow::Result<PathBuf> {
    // In a workspace, `--no-deps` lists every member: take the one built.
    let Some(package) = metadata
        .packages
        .iter()
        .find(|p| same_file(&p.manifest_path, manifest))
    else {
        bail!(
            "{} is not a package (a virtual workspace?): give the chaincode crate's directory",
            manifest.display()
        );
    };
    let Some(lib) = package
        .targets
        .iter()
        .find(|t| t.kind.iter().any(|k| k == "cdylib"))
    else {
        bail!(
            "package {} has no cdylib target: add `[lib] crate-type = [\"cdylib\", \"rlib\"]` \
             to its Cargo.toml",
            package.name
        );
    };
    let wasm = metadata
        .target_directory
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", lib.name.replace('-', "_")));
    ensure!(
        wasm.is_file(),
        "cargo reported success but {} is missing",
        wasm.display()
    );
    Ok(wasm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_is_found_among_workspace_members() {
        let json = r#"{
            "target_directory": "/w/target",
            "packages": [
                {"name": "other", "manifest_path": "/w/other/Cargo.toml",
                 "targets": [{"name": "other", "kind": ["cdylib"]}]},
                {"name": "my-cc", "manifest_path": "/w/cc/Cargo.toml",
                 "targets": [{"name": "my-cc", "kind": ["cdylib", "rlib"]},
                             {"name": "native", "kind": ["test"]}]}
            ]
        }"#;
        let metadata: Metadata = serde_json::from_str(json).unwrap();
        // The file does not exist: the error names the path it expected.
        let err = module_path(&metadata, Path::new("/w/cc/Cargo.toml")).unwrap_err();
        let expected = Path::new("/w/target/wasm32-unknown-unknown/release/my_cc.wasm");
        assert!(
            err.to_string().contains(&expected.display().to_string()),
            "{err}"
        );
        let err = module_path(&metadata, Path::new("/w/Cargo.toml")).unwrap_err();
        assert!(err.to_string().contains("not a package"), "{err}");
    }

    #[test]
    fn strip_debug_is_found_in_config_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        for (config, strips) in [
            (
                "[target.wasm32-unknown-unknown]\nrustflags = [\"-C\", \"link-arg=--strip-debug\"]",
                true,
            ),
            (
                "[target.wasm32-unknown-unknown]\nrustflags = \"-Clink-arg=--strip-debug\"",
                true,
            ),
            (
                "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-C\", \"link-arg=--strip-debug\"]",
                false,
            ),
            ("[build]\njobs = 2", false),
            ("not toml [", false),
        ] {
            std::fs::write(&file, config).unwrap();
            assert_eq!(config_file_strips_debug(&file), strips, "{config}");
        }
        assert!(!config_file_strips_debug(&dir.path().join("missing.toml")));
    }
}
