//! Try-on providers behind one trait.
//!
//! The task registry drives every task through [`Provider::run`]; it never knows which vendor is
//! behind it. Each adapter lives in its own file and translates the v1 contract (categories,
//! qualities, progress, errors) to and from its vendor's API. `local` is the built-in compositor
//! used when no vendor key is configured.

pub mod local;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::wire::{Category, ChecksAvailable, ErrorCode, ProgressKind, Quality, TaskError};

/// An image the proxy has already sniffed, decoded, oriented and re-encoded (so it carries no
/// metadata and no trailing payload) and is ready to send upstream.
#[derive(Clone)]
pub struct PreparedImage {
    pub bytes: Bytes,
    pub width: u32,
    pub height: u32,
    /// Always `image/jpeg` today; kept explicit because some vendors want it in a data URL.
    pub content_type: &'static str,
}

impl std::fmt::Debug for PreparedImage {
    // Photos never reach logs: Debug shows the shape, not the bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreparedImage({}x{}, {} bytes, {})", self.width, self.height, self.bytes.len(), self.content_type)
    }
}

/// One try-on as a provider receives it.
#[derive(Debug, Clone)]
pub struct TryOnJob {
    pub person: PreparedImage,
    pub garment: PreparedImage,
    /// Present exactly when `category` is `Combo`.
    pub lower_garment: Option<PreparedImage>,
    pub category: Category,
    pub quality: Quality,
}

/// The finished picture, downloaded or produced by the proxy so it outlives any signed vendor URL.
#[derive(Clone)]
pub struct TryOnOutput {
    pub bytes: Bytes,
    pub width: u32,
    pub height: u32,
    pub content_type: String,
}

impl std::fmt::Debug for TryOnOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TryOnOutput({}x{}, {} bytes, {})", self.width, self.height, self.bytes.len(), self.content_type)
    }
}

/// A progress report from a running provider. The registry clamps it so the progress a
/// shopper sees never goes backwards and never reaches 100 before success.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressUpdate {
    pub progress: u8,
    pub kind: ProgressKind,
    /// Machine-readable stage name, e.g. `fitting_garment`.
    pub stage: Option<String>,
}

/// Where a running provider reports progress; implemented by the task registry.
pub trait ProgressSink: Send + Sync {
    fn report(&self, update: ProgressUpdate);
}

/// What a provider is and offers, for `GET /v1/config`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderInfo {
    pub name: &'static str,
    pub categories: Vec<Category>,
    pub checks: ChecksAvailable,
}

/// Why a provider could not finish a task. Each variant knows its contract code and whether
/// retrying can help; the HTTP/problem mapping happens once, at the edge.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The shopper's input cannot be used (vendor 4xx about the images or their content).
    #[error("input rejected ({code:?}): {message}")]
    InputRejected { code: ErrorCode, message: String },
    /// The vendor cannot take work now (5xx, 429 after retries, connection refused).
    #[error("provider unavailable: {message}")]
    Unavailable { message: String, retry_after: Option<Duration> },
    /// The vendor did not answer in time.
    #[error("provider timed out after {0:?}")]
    Timeout(Duration),
    /// The vendor accepted the task and then failed it.
    #[error("provider failed the task: {0}")]
    Failed(String),
}

impl ProviderError {
    /// The task error the widget receives. `message` is for developers; it never carries keys.
    pub fn to_task_error(&self) -> TaskError {
        let (code, retryable) = match self {
            Self::InputRejected { code, .. } => (*code, false),
            Self::Unavailable { .. } | Self::Timeout(_) => (ErrorCode::ProviderUnavailable, true),
            Self::Failed(_) => (ErrorCode::ProviderFailed, true),
        };
        TaskError { code, message: self.to_string(), retryable }
    }
}

/// A try-on service. One instance serves every task; implementations hold their own HTTP
/// client, key and rate limiter.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    fn info(&self) -> ProviderInfo;

    /// Runs one try-on to the end, reporting progress on the way. Called by exactly one driver
    /// per task, however many browsers watch it.
    async fn run(&self, job: TryOnJob, progress: &dyn ProgressSink) -> Result<TryOnOutput, ProviderError>;
}
