//! Identical submissions within a short window become one task.
//!
//! A double click, a page reload mid-upload or a second tab can send the same photo, garment
//! and options twice without the same `Idempotency-Key`; each would be a paid try-on. The
//! form's fingerprint (a hash over every field, photo bytes included) identifies such a
//! repeat: within [`WINDOW`] it gets the existing task instead of a new one, and while the
//! first is still being created the repeat is told to retry (409), never given a second task.
//!
//! Instances sharing a store (issue 7) also mark and remember fingerprints there, so the
//! repeat is recognised whichever instance the load balancer sends it to. The store holds
//! the fingerprint's hash and the task id, never the photos.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::{Store, off_runtime, off_runtime_detached};

/// How long an identical submission returns the existing task.
pub const WINDOW: Duration = Duration::from_secs(10 * 60);

/// How long a shared "being created" mark outlives an instance that died while creating.
const SHARED_MARK_TTL: Duration = Duration::from_secs(60);

type Fingerprint = [u8; 32];

#[derive(Debug, Clone)]
enum Entry {
    Creating,
    Created { task_id: String, at: Instant },
}

/// Recent fingerprints and the task each created.
#[derive(Default)]
pub struct RecentSubmissions {
    entries: Arc<Mutex<HashMap<Fingerprint, Entry>>>,
    shared: Option<Arc<dyn Store>>,
}

/// A fingerprint's name in the shared store.
fn shared_key(fingerprint: &Fingerprint) -> String {
    format!("recent:{}", hex::encode(fingerprint))
}

/// What to do with a submission.
#[derive(Debug)]
pub enum Submission {
    /// The same submission created this task less than [`WINDOW`] ago.
    Existing(String),
    /// The same submission is being created right now.
    InFlight,
    /// New: create the task, then [`SubmissionGuard::created`].
    Fresh(SubmissionGuard),
}

/// Marks a fingerprint as being created; dropping it without [`SubmissionGuard::created`]
/// (the create failed) forgets the fingerprint so a corrected retry is not blocked.
pub struct SubmissionGuard {
    entries: Arc<Mutex<HashMap<Fingerprint, Entry>>>,
    fingerprint: Fingerprint,
    done: bool,
    shared: Option<Arc<dyn Store>>,
}

impl std::fmt::Debug for SubmissionGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubmissionGuard({})", hex::encode(self.fingerprint))
    }
}

impl SubmissionGuard {
    /// Remembers the task this submission created: at once in this process, and in the shared
    /// store (off the runtime's threads) before its mark there is released.
    pub async fn created(mut self, task_id: String) {
        self.done = true;
        lock(&self.entries).insert(
            self.fingerprint,
            Entry::Created {
                task_id: task_id.clone(),
                at: Instant::now(),
            },
        );
        if let Some(store) = self.shared.clone() {
            let key = shared_key(&self.fingerprint);
            off_runtime(move || {
                if let Err(error) = store.cache_put(&key, task_id.as_bytes(), WINDOW) {
                    tracing::warn!(%error, "a submission could not be remembered in the store");
                }
                let _ = store.idempotency_unlock(&key);
            })
            .await;
        }
    }
}

