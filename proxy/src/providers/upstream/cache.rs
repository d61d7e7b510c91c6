//! Answers that depend only on an image's bytes, kept so the same image is never paid for twice.
//!
//! A product's garment image is classified or uploaded once however many shoppers try it on;
//! a shopper who re-checks the same photo gets the stored verdict. Only a hash of the image and
//! the vendor's answer are kept, never the image. Concurrent requests for the same image wait
//! for one upstream call (single flight) instead of each paying for their own; a failed call is
//! not cached, so the next request tries again.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

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
        }
    }

    /// The cached answer for `hash`, or the result of `fetch` (stored only if it succeeded).
    pub async fn get_or_try_fetch<E, F, Fut>(&self, hash: ContentHash, fetch: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = self.cell(hash);
        cell.get_or_try_init(fetch).await.cloned()
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
