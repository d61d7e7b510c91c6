//! `Idempotency-Key` on create: a retried upload must never become a second paid try-on.
//!
//! Each key owns an async lock. The first request with a key holds it while it creates the
//! task; a concurrent request with the same key is refused with 409 `idempotency_key_in_use`
//! (the IETF draft's answer) and may retry to get the replay, so two tasks can never come
//! from one key. The same key with a different body (another
//! fingerprint) is refused. A request that fails before creating anything leaves the key
//! unused, so a retry after fixing the cause works. Records expire with the tasks' retention.
//!
//! Completed records are also written to the [`Store`] (issue 7), so a retry after a restart
//! still replays instead of paying for a second try-on. On a store several instances share,
//! the first request also marks the key in the store while it creates, so a duplicate sent to
//! another instance at the same moment gets the same 409.
//!
//! A completed key's record is also kept apart from its lock ([`IdempotencyKeys`]'s `done`):
//! replays only read it, so any number of them at once are answered (each still costs a
//! token of the replay bucket) instead of colliding on the lock as if a create were running.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::error::ApiError;
use crate::store::{
    IdempotencyRecord, MemoryStore, Store, now_ms, off_runtime, off_runtime_detached,
};
use crate::wire::headers;

/// How long a create may hold a key in the store; a create takes far less (the upload has its
/// own timeout), and a dead instance's mark goes away after it.
const IN_FLIGHT_TTL: Duration = Duration::from_secs(120);

/// Longest accepted key; the IETF draft suggests UUIDs, which are far shorter.
const MAX_KEY_LEN: usize = 255;

#[derive(Debug, Clone)]
struct Record {
    fingerprint: [u8; 32],
    task_id: String,
    created_ms: u64,
}

type Slot = Arc<AsyncMutex<Option<Record>>>;
type Done = Arc<Mutex<HashMap<String, Record>>>;

/// Every key seen within the retention time.
pub struct IdempotencyKeys {
    slots: Mutex<HashMap<String, Slot>>,
    /// Completed keys, readable without taking their slot's lock.
    done: Done,
    ttl: Duration,
    store: Arc<dyn Store>,
}

/// What to do with a request that carries a key.
pub enum Claim {
    /// The key was used with this body before: answer with this task.
    Replay(String),
    /// First use: create the task, then [`KeyGuard::complete`].
    Fresh(KeyGuard),
}

/// Held while the first request with a key creates its task; concurrent ones wait.
pub struct KeyGuard {
    slot: OwnedMutexGuard<Option<Record>>,
    done: Done,
    fingerprint: [u8; 32],
    key: String,
    store: Arc<dyn Store>,
    /// Set by [`KeyGuard::complete`], which releases the store's mark itself.
    completed: bool,
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        if !self.completed {
            unmark(self.store.clone(), self.key.clone());
        }
    }
}

/// Releases a key's mark in the store, off the runtime's threads, without waiting: the mark
/// expires on its own, and until then a retry is answered 409.
fn unmark(store: Arc<dyn Store>, key: String) {
    off_runtime_detached(move || {
        if let Err(error) = store.idempotency_unlock(&key) {
            tracing::warn!(%error, "unmarking an idempotency key failed");
        }
    });
}

