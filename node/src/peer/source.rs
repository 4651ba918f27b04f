//! [`BlockSource`] and the directory source.

use std::path::PathBuf;

use weft_types::Block;

/// Why a source could not give a block.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// What was read is not a block, or not the one asked for.
    #[error("{0}")]
    Invalid(String),
}

/// Where a peer gets ordered blocks from.
pub trait BlockSource: Send {
    /// Block `number` if the source has it now, `None` if not yet.
    fn next_block(&mut self, number: u64) -> Result<Option<Block>, SourceError>;
}

/// Blocks as files `<number>.json` (JSON of [`Block`]) in a directory.
/// Writers must create each file atomically (write elsewhere, then rename),
/// so a half-written block is never read.
#[derive(Debug, Clone)]
pub struct DirectorySource {
    dir: PathBuf,
}

impl DirectorySource {
    /// Reads blocks from `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirectorySource { dir: dir.into() }
    }
}

impl BlockSource for DirectorySource {
    fn next_block(&mut self, number: u64) -> Result<Option<Block>, SourceError> {
        let path = self.dir.join(format!("{number}.json"));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let block: Block = serde_json::from_slice(&bytes)
            .map_err(|e| SourceError::Invalid(format!("{}: {e}", path.display())))?;
        if block.number() != number {
            return Err(SourceError::Invalid(format!(
                "{} holds block {}",
                path.display(),
                block.number()
            )));
        }
        Ok(Some(block))
    }
}
