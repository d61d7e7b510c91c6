//! The store in this process's memory: for tests and for embedding the proxy as a library.
//! Everything is lost with the process, exactly as before issue 7.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::photos::{PhotoStore, StoredPhoto};
use super::{IdempotencyRecord, Store, StoreError, TaskRecord, now_ms};
use crate::abuse::{self, BucketRule, CounterStore};
use crate::job::{TryOnJob, TryOnOutput};
use crate::wire::TryOnView;

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    counters: abuse::MemoryStore,
}

#[derive(Default)]
struct State {
    /// Task records in creation order.
    tasks: Vec<TaskRecord>,
    results: HashMap<String, TryOnOutput>,
    idempotency: HashMap<String, IdempotencyRecord>,
    cache: HashMap<String, (Vec<u8>, u64)>,
    /// Call times (ms) per upstream budget: several limiters on one memory store (tests)
    /// share a window as instances on Redis do.
    windows: HashMap<String, VecDeque<u64>>,
    /// Uploaded photos by id.
    photos: HashMap<String, StoredPhoto>,
}

impl MemoryStore {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn task(&mut self, id: &str) -> Option<&mut TaskRecord> {
        self.tasks.iter_mut().find(|task| task.id == id)
    }
}

impl Store for MemoryStore {
    fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn insert_task(&self, first: &TryOnView, job: &TryOnJob) -> Result<(), StoreError> {
        self.state().tasks.push(TaskRecord {
            id: first.id.clone(),
            log: vec![first.clone()],
            job: Some(job.clone()),
            upstream: None,
            finished_at_ms: None,
        });
        Ok(())
    }

    fn append_event(&self, id: &str, event_id: u64, view: &TryOnView) -> Result<(), StoreError> {
        if let Some(task) = self.state().task(id) {
            task.log.truncate(event_id.saturating_sub(1) as usize);
            task.log.push(view.clone());
        }
        Ok(())
    }

    fn save_upstream(&self, id: &str, state: &serde_json::Value) -> Result<(), StoreError> {
        if let Some(task) = self.state().task(id) {
            task.upstream = Some(state.clone());
        }
        Ok(())
    }

    fn finish_task(
        &self,
        id: &str,
        event_id: u64,
        view: &TryOnView,
        result: Option<&TryOnOutput>,
        finished_at_ms: u64,
    ) -> Result<(), StoreError> {
        self.append_event(id, event_id, view)?;
        let mut state = self.state();
        if let Some(task) = state.task(id) {
            task.job = None;
            task.upstream = None;
            task.finished_at_ms = Some(finished_at_ms);
        }
        if let Some(output) = result {
            state.results.insert(id.to_owned(), output.clone());
        }
        Ok(())
    }

    fn delete_task(&self, id: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        state.tasks.retain(|task| task.id != id);
        state.results.remove(id);
        Ok(())
    }

    fn load_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        Ok(self.state().tasks.clone())
    }

    fn result(&self, id: &str) -> Result<Option<TryOnOutput>, StoreError> {
        Ok(self.state().results.get(id).cloned())
    }

    fn idempotency_get(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.state().idempotency.get(key).cloned())
    }

    fn idempotency_put(&self, key: &str, record: &IdempotencyRecord) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.idempotency.contains_key(key) {
            return Ok(false);
        }
        state.idempotency.insert(key.to_owned(), record.clone());
        Ok(true)
    }

    fn idempotency_sweep(&self, created_before_ms: u64) -> Result<usize, StoreError> {
        let mut state = self.state();
        let before = state.idempotency.len();
        state
            .idempotency
            .retain(|_, record| record.created_ms >= created_before_ms);
        Ok(before - state.idempotency.len())
    }

    fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = now_ms();
        Ok(self
            .state()
            .cache
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(value, _)| value.clone()))
    }

    fn cache_put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let now = now_ms();
        let mut state = self.state();
        state.cache.retain(|_, (_, expires)| *expires > now);
        state.cache.insert(
            key.to_owned(),
            (value.to_vec(), now + ttl.as_millis() as u64),
        );
        Ok(())
    }

    fn take_in_window(
        &self,
        key: &str,
        _call: u64,
        limit: u32,
        window: Duration,
    ) -> Result<Result<(), Duration>, StoreError> {
        let (now, window) = (now_ms(), window.as_millis() as u64);
        let mut state = self.state();
        let calls = state.windows.entry(key.to_owned()).or_default();
        while calls
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= window)
        {
            calls.pop_front();
        }
        if calls.len() < limit as usize {
            calls.push_back(now);
            return Ok(Ok(()));
        }
        let oldest = calls.front().copied().unwrap_or(now);
        Ok(Err(Duration::from_millis((oldest + window - now).max(1))))
    }
}

impl PhotoStore for MemoryStore {
    fn photo_put(&self, id: &str, photo: &StoredPhoto) -> Result<(), StoreError> {
        self.state().photos.insert(id.to_owned(), photo.clone());
        Ok(())
    }

    fn photo_get(&self, id: &str) -> Result<Option<StoredPhoto>, StoreError> {
        let now = now_ms();
        let state = self.state();
        Ok(state.photos.get(id).filter(|p| p.expires_ms > now).cloned())
    }

    fn photo_delete(&self, id: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let removed = self.state().photos.remove(id);
        Ok(removed.is_some_and(|p| p.expires_ms > now))
    }

    fn photo_sweep(&self, now_ms: u64) -> Result<usize, StoreError> {
        let mut state = self.state();
        let before = state.photos.len();
        state.photos.retain(|_, p| p.expires_ms > now_ms);
        Ok(before - state.photos.len())
    }
}

#[async_trait]
impl CounterStore for MemoryStore {
    async fn take(
        &self,
        key: &str,
        rule: BucketRule,
        now_ms: u64,
    ) -> Result<Result<(), Duration>, abuse::StoreError> {
        self.counters.take(key, rule, now_ms).await
    }

    async fn reserve_daily(
        &self,
        key: &str,
        day: u64,
        limit: u64,
    ) -> Result<bool, abuse::StoreError> {
        self.counters.reserve_daily(key, day, limit).await
    }

    async fn release_daily(&self, key: &str, day: u64) -> Result<(), abuse::StoreError> {
        self.counters.release_daily(key, day).await
    }

    async fn daily_count(&self, key: &str, day: u64) -> Result<u64, abuse::StoreError> {
        self.counters.daily_count(key, day).await
    }
}
