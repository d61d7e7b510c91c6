//! What a try-on is made of once the proxy has accepted it: the prepared photos and options
//! a provider receives, and the picture it gives back.
//!
//! Why a module of its own: the store keeps these, the image preparer makes them, and the
//! providers consume and produce them; living beside [`crate::wire`] (the contract) rather
//! than in `providers/`, they let the lower layers name them without importing the providers.

use bytes::Bytes;

use crate::wire::{Category, Quality};

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
        write!(
            f,
            "PreparedImage({}x{}, {} bytes, {})",
            self.width,
            self.height,
            self.bytes.len(),
            self.content_type
        )
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
        write!(
            f,
            "TryOnOutput({}x{}, {} bytes, {})",
            self.width,
            self.height,
            self.bytes.len(),
            self.content_type
        )
    }
}
