//! Where the proxy keeps what must outlive a process: tasks (their event log, photos while
//! they run, upstream ids for resumption), results until their retention ends, idempotency
//! records, rate-limit and quota counters, check caches, and uploaded photos until their TTL.
//!
//! Why a trait: one instance keeps all of it in an embedded file database ([`SqliteStore`],
//! the default, in `TRYON_DATA_DIR`), so a restart loses nothing; tests keep it in memory
//! ([`MemoryStore`]); several instances share one server (issue 7's Redis variant) behind the
//! same methods. The registry stays the in-process cache and fan-out; every change it
//! publishes is written here before its watchers see it, and on start-up
//! [`Store::load_tasks`] gives it back everything that was in flight.
//!
//! The methods are synchronous, and callers make them off the runtime's threads: through
//! [`off_runtime`], or on the registry's writer thread. A SQLite call is short (WAL, no fsync
//! per commit), but a Redis call is a round trip that may stall for its whole timeout.

mod memory;
mod photos;
mod redis;
mod redis_photos;
mod sqlite;
mod sqlite_photos;

use std::sync::Weak;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use self::redis::RedisStore;
pub use memory::MemoryStore;
pub use photos::{PhotoStore, StoredPhoto};
pub use sqlite::SqliteStore;

use crate::abuse::CounterStore;
use crate::job::{PreparedImage, TryOnJob, TryOnOutput};
use crate::wire::{Category, Quality, TryOnView};

/// The store could not be read or written. Creates fail closed on it (503
/// `store_unavailable`), and nothing is charged.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store unavailable: {0}")]
pub struct StoreError(pub String);

impl From<StoreError> for crate::abuse::StoreError {
    fn from(error: StoreError) -> Self {
        Self(error.0)
    }
}

/// A task as the store gives it back after a restart.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    pub id: String,
    /// Event `n` is `log[n - 1]`; never empty.
    pub log: Vec<TryOnView>,
    /// The photos, kept until the task ends.
    pub job: Option<TryOnJob>,
    /// What the provider recorded about its upstream task, to poll it again instead of
    /// creating it a second time.
    pub upstream: Option<serde_json::Value>,
    /// Wall-clock milliseconds since the Unix epoch when the task ended.
    pub finished_at_ms: Option<u64>,
}

/// What an `Idempotency-Key` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub fingerprint: [u8; 32],
    pub task_id: String,
    pub created_ms: u64,
}

/// Durable state of the proxy. Counters (`take`, `reserve_daily`, `release_daily`) come from
/// the [`CounterStore`] supertrait, so the limiter uses the same store; uploaded photos from
/// [`PhotoStore`].
pub trait Store: CounterStore + PhotoStore {
    /// Whether the store answers (for `/readyz`).
    fn ping(&self) -> Result<(), StoreError>;

    /// Records a new task: its first event and its photos.
    fn insert_task(&self, first: &TryOnView, job: &TryOnJob) -> Result<(), StoreError>;

    /// Appends event `event_id` (always the next one) to a task's log.
    fn append_event(&self, id: &str, event_id: u64, view: &TryOnView) -> Result<(), StoreError>;

    /// Remembers the provider's upstream state of a running task.
    fn save_upstream(&self, id: &str, state: &serde_json::Value) -> Result<(), StoreError>;

    /// Appends the terminal event, keeps the result (if any) and deletes the photos, at once.
    fn finish_task(
        &self,
        id: &str,
        event_id: u64,
        view: &TryOnView,
        result: Option<&TryOnOutput>,
        finished_at_ms: u64,
    ) -> Result<(), StoreError>;

    /// Forgets a task, its photos and its result.
    fn delete_task(&self, id: &str) -> Result<(), StoreError>;

    /// Every task, oldest first.
    fn load_tasks(&self) -> Result<Vec<TaskRecord>, StoreError>;

    /// A succeeded task's image.
    fn result(&self, id: &str) -> Result<Option<TryOnOutput>, StoreError>;

