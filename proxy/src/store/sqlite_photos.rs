//! Uploaded photos in the embedded store: one row each in `uploads`, overwritten on delete
//! (`secure_delete`) and checkpointed out of the WAL, so a deleted or expired photo leaves
//! the disk, not only the index.

use rusqlite::{OptionalExtension, params};

use super::photos::{PhotoStore, StoredPhoto};
use super::sqlite::{SqliteStore, failed};
use super::{StoreError, now_ms};
use crate::job::PreparedImage;
use crate::wire::media;

impl PhotoStore for SqliteStore {
    fn photo_put(&self, id: &str, photo: &StoredPhoto) -> Result<(), StoreError> {
        let image = &photo.image;
        self.connection()
            .execute(
                "INSERT OR REPLACE INTO uploads (id, content_hash, bytes, width, height, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    &photo.content_hash[..],
                    &image.bytes[..],
                    image.width,
                    image.height,
                    photo.expires_ms as i64
                ],
            )
            .map(drop)
            .map_err(failed)
    }

    fn photo_get(&self, id: &str) -> Result<Option<StoredPhoto>, StoreError> {
        self.connection()
            .query_row(
                "SELECT content_hash, bytes, width, height, expires_ms FROM uploads
                 WHERE id = ?1 AND expires_ms > ?2",
                params![id, now_ms() as i64],
                |row| {
                    let hash: Vec<u8> = row.get(0)?;
                    let bytes: Vec<u8> = row.get(1)?;
                    Ok((hash, bytes, row.get(2)?, row.get(3)?, row.get::<_, i64>(4)?))
                },
            )
            .optional()
            .map_err(failed)
            .map(|row| {
                let (hash, bytes, width, height, expires_ms) = row?;
                Some(StoredPhoto {
                    content_hash: hash.try_into().ok()?,
                    image: PreparedImage {
                        bytes: bytes.into(),
                        width,
                        height,
                        content_type: media::JPEG,
                    },
                    expires_ms: expires_ms as u64,
                })
            })
    }

    fn photo_delete(&self, id: &str) -> Result<bool, StoreError> {
        let live = {
            let connection = self.connection();
            let live = connection
                .query_row(
                    "SELECT expires_ms > ?2 FROM uploads WHERE id = ?1",
                    params![id, now_ms() as i64],
                    |row| row.get::<_, bool>(0),
                )
                .optional()
                .map_err(failed)?;
            connection
                .execute("DELETE FROM uploads WHERE id = ?1", [id])
                .map_err(failed)?;
            live
        };
        if live.is_some() {
            super::Store::compact(self)?;
        }
        Ok(live == Some(true))
    }

    fn photo_sweep(&self, now_ms: u64) -> Result<usize, StoreError> {
        let swept = self
            .connection()
            .execute(
                "DELETE FROM uploads WHERE expires_ms <= ?1",
                [now_ms as i64],
            )
            .map_err(failed)?;
        if swept > 0 {
            super::Store::compact(self)?;
        }
        Ok(swept)
    }
}
