//! Vendor webhooks as an early wake-up for a task's poll loop, whichever instance they land on.
//!
//! A webhook reaches the instance the load balancer picked, which need not be the one driving
//! the task, and it may even come before the driver starts waiting for it (the create's
//! answer still on its way). So a verified event for a task that does not wait here is kept
//! here for a while, and on a shared store (issue 13) handed to every instance: stored under
//! `webhook:{vendor}:{task}` (a driver that starts waiting later looks there once) and
//! announced on the store's `webhook:{vendor}` topic (a driver already waiting wakes at once).
//!
//! Webhooks are never required. Adapters poll on the same plan with webhooks on as without,
//! so a webhook that is late, lost or delivered to an instance that is down costs nothing but
//! the time it could have saved.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::store::Store;

/// How long an event waits for its task to start waiting for it (here or in the store).
const KEPT_FOR: Duration = Duration::from_secs(600);
/// Events kept here for tasks that do not wait (yet); the oldest go first.
const KEPT_AT_MOST: usize = 1024;

/// The tasks of one vendor that wait for a webhook, and the events that came early.
pub struct WebhookInbox {
    vendor: &'static str,
    local: Arc<Local>,
    shared: OnceLock<Shared>,
}

#[derive(Default)]
struct Local {
    waiting: Mutex<HashMap<String, Arc<Waiter>>>,
    early: Mutex<VecDeque<(String, Bytes, Instant)>>,
}

struct Shared {
    store: Arc<dyn Store>,
    /// Kept alive as long as the inbox: the store holds it weakly.
    _listener: Arc<dyn Fn(&str) + Send + Sync>,
}

/// One task waiting for its webhook: `wake` ends its poll loop's pause.
#[derive(Default)]
pub struct Waiter {
    pub wake: Notify,
    event: Mutex<Option<Bytes>>,
}

impl Waiter {
    /// The event's verified body, once (later deliveries of it are ignored).
    pub fn take(&self) -> Option<Bytes> {
        lock(&self.event).take()
    }

    fn put(&self, body: Bytes) {
        let mut slot = lock(&self.event);
        if slot.is_none() {
            *slot = Some(body);
            drop(slot);
            self.wake.notify_one();
        }
    }
}

/// A task's place in the inbox; leaving it (dropping this) stops the waiting.
pub struct Registration<'a> {
    inbox: &'a WebhookInbox,
    id: String,
    waiter: Arc<Waiter>,
}

impl Registration<'_> {
    pub fn waiter(&self) -> &Waiter {
        &self.waiter
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut waiting = lock(&self.inbox.local.waiting);
        if waiting
            .get(&self.id)
            .is_some_and(|w| Arc::ptr_eq(w, &self.waiter))
        {
            waiting.remove(&self.id);
        }
    }
}

impl WebhookInbox {
    /// `vendor` names the store's topic and keys.
    pub fn new(vendor: &'static str) -> Self {
        Self {
            vendor,
            local: Arc::default(),
            shared: OnceLock::new(),
        }
    }

    /// Several instances share `store`: events that land elsewhere reach this instance's
    /// waiting tasks through it. Only the first call takes effect.
    pub fn share_through(&self, store: &Arc<dyn Store>) {
        if self.shared.get().is_some() {
            return;
        }
        let local = self.local.clone();
        let listener: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(move |notice: &str| {
            if let Some((id, body)) = notice.split_once('\n') {
                local.deliver(id, Bytes::copy_from_slice(body.as_bytes()));
            }
        });
        store.watch(&self.topic(), Arc::downgrade(&listener));
        let _ = self.shared.set(Shared {
            store: store.clone(),
            _listener: listener,
        });
    }

    fn topic(&self) -> String {
        format!("webhook:{}", self.vendor)
    }

    fn key(&self, id: &str) -> String {
        format!("webhook:{}:{id}", self.vendor)
    }