impl KeyGuard {
    /// Records the task this key created: at once for this process's replays, and in the
    /// store (off the runtime's threads) before the mark is released, so another instance
    /// never sees the key unmarked and unrecorded.
    pub async fn complete(mut self, task_id: String) {
        let record = Record {
            fingerprint: self.fingerprint,
            task_id,
            created_ms: now_ms(),
        };
        let stored = IdempotencyRecord {
            fingerprint: record.fingerprint,
            task_id: record.task_id.clone(),
            created_ms: record.created_ms,
        };
        lock(&self.done).insert(self.key.clone(), record.clone());
        *self.slot = Some(record);
        self.completed = true;
        let (store, key) = (self.store.clone(), self.key.clone());
        off_runtime(move || {
            if let Err(error) = store.idempotency_put(&key, &stored) {
                // This process still replays; only a retry after a restart would not.
                tracing::error!(%error, "storing an idempotency key failed");
            }
            if let Err(error) = store.idempotency_unlock(&key) {
                tracing::warn!(%error, "unmarking an idempotency key failed");
            }
        })
        .await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A completed record in `store`, unless older than `ttl`.
fn stored_in(store: &dyn Store, key: &str, ttl: Duration) -> Result<Option<Record>, ApiError> {
    let record = store.idempotency_get(key).map_err(|error| {
        tracing::error!(%error, "reading an idempotency key failed");
        ApiError::StoreUnavailable
    })?;
    let oldest = now_ms().saturating_sub(ttl.as_millis() as u64);
    Ok(record
        .filter(|record| record.created_ms >= oldest)
        .map(|record| Record {
            fingerprint: record.fingerprint,
            task_id: record.task_id,
            created_ms: record.created_ms,
        }))
}

/// Checks the header's syntax: 1..=255 visible ASCII characters.
pub fn validate_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::InvalidField(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(())
}

/// The request's `Idempotency-Key`, if it sent one, checked ([`validate_key`]).
pub fn key_of(request_headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = request_headers.get(headers::IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::InvalidField("Idempotency-Key must be ASCII".into()))?;
    validate_key(key)?;
    Ok(Some(key.to_owned()))
}

impl IdempotencyKeys {
    /// Keys kept in memory only.
    pub fn new(ttl: Duration) -> Self {
        Self::with_store(ttl, Arc::new(MemoryStore::default()))
    }

    /// Keys whose completed records also live in `store`.
    pub fn with_store(ttl: Duration, store: Arc<dyn Store>) -> Self {
        Self {
            slots: Mutex::default(),
            done: Done::default(),
            ttl,
            store,
        }
    }

    /// A completed record an earlier process (or another instance) stored, unless expired. On
    /// a blocking thread: on Redis it is a network round trip (issue 13).
    async fn stored(&self, key: &str) -> Result<Option<Record>, ApiError> {
        let (store, key, ttl) = (self.store.clone(), key.to_owned(), self.ttl);
        off_runtime(move || stored_in(store.as_ref(), &key, ttl)).await
    }

    /// Marks `key` in the store as used by this create; false if another instance's create
    /// has. On a blocking thread, as [`IdempotencyKeys::stored`].
    async fn mark(&self, key: &str) -> Result<bool, ApiError> {
        let (store, key) = (self.store.clone(), key.to_owned());
        off_runtime(move || store.idempotency_lock(&key, IN_FLIGHT_TTL))
            .await
            .map_err(|error| {
                tracing::error!(%error, "marking an idempotency key failed");
                ApiError::StoreUnavailable
            })
    }

    /// Claims `key` for a body with `fingerprint`; 409 while another request holds it.
    pub async fn claim(&self, key: &str, fingerprint: [u8; 32]) -> Result<Claim, ApiError> {
        let completed = lock(&self.done).get(key).cloned();
        if let Some(record) = completed {
            return Self::answer(&record, fingerprint);
        }
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone();
        let mut guard = slot
            .try_lock_owned()
            .map_err(|_| ApiError::IdempotencyKeyInUse)?;
        if guard.is_none() {
            *guard = self.stored(key).await?;
        }
        if guard.is_none() {
            if !self.mark(key).await? {
                return Err(ApiError::IdempotencyKeyInUse);
            }
            // Another instance may have completed the key between the read and the mark.
            *guard = self.stored(key).await?;
            if guard.is_some() {
                unmark(self.store.clone(), key.to_owned());
            }
        }
        match &*guard {
            Some(record) => {
                lock(&self.done).insert(key.to_owned(), record.clone());
                Self::answer(record, fingerprint)
            }
            None => Ok(Claim::Fresh(KeyGuard {
                slot: guard,
                done: self.done.clone(),
                fingerprint,
                key: key.to_owned(),
                store: self.store.clone(),
                completed: false,
            })),
        }
    }

    /// A request with a completed key: the same body is a replay, another body a misuse.
    fn answer(record: &Record, fingerprint: [u8; 32]) -> Result<Claim, ApiError> {
        if record.fingerprint == fingerprint {
            Ok(Claim::Replay(record.task_id.clone()))
        } else {
            Err(ApiError::IdempotencyKeyReused)
        }
    }

    /// Whether a request with `key` is being processed right now (checked before the body is
    /// read, so a duplicate upload is refused without receiving it).
    pub fn in_flight(&self, key: &str) -> bool {
        if lock(&self.done).contains_key(key) {
            return false;
        }
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.get(key).is_some_and(|slot| slot.try_lock().is_err())
    }

    /// Whether `key` already created a task: its retry is a replay, not a new create, and is
    /// not counted against the client's rate limit.
    pub async fn completed(&self, key: &str) -> bool {
        if lock(&self.done).contains_key(key) {
            return true;
        }
        let in_memory = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .get(key)
                .is_some_and(|slot| slot.try_lock().is_ok_and(|record| record.is_some()))
        };
        in_memory || self.stored(key).await.is_ok_and(|record| record.is_some())
    }

    /// Forgets keys older than the retention time and unused keys nobody is holding.
    pub fn sweep(&self) -> usize {
        let oldest = now_ms().saturating_sub(self.ttl.as_millis() as u64);
        if let Err(error) = self.store.idempotency_sweep(oldest) {
            tracing::error!(%error, "sweeping idempotency keys failed");
        }
        lock(&self.done).retain(|_, record| record.created_ms >= oldest);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let before = slots.len();
        slots.retain(|_, slot| match slot.try_lock() {
            Ok(record) => record.as_ref().is_some_and(|r| r.created_ms >= oldest),
            Err(_) => true, // in use right now
        });
        before - slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_body_replays_and_another_body_is_refused() {
        let keys = IdempotencyKeys::new(Duration::from_secs(60));
        let Claim::Fresh(guard) = keys.claim("k", [1; 32]).await.unwrap() else {
            panic!("first use must be fresh")
        };
        guard.complete("task-1".into()).await;
        assert!(
            matches!(keys.claim("k", [1; 32]).await.unwrap(), Claim::Replay(id) if id == "task-1")
        );
        assert!(matches!(
            keys.claim("k", [2; 32]).await,
            Err(ApiError::IdempotencyKeyReused)
        ));
    }

    #[tokio::test]
    async fn a_concurrent_claim_is_refused_with_409_and_a_later_one_replays() {
        let keys = IdempotencyKeys::new(Duration::from_secs(60));
        let Claim::Fresh(guard) = keys.claim("k", [1; 32]).await.unwrap() else {
            panic!("first use must be fresh")
        };
        assert!(keys.in_flight("k") && !keys.completed("k").await);
        assert!(matches!(
            keys.claim("k", [1; 32]).await,
            Err(ApiError::IdempotencyKeyInUse)
        ));
        guard.complete("t".into()).await;
        assert!(!keys.in_flight("k") && keys.completed("k").await);
        assert!(matches!(keys.claim("k", [1; 32]).await.unwrap(), Claim::Replay(id) if id == "t"));
    }

    #[tokio::test]
    async fn replays_of_a_completed_key_never_collide_with_each_other() {
        let keys = IdempotencyKeys::new(Duration::from_secs(60));
        let Claim::Fresh(guard) = keys.claim("k", [1; 32]).await.unwrap() else {
            panic!("first use must be fresh")
        };
        guard.complete("t".into()).await;
        // Another replay is inside `claim` right now, holding the key's slot.
        let slot = lock(&keys.slots).get("k").cloned().unwrap();
        let _busy = slot.try_lock_owned().unwrap();
        assert!(
            !keys.in_flight("k") && keys.completed("k").await,
            "a completed key is never in flight again"
        );
        assert!(
            matches!(keys.claim("k", [1; 32]).await.unwrap(), Claim::Replay(id) if id == "t"),
            "a replay beside another replay is a replay, not a 409"
        );
        assert!(matches!(
            keys.claim("k", [2; 32]).await,
            Err(ApiError::IdempotencyKeyReused)
        ));
    }

    #[tokio::test]
    async fn a_failed_first_attempt_leaves_the_key_free_and_sweep_drops_it() {
        let keys = IdempotencyKeys::new(Duration::from_secs(60));
        drop(keys.claim("k", [1; 32]).await.unwrap());
        assert!(matches!(
            keys.claim("k", [2; 32]).await.unwrap(),
            Claim::Fresh(_)
        ));
        assert_eq!(keys.sweep(), 1);
    }

    #[tokio::test]
    async fn a_completed_key_replays_from_the_store_after_a_restart() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let before = IdempotencyKeys::with_store(Duration::from_secs(60), store.clone());
        let Claim::Fresh(guard) = before.claim("k", [1; 32]).await.unwrap() else {
            panic!("first use must be fresh")
        };
        guard.complete("task-1".into()).await;
        let after = IdempotencyKeys::with_store(Duration::from_secs(60), store);
        assert!(after.completed("k").await);
        assert!(
            matches!(after.claim("k", [1; 32]).await.unwrap(), Claim::Replay(id) if id == "task-1")
        );
        assert!(matches!(
            after.claim("k", [2; 32]).await,
            Err(ApiError::IdempotencyKeyReused)
        ));
    }

    /// Two instances (two key sets) on one real Redis.
    #[tokio::test]
    async fn on_a_shared_store_a_key_in_use_on_one_instance_is_refused_on_another() {
        let server = crate::store::tests::redis_server::RedisServer::start();
        let store: Arc<dyn Store> = Arc::new(
            crate::store::RedisStore::open(&server.url(0), Duration::from_secs(60)).unwrap(),
        );
        let a = IdempotencyKeys::with_store(Duration::from_secs(60), store.clone());
        let b = IdempotencyKeys::with_store(Duration::from_secs(60), store);
        let Claim::Fresh(guard) = a.claim("k", [1; 32]).await.unwrap() else {
            panic!("first use must be fresh")
        };
        assert!(matches!(
            b.claim("k", [1; 32]).await,
            Err(ApiError::IdempotencyKeyInUse)
        ));
        guard.complete("t".into()).await;
        assert!(matches!(b.claim("k", [1; 32]).await.unwrap(), Claim::Replay(id) if id == "t"));
        drop(a.claim("other", [1; 32]).await.unwrap());
        // The mark is released off the runtime without waiting: until it lands, another
        // instance answers 409, which tells the client to retry.
        let mut freed = false;
        for _ in 0..100 {
            match b.claim("other", [1; 32]).await {
                Ok(Claim::Fresh(_)) => {
                    freed = true;
                    break;
                }
                Err(ApiError::IdempotencyKeyInUse) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => panic!("a failed attempt leaves the key unused, never completed"),
            }
        }
        assert!(
            freed,
            "a failed attempt on one instance leaves the key free on the others"
        );
    }

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(validate_key("3f1c-uuid").is_ok());
        for bad in ["", "with space", &"x".repeat(256)] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
    }
}
