//! A memory store that behaves as a shared one (Redis) and records every call made to it, for
//! tests about which requests reach the store, and from which thread.

use std::sync::Mutex;
use std::sync::Weak;
use std::thread::ThreadId;
use std::time::Duration;

use async_trait::async_trait;
use tryon_proxy::abuse::{BucketRule, CounterStore, StoreError as CounterError};
use tryon_proxy::providers::{TryOnJob, TryOnOutput};
use tryon_proxy::store::{
    IdempotencyRecord, MemoryStore, PhotoStore, RemoteEvent, Store, StoreError, StoredPhoto,
    TaskRecord,
};
use tryon_proxy::wire::TryOnView;

/// Says it is shared, so the registry asks it about tasks it does not hold, leases tasks and
/// marks keys, as on Redis; keeps everything in a [`MemoryStore`].
///
/// The counters (`take`, `reserve_daily`, `release_daily`) are async and not recorded: each
/// store decides itself where they run (Redis moves them to the blocking pool).
#[derive(Default)]
pub struct ObservedStore {
    inner: MemoryStore,
    calls: Mutex<Vec<(&'static str, ThreadId)>>,
}

impl ObservedStore {
    fn record(&self, method: &'static str) {
        let thread = std::thread::current().id();
        self.calls.lock().unwrap().push((method, thread));
    }

    /// Forgets the calls recorded so far (those of start-up, say).
    pub fn forget_calls(&self) {
        self.calls.lock().unwrap().clear();
    }

    /// How many calls of any of `methods` were made.
    pub fn calls_of(&self, methods: &[&str]) -> usize {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|(m, _)| methods.contains(m)).count()
    }

    /// The methods called on `thread`, in call order.
    pub fn called_on(&self, thread: ThreadId) -> Vec<&'static str> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|(_, t)| *t == thread)
            .map(|(m, _)| *m)
            .collect()
    }

    /// Every method called so far, in call order.
    pub fn methods(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().iter().map(|(m, _)| *m).collect()
    }
}

impl PhotoStore for ObservedStore {
    fn photo_put(&self, id: &str, photo: &StoredPhoto) -> Result<(), StoreError> {
        self.record("photo_put");
        self.inner.photo_put(id, photo)
    }
    fn photo_get(&self, id: &str) -> Result<Option<StoredPhoto>, StoreError> {
        self.record("photo_get");
        self.inner.photo_get(id)
    }
    fn photo_delete(&self, id: &str) -> Result<bool, StoreError> {
        self.record("photo_delete");
        self.inner.photo_delete(id)
    }
    fn photo_sweep(&self, now_ms: u64) -> Result<usize, StoreError> {
        self.record("photo_sweep");
        self.inner.photo_sweep(now_ms)
    }
}

impl Store for ObservedStore {
    fn ping(&self) -> Result<(), StoreError> {
        self.record("ping");
        self.inner.ping()
    }
    fn insert_task(&self, first: &TryOnView, job: &TryOnJob) -> Result<(), StoreError> {
        self.record("insert_task");
        self.inner.insert_task(first, job)
    }
    fn append_event(&self, id: &str, n: u64, view: &TryOnView) -> Result<(), StoreError> {
        self.record("append_event");
        self.inner.append_event(id, n, view)
    }
    fn save_upstream(&self, id: &str, state: &serde_json::Value) -> Result<(), StoreError> {
        self.record("save_upstream");
        self.inner.save_upstream(id, state)
    }
    fn finish_task(
        &self,
        id: &str,
        n: u64,
        view: &TryOnView,
        result: Option<&TryOnOutput>,
        at: u64,
    ) -> Result<(), StoreError> {
        self.record("finish_task");
        self.inner.finish_task(id, n, view, result, at)
    }
    fn delete_task(&self, id: &str) -> Result<(), StoreError> {
        self.record("delete_task");
        self.inner.delete_task(id)
    }
    fn load_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        self.record("load_tasks");
        self.inner.load_tasks()
    }
    fn result(&self, id: &str) -> Result<Option<TryOnOutput>, StoreError> {
        self.record("result");
        self.inner.result(id)
    }
    fn idempotency_get(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.record("idempotency_get");
        self.inner.idempotency_get(key)
    }
    fn idempotency_put(&self, key: &str, record: &IdempotencyRecord) -> Result<bool, StoreError> {
        self.record("idempotency_put");
        self.inner.idempotency_put(key, record)
    }
    fn idempotency_sweep(&self, before_ms: u64) -> Result<usize, StoreError> {
        self.record("idempotency_sweep");
        self.inner.idempotency_sweep(before_ms)
    }
    fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.record("cache_get");
        self.inner.cache_get(key)
    }
    fn cache_put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.record("cache_put");
        self.inner.cache_put(key, value, ttl)
    }
    fn take_in_window(
        &self,
        key: &str,
        call: u64,
        limit: u32,
        window: Duration,
    ) -> Result<Result<(), Duration>, StoreError> {
        self.record("take_in_window");
        self.inner.take_in_window(key, call, limit, window)
    }
    fn answered_in_window(&self, key: &str, call: u64, window: Duration) -> Result<(), StoreError> {
        self.record("answered_in_window");
        self.inner.answered_in_window(key, call, window)
    }
    fn compact(&self) -> Result<(), StoreError> {
        self.record("compact");
        self.inner.compact()
    }
    fn shared(&self) -> bool {
        true
    }
    fn load_task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        self.record("load_task");
        self.inner.load_task(id)
    }
    fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        self.record("unfinished");
        self.inner.unfinished()
    }
    fn claim(&self, id: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.record("claim");
        self.inner.claim(id, holder, ttl)
    }
    fn release(&self, id: &str, holder: &str) -> Result<(), StoreError> {
        self.record("release");
        self.inner.release(id, holder)
    }
    fn hand_over(&self, ids: &[String], holder: &str) -> Result<usize, StoreError> {
        self.record("hand_over");
        self.inner.hand_over(ids, holder)
    }
    fn idempotency_lock(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.record("idempotency_lock");
        self.inner.idempotency_lock(key, ttl)
    }
    fn idempotency_unlock(&self, key: &str) -> Result<(), StoreError> {
        self.record("idempotency_unlock");
        self.inner.idempotency_unlock(key)
    }
    fn subscribe(&self, listener: Weak<dyn Fn(RemoteEvent) + Send + Sync>) {
        self.inner.subscribe(listener);
    }
    fn notify(&self, topic: &str, message: &str) -> Result<(), StoreError> {
        self.record("notify");
        self.inner.notify(topic, message)
    }
    fn watch(&self, topic: &str, listener: Weak<dyn Fn(&str) + Send + Sync>) {
        self.inner.watch(topic, listener);
    }
}

#[async_trait]
impl CounterStore for ObservedStore {
    async fn take(
        &self,
        key: &str,
        rule: BucketRule,
        now_ms: u64,
    ) -> Result<Result<(), Duration>, CounterError> {
        self.inner.take(key, rule, now_ms).await
    }
    async fn reserve_daily(&self, key: &str, day: u64, limit: u64) -> Result<bool, CounterError> {
        self.inner.reserve_daily(key, day, limit).await
    }
    async fn release_daily(&self, key: &str, day: u64) -> Result<(), CounterError> {
        self.inner.release_daily(key, day).await
    }
    async fn daily_count(&self, key: &str, day: u64) -> Result<u64, CounterError> {
        self.inner.daily_count(key, day).await
    }
}
