//! Writes what tasks publish to the store, in publishing order, on a thread of its own.
//!
//! Why (issue 13): on Redis every write is a network round trip that can stall for its whole
//! timeout. Events are published under a task's lock and on the runtime's threads (a provider
//! reporting progress, the line announcing positions under the line lock), where a write would
//! hold the lock and a runtime worker for as long as Redis stalls, and with them every request.
//! So publishing only appends the event to the task's log and queues its write here.
//!
//! The writer stores an event first and shows it to the task's watchers after, so nobody sees
//! an event a restart could lose (unless the store refused it: that is logged, and the next
//! write of the task stores the missed ones first, as before). One thread for every task keeps
//! each task's writes in order, and a delete waits behind its task's queued writes, so no late
//! write brings a deleted task back.

use std::sync::{Arc, mpsc};

use super::{Task, lock};
use crate::job::TryOnOutput;
use crate::store::{Store, StoreError};

/// A write the writer thread makes.
pub(super) enum Write {
    /// Event `event_id` of `task`, already in its log.
    Event { task: Arc<Task>, event_id: u64 },
    /// The terminal event `event_id` of `task`, with its result, in one store call.
    Finish {
        task: Arc<Task>,
        event_id: u64,
        result: Option<TryOnOutput>,
        finished_at_ms: u64,
    },
    /// What the provider recorded about its upstream task, to resume it after a restart.
    Upstream {
        task: Arc<Task>,
        state: serde_json::Value,
    },
    /// Forgets the task `id`; answers on `done` once it is gone from the store.
    Delete { id: String, done: mpsc::Sender<()> },
    /// Answers on `done` once every write queued before it is made.
    Flush { done: mpsc::Sender<()> },
}

/// The queue to the writer thread, which ends when the registry (the queue) is dropped.
pub(super) struct Writer {
    queue: mpsc::Sender<Write>,
}

impl Writer {
    pub(super) fn start(store: Arc<dyn Store>) -> Self {
        let (queue, writes) = mpsc::channel();
        std::thread::Builder::new()
            .name("tryon-store-writer".into())
            .spawn(move || {
                for write in writes {
                    make(store.as_ref(), write);
                }
            })
            .expect("the store writer thread starts");
        Self { queue }
    }

    /// Queues `write`; it is made after every write queued before it.
    pub(super) fn send(&self, write: Write) {
        if self.queue.send(write).is_err() {
            // Only a panic in the writer closes the queue; what it would have stored is lost,
            // and says so once per write.
            tracing::error!("the store writer stopped; a task change was not stored");
        }
    }

    /// Deletes task `id` from the store once its queued writes are made, and waits for it: a
    /// blocking call (off the runtime's threads, like every store call).
    pub(super) fn delete(&self, id: &str) {
        let (done, deleted) = mpsc::channel();
        self.send(Write::Delete {
            id: id.to_owned(),
            done,
        });
        let _ = deleted.recv();
    }

    /// Waits until every write queued so far is made (on shutdown); blocking.
    pub(super) fn flush(&self) {
        let (done, flushed) = mpsc::channel();
        self.send(Write::Flush { done });
        let _ = flushed.recv();
    }
}

fn make(store: &dyn Store, write: Write) {
    match write {
        Write::Event { task, event_id } => {
            store_events(store, &task, event_id, |store, id, n, view| {
                store.append_event(id, n, view)
            });
            task.show(event_id);
        }
        Write::Finish {
            task,
            event_id,
            result,
            finished_at_ms,
        } => {
            store_events(store, &task, event_id, |store, id, n, view| {
                if n == event_id {
                    store.finish_task(id, n, view, result.as_ref(), finished_at_ms)
                } else {
                    store.append_event(id, n, view)
                }
            });
            task.show(event_id);
        }
        Write::Upstream { task, state } => {
            if lock(&task.state).removed {
                return;
            }
            if let Err(error) = store.save_upstream(&task.id, &state) {
                // Without it a restart would run the task again instead of polling it.
                tracing::error!(task = %task.id, %error, "storing the upstream task failed");
            }
        }
        Write::Delete { id, done } => {
            if let Err(error) = store.delete_task(&id) {
                tracing::error!(task = %id, %error, "deleting a task from the store failed");
            }
            let _ = done.send(());
        }
        Write::Flush { done } => {
            let _ = done.send(());
        }
    }
}

/// Stores `task`'s events up to `through` that are not stored yet, oldest first, each with
/// `write`; stops at the first failure (the next write of the task tries again). Nothing is
/// written for a deleted task.
fn store_events(
    store: &dyn Store,
    task: &Task,
    through: u64,
    write: impl Fn(&dyn Store, &str, u64, &crate::wire::TryOnView) -> Result<(), StoreError>,
) {
    let (first, missing) = {
        let state = lock(&task.state);
        if state.removed || state.stored >= through {
            return;
        }
        let from = state.stored as usize;
        (state.stored + 1, state.log[from..through as usize].to_vec())
    };
    for (n, view) in (first..).zip(&missing) {
        if let Err(error) = write(store, &task.id, n, view) {
            // Watchers of this process still get the event; the next write stores it too.
            tracing::error!(task = %task.id, %error, "storing a task event failed");
            return;
        }
        let mut state = lock(&task.state);
        state.stored = state.stored.max(n);
    }
}
