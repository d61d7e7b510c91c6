//! Answers that depend only on an image's bytes, kept so the same image is never paid for twice.
//!
//! A product's garment image is classified or uploaded once however many shoppers try it on;
//! a shopper who re-checks the same photo gets the stored verdict. Only a hash of the image and
//! the vendor's answer are kept, never the image. Concurrent requests for the same image wait
//! for one upstream call (single flight) instead of each paying for their own; a failed call is
//! not cached, so the next request tries again.
//!
//! Several instances on one shared store (issue 7) also keep the answers there
//! ([`ContentCache::share_through`]), so an image checked on one instance is not paid for
//! again on another. The store is a second level: a store that does not answer only costs a
//! vendor call.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::store::Store;

/// SHA-256 of an image's bytes.
pub type ContentHash = [u8; 32];

pub fn content_hash(bytes: &[u8]) -> ContentHash {
    Sha256::digest(bytes).into()
}

/// A bounded map from content hash to a vendor's answer; the oldest entries go first.
#[derive(Debug)]
pub struct ContentCache<V> {
    capacity: usize,
    inner: Mutex<Entries<V>>,
    shared: OnceLock<SharedLevel>,
}

/// The answers other instances see, in the shared store under `{namespace}:{hash}`.
struct SharedLevel {
    store: Arc<dyn Store>,
    namespace: String,
    ttl: Duration,
}

impl std::fmt::Debug for SharedLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedLevel({})", self.namespace)
    }
}

impl SharedLevel {
    fn key(&self, hash: &ContentHash) -> String {
        format!("{}:{}", self.namespace, hex::encode(hash))
    }

    async fn get<V: DeserializeOwned>(&self, hash: &ContentHash) -> Option<V> {
        let (store, key) = (self.store.clone(), self.key(hash));
        match tokio::task::spawn_blocking(move || store.cache_get(&key)).await {
            Ok(Ok(Some(bytes))) => serde_json::from_slice(&bytes).ok(),
            Ok(Ok(None)) => None,
            Ok(Err(error)) => {
                tracing::warn!(%error, "shared answer cache unavailable; asking the vendor");
                None
            }
            Err(_) => None,
        }
    }

    async fn put<V: Serialize>(&self, hash: &ContentHash, value: &V) {
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        let (store, key, ttl) = (self.store.clone(), self.key(hash), self.ttl);
        if let Ok(Err(error)) =
            tokio::task::spawn_blocking(move || store.cache_put(&key, &bytes, ttl)).await
        {
            tracing::warn!(%error, "shared answer cache unavailable; answer kept here only");
        }
    }
}

#[derive(Debug)]
struct Entries<V> {
    cells: HashMap<ContentHash, Arc<OnceCell<V>>>,
    order: VecDeque<ContentHash>,
}

impl<V: Clone> ContentCache<V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries {
                cells: HashMap::new(),
                order: VecDeque::new(),
            }),
            shared: OnceLock::new(),
        }
    }

    /// Keeps answers in `store` too, under `namespace` (which says whose answers they are),
    /// for `ttl`, so instances sharing the store share them. Only the first call takes effect.
    pub fn share_through(&self, store: Arc<dyn Store>, namespace: &str, ttl: Duration) {
        let _ = self.shared.set(SharedLevel {
            store,
            namespace: namespace.to_owned(),
            ttl,
        });
    }

    /// The cached answer for `hash` (here, else in the shared store), or the result of
    /// `fetch` (stored only if it succeeded).
    pub async fn get_or_try_fetch<E, F, Fut>(&self, hash: ContentHash, fetch: F) -> Result<V, E>
    where
        V: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = self.cell(hash);
        cell.get_or_try_init(|| async {
            let Some(shared) = self.shared.get() else {
                return fetch().await;
            };
            if let Some(known) = shared.get(&hash).await {
                return Ok(known);
            }
            let fetched = fetch().await?;
            shared.put(&hash, &fetched).await;
            Ok(fetched)
        })
        .await
        .cloned()
    }

    /// The cached answer, if any; never calls upstream.
    pub fn get(&self, hash: &ContentHash) -> Option<V> {
        self.lock()
            .cells
            .get(hash)
            .and_then(|cell| cell.get().cloned())
    }

    /// Forgets `hash` (e.g. the vendor no longer knows an uploaded image's id).
    pub fn remove(&self, hash: &ContentHash) {
        let mut entries = self.lock();
        entries.cells.remove(hash);
        entries.order.retain(|h| h != hash);
    }

    fn cell(&self, hash: ContentHash) -> Arc<OnceCell<V>> {
        let mut entries = self.lock();
        if let Some(cell) = entries.cells.get(&hash) {
            return cell.clone();
        }
        while entries.order.len() >= self.capacity {
            if let Some(oldest) = entries.order.pop_front() {
                entries.cells.remove(&oldest);
            }
        }
        let cell = Arc::new(OnceCell::new());
        entries.cells.insert(hash, cell.clone());
        entries.order.push_back(hash);
        cell
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_requests_for_one_image_make_one_call() {
        let cache = Arc::new(ContentCache::<u32>::new(8));
        let calls = Arc::new(AtomicU32::new(0));
        let hash = content_hash(b"garment");
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (cache, calls) = (cache.clone(), calls.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_try_fetch(hash, || async {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            Ok::<_, ()>(7)
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(7));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failures_are_not_cached_and_old_entries_are_evicted() {
        let cache = ContentCache::<u32>::new(2);
        let a = content_hash(b"a");
        assert_eq!(
            cache
                .get_or_try_fetch(a, || async { Err::<u32, _>("down") })
                .await,
            Err("down")
        );
        assert_eq!(
            cache.get_or_try_fetch(a, || async { Ok::<_, ()>(1) }).await,
            Ok(1)
        );
        cache
            .get_or_try_fetch(content_hash(b"b"), || async { Ok::<_, ()>(2) })
            .await
            .unwrap();
        cache
            .get_or_try_fetch(content_hash(b"c"), || async { Ok::<_, ()>(3) })
            .await
            .unwrap();
        assert_eq!(
            cache.get(&a),
            None,
            "the oldest entry should have been evicted"
        );
        assert_eq!(cache.get(&content_hash(b"c")), Some(3));
    }
}
