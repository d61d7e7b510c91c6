//! The photos shoppers uploaded (issue 14), kept in the store until `TRYON_PHOTO_TTL` passes:
//! found by id for a check or a try-on, deleted on request, swept when expired.
//!
//! Why apart from `photos.rs` (the HTTP routes): the application state holds this service,
//! and every handler takes the state. Photos are never logged: only their id and size.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ApiError;
use crate::job::PreparedImage;
use crate::providers::routes::UploadedPhotos;
use crate::store::{Store, StoreError, StoredPhoto, now_ms};
use crate::wire::UploadedPhoto;

/// The uploaded photos of this proxy, in its store.
pub struct Photos {
    store: Arc<dyn Store>,
    ttl: Duration,
}

impl Photos {
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self { store, ttl }
    }

    /// How long a photo lives after its upload.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Runs a store call off the runtime's threads (Redis calls block for up to their timeout).
    async fn on_store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(store.as_ref()))
            .await
            .map_err(|_| ApiError::Internal("a photo store call panicked".into()))?
            .map_err(|error| {
                tracing::error!(%error, "the photo store is unavailable");
                ApiError::StoreUnavailable
            })
    }

    pub async fn keep(&self, image: PreparedImage) -> Result<UploadedPhoto, ApiError> {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let photo = StoredPhoto {
            content_hash: Sha256::digest(&image.bytes).into(),
            expires_ms: now_ms().saturating_add(self.ttl.as_millis() as u64),
            image,
        };
        let answer = uploaded(&id, photo.expires_ms);
        let bytes = photo.image.bytes.len();
        self.on_store(move |store| store.photo_put(&id, &photo))
            .await?;
        tracing::info!(photo = %answer.id, bytes, "photo kept");
        Ok(answer)
    }

    /// The live photo `id`, or 404 `photo_not_found`.
    pub async fn find(&self, id: &str) -> Result<StoredPhoto, ApiError> {
        if !plausible_id(id) {
            return Err(ApiError::PhotoNotFound);
        }
        let id = id.to_owned();
        self.on_store(move |store| store.photo_get(&id))
            .await?
            .ok_or(ApiError::PhotoNotFound)
    }

    pub async fn forget(&self, id: &str) -> Result<bool, ApiError> {
        if !plausible_id(id) {
            return Ok(false);
        }
        let id = id.to_owned();
        self.on_store(move |store| store.photo_delete(&id)).await
    }

    /// Deletes expired photos every tenth of the TTL (between 100 ms and a minute), until
    /// `self` is dropped. Redis expires its keys itself; this is for the embedded stores.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let every = (self.ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
        let photos: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                let Some(photos) = photos.upgrade() else {
                    return;
                };
                match photos.on_store(|store| store.photo_sweep(now_ms())).await {
                    Ok(0) | Err(_) => {}
                    Ok(swept) => tracing::info!(swept, "expired photos deleted"),
                }
            }
        });
    }
}

#[async_trait::async_trait]
impl UploadedPhotos for Photos {
    async fn person(&self, id: &str) -> Result<PreparedImage, ApiError> {
        Ok(self.find(id).await?.image)
    }
}

/// Photo ids are 32 lowercase hex digits; anything else names no photo and is not looked up.
fn plausible_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn uploaded(id: &str, expires_ms: u64) -> UploadedPhoto {
    let expires = OffsetDateTime::from_unix_timestamp_nanos(i128::from(expires_ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    UploadedPhoto {
        id: id.to_owned(),
        expires_at: expires
            .format(&Rfc3339)
            .expect("a timestamp formats as RFC 3339"),
    }
}
