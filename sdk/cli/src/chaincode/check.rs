//! `weft chaincode check`: the deploy-time validator over a module file.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use weft_abi::TxKind;
use weft_node::runtime::{ModuleInfo, Rejection, RuntimeConfig, validate_module};

/// What the deploy-time validator said about one module file.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The file.
    pub path: PathBuf,
    /// What deploy would learn, or every reason it would refuse the module.
    pub verdict: Result<ModuleInfo, Vec<Rejection>>,
}

impl Checked {
    /// Whether the module would deploy.
    pub fn is_ok(&self) -> bool {
        self.verdict.is_ok()
    }

    /// Every reason the module would be refused (none when it would deploy).
    pub fn rejections(&self) -> &[Rejection] {
        self.verdict.as_ref().err().map_or(&[], Vec::as_slice)
    }

    /// The process exit code: 0 when the module would deploy, 1 when not.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.is_ok())
    }

    /// What the module is, for a module that would deploy: one `name: value`
    /// line each for its size, ABI version and hash, then its transactions.
    pub fn describe(&self) -> Option<Description<'_>> {
        self.verdict.as_ref().ok().map(Description)
    }
}

/// Validates the module in `path` with the node's default limits. Fails only
/// when the file cannot be read.
pub fn check(path: &Path) -> anyhow::Result<Checked> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(check_bytes(path, &bytes))
}

/// Validates `bytes` (read from `path`) with the node's default limits.
pub fn check_bytes(path: &Path, bytes: &[u8]) -> Checked {
    Checked {
        path: path.to_path_buf(),
        verdict: validate_module(bytes, &RuntimeConfig::default()),
    }
}

/// [`Checked::describe`]: a valid module's size, ABI version, hash and transactions.
#[derive(Debug)]
pub struct Description<'a>(&'a ModuleInfo);

impl fmt::Display for Description<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.0;
        writeln!(f, "  size:         {} bytes", info.size_bytes)?;
        writeln!(f, "  ABI version:  {}", info.abi_version)?;
        writeln!(f, "  module hash:  {}", info.hash)?;
        if info.transactions.is_empty() {
            return writeln!(
                f,
                "  transactions: none listed (the module has no `{}` section)",
                weft_abi::exports::CONTRACT_SECTION
            );
        }
        writeln!(f, "  transactions:")?;
        let width = info
            .transactions
            .iter()
            .map(|t| t.name.len())
            .max()
            .unwrap_or(0);
        for t in &info.transactions {
            let kind = match t.kind {
                TxKind::Transaction => "tx",
                TxKind::Query => "query",
            };
            writeln!(f, "    {:<width$}  {kind}", t.name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let checked = check_bytes(Path::new("x.wasm"), b"not wasm");
        assert_eq!(checked.exit_code(), 1);
        assert!(checked.describe().is_none());
        let reasons = checked.verdict.unwrap_err();
        assert!(
            reasons[0].to_string().contains("not a Wasm module"),
            "{reasons:?}"
        );
    }
}
