//! Uploaded person photos (`POST /v1/photos`, issue 14): kept apart from tasks because a
//! photo outlives no task and no task depends on it (a task copies the image it needs), and
//! because it has its own short life (`TRYON_PHOTO_TTL`), after which every store forgets it
//! whether or not anyone asks: Redis by key expiry, SQLite and memory by the sweeper.

use super::StoreError;
use crate::job::PreparedImage;

/// A photo as stored: the proxy's own re-encoded copy, never the bytes the browser sent.
#[derive(Debug, Clone)]
pub struct StoredPhoto {
    pub image: PreparedImage,
    /// SHA-256 of `image.bytes`: a re-upload of the same photo has another id but this hash.
    pub content_hash: [u8; 32],
    /// Wall-clock milliseconds since the Unix epoch after which the photo does not exist.
    pub expires_ms: u64,
}

/// Where uploaded photos live; part of every [`super::Store`].
pub trait PhotoStore: Send + Sync {
    /// Keeps `photo` under `id` until its `expires_ms`.
    fn photo_put(&self, id: &str, photo: &StoredPhoto) -> Result<(), StoreError>;

    /// The photo, unless it is unknown, deleted or past its expiry (even if not swept yet).
    fn photo_get(&self, id: &str) -> Result<Option<StoredPhoto>, StoreError>;

    /// Deletes the photo; returns whether there was a live one.
    fn photo_delete(&self, id: &str) -> Result<bool, StoreError>;

    /// Deletes every photo expired at `now_ms`; returns how many.
    fn photo_sweep(&self, now_ms: u64) -> Result<usize, StoreError>;
}