impl Drop for SubmissionGuard {
    fn drop(&mut self) {
        if !self.done {
            lock(&self.entries).remove(&self.fingerprint);
            if let Some(store) = self.shared.clone() {
                // The mark also expires on its own; nobody waits for its release.
                let key = shared_key(&self.fingerprint);
                off_runtime_detached(move || {
                    let _ = store.idempotency_unlock(&key);
                });
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RecentSubmissions {
    /// Also marks and remembers submissions in `store`, which other instances share.
    pub fn shared_through(store: Arc<dyn Store>) -> Self {
        Self {
            entries: Arc::default(),
            shared: Some(store),
        }
    }

    /// What the shared store knows of `fingerprint`: `None` to go on creating, after marking
    /// it as being created there. A store that does not answer decides nothing (the create
    /// then fails closed on the same store).
    fn shared_verdict(
        &self,
        fingerprint: &Fingerprint,
        reusable: &impl Fn(&str) -> bool,
    ) -> Option<Submission> {
        let store = self.shared.as_ref()?;
        let key = shared_key(fingerprint);
        if let Ok(Some(stored)) = store.cache_get(&key)
            && let Ok(task_id) = String::from_utf8(stored)
            && reusable(&task_id)
        {
            return Some(Submission::Existing(task_id));
        }
        match store.idempotency_lock(&key, SHARED_MARK_TTL) {
            Ok(false) => Some(Submission::InFlight),
            _ => None,
        }
    }

    /// Looks `fingerprint` up; `reusable` says whether a remembered task may be handed out
    /// again (a failed or deleted one may not: the shopper is trying again on purpose).
    ///
    /// No lock is held while the store (or `reusable`, which may read it) is asked (issue 13):
    /// the map is looked at, let go, and taken again to record the creation.
    pub fn begin(&self, fingerprint: Fingerprint, reusable: impl Fn(&str) -> bool) -> Submission {
        let remembered = match lock(&self.entries).get(&fingerprint) {
            Some(Entry::Creating) => return Submission::InFlight,
            Some(Entry::Created { task_id, at }) if at.elapsed() < WINDOW => Some(task_id.clone()),
            _ => None,
        };
        if let Some(task_id) = remembered.filter(|task_id| reusable(task_id)) {
            return Submission::Existing(task_id);
        }
        if let Some(verdict) = self.shared_verdict(&fingerprint, &reusable) {
            return verdict;
        }
        let mut entries = lock(&self.entries);
        // Another request with the same submission may have begun meanwhile.
        if matches!(entries.get(&fingerprint), Some(Entry::Creating)) {
            if let Some(store) = &self.shared {
                let _ = store.idempotency_unlock(&shared_key(&fingerprint));
            }
            return Submission::InFlight;
        }
        entries.insert(fingerprint, Entry::Creating);
        Submission::Fresh(SubmissionGuard {
            entries: self.entries.clone(),
            fingerprint,
            done: false,
            shared: self.shared.clone(),
        })
    }

    /// Forgets submissions older than the window.
    pub fn sweep(&self) {
        lock(&self.entries).retain(|_, entry| match entry {
            Entry::Creating => true,
            Entry::Created { at, .. } => at.elapsed() < WINDOW,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slow_reusability_check_holds_up_no_other_submission() {
        let recent = Arc::new(RecentSubmissions::default());
        let Submission::Fresh(guard) = recent.begin([1; 32], |_| true) else {
            panic!("first is fresh")
        };
        guard.created("task-1".into()).await;
        // The repeat's check (a store read on several instances) hangs until released.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let slow = {
            let recent = recent.clone();
            std::thread::spawn(move || {
                recent.begin([1; 32], |_| {
                    let _ = released.recv();
                    true
                })
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (done, finished) = std::sync::mpsc::channel();
        let other = {
            let recent = recent.clone();
            std::thread::spawn(move || {
                let fresh = matches!(recent.begin([2; 32], |_| true), Submission::Fresh(_));
                let _ = done.send(fresh);
            })
        };
        let answered = finished.recv_timeout(std::time::Duration::from_secs(2));
        release.send(()).unwrap();
        assert_eq!(
            answered,
            Ok(true),
            "another submission waited for the slow check"
        );
        assert!(matches!(slow.join().unwrap(), Submission::Existing(id) if id == "task-1"));
        other.join().unwrap();
    }

    #[tokio::test]
    async fn a_repeat_gets_the_existing_task_and_a_concurrent_repeat_waits() {
        let recent = RecentSubmissions::default();
        let Submission::Fresh(guard) = recent.begin([1; 32], |_| true) else {
            panic!("first is fresh")
        };
        assert!(matches!(
            recent.begin([1; 32], |_| true),
            Submission::InFlight
        ));
        guard.created("task-1".into()).await;
        assert!(
            matches!(recent.begin([1; 32], |_| true), Submission::Existing(id) if id == "task-1")
        );
        assert!(
            matches!(recent.begin([2; 32], |_| true), Submission::Fresh(_)),
            "another submission is new"
        );
    }

    #[tokio::test]
    async fn failed_tasks_and_failed_creates_are_not_reused() {
        let recent = RecentSubmissions::default();
        let Submission::Fresh(guard) = recent.begin([1; 32], |_| true) else {
            panic!("fresh")
        };
        guard.created("failed-task".into()).await;
        assert!(
            matches!(recent.begin([1; 32], |_| false), Submission::Fresh(_)),
            "a failed task is retried"
        );
        let recent = RecentSubmissions::default();
        drop(recent.begin([3; 32], |_| true));
        assert!(
            matches!(recent.begin([3; 32], |_| true), Submission::Fresh(_)),
            "an abandoned create is forgotten"
        );
    }
}
