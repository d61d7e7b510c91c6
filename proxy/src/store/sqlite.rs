//! The embedded default store: one SQLite file (`tryon.db`) in the data directory.
//!
//! SQLite rather than `redb`: the task log, photos, results and counters are small relational
//! rows whose updates must be atomic together (the terminal event, the result and the photo
//! deletion in one transaction), SQL says that directly, and `secure_delete` overwrites deleted
//! photos and results in the file instead of leaving them in free pages. WAL with
//! `synchronous=NORMAL` keeps each write to an append without an fsync, which is durable against
//! a killed process (the case issue 7 names) though not against a power cut.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{
    IdempotencyRecord, JobOptions, PhotoRole, Store, StoreError, TaskRecord, job_from, now_ms,
    photos_of,
};
use crate::abuse::{self, BucketRule, CounterStore};
use crate::job::{PreparedImage, TryOnJob, TryOnOutput};
use crate::wire::{TryOnView, media};

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA secure_delete = ON;
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    options TEXT NOT NULL,
    upstream TEXT,
    finished_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    task_id TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    view TEXT NOT NULL,
    PRIMARY KEY (task_id, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS photos (
    task_id TEXT NOT NULL,
    role TEXT NOT NULL,
    bytes BLOB NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    PRIMARY KEY (task_id, role)
);
CREATE TABLE IF NOT EXISTS results (
    task_id TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    content_type TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint BLOB NOT NULL,
    task_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tat_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS daily (key TEXT PRIMARY KEY, day INTEGER NOT NULL, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_ms INTEGER NOT NULL);
";

/// The store in `<data_dir>/tryon.db`.
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

pub(super) fn failed(error: impl std::fmt::Display) -> StoreError {
    StoreError(error.to_string())
}

/// The table of uploaded photos (`sqlite_photos.rs` keeps them).
const PHOTO_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    content_hash BLOB NOT NULL,
    bytes BLOB NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_expiry ON uploads (expires_ms);
";

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| failed(format!("cannot create {}: {e}", data_dir.display())))?;
        let connection = Connection::open(data_dir.join("tryon.db")).map_err(failed)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(failed)?;
        connection.execute_batch(SCHEMA).map_err(failed)?;
        connection.execute_batch(PHOTO_SCHEMA).map_err(failed)?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    pub(super) fn connection(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-statement leaves SQLite consistent (the transaction rolls back).
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn in_transaction<T>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(failed)?;
        let output = work(&transaction).map_err(failed)?;
        transaction.commit().map_err(failed)?;
        Ok(output)
    }
}

fn view_json(view: &TryOnView) -> String {
    serde_json::to_string(view).expect("a TryOnView always serialises")
}

fn insert_event(
    transaction: &Transaction<'_>,
    id: &str,
    event_id: u64,
    view: &TryOnView,
) -> rusqlite::Result<()> {
    transaction.execute(
        "INSERT OR REPLACE INTO events (task_id, event_id, view) VALUES (?1, ?2, ?3)",
        params![id, event_id as i64, view_json(view)],
    )?;
    Ok(())
}

fn delete_photos(transaction: &Transaction<'_>, id: &str) -> rusqlite::Result<()> {
    transaction.execute("DELETE FROM photos WHERE task_id = ?1", [id])?;
    Ok(())
}

impl Store for SqliteStore {
    fn ping(&self) -> Result<(), StoreError> {
        self.connection()
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(failed)
    }

    fn insert_task(&self, first: &TryOnView, job: &TryOnJob) -> Result<(), StoreError> {
        let options = serde_json::to_string(&JobOptions {
            category: job.category,
            quality: job.quality,
        })
        .map_err(failed)?;
        self.in_transaction(|transaction| {
            transaction.execute(
                "INSERT INTO tasks (id, options) VALUES (?1, ?2)",
                params![first.id, options],
            )?;
            insert_event(transaction, &first.id, 1, first)?;
            for (role, image) in photos_of(job) {
                transaction.execute(
                    "INSERT INTO photos (task_id, role, bytes, width, height) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![first.id, role.name(), &image.bytes[..], image.width, image.height],
                )?;
            }
            Ok(())
        })
    }

    fn append_event(&self, id: &str, event_id: u64, view: &TryOnView) -> Result<(), StoreError> {
        self.in_transaction(|transaction| insert_event(transaction, id, event_id, view))
    }

