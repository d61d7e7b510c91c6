//! Issue 13: ids that no task can have are refused before the registry or the store is asked.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tryon_proxy::abuse::{BucketRule, CounterStore, StoreError as CounterError};
use tryon_proxy::providers::{TryOnJob, TryOnOutput};
use tryon_proxy::store::{
    IdempotencyRecord, MemoryStore, PhotoStore, Store, StoreError, StoredPhoto, TaskRecord,
};
use tryon_proxy::wire::TryOnView;

use crate::util::{SteppedProvider, TestServer, assert_problem};

/// A memory store that says it is shared (so the registry asks it about tasks it does not
/// hold) and counts the per-task reads and deletes.
#[derive(Default)]
struct CountingStore {
    inner: MemoryStore,
    task_reads: AtomicUsize,
}

impl CountingStore {
    fn count(&self) {
        self.task_reads.fetch_add(1, Ordering::SeqCst);
    }
    fn reads(&self) -> usize {
        self.task_reads.load(Ordering::SeqCst)
    }
}

impl PhotoStore for CountingStore {
    fn photo_put(&self, id: &str, photo: &StoredPhoto) -> Result<(), StoreError> {
        self.inner.photo_put(id, photo)
    }
    fn photo_get(&self, id: &str) -> Result<Option<StoredPhoto>, StoreError> {
        self.inner.photo_get(id)
    }
    fn photo_delete(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.photo_delete(id)
    }
    fn photo_sweep(&self, now_ms: u64) -> Result<usize, StoreError> {
        self.inner.photo_sweep(now_ms)
    }
}

impl Store for CountingStore {
    fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping()
    }
    fn insert_task(&self, first: &TryOnView, job: &TryOnJob) -> Result<(), StoreError> {
        self.inner.insert_task(first, job)
    }
    fn append_event(&self, id: &str, n: u64, view: &TryOnView) -> Result<(), StoreError> {
        self.inner.append_event(id, n, view)
    }
    fn save_upstream(&self, id: &str, state: &serde_json::Value) -> Result<(), StoreError> {
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
        self.inner.finish_task(id, n, view, result, at)
    }
    fn delete_task(&self, id: &str) -> Result<(), StoreError> {
        self.count();
        self.inner.delete_task(id)
    }
    fn load_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        self.inner.load_tasks()
    }
    fn result(&self, id: &str) -> Result<Option<TryOnOutput>, StoreError> {
        self.count();
        self.inner.result(id)
    }
    fn idempotency_get(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.idempotency_get(key)
    }
    fn idempotency_put(&self, key: &str, record: &IdempotencyRecord) -> Result<bool, StoreError> {
        self.inner.idempotency_put(key, record)
    }
    fn idempotency_sweep(&self, before_ms: u64) -> Result<usize, StoreError> {
        self.inner.idempotency_sweep(before_ms)
    }
    fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.cache_get(key)
    }
    fn cache_put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.inner.cache_put(key, value, ttl)
    }
    fn shared(&self) -> bool {
        true
    }
    fn load_task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        self.count();
        self.inner.load_task(id)
    }
}

#[async_trait]
impl CounterStore for CountingStore {
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
}

#[tokio::test]
async fn malformed_task_ids_are_404_problems_that_never_reach_the_store() {
    let store = Arc::new(CountingStore::default());
    let server = TestServer::start_on(SteppedProvider::new(), store.clone(), &[]).await;
    let long = "a".repeat(5000);
    let malformed = [
        "nope",
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        "%2e%2e%2fsecret",
        long.as_str(),
    ];
    for id in malformed {
        for suffix in ["", "/result", "/events"] {
            let response = server.get(&format!("/v1/tryons/{id}{suffix}")).await;
            let status = response.status().as_u16();
            let json = response.json().await.unwrap();
            assert_problem(status, &json, 404, "not_found");
        }
        let response = server
            .client
            .delete(server.url(&format!("/v1/tryons/{id}")))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_problem(status, &response.json().await.unwrap(), 404, "not_found");
    }
    assert_eq!(store.reads(), 0, "a malformed id reached the store");

    // The counter counts: a well-formed unknown id is looked up in the shared store.
    let (status, _) = server
        .get_json("/v1/tryons/0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(status, 404);
    assert!(store.reads() > 0, "a well-formed id is asked of the store");
}
