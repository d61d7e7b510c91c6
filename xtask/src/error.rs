//! One error type for every xtask command, so `main` reports any failure the same way: what was
//! being done, and why it failed.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Why an xtask command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not start `{command}`: {source} (is it installed and on PATH?)")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status})")]
    CommandFailed { command: String, status: ExitStatus },
    #[error("wasm-bindgen failed on {}: {message}", input.display())]
    Bindgen { input: PathBuf, message: String },
    #[error("{} has no `{placeholder}` placeholder to substitute", source_path.display())]
    MissingPlaceholder {
        source_path: PathBuf,
        placeholder: &'static str,
    },
    #[error("wasm-bindgen emitted {0}, but a Shopify assets/ folder takes no subfolders")]
    SnippetInShopifyAssets(String),
    #[error("usage: {0}")]
    Usage(String),
    #[error("{0}")]
    Setup(String),
    #[error("the widget is over its size budget: {0}")]
    OverBudget(String),
    #[error("{failed} of {total} test steps failed (see the summary above)")]
    TestsFailed { failed: usize, total: usize },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the action and path to an I/O error, so a failure names the file it concerns.
pub trait IoContext<T> {
    fn io(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            action,
            path: path.into(),
            source,
        })
    }
}