    fn save_upstream(&self, id: &str, state: &serde_json::Value) -> Result<(), StoreError> {
        self.connection()
            .execute(
                "UPDATE tasks SET upstream = ?2 WHERE id = ?1",
                params![id, state.to_string()],
            )
            .map(drop)
            .map_err(failed)
    }

    fn finish_task(
        &self,
        id: &str,
        event_id: u64,
        view: &TryOnView,
        result: Option<&TryOnOutput>,
        finished_at_ms: u64,
    ) -> Result<(), StoreError> {
        self.in_transaction(|transaction| {
            insert_event(transaction, id, event_id, view)?;
            if let Some(output) = result {
                transaction.execute(
                    "INSERT OR REPLACE INTO results (task_id, bytes, width, height, content_type) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, &output.bytes[..], output.width, output.height, output.content_type],
                )?;
            }
            delete_photos(transaction, id)?;
            transaction.execute(
                "UPDATE tasks SET finished_at_ms = ?2, upstream = NULL WHERE id = ?1",
                params![id, finished_at_ms as i64],
            )?;
            Ok(())
        })
    }

    fn delete_task(&self, id: &str) -> Result<(), StoreError> {
        self.in_transaction(|transaction| {
            delete_photos(transaction, id)?;
            transaction.execute("DELETE FROM results WHERE task_id = ?1", [id])?;
            transaction.execute("DELETE FROM events WHERE task_id = ?1", [id])?;
            transaction.execute("DELETE FROM tasks WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    fn load_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let connection = self.connection();
        let mut tasks = connection
            .prepare("SELECT id, options, upstream, finished_at_ms FROM tasks ORDER BY seq")
            .map_err(failed)?;
        let rows = tasks
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, Option<i64>>(3)?,
                ))
            })
            .map_err(failed)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(failed)?;
        let mut events = connection
            .prepare("SELECT view FROM events WHERE task_id = ?1 ORDER BY event_id")
            .map_err(failed)?;
        let mut photos = connection
            .prepare("SELECT role, bytes, width, height FROM photos WHERE task_id = ?1")
            .map_err(failed)?;
        let mut records = Vec::with_capacity(rows.len());
        for (id, options, upstream, finished_at_ms) in rows {
            let log = events
                .query_map([&id], |row| row.get::<_, String>(0))
                .map_err(failed)?
                .map(|json| {
                    let json = json.map_err(failed)?;
                    serde_json::from_str::<TryOnView>(&json).map_err(failed)
                })
                .collect::<Result<Vec<_>, _>>()?;
            if log.is_empty() {
                continue;
            }
            let options: JobOptions = serde_json::from_str(&options).map_err(failed)?;
            let images = photos
                .query_map([&id], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        row.get::<_, u32>(2)?,
                        row.get::<_, u32>(3)?,
                    ))
                })
                .map_err(failed)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(failed)?
                .into_iter()
                .filter_map(|(role, bytes, width, height)| {
                    let image = PreparedImage {
                        bytes: Bytes::from(bytes),
                        width,
                        height,
                        content_type: media::JPEG,
                    };
                    PhotoRole::of(&role).map(|role| (role, image))
                })
                .collect();
            records.push(TaskRecord {
                id,
                log,
                job: job_from(options, images),
                upstream: upstream.and_then(|json| serde_json::from_str(&json).ok()),
                finished_at_ms: finished_at_ms.map(|ms| ms as u64),
            });
        }
        Ok(records)
    }

    fn result(&self, id: &str) -> Result<Option<TryOnOutput>, StoreError> {
        self.connection()
            .query_row(
                "SELECT bytes, width, height, content_type FROM results WHERE task_id = ?1",
                [id],
                |row| {
                    Ok(TryOnOutput {
                        bytes: Bytes::from(row.get::<_, Vec<u8>>(0)?),
                        width: row.get(1)?,
                        height: row.get(2)?,
                        content_type: row.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(failed)
    }

    fn idempotency_get(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row = self
            .connection()
            .query_row(
                "SELECT fingerprint, task_id, created_ms FROM idempotency WHERE key = ?1",
                [key],
                |row| {
                    Ok((
                        row.get::<_, Vec<u8>>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(failed)?;
        Ok(row.and_then(|(fingerprint, task_id, created_ms)| {
            Some(IdempotencyRecord {
                fingerprint: fingerprint.try_into().ok()?,
                task_id,
                created_ms: created_ms as u64,
            })
        }))
    }

    fn idempotency_put(&self, key: &str, record: &IdempotencyRecord) -> Result<bool, StoreError> {
        self.connection()
            .execute(
                "INSERT OR IGNORE INTO idempotency (key, fingerprint, task_id, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![key, &record.fingerprint[..], record.task_id, record.created_ms as i64],
            )
            .map(|inserted| inserted == 1)
            .map_err(failed)
    }

    fn idempotency_sweep(&self, created_before_ms: u64) -> Result<usize, StoreError> {
        self.connection()
            .execute(
                "DELETE FROM idempotency WHERE created_ms < ?1",
                [created_before_ms as i64],
            )
            .map_err(failed)
    }

    fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.connection()
            .query_row(
                "SELECT value FROM cache WHERE key = ?1 AND expires_ms > ?2",
                params![key, now_ms() as i64],
                |row| row.get(0),
            )
            .optional()
            .map_err(failed)
    }

    fn cache_put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let now = now_ms();
        self.in_transaction(|transaction| {
            transaction.execute("DELETE FROM cache WHERE expires_ms <= ?1", [now as i64])?;
            transaction.execute(
                "INSERT OR REPLACE INTO cache (key, value, expires_ms) VALUES (?1, ?2, ?3)",
                params![key, value, (now + ttl.as_millis() as u64) as i64],
            )?;
            Ok(())
        })
    }

    fn compact(&self) -> Result<(), StoreError> {
        // Moves the WAL (which still holds the deleted rows' last versions) into the main
        // file, where secure_delete has zeroed them, and empties it.
        self.connection()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(failed)
    }
}

#[async_trait]
impl CounterStore for SqliteStore {
    async fn take(
        &self,
        key: &str,
        rule: BucketRule,
        now_ms: u64,
    ) -> Result<Result<(), Duration>, abuse::StoreError> {
        Ok(self.in_transaction(|transaction| {
            let tat: Option<i64> = transaction
                .query_row("SELECT tat_ms FROM buckets WHERE key = ?1", [key], |row| {
                    row.get(0)
                })
                .optional()?;
            match abuse::gcra(tat.map(|t| t as u64), rule, now_ms) {
                Ok(tat) => {
                    transaction.execute(
                        "INSERT OR REPLACE INTO buckets (key, tat_ms) VALUES (?1, ?2)",
                        params![key, tat as i64],
                    )?;
                    // Full buckets are indistinguishable from absent ones; dropping them keeps
                    // a scan over many addresses from growing the table.
                    transaction
                        .execute("DELETE FROM buckets WHERE tat_ms <= ?1", [now_ms as i64])?;
                    Ok(Ok(()))
                }
                Err(wait) => Ok(Err(wait)),
            }
        })?)
    }

    async fn reserve_daily(
        &self,
        key: &str,
        day: u64,
        limit: u64,
    ) -> Result<bool, abuse::StoreError> {
        Ok(self.in_transaction(|transaction| {
            transaction.execute("DELETE FROM daily WHERE day < ?1", [day as i64])?;
            let count: i64 = transaction
                .query_row(
                    "SELECT count FROM daily WHERE key = ?1 AND day = ?2",
                    params![key, day as i64],
                    |row| row.get(0),
                )
                .optional()?
                .unwrap_or(0);
            if count as u64 >= limit {
                return Ok(false);
            }
            transaction.execute(
                "INSERT OR REPLACE INTO daily (key, day, count) VALUES (?1, ?2, ?3)",
                params![key, day as i64, count + 1],
            )?;
            Ok(true)
        })?)
    }

    async fn release_daily(&self, key: &str, day: u64) -> Result<(), abuse::StoreError> {
        Ok(self
            .connection()
            .execute(
                "UPDATE daily SET count = MAX(count - 1, 0) WHERE key = ?1 AND day = ?2",
                params![key, day as i64],
            )
            .map(drop)
            .map_err(failed)?)
    }

    async fn daily_count(&self, key: &str, day: u64) -> Result<u64, abuse::StoreError> {
        let count: Option<i64> = self
            .connection()
            .query_row(
                "SELECT count FROM daily WHERE key = ?1 AND day = ?2",
                params![key, day as i64],
                |row| row.get(0),
            )
            .optional()
            .map_err(failed)?;
        Ok(count.unwrap_or(0).max(0) as u64)
    }
}