    fn idempotency_get(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Records `key` unless it exists (`SET NX`); returns whether it was recorded.
    fn idempotency_put(&self, key: &str, record: &IdempotencyRecord) -> Result<bool, StoreError>;

    /// Forgets keys created before `created_before_ms`.
    fn idempotency_sweep(&self, created_before_ms: u64) -> Result<usize, StoreError>;

    /// A cached value (e.g. a pre-flight check's answer), unless it has expired.
    fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Caches `value` under `key` for `ttl`.
    fn cache_put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;

    /// Counts one call of the upstream budget `key`, named `call`, in a sliding `window` of
    /// `limit` calls every instance on this store shares, or says how long until one fits. The
    /// call holds its place while in flight, until [`Store::answered_in_window`]. A store only
    /// this process uses counts nothing here: the rate limiter's own log is the whole budget.
    fn take_in_window(
        &self,
        _key: &str,
        _call: u64,
        _limit: u32,
        _window: Duration,
    ) -> Result<Result<(), Duration>, StoreError> {
        Ok(Ok(()))
    }

    /// The call `call` of the budget `key` got its answer now: it leaves the window one
    /// `window` from now (the vendor received it at the latest now).
    fn answered_in_window(
        &self,
        _key: &str,
        _call: u64,
        _window: Duration,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Gives deleted space back so deleted photos and results leave the disk, not only the
    /// index. A no-op where nothing is on disk.
    fn compact(&self) -> Result<(), StoreError> {
        Ok(())
    }

    // Several instances on one store (issue 7). The defaults describe a store only this
    // process uses: every task is in its registry and it drives them all.

    /// Whether other instances share this store, so tasks may be created, driven and
    /// watched elsewhere.
    fn shared(&self) -> bool {
        false
    }

    /// One task, for a watcher that asks an instance which did not create it.
    fn load_task(&self, _id: &str) -> Result<Option<TaskRecord>, StoreError> {
        Ok(None)
    }

    /// Ids of the tasks not finished yet, whoever drives them.
    fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    /// Takes (or renews) the lease to drive task `id` as `holder` for `ttl`; false while
    /// another holder's lease runs.
    fn claim(&self, _id: &str, _holder: &str, _ttl: Duration) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Gives a lease back early (the holder stops driving the task).
    fn release(&self, _id: &str, _holder: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Gives back the leases `holder` still holds on `ids` (an instance shutting down) and
    /// tells the other instances, so one of them takes each task over at once rather than
    /// when the lease runs out. Returns how many leases were given back. A store only this
    /// process uses has no leases to give.
    fn hand_over(&self, _ids: &[String], _holder: &str) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// Marks `key` as used by a create in progress, for at most `ttl`; false while another
    /// instance's create holds it. Within one process the in-memory lock is enough.
    fn idempotency_lock(&self, _key: &str, _ttl: Duration) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Ends [`Store::idempotency_lock`].
    fn idempotency_unlock(&self, _key: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Calls `listener` with the events other instances publish, on a thread of the store's
    /// own, until `listener` is dropped.
    fn subscribe(&self, _listener: Weak<dyn Fn(RemoteEvent) + Send + Sync>) {}

    /// Tells every instance watching `topic` ([`Store::watch`]) about `message`, e.g. a vendor
    /// webhook that landed on an instance which does not drive its task (issue 13). A store
    /// only this process uses has no one else to tell.
    fn notify(&self, _topic: &str, _message: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Calls `listener` with every message [`Store::notify`] sends on `topic` from any
    /// instance (this one included), on a thread of the store's own, until `listener` is
    /// dropped. Messages sent while the subscription is down are lost: watchers use them to
    /// act sooner, never as the only way to learn something.
    fn watch(&self, _topic: &str, _listener: Weak<dyn Fn(&str) + Send + Sync>) {}
}

/// What another instance did to a task, as a shared store tells it.
#[derive(Debug, Clone)]
pub enum RemoteEvent {
    /// Event `event_id` of task `id` was published.
    Event {
        id: String,
        event_id: u64,
        view: Box<TryOnView>,
    },
    /// The task was deleted.
    Deleted { id: String },
    /// The instance driving the task gave its lease back: take it over.
    Released { id: String },
    /// Events may have been missed (the subscription was (re)established): read the store.
    Resync,
}

/// Runs `work` (store calls) on the blocking pool and waits for it. On Redis a store call is a
/// network round trip that may stall for its whole timeout: it must hold a blocking thread,
/// never one of the runtime's workers, or a stuck Redis stalls every request (issue 13).
pub async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => panic!("the runtime shut down under a store call"),
        },
    }
}

/// [`off_runtime`] for work nobody waits for (a mark's release, which also expires on its
/// own). Outside a runtime (a test's plain thread, a drop after shutdown) it runs here.
pub fn off_runtime_detached(work: impl FnOnce() + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(work)),
        Err(_) => work(),
    }
}