    /// Starts waiting for task `id`'s event; one that came before, here or at another
    /// instance, is already there.
    pub async fn register(&self, id: &str) -> Registration<'_> {
        let waiter = Arc::new(Waiter::default());
        lock(&self.local.waiting).insert(id.to_owned(), waiter.clone());
        if let Some(body) = self.local.take_early(id) {
            waiter.put(body);
        } else if let Some(shared) = self.shared.get() {
            let (store, key) = (shared.store.clone(), self.key(id));
            match tokio::task::spawn_blocking(move || store.cache_get(&key)).await {
                Ok(Ok(Some(body))) => waiter.put(body.into()),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "could not look for an early webhook in the store");
                }
                _ => {}
            }
        }
        Registration {
            inbox: self,
            id: id.to_owned(),
            waiter,
        }
    }

    /// A verified event for task `id` (a vendor id, safe in a key): wakes the task if it
    /// waits here, and otherwise hands it to whichever instance drives it.
    pub async fn deliver(&self, id: &str, body: &[u8]) {
        if self.local.deliver(id, Bytes::copy_from_slice(body)) {
            return;
        }
        let Some(shared) = self.shared.get() else {
            return;
        };
        let store = shared.store.clone();
        let (key, topic) = (self.key(id), self.topic());
        let notice = format!("{id}\n{}", String::from_utf8_lossy(body));
        let body = body.to_vec();
        let handed = tokio::task::spawn_blocking(move || {
            store.cache_put(&key, &body, KEPT_FOR)?;
            store.notify(&topic, &notice)
        })
        .await;
        if let Ok(Err(error)) = handed {
            tracing::warn!(%error, vendor = self.vendor, "could not hand a webhook to the other instances; their polls will find the result");
        }
    }
}

impl Local {
    /// Wakes task `id` if it waits here (true); otherwise keeps the event for a while.
    fn deliver(&self, id: &str, body: Bytes) -> bool {
        let waiter = lock(&self.waiting).get(id).cloned();
        match waiter {
            Some(waiter) => {
                waiter.put(body);
                true
            }
            None => {
                let mut early = lock(&self.early);
                let now = Instant::now();
                while early
                    .front()
                    .is_some_and(|(_, _, at)| now.duration_since(*at) > KEPT_FOR)
                    || early.len() >= KEPT_AT_MOST
                {
                    early.pop_front();
                }
                early.push_back((id.to_owned(), body, now));
                false
            }
        }
    }

    fn take_early(&self, id: &str) -> Option<Bytes> {
        let mut early = lock(&self.early);
        let position = early
            .iter()
            .position(|(early_id, _, at)| early_id == id && at.elapsed() <= KEPT_FOR)?;
        early.remove(position).map(|(_, body, _)| body)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_event_wakes_its_waiter_once_and_an_early_one_is_kept_for_it() {
        let inbox = WebhookInbox::new("test");
        let registration = inbox.register("task_1").await;
        inbox.deliver("task_1", b"first").await;
        inbox.deliver("task_1", b"repeat").await;
        registration.waiter().wake.notified().await;
        assert_eq!(registration.waiter().take().as_deref(), Some(&b"first"[..]));
        assert_eq!(registration.waiter().take(), None);
        drop(registration);
        assert!(lock(&inbox.local.waiting).is_empty());

        inbox.deliver("task_2", b"early").await;
        let registration = inbox.register("task_2").await;
        registration.waiter().wake.notified().await;
        assert_eq!(registration.waiter().take().as_deref(), Some(&b"early"[..]));
    }

    #[tokio::test]
    async fn early_events_are_bounded() {
        let inbox = WebhookInbox::new("test");
        for n in 0..KEPT_AT_MOST + 10 {
            inbox.deliver(&format!("task_{n}"), b"{}").await;
        }
        assert_eq!(lock(&inbox.local.early).len(), KEPT_AT_MOST);
        assert!(inbox.local.take_early("task_0").is_none());
    }
}
