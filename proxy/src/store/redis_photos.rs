//! Uploaded photos in Redis: one string `photo:{id}` each, set with the photo's expiry as the
//! key's own (`PXAT`), so Redis forgets it on time even if every instance has died, and any
//! instance finds a photo another one received.

use ::redis::Value;

use super::photos::{PhotoStore, StoredPhoto};
use super::redis::{RedisStore, photo_blob, photo_from};
use super::{StoreError, now_ms};

/// The stored string: the content hash, the expiry (big-endian), then the image blob.
fn encode(photo: &StoredPhoto) -> Vec<u8> {
    let image = photo_blob(&photo.image);
    let mut blob = Vec::with_capacity(40 + image.len());
    blob.extend_from_slice(&photo.content_hash);
    blob.extend_from_slice(&photo.expires_ms.to_be_bytes());
    blob.extend_from_slice(&image);
    blob
}

fn decode(blob: &[u8]) -> Option<StoredPhoto> {
    let (content_hash, rest) = blob.split_first_chunk::<32>()?;
    let (expires_ms, image) = rest.split_first_chunk::<8>()?;
    Some(StoredPhoto {
        image: photo_from(image)?,
        content_hash: *content_hash,
        expires_ms: u64::from_be_bytes(*expires_ms),
    })
}

impl PhotoStore for RedisStore {
    fn photo_put(&self, id: &str, photo: &StoredPhoto) -> Result<(), StoreError> {
        let key = self.key("photo", id);
        self.with(|connection| {
            ::redis::cmd("SET")
                .arg(&key)
                .arg(encode(photo))
                .arg("PXAT")
                .arg(photo.expires_ms)
                .query::<Value>(connection)
                .map(drop)
        })
    }

    fn photo_get(&self, id: &str) -> Result<Option<StoredPhoto>, StoreError> {
        let key = self.key("photo", id);
        let blob: Option<Vec<u8>> =
            self.with(|connection| ::redis::cmd("GET").arg(&key).query(connection))?;
        // Instances' clocks may run ahead of Redis's: the recorded expiry holds too.
        Ok(blob
            .as_deref()
            .and_then(decode)
            .filter(|photo| photo.expires_ms > now_ms()))
    }

    fn photo_delete(&self, id: &str) -> Result<bool, StoreError> {
        let key = self.key("photo", id);
        let deleted: u64 =
            self.with(|connection| ::redis::cmd("DEL").arg(&key).query(connection))?;
        Ok(deleted > 0)
    }

    /// Redis expires photo keys itself.
    fn photo_sweep(&self, _now_ms: u64) -> Result<usize, StoreError> {
        Ok(0)
    }
}