/// Milliseconds since the Unix epoch, the stores' one notion of time.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// A task's options as stored next to its photos.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct JobOptions {
    category: Category,
    quality: Quality,
}

/// Which photo of a job a stored image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhotoRole {
    Person,
    Garment,
    LowerGarment,
}

impl PhotoRole {
    fn name(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Garment => "garment",
            Self::LowerGarment => "lower_garment",
        }
    }

    fn of(name: &str) -> Option<Self> {
        [Self::Person, Self::Garment, Self::LowerGarment]
            .into_iter()
            .find(|role| role.name() == name)
    }
}

/// The photos of a job with their roles, for writing.
fn photos_of(job: &TryOnJob) -> Vec<(PhotoRole, &PreparedImage)> {
    let mut photos = vec![
        (PhotoRole::Person, &job.person),
        (PhotoRole::Garment, &job.garment),
    ];
    if let Some(lower) = &job.lower_garment {
        photos.push((PhotoRole::LowerGarment, lower));
    }
    photos
}

/// Reassembles a job from its stored photos; `None` if the person or garment is missing.
fn job_from(options: JobOptions, photos: Vec<(PhotoRole, PreparedImage)>) -> Option<TryOnJob> {
    let find = |wanted: PhotoRole| {
        photos
            .iter()
            .find(|(role, _)| *role == wanted)
            .map(|(_, image)| image.clone())
    };
    Some(TryOnJob {
        person: find(PhotoRole::Person)?,
        garment: find(PhotoRole::Garment)?,
        lower_garment: find(PhotoRole::LowerGarment),
        category: options.category,
        quality: options.quality,
    })
}

/// Opens the store the settings name: Redis at `redis_url` (`TRYON_STORE=redis://…`, keeping
/// results for `retention`), otherwise the embedded database in `data_dir`.
pub fn open(
    redis_url: Option<&str>,
    retention: Duration,
    data_dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    Ok(match redis_url {
        Some(url) => std::sync::Arc::new(RedisStore::open(url, retention)?),
        None => std::sync::Arc::new(SqliteStore::open(data_dir)?),
    })
}

/// The name of the lock file in the data directory.
pub const LOCK_FILE: &str = "tryon.lock";

/// A second proxy on the same data directory would share its tasks, counters and sweeper with
/// no leases (issue 13): the embedded store is for one process.
#[derive(Debug, thiserror::Error)]
pub enum DataDirLockError {
    #[error(
        "another tryon-proxy is using the data directory {dir} (it holds {dir}/{LOCK_FILE}); \
         give each instance its own TRYON_DATA_DIR, or run several instances on one shared \
         store with TRYON_STORE=redis://…"
    )]
    InUse { dir: String },
    #[error("cannot lock the data directory {dir}: {source}")]
    Io { dir: String, source: std::io::Error },
}

/// Takes the data directory for this process: an exclusive lock on `<dir>/tryon.lock`, held
/// while the returned file is open (the kernel drops it when the process dies, even killed).
pub fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, DataDirLockError> {
    let shown = dir.display().to_string();
    let io = |source| DataDirLockError::Io {
        dir: shown.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(DataDirLockError::InUse { dir: shown }),
        Err(std::fs::TryLockError::Error(source)) => Err(io(source)),
    }
}

#[cfg(test)]
pub(crate) mod tests;
