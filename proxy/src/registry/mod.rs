//! The task registry: every try-on from creation to expiry.
//!
//! Why it exists: a try-on costs money upstream and may be watched by any number of browser
//! tabs, so exactly one driver per task calls [`Provider::run`] and everybody else reads what
//! that driver published. Each change becomes a [`TryOnView`] snapshot appended to the task's
//! event log (event id = position in the log, starting at 1), and watchers are woken through a
//! `tokio::sync::watch` channel carrying the latest event id: fan-out, never polling.
//!
//! Tasks wait in a first-in-first-out queue for one of `max_running` slots. A single
//! dispatcher hands out the slots in creation order, so the queue positions shown to shoppers
//! are real. Photos live only in the queued task and then inside the running provider call:
//! they are gone the moment the task ends. Results stay for the retention time; a sweeper
//! removes expired tasks and `delete` removes one at once, cancelling it if it is still
//! queued or running.
//!
//! The registry is the in-process cache and fan-out; what must survive the process goes
//! through a [`Store`] (issue 7): each task's photos on create, every event as it is published,
//! the provider's upstream state, and the result together with the terminal event.
//! [`Registry::with_store`] reloads every task on start-up and resumes the unfinished ones:
//! the event ids continue where the log ended, so watchers that reconnect with
//! `Last-Event-ID` get the rest without gaps or repeats. A task whose provider reported
//! upstream state is [`Provider::resume`]d (polled, not created again); any other is run again
//! from its stored photos.
//!
//! On a shared store (Redis, several instances) a task may be created, driven and watched on
//! different instances. A task this instance does not know is loaded from the store when
//! somebody asks for it, and follows the events its driver publishes through the store, in
//! order (a gap is filled from the store's log), so `Last-Event-ID` works on any instance.
//! Exactly one instance drives a task: the one holding its lease, which it renews while the
//! task runs. Every instance looks for unfinished tasks whose lease has expired (their
//! instance died) and takes them over, resuming the upstream task, never creating it again.
//! An instance shutting down stops its drivers and gives their leases back, announced through
//! the store, so another instance takes those tasks over at once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, Stream};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::AbortHandle;

use self::writer::{Write, Writer};

mod writer;

use crate::job::{TryOnJob, TryOnOutput};
use crate::providers::{ProgressSink, ProgressUpdate, Provider, ProviderError};
use crate::store::{
    MemoryStore, RemoteEvent, Store, StoreError, TaskRecord, now_ms, off_runtime,
    off_runtime_detached,
};
use crate::wire::{ErrorCode, ProgressKind, ResultInfo, TaskError, TaskStatus, TryOnView, paths};

/// How the registry schedules and keeps tasks.
#[derive(Debug, Clone, Copy)]
pub struct RegistryOptions {
    /// Tasks running upstream at once; the rest wait in line.
    pub max_running: usize,
    /// How long a finished task (and its result) is kept.
    pub retention: Duration,
}

/// What `GET /v1/tryons/{id}/result` can find.
#[derive(Debug)]
pub enum ResultLookup {
    Unknown,
    NotReady,
    Ready(TryOnOutput),
}

/// How long a driver's lease on its task lasts without renewal (shared stores only): the
/// longest another instance waits before taking over the task of an instance that died.
const LEASE: Duration = Duration::from_secs(3);

/// Renewing the lease, and looking for tasks without a live lease, this often.
const LEASE_CHECK: Duration = Duration::from_secs(1);

/// How long [`Registry::hand_over`] waits for this instance's drivers to stop.
const HAND_OVER_WAIT: Duration = Duration::from_millis(500);

/// The store's listener for other instances' events.
type Listener = Arc<dyn Fn(RemoteEvent) + Send + Sync>;

/// Shared handle to the registry; cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Arc<dyn Provider>,
    tasks: Tasks,
    /// Ids of the queued tasks, first in line first. Locked before any task's state.
    line: Mutex<VecDeque<String>>,
    tickets: mpsc::UnboundedSender<oneshot::Sender<OwnedSemaphorePermit>>,
    retention: Duration,
    store: Arc<dyn Store>,
    /// Stores what tasks publish, off the runtime's threads and outside every lock.
    writer: Arc<Writer>,
    /// Several instances share the store: lazy loading, leases, remote events.
    shared: bool,
    /// This process's name as a lease holder.
    instance: String,
    /// Ids of the tasks this process drives (or is about to), so it never starts a second
    /// driver for one of them.
    driving: Mutex<HashSet<String>>,
    /// Kept alive here; the store holds it weakly.
    listener: OnceLock<Listener>,
    /// Wakes the orphan scan early: another instance gave a lease back.
    released: Arc<Notify>,
    /// Shutting down: drive nothing new, leave the lease release to [`Registry::hand_over`].
    handing_over: AtomicBool,
}

/// The in-memory task map.
#[derive(Default)]
struct Tasks(Mutex<HashMap<String, Arc<Task>>>);

impl Tasks {
    fn get(&self, id: &str) -> Option<Arc<Task>> {
        lock(&self.0).get(id).cloned()
    }
    /// Inserts `task` unless one with its id is there; returns the one kept.
    fn insert_if_absent(&self, task: Arc<Task>) -> Arc<Task> {
        lock(&self.0).entry(task.id.clone()).or_insert(task).clone()
    }
    fn all(&self) -> Vec<Arc<Task>> {
        lock(&self.0).values().cloned().collect()
    }
    fn insert(&self, task: Arc<Task>) {
        lock(&self.0).insert(task.id.clone(), task);
    }
    fn remove(&self, id: &str) -> Option<Arc<Task>> {
        lock(&self.0).remove(id)
    }
    fn expired(&self, retention: Duration, now_ms: u64) -> Vec<String> {
        let retention_ms = retention.as_millis() as u64;
        lock(&self.0)
            .values()
            .filter(|task| {
                task.finished_at_ms()
                    .is_some_and(|at| now_ms.saturating_sub(at) >= retention_ms)
            })
            .map(|task| task.id.clone())
            .collect()
    }
}

struct Task {
    id: String,
    state: Mutex<TaskState>,
    /// The id of the newest event shown to watchers; they subscribe to it.
    latest: watch::Sender<u64>,
    driver: Mutex<Option<AbortHandle>>,
    writer: Arc<Writer>,
}

struct TaskState {
    /// Event `n` is `log[n - 1]`; the last entry is the newest one published, which the next
    /// change starts from.
    log: Vec<TryOnView>,
    /// Events watchers may see: those the writer has stored (or failed to store). The last of
    /// them is the task's current view.
    shown: u64,
    /// `frames[n]` is `log[n]` as an SSE frame, built once when published: thousands of
    /// watchers of one task send this one buffer instead of each serialising the view again.
    frames: Vec<Bytes>,
    /// The photos, until the driver takes them to run the task (the store keeps its copy until
    /// the task ends, for a resumption after a restart).
    job: Option<TryOnJob>,
    /// Wall-clock end time, so retention counts across restarts.
    finished_at_ms: Option<u64>,
    /// Set by delete and sweep so watchers still holding the task stop.
    removed: bool,
    /// Events known to be in the store: after a failed write, the next successful one first
    /// writes the ones missed, so the stored log never has a hole.
    stored: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-updated in a way
    // that matters more than refusing all further requests would, so poisoning is ignored.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Event `event_id`'s SSE frame.
fn frame_of(event_id: u64, view: &TryOnView) -> Bytes {
    let json = serde_json::to_string(view).expect("a TryOnView always serialises");
    crate::sse::status_frame(event_id, &json)
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("the current time formats as RFC 3339")
}

/// A new random task id: 128 bits from the OS-seeded CSPRNG, as 32 hex digits.
fn new_task_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Whether `id` could be one [`new_task_id`] made: the routes refuse anything else before any
/// map or store is asked (issue 13), so junk ids cost no store round trip and no log noise.
pub fn is_task_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Replaces CR, LF and other control characters: provider text ends up in SSE frames, where a
/// line break would end the field (and axum's event builder panics on one).
pub fn sanitise_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl Registry {
    /// Creates the registry, keeping tasks in memory only, and its dispatcher; must be called
    /// inside a Tokio runtime.
    pub fn new(provider: Arc<dyn Provider>, options: RegistryOptions) -> Self {
        Self::with_store(provider, options, Arc::new(MemoryStore::default()))
            .expect("an empty memory store always loads")
    }

    /// Creates the registry on `store`, reloads every task it holds and resumes the
    /// unfinished ones (those that were running first, then the line, each in creation order).
    pub fn with_store(
        provider: Arc<dyn Provider>,
        options: RegistryOptions,
        store: Arc<dyn Store>,
    ) -> Result<Self, StoreError> {
        let records = store.load_tasks()?;
        let registry = Self::empty(provider, options, store);
        if registry.inner.shared {
            registry.share(records);
        } else {
            registry.restore(records);
        }
        Ok(registry)
    }

    fn empty(provider: Arc<dyn Provider>, options: RegistryOptions, store: Arc<dyn Store>) -> Self {
        let (tickets, waiting) = mpsc::unbounded_channel();
        tokio::spawn(dispatch(
            waiting,
            Arc::new(Semaphore::new(options.max_running.max(1))),
        ));
        let inner = Inner {
            provider,
            tasks: Tasks::default(),
            line: Mutex::default(),
            tickets,
            retention: options.retention,
            shared: store.shared(),
            writer: Arc::new(Writer::start(store.clone())),
            store,
            instance: new_task_id(),
            driving: Mutex::default(),
            listener: OnceLock::new(),
            released: Arc::default(),
            handing_over: AtomicBool::new(false),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Puts the stored tasks back and starts a driver for each unfinished one.
    fn restore(&self, records: Vec<TaskRecord>) {
        let mut resumed: Vec<(Arc<Task>, Option<serde_json::Value>)> = Vec::new();
        for record in records {
            let finished = record.finished_at_ms.is_some();
            let upstream = record.upstream.clone();
            let task = Task::restore(record, self.inner.writer.clone());
            self.inner.tasks.insert(task.clone());
            if !finished {
                resumed.push((task, upstream));
            }
        }
        // Tasks that were running keep their head start over those still in line.
        resumed.sort_by_key(|(task, _)| task.current().status == TaskStatus::Queued);
        if !resumed.is_empty() {
            tracing::info!(tasks = resumed.len(), "resuming unfinished try-ons");
        }
        let mut line = lock(&self.inner.line);
        for (task, upstream) in resumed {
            if task.current().status == TaskStatus::Queued {
                line.push_back(task.id.clone());
            }
            self.start_driver(task, Start { upstream }, None);
        }
        self.inner.announce_positions(&line, 0);
    }

    /// On a shared store: keeps the stored tasks as followers of their drivers, listens to
    /// the other instances' events, and starts looking for tasks nobody drives (which, at
    /// start-up, includes those this instance drove before a restart, once their lease ends).
    fn share(&self, records: Vec<TaskRecord>) {
        for record in records {
            let finished = record.finished_at_ms.is_some();
            let task = Task::restore(record, self.inner.writer.clone());
            if !finished {
                // Its photos stay in the store until a driver adopts it.
                lock(&task.state).job = None;
            }
            self.inner.tasks.insert(task);
        }
        let weak = Arc::downgrade(&self.inner);
        let listener: Listener = Arc::new(move |event| {
            if let Some(inner) = weak.upgrade() {
                inner.on_remote(event);
            }
        });
        self.inner.store.subscribe(Arc::downgrade(&listener));
        let _ = self.inner.listener.set(listener);
        tokio::spawn(adopt_orphans(
            Arc::downgrade(&self.inner),
            self.inner.released.clone(),
        ));
    }

    /// Takes a ticket for a slot and spawns the task's one driver. Called under the line lock,
    /// so tickets are in line order.
    fn start_driver(&self, task: Arc<Task>, start: Start, on_finish: Option<OnFinish>) {
        let (grant, granted) = oneshot::channel();
        self.inner
            .tickets
            .send(grant)
            .expect("the dispatcher lives as long as the registry");
        let inner = Arc::downgrade(&self.inner);
        let driving = Driving {
            inner: inner.clone(),
            id: task.id.clone(),
        };
        let lease = hold_lease(inner.clone(), task.id.clone());
        let body = drive(inner, task.clone(), granted, start, on_finish);
        let driver = if self.inner.shared {
            tokio::spawn(async move {
                let _driving = driving;
                tokio::select! {
                    () = body => {}
                    () = lease => {}
                }
            })
        } else {
            tokio::spawn(async move {
                let _driving = driving;
                body.await;
            })
        };
        *lock(&task.driver) = Some(driver.abort_handle());
    }

    /// Queues a try-on and starts its one driver. Returns the task's first view, or the store's
    /// error, in which case nothing was created.
    pub fn create(&self, job: TryOnJob) -> Result<TryOnView, StoreError> {
        self.create_then(job, None)
    }

    /// Like [`Registry::create`], and calls `on_finish` with whether the provider accepted the
    /// task once its run ends (issue 6: quotas are charged only for accepted tasks). A task
    /// deleted before it ran drops `on_finish` without calling it.
    pub fn create_then(
        &self,
        job: TryOnJob,
        on_finish: Option<OnFinish>,
    ) -> Result<TryOnView, StoreError> {
        let id = new_task_id();
        let now = now_rfc3339();
        // The line is not locked while the store writes (issue 13: a slow store must not hold
        // up every other create and dispatch); the position is the line's length now and is
        // corrected below if others joined meanwhile.
        let expected_position = u32::try_from(self.queue_depth()).unwrap_or(u32::MAX);
        let first = TryOnView {
            id: id.clone(),
            status: TaskStatus::Queued,
            progress: 0,
            progress_kind: ProgressKind::Estimated,
            stage: None,
            queue_position: Some(expected_position),
            result: None,
            error: None,
            created_at: now.clone(),
            updated_at: now,
        };
        self.inner.begin_driving(&id)?;
        if let Err(error) = self.inner.store.insert_task(&first, &job) {
            self.inner.stop_driving(&id);
            return Err(error);
        }
        let mut line = lock(&self.inner.line);
        let task = Arc::new(Task {
            id: id.clone(),
            state: Mutex::new(TaskState {
                log: vec![first.clone()],
                frames: vec![frame_of(1, &first)],
                job: Some(job),
                finished_at_ms: None,
                removed: false,
                shown: 1,
                stored: 1,
            }),
            latest: watch::Sender::new(1),
            driver: Mutex::new(None),
            writer: self.inner.writer.clone(),
        });
        self.inner.tasks.insert(task.clone());
        // Joining the line and taking a ticket under one lock keeps both in the same order.
        line.push_back(id);
        let position = line.len() - 1;
        self.start_driver(task, Start { upstream: None }, on_finish);
        let mut created = first;
        let actual = u32::try_from(position).unwrap_or(u32::MAX);
        if actual != expected_position {
            self.inner.announce_positions(&line, position);
            created.queue_position = Some(actual);
        }
        drop(line);
        tracing::info!(task = %created.id, "try-on created");
        Ok(created)
    }

    /// Tasks waiting for a running slot.
    pub fn queue_depth(&self) -> usize {
        lock(&self.inner.line).len()
    }

    /// On shutdown, on a shared store: stops this instance's drivers and gives their leases
    /// back, telling the other instances, so one of them takes each task over at once
    /// instead of when the lease would have run out. The tasks stay unfinished in the store
    /// and the next driver resumes them upstream. Returns how many leases were given back.
    pub async fn hand_over(&self) -> usize {
        let inner = &self.inner;
        if !inner.shared {
            return 0;
        }
        inner.handing_over.store(true, Ordering::SeqCst);
        // Aborted again while any is left: an orphan scan already under way may still start one.
        let mut ids = HashSet::new();
        let deadline = tokio::time::Instant::now() + HAND_OVER_WAIT;
        loop {
            let driving: Vec<String> = lock(&inner.driving).iter().cloned().collect();
            if driving.is_empty() || tokio::time::Instant::now() >= deadline {
                break;
            }
            for id in driving {
                if let Some(task) = inner.tasks.get(&id)
                    && let Some(driver) = lock(&task.driver).as_ref()
                {
                    driver.abort();
                }
                ids.insert(id);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // A lease is given back only once its driver has really stopped, or two would drive.
        let stopped: Vec<String> = {
            let driving = lock(&inner.driving);
            ids.into_iter().filter(|id| !driving.contains(id)).collect()
        };
        let (store, holder) = (inner.store.clone(), inner.instance.clone());
        let writer = inner.writer.clone();
        // The stopped drivers' last events are stored before another instance drives on.
        let handed = off_runtime(move || {
            writer.flush();
            store.hand_over(&stopped, &holder)
        })
        .await;
        match handed {
            Ok(count) => {
                tracing::info!(
                    tasks = count,
                    "leases given back for other instances to take over"
                );
                count
            }
            Err(error) => {
                tracing::warn!(%error, "giving leases back failed; they expire on their own");
                0
            }
        }
    }

    /// Makes every queued write and writes everything the store buffers to disk (on
    /// shutdown); blocking.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.writer.flush();
        self.inner.store.compact()
    }

    /// Whether the store answers (for `/readyz`).
    pub fn store_ready(&self) -> Result<(), StoreError> {
        self.inner.store.ping()
    }

    /// The current view of a task. On a shared store, a task this instance does not hold is
    /// read from the store: a blocking call (see [`Registry::view_held`]).
    pub fn view(&self, id: &str) -> Option<TryOnView> {
        self.inner.find(id).map(|task| task.current())
    }

    /// The current view of a task this instance holds, from memory only. `None` settles that
    /// the task is unknown unless [`Registry::shares_store`], when only [`Registry::view`]
    /// can tell.
    pub fn view_held(&self, id: &str) -> Option<TryOnView> {
        self.inner.tasks.get(id).map(|task| task.current())
    }

    /// Whether other instances share the store, so tasks this one does not hold may exist.
    pub fn shares_store(&self) -> bool {
        self.inner.shared
    }

    /// The finished image, if the task has succeeded.
    pub fn result(&self, id: &str) -> ResultLookup {
        let Some(task) = self.inner.find(id) else {
            return ResultLookup::Unknown;
        };
        if task.current().status != TaskStatus::Succeeded {
            return ResultLookup::NotReady;
        }
        match self.inner.store.result(id) {
            Ok(Some(output)) => ResultLookup::Ready(output),
            Ok(None) => ResultLookup::NotReady,
            Err(error) => {
                tracing::error!(task = %id, %error, "reading a result failed");
                ResultLookup::NotReady
            }
        }
    }

    /// Where a watcher stands: `None` if the task is unknown.
    pub fn watch_state(&self, id: &str) -> Option<WatchState> {
        let task = self.inner.find(id)?;
        let state = lock(&task.state);
        Some(WatchState {
            last_event: state.shown,
            terminal: state.shown_view().status.is_terminal(),
        })
    }

    /// Every event after `after`, then each new one as it happens, without gaps or repeats;
    /// ends after the terminal status (or when the task is deleted). `None` if unknown.
    pub fn events(
        &self,
        id: &str,
        after: u64,
    ) -> Option<impl Stream<Item = (u64, TryOnView)> + Send + 'static> {
        self.watch(id, after, |state, index| state.log[index].clone())
    }

    /// Like [`Registry::events`], each event as its SSE frame, built once for all watchers.
    pub fn event_frames(
        &self,
        id: &str,
        after: u64,
    ) -> Option<impl Stream<Item = (u64, Bytes)> + Send + 'static> {
        self.watch(id, after, |state, index| state.frames[index].clone())
    }

    fn watch<T: Send + 'static>(
        &self,
        id: &str,
        after: u64,
        pick: fn(&TaskState, usize) -> T,
    ) -> Option<impl Stream<Item = (u64, T)> + Send + 'static> {
        let task = self.inner.find(id)?;
        let watcher = Watcher {
            changes: task.latest.subscribe(),
            task,
            sent: after,
            pending: VecDeque::new(),
            done: false,
            pick,
        };
        Some(futures::stream::unfold(watcher, Watcher::next))
    }

    /// Removes a task at once: cancels it if queued or running, drops photos and result.
    /// Returns whether it existed.
    pub fn delete(&self, id: &str) -> bool {
        if self.inner.find(id).is_none() {
            return false;
        }
        let Some(task) = self.inner.tasks.remove(id) else {
            return false;
        };
        task.remove();
        // After the task's queued writes, so none of them brings it back.
        self.inner.writer.delete(id);
        self.inner.leave_line(id);
        true
    }

    /// Removes every task whose retention has passed, and their bytes from the disk.
    pub fn sweep(&self) -> usize {
        let expired = self.inner.tasks.expired(self.inner.retention, now_ms());
        let swept = expired.iter().filter(|id| self.delete(id)).count();
        if swept > 0
            && let Err(error) = self.inner.store.compact()
        {
            tracing::error!(%error, "compacting the store failed");
        }
        swept
    }
}

/// A task's event position, for deciding whether an SSE reconnect has anything to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchState {
    pub last_event: u64,
    pub terminal: bool,
}

impl Inner {
    /// The task `id`: from memory, or on a shared store from the store (a task another
    /// instance created), which this instance then follows.
    fn find(&self, id: &str) -> Option<Arc<Task>> {
        if let Some(task) = self.tasks.get(id) {
            return Some(task);
        }
        if !self.shared {
            return None;
        }
        let record = match self.store.load_task(id) {
            Ok(record) => record?,
            Err(error) => {
                tracing::error!(task = %id, %error, "reading a task from the store failed");
                return None;
            }
        };
        let task = Task::restore(record, self.writer.clone());
        // Its photos are its driver's business.
        lock(&task.state).job = None;
        let task = self.tasks.insert_if_absent(task);
        // An event published between the read and the insert found no task to follow here.
        self.catch_up(&task);
        Some(task)
    }

    /// Marks `id` as driven here and takes its lease. Fails if the store fails or another
    /// instance holds the lease; then nothing is marked.
    fn begin_driving(&self, id: &str) -> Result<(), StoreError> {
        if !lock(&self.driving).insert(id.to_owned()) {
            return Err(StoreError(format!("task {id} is driven here already")));
        }
        match self.store.claim(id, &self.instance, LEASE) {
            Ok(true) => Ok(()),
            Ok(false) => {
                lock(&self.driving).remove(id);
                Err(StoreError(format!(
                    "task {id} is driven by another instance"
                )))
            }
            Err(error) => {
                lock(&self.driving).remove(id);
                Err(error)
            }
        }
    }

    /// Called when a driver ends, on the runtime's threads: the lease goes back without
    /// waiting (it also runs out on its own).
    fn stop_driving(&self, id: &str) {
        lock(&self.driving).remove(id);
        if self.shared && !self.handing_over.load(Ordering::SeqCst) {
            let (store, id, holder) = (self.store.clone(), id.to_owned(), self.instance.clone());
            off_runtime_detached(move || {
                if let Err(error) = store.release(&id, &holder) {
                    tracing::warn!(task = %id, %error, "releasing a task's lease failed");
                }
            });
        }
    }

    /// What another instance did, as the shared store reports it.
    fn on_remote(&self, event: RemoteEvent) {
        match event {
            RemoteEvent::Event { id, event_id, view } => {
                if let Some(task) = self.tasks.get(&id)
                    && !lock(&self.driving).contains(&id)
                    && !task.follow(event_id, *view)
                {
                    self.catch_up(&task);
                }
            }
            RemoteEvent::Deleted { id } => {
                if let Some(task) = self.tasks.remove(&id) {
                    task.remove();
                    self.leave_line(&id);
                }
            }
            RemoteEvent::Released { .. } => self.released.notify_one(),
            RemoteEvent::Resync => {
                for task in self.tasks.all() {
                    if !task.current().status.is_terminal()
                        && !lock(&self.driving).contains(&task.id)
                    {
                        self.catch_up(&task);
                    }
                }
            }
        }
    }

    /// Reads `task`'s log from the store and appends what this instance has not seen.
    fn catch_up(&self, task: &Task) {
        match self.store.load_task(&task.id) {
            Ok(Some(record)) => task.catch_up(record.log, record.finished_at_ms),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(task = %task.id, %error, "catching up with a task failed");
            }
        }
    }

    /// Takes over the unfinished tasks whose driver's lease has run out.
    fn adopt_orphans(self: &Arc<Self>) {
        if self.handing_over.load(Ordering::SeqCst) {
            return;
        }
        let unfinished = match self.store.unfinished() {
            Ok(ids) => ids,
            Err(error) => {
                tracing::warn!(%error, "listing unfinished tasks failed");
                return;
            }
        };
        for id in unfinished {
            if lock(&self.driving).contains(&id) || self.begin_driving(&id).is_err() {
                continue;
            }
            if !self.adopt(&id) {
                self.stop_driving(&id);
            }
        }
    }

    /// Drives task `id`, whose lease this instance has just taken: reloads it from the
    /// store and resumes it. Returns whether a driver was started.
    fn adopt(self: &Arc<Self>, id: &str) -> bool {
        let record = match self.store.load_task(id) {
            Ok(Some(record)) if record.finished_at_ms.is_none() => record,
            Ok(_) => return false,
            Err(error) => {
                tracing::warn!(task = %id, %error, "reading a task to take over failed");
                return false;
            }
        };
        tracing::info!(task = %id, "taking over a try-on whose instance stopped driving it");
        let upstream = record.upstream.clone();
        let job = record.job.clone();
        let log = record.log.clone();
        let task = self
            .tasks
            .insert_if_absent(Task::restore(record, self.writer.clone()));
        task.catch_up(log, None);
        lock(&task.state).job = job;
        let registry = Registry {
            inner: self.clone(),
        };
        let mut line = lock(&self.line);
        if task.current().status == TaskStatus::Queued {
            line.push_back(task.id.clone());
        }
        registry.start_driver(task, Start { upstream }, None);
        let from = line.len().saturating_sub(1);
        self.announce_positions(&line, from);
        true
    }

    /// Takes `id` out of the line and tells everybody behind it their new position.
    fn leave_line(&self, id: &str) {
        let mut line = lock(&self.line);
        let Some(index) = line.iter().position(|queued| queued == id) else {
            return;
        };
        line.remove(index);
        self.announce_positions(&line, index);
    }

    /// Tells every task in `line` from `from` on its position. Called under the line lock, which
    /// keeps positions from two moves from crossing.
    fn announce_positions(&self, line: &VecDeque<String>, from: usize) {
        for (position, queued) in line.iter().enumerate().skip(from) {
            if let Some(task) = self.tasks.get(queued) {
                let position = u32::try_from(position).unwrap_or(u32::MAX);
                task.publish(|_, view| {
                    let changed =
                        view.status == TaskStatus::Queued && view.queue_position != Some(position);
                    view.queue_position = Some(position);
                    changed
                });
            }
        }
    }
}

/// Hands out running slots strictly in ticket (creation) order.
async fn dispatch(
    mut tickets: mpsc::UnboundedReceiver<oneshot::Sender<OwnedSemaphorePermit>>,
    slots: Arc<Semaphore>,
) {
    while let Some(grant) = tickets.recv().await {
        if grant.is_closed() {
            continue; // deleted while waiting
        }
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        // If the task was deleted meanwhile, the slot comes back at once with the error.
        let _ = grant.send(slot);
    }
}

/// Marks a task as driven here for as long as its driver lives (however it ends: finished,
/// lease lost, or aborted by a delete).
struct Driving {
    inner: Weak<Inner>,
    id: String,
}

impl Drop for Driving {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.stop_driving(&self.id);
        }
    }
}

/// Renews the lease on task `id` while its driver runs; returns (ending the driver) if another
/// instance has taken the task over, which happens only if this one could not renew in time.
async fn hold_lease(inner: Weak<Inner>, id: String) {
    loop {
        tokio::time::sleep(LEASE_CHECK).await;
        let Some(inner) = inner.upgrade() else { return };
        // Store calls block for up to their timeout when Redis is stuck; not on a worker.
        let task_id = id.clone();
        let renewed = tokio::task::spawn_blocking(move || {
            // A renewal landing after the hand-over would take the given-back lease again.
            if inner.handing_over.load(Ordering::SeqCst) {
                return Ok(true);
            }
            inner.store.claim(&task_id, &inner.instance, LEASE)
        })
        .await
        .unwrap_or_else(|panic| Err(StoreError(panic.to_string())));
        match renewed {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(task = %id, "another instance took this try-on over; stopping");
                return;
            }
            Err(error) => tracing::warn!(task = %id, %error, "renewing a task's lease failed"),
        }
    }
}

/// Every [`LEASE_CHECK`], and at once when another instance gives a lease back, takes over
/// the tasks nobody drives any more.
async fn adopt_orphans(inner: Weak<Inner>, released: Arc<Notify>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(LEASE_CHECK) => {}
            () = released.notified() => {}
        }
        let Some(inner) = inner.upgrade() else { return };
        // Store calls block for up to their timeout when Redis is stuck; not on a worker.
        let _ = tokio::task::spawn_blocking(move || inner.adopt_orphans()).await;
    }
}

/// Told whether the provider accepted a finished task.
pub type OnFinish = Box<dyn FnOnce(bool) + Send>;

/// How a driver begins: `upstream` is the provider's state from before a restart.
struct Start {
    upstream: Option<serde_json::Value>,
}

/// The one driver of a task: waits for a slot, runs (or resumes) the provider, records the
/// outcome.
async fn drive(
    registry: Weak<Inner>,
    task: Arc<Task>,
    granted: oneshot::Receiver<OwnedSemaphorePermit>,
    start: Start,
    on_finish: Option<OnFinish>,
) {
    let Ok(_slot) = granted.await else { return };
    let Some(provider) = registry.upgrade().map(|inner| {
        inner.leave_line(&task.id);
        inner.provider.clone()
    }) else {
        return;
    };
    let Some(job) = task.start() else {
        task.finish(Err(TaskError {
            code: ErrorCode::ProviderFailed,
            message: "the photos of this try-on were lost".into(),
            retryable: true,
        }));
        return;
    };
    let sink = TaskSink(task.clone());
    let run = match start.upstream {
        Some(state) => provider.resume(job, state, &sink),
        None => provider.run(job, &sink),
    };
    let outcome = AssertUnwindSafe(run).catch_unwind().await;
    // A panic says nothing about the vendor; assume it accepted (and bills) the task.
    let accepted = outcome
        .as_ref()
        .map_or(true, crate::providers::may_have_billed);
    let provider_name = provider.info().name;
    if accepted {
        crate::metrics::credit_spent(provider_name);
    }
    if let Some(on_finish) = on_finish {
        on_finish(accepted);
    }
    let outcome = match outcome {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(error)) => Err(provider_task_error(&task.id, &error)),
        Err(_) => {
            tracing::error!(task = %task.id, "provider panicked");
            Err(TaskError {
                code: ErrorCode::ProviderFailed,
                message: "the provider crashed".into(),
                retryable: true,
            })
        }
    };
    let outcome_label = match &outcome {
        Ok(_) => "succeeded",
        Err(error) => error.code.as_str(),
    };
    crate::metrics::tryon_finished(provider_name, outcome_label);
    tracing::info!(task = %task.id, provider = provider_name, outcome = outcome_label, "try-on finished");
    task.finish(outcome);
}

fn provider_task_error(id: &str, error: &ProviderError) -> TaskError {
    tracing::warn!(task = %id, error = %error, "try-on failed");
    let mut task_error = error.to_task_error();
    task_error.message = sanitise_text(&task_error.message);
    task_error
}

impl TaskState {
    /// The newest event published, shown or not: what the next change starts from.
    fn tip(&self) -> &TryOnView {
        self.log.last().expect("a task always has its first event")
    }

    /// The newest event watchers may see: the task's current view.
    fn shown_view(&self) -> &TryOnView {
        &self.log[self.shown as usize - 1]
    }

    /// Appends an event another instance published; a terminal one starts the retention.
    fn append_followed(&mut self, view: TryOnView, finished_at_ms: Option<u64>) {
        if view.status.is_terminal() {
            self.finished_at_ms = Some(finished_at_ms.unwrap_or_else(now_ms));
            self.job = None;
        }
        self.frames.push(frame_of(self.log.len() as u64 + 1, &view));
        self.log.push(view);
        // It came from the store.
        self.stored = self.log.len() as u64;
        self.shown = self.stored;
    }
}

impl Task {
    /// A task as the store kept it.
    fn restore(record: TaskRecord, writer: Arc<Writer>) -> Arc<Self> {
        let last = record.log.len() as u64;
        Arc::new(Self {
            id: record.id,
            state: Mutex::new(TaskState {
                frames: (1..)
                    .zip(&record.log)
                    .map(|(n, view)| frame_of(n, view))
                    .collect(),
                log: record.log,
                job: record.job,
                finished_at_ms: record.finished_at_ms,
                removed: false,
                shown: last,
                stored: last,
            }),
            latest: watch::Sender::new(last),
            driver: Mutex::new(None),
            writer,
        })
    }

    /// The view watchers see now.
    fn current(&self) -> TryOnView {
        lock(&self.state).shown_view().clone()
    }

    /// Appends event `event_id` published by the task's driver on another instance, if it is
    /// the next one; false if events are missing before it (the caller catches up).
    fn follow(&self, event_id: u64, view: TryOnView) -> bool {
        let mut state = lock(&self.state);
        let next = state.log.len() as u64 + 1;
        if state.removed || event_id < next {
            return true;
        }
        if event_id > next {
            return false;
        }
        state.append_followed(view, None);
        self.latest.send_replace(event_id);
        true
    }

    /// Appends the events of the stored `log` this instance has not seen yet.
    fn catch_up(&self, log: Vec<TryOnView>, finished_at_ms: Option<u64>) {
        let mut state = lock(&self.state);
        if state.removed || log.len() <= state.log.len() {
            return;
        }
        let seen = state.log.len();
        for view in log.into_iter().skip(seen) {
            state.append_followed(view, finished_at_ms);
        }
        let last = state.log.len() as u64;
        self.latest.send_replace(last);
    }

    fn finished_at_ms(&self) -> Option<u64> {
        lock(&self.state).finished_at_ms
    }

    /// Applies `change` to a copy of the newest view; if it reports a change, appends the copy
    /// as a new event and queues its write, after which the writer shows it to the watchers.
    fn publish(self: &Arc<Self>, change: impl FnOnce(&mut TaskState, &mut TryOnView) -> bool) {
        if let Some(event_id) = self.append(change) {
            self.writer.send(Write::Event {
                task: self.clone(),
                event_id,
            });
        }
    }

    /// The in-memory half of [`Task::publish`]: returns the new event's id, if there is one.
    /// Appending under the state lock keeps the log in publishing order; nothing is written
    /// or awaited under it.
    fn append(&self, change: impl FnOnce(&mut TaskState, &mut TryOnView) -> bool) -> Option<u64> {
        let mut state = lock(&self.state);
        if state.removed {
            return None;
        }
        let mut next = state.tip().clone();
        if !change(&mut state, &mut next) {
            return None;
        }
        next.updated_at = now_rfc3339();
        let id = state.log.len() as u64 + 1;
        state.frames.push(frame_of(id, &next));
        state.log.push(next);
        Some(id)
    }

    /// Lets watchers see the events up to `event_id` (the writer has stored them, or tried).
    /// Sent under the state lock so the watched id never runs ahead of what is shown.
    fn show(&self, event_id: u64) {
        let mut state = lock(&self.state);
        if state.removed || event_id <= state.shown {
            return;
        }
        state.shown = event_id;
        self.latest.send_replace(event_id);
    }

    /// Moves the task to running (unless it already was, before a restart) and hands its
    /// photos to the driver.
    fn start(self: &Arc<Self>) -> Option<TryOnJob> {
        let mut job = None;
        self.publish(|state, view| {
            job = state.job.take();
            if job.is_none() {
                return false;
            }
            let changed = view.status != TaskStatus::Running || view.queue_position.is_some();
            view.status = TaskStatus::Running;
            view.queue_position = None;
            changed
        });
        job
    }

    fn finish(self: &Arc<Self>, outcome: Result<TryOnOutput, TaskError>) {
        // `Bytes` clones share the buffer: the store gets the image without a copy.
        let result = outcome.as_ref().ok().cloned();
        let finished_at_ms = now_ms();
        let appended = self.append(|state, view| {
            view.queue_position = None;
            match outcome {
                Ok(output) => {
                    view.status = TaskStatus::Succeeded;
                    view.progress = 100;
                    view.result = Some(ResultInfo {
                        url: paths::tryon_result(&view.id),
                        width: output.width,
                        height: output.height,
                        content_type: output.content_type.clone(),
                    });
                }
                Err(error) => {
                    view.status = TaskStatus::Failed;
                    view.error = Some(error);
                }
            }
            state.job = None;
            state.finished_at_ms = Some(finished_at_ms);
            true
        });
        if let Some(event_id) = appended {
            self.writer.send(Write::Finish {
                task: self.clone(),
                event_id,
                result,
                finished_at_ms,
            });
        }
    }

    fn remove(&self) {
        if let Some(driver) = lock(&self.driver).take() {
            driver.abort();
        }
        let mut state = lock(&self.state);
        state.removed = true;
        state.job = None;
        // Wakes watchers so they notice the removal and end their streams.
        self.latest.send_replace(state.shown);
    }
}

/// The registry's side of [`ProgressSink`]: clamps what the provider reports so progress never
/// goes backwards and never shows 100 before the task has really succeeded.
struct TaskSink(Arc<Task>);

impl ProgressSink for TaskSink {
    fn report(&self, update: ProgressUpdate) {
        self.0.publish(|_, view| {
            if view.status != TaskStatus::Running {
                return false;
            }
            let progress = update.progress.min(99).max(view.progress);
            let stage = update
                .stage
                .as_deref()
                .map(sanitise_text)
                .or_else(|| view.stage.clone());
            let changed = progress != view.progress
                || stage != view.stage
                || update.kind != view.progress_kind;
            view.progress = progress;
            view.stage = stage;
            view.progress_kind = update.kind;
            changed
        });
    }

    fn upstream_started(&self, state: serde_json::Value) {
        // Queued behind the task's events, like them off the runtime's threads.
        self.0.writer.send(Write::Upstream {
            task: self.0.clone(),
            state,
        });
    }

    /// A running task that waits for the vendor's shared request budget is, to the shopper,
    /// still in line: the wait shows as its `queue_position` until its turn comes.
    fn queued(&self, ahead: Option<u32>) {
        self.0.publish(|_, view| {
            let changed = view.status == TaskStatus::Running && view.queue_position != ahead;
            if changed {
                view.queue_position = ahead;
            }
            changed
        });
    }
}

/// One watcher's position in a task's event log.
struct Watcher<T> {
    task: Arc<Task>,
    changes: watch::Receiver<u64>,
    sent: u64,
    pending: VecDeque<(u64, T)>,
    done: bool,
    /// What a watcher receives of event `index` (0-based).
    pick: fn(&TaskState, usize) -> T,
}

impl<T> Watcher<T> {
    async fn next(mut self) -> Option<((u64, T), Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((event, self));
            }
            if self.done {
                return None;
            }
            // Marking the channel seen before reading the log means no change can slip in
            // between the read and the wait.
            self.changes.borrow_and_update();
            self.collect_new_events();
            if self.pending.is_empty() && !self.done && self.changes.changed().await.is_err() {
                return None;
            }
        }
    }

    fn collect_new_events(&mut self) {
        let state = lock(&self.task.state);
        if state.removed {
            self.done = true;
            return;
        }
        let shown = state.shown as usize;
        let start = usize::try_from(self.sent).unwrap_or(usize::MAX).min(shown);
        for index in start..shown {
            self.pending
                .push_back((index as u64 + 1, (self.pick)(&state, index)));
        }
        // A client claiming an id beyond the log (it cannot have seen one) is not sent the
        // events up to its claim a second time.
        self.sent = self.sent.max(state.shown);
        if state.shown_view().status.is_terminal() {
            self.done = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{PreparedImage, ProviderInfo};
    use crate::wire::{Category, ChecksAvailable, Quality};
    use async_trait::async_trait;
    use futures::StreamExt;

    /// Reports a fixed list of progress values, then succeeds.
    struct Scripted(Vec<u8>);

    #[async_trait]
    impl Provider for Scripted {
        fn info(&self) -> ProviderInfo {
            ProviderInfo {
                name: "scripted",
                categories: vec![Category::Upper],
                checks: ChecksAvailable::default(),
            }
        }
        async fn run(
            &self,
            _job: TryOnJob,
            sink: &dyn ProgressSink,
        ) -> Result<TryOnOutput, ProviderError> {
            for &progress in &self.0 {
                sink.report(ProgressUpdate {
                    progress,
                    kind: ProgressKind::Reported,
                    stage: Some("line\r\nbreak".into()),
                });
            }
            Ok(TryOnOutput {
                bytes: vec![1, 2, 3].into(),
                width: 1,
                height: 1,
                content_type: "image/jpeg".into(),
            })
        }
    }

    /// Waits in its vendor's line (two ahead, reported twice), then gets its turn.
    struct LinedUp;

    #[async_trait]
    impl Provider for LinedUp {
        fn info(&self) -> ProviderInfo {
            Scripted(vec![]).info()
        }
        async fn run(
            &self,
            job: TryOnJob,
            sink: &dyn ProgressSink,
        ) -> Result<TryOnOutput, ProviderError> {
            sink.queued(Some(2));
            sink.queued(Some(2));
            sink.queued(None);
            Scripted(vec![]).run(job, sink).await
        }
    }

    fn job() -> TryOnJob {
        let image = PreparedImage {
            bytes: vec![0].into(),
            width: 1,
            height: 1,
            content_type: "image/jpeg",
        };
        TryOnJob {
            person: image.clone(),
            garment: image,
            lower_garment: None,
            category: Category::Upper,
            quality: Quality::Balanced,
        }
    }

    fn registry(progress: Vec<u8>) -> Registry {
        Registry::new(
            Arc::new(Scripted(progress)),
            RegistryOptions {
                max_running: 1,
                retention: Duration::from_secs(60),
            },
        )
    }

    #[tokio::test]
    async fn progress_never_goes_backwards_nor_reaches_100_before_success() {
        let registry = registry(vec![10, 5, 100, 50]);
        let id = registry.create(job()).unwrap().id;
        let events: Vec<_> = registry.events(&id, 0).unwrap().collect().await;
        let progress: Vec<_> = events.iter().map(|(_, v)| (v.status, v.progress)).collect();
        use TaskStatus::*;
        assert_eq!(
            progress,
            [
                (Queued, 0),
                (Running, 0),
                (Running, 10),
                (Running, 99),
                (Succeeded, 100)
            ]
        );
        let ids: Vec<_> = events.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert_eq!(
            events[2].1.stage.as_deref(),
            Some("line  break"),
            "control characters are replaced"
        );
    }

    #[tokio::test]
    async fn events_resume_after_the_given_id_and_end_at_the_terminal_one() {
        let registry = registry(vec![30]);
        let id = registry.create(job()).unwrap().id;
        let all: Vec<_> = registry.events(&id, 0).unwrap().collect().await;
        let rest: Vec<_> = registry.events(&id, 2).unwrap().collect().await;
        assert_eq!(rest, all[2..].to_vec());
        assert_eq!(
            registry.watch_state(&id),
            Some(WatchState {
                last_event: all.len() as u64,
                terminal: true
            })
        );
    }

    #[tokio::test]
    async fn a_wait_in_the_vendors_line_shows_as_a_queue_position() {
        let registry = Registry::new(
            Arc::new(LinedUp),
            RegistryOptions {
                max_running: 1,
                retention: Duration::from_secs(60),
            },
        );
        let id = registry.create(job()).unwrap().id;
        let events: Vec<_> = registry.events(&id, 0).unwrap().collect().await;
        let lines: Vec<_> = events
            .iter()
            .map(|(_, v)| (v.status, v.queue_position))
            .collect();
        use TaskStatus::*;
        assert_eq!(
            lines,
            [
                (Queued, Some(0)),
                (Running, None),
                (Running, Some(2)),
                (Running, None),
                (Succeeded, None)
            ]
        );
    }

    #[tokio::test]
    async fn an_id_beyond_the_log_never_receives_lower_ids() {
        let registry = registry(vec![30, 60]);
        let id = registry.create(job()).unwrap().id;
        let beyond: Vec<_> = registry.events(&id, 1000).unwrap().collect().await;
        assert!(beyond.is_empty(), "{beyond:?}");
    }

    #[tokio::test]
    async fn sweep_removes_finished_tasks_after_retention() {
        let registry = Registry::new(
            Arc::new(Scripted(vec![])),
            RegistryOptions {
                max_running: 1,
                retention: Duration::from_millis(1),
            },
        );
        let id = registry.create(job()).unwrap().id;
        let _: Vec<_> = registry.events(&id, 0).unwrap().collect().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(registry.sweep(), 1);
        assert!(registry.view(&id).is_none());
        assert!(matches!(registry.result(&id), ResultLookup::Unknown));
    }

    /// Starts an upstream task and never finishes it (its process "dies"); a later process
    /// resumes it from the recorded state.
    #[derive(Default)]
    struct Vendor {
        runs: std::sync::atomic::AtomicUsize,
        resumed: Mutex<Vec<serde_json::Value>>,
    }

    #[async_trait]
    impl Provider for Vendor {
        fn info(&self) -> ProviderInfo {
            Scripted(vec![]).info()
        }
        async fn run(
            &self,
            _job: TryOnJob,
            sink: &dyn ProgressSink,
        ) -> Result<TryOnOutput, ProviderError> {
            self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            sink.upstream_started(serde_json::json!({"vendor_task": "v-42"}));
            sink.report(ProgressUpdate {
                progress: 40,
                kind: ProgressKind::Estimated,
                stage: None,
            });
            std::future::pending().await
        }
        async fn resume(
            &self,
            job: TryOnJob,
            state: serde_json::Value,
            sink: &dyn ProgressSink,
        ) -> Result<TryOnOutput, ProviderError> {
            lock(&self.resumed).push(state);
            Scripted(vec![70]).run(job, sink).await
        }
    }

    #[tokio::test]
    async fn a_restarted_registry_resumes_the_upstream_task_instead_of_creating_it_again() {
        let dir = crate::store::tests::TempDir::new("resume");
        let open =
            || -> Arc<dyn Store> { Arc::new(crate::store::SqliteStore::open(&dir.0).unwrap()) };
        let options = RegistryOptions {
            max_running: 1,
            retention: Duration::from_secs(60),
        };
        let vendor = Arc::new(Vendor::default());
        let first = Registry::with_store(vendor.clone(), options, open()).unwrap();
        let id = first.create(job()).unwrap().id;
        let events_before: Vec<_> = first.events(&id, 0).unwrap().take(3).collect().await;
        assert_eq!(events_before.last().unwrap().1.progress, 40);

        let second = Registry::with_store(vendor.clone(), options, open()).unwrap();
        let rest: Vec<_> = second.events(&id, 3).unwrap().collect().await;
        let ids: Vec<_> = rest.iter().map(|(n, _)| *n).collect();
        assert_eq!(ids, [4, 5], "the log continues after the last stored event");
        assert_eq!(rest[0].1.progress, 70);
        assert_eq!(rest[1].1.status, TaskStatus::Succeeded);
        assert_eq!(
            vendor.runs.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "created once"
        );
        assert_eq!(
            *lock(&vendor.resumed),
            [serde_json::json!({"vendor_task": "v-42"})],
            "resumed with the state the first run recorded"
        );
        assert!(matches!(second.result(&id), ResultLookup::Ready(_)));
    }

    /// Two registries on one real Redis, as two instances: B serves a watcher of A's task
    /// from the store and its events; when A dies (dropped: its lease is no longer renewed),
    /// B takes the task over and resumes it upstream, and the watcher gets every event once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_a_shared_store_another_instance_follows_and_takes_over_a_dead_instances_task() {
        let server = crate::store::tests::redis_server::RedisServer::start();
        let open = || -> Arc<dyn Store> {
            Arc::new(
                crate::store::RedisStore::open(&server.url(0), Duration::from_secs(60)).unwrap(),
            )
        };
        let options = RegistryOptions {
            max_running: 1,
            retention: Duration::from_secs(60),
        };
        let vendor = Arc::new(Vendor::default());
        let a = Registry::with_store(vendor.clone(), options, open()).unwrap();
        let b = Registry::with_store(vendor.clone(), options, open()).unwrap();
        let id = a.create(job()).unwrap().id;
        let watcher = tokio::spawn(
            b.events(&id, 0)
                .expect("B finds A's task")
                .collect::<Vec<_>>(),
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while b.view(&id).map(|v| v.progress) != Some(40) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "B never saw A's progress"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(a);
        let events = tokio::time::timeout(Duration::from_secs(15), watcher)
            .await
            .expect("B takes the task over within its lease and finishes it")
            .unwrap();
        let ids: Vec<_> = events.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            ids,
            (1..=ids.len() as u64).collect::<Vec<_>>(),
            "no gap, no repeat"
        );
        let progress: Vec<_> = events.iter().map(|(_, v)| (v.status, v.progress)).collect();
        use TaskStatus::*;
        assert_eq!(
            progress,
            [
                (Queued, 0),
                (Running, 0),
                (Running, 40),
                (Running, 70),
                (Succeeded, 100)
            ]
        );
        assert_eq!(
            vendor.runs.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "created upstream once"
        );
        assert_eq!(
            *lock(&vendor.resumed),
            [serde_json::json!({"vendor_task": "v-42"})],
            "B resumed A's upstream task"
        );
        assert!(matches!(b.result(&id), ResultLookup::Ready(_)));
    }

    /// A memory store whose event writes fail while `down` is set.
    #[derive(Default)]
    struct Flaky {
        store: MemoryStore,
        down: std::sync::atomic::AtomicBool,
    }

    impl Flaky {
        fn check(&self) -> Result<(), StoreError> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError("down".into()));
            }
            Ok(())
        }
    }

    impl crate::store::PhotoStore for Flaky {
        fn photo_put(&self, id: &str, photo: &crate::store::StoredPhoto) -> Result<(), StoreError> {
            self.store.photo_put(id, photo)
        }
        fn photo_get(&self, id: &str) -> Result<Option<crate::store::StoredPhoto>, StoreError> {
            self.store.photo_get(id)
        }
        fn photo_delete(&self, id: &str) -> Result<bool, StoreError> {
            self.store.photo_delete(id)
        }
        fn photo_sweep(&self, now_ms: u64) -> Result<usize, StoreError> {
            self.store.photo_sweep(now_ms)
        }
    }

    impl Store for Flaky {
        fn ping(&self) -> Result<(), StoreError> {
            self.check()
        }
        fn insert_task(&self, first: &TryOnView, job: &TryOnJob) -> Result<(), StoreError> {
            self.store.insert_task(first, job)
        }
        fn append_event(&self, id: &str, n: u64, view: &TryOnView) -> Result<(), StoreError> {
            self.check()?;
            self.store.append_event(id, n, view)
        }
        fn save_upstream(&self, id: &str, state: &serde_json::Value) -> Result<(), StoreError> {
            self.store.save_upstream(id, state)
        }
        fn finish_task(
            &self,
            id: &str,
            n: u64,
            view: &TryOnView,
            result: Option<&TryOnOutput>,
            at: u64,
        ) -> Result<(), StoreError> {
            self.check()?;
            self.store.finish_task(id, n, view, result, at)
        }
        fn delete_task(&self, id: &str) -> Result<(), StoreError> {
            self.store.delete_task(id)
        }
        fn load_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
            self.store.load_tasks()
        }
        fn result(&self, id: &str) -> Result<Option<TryOnOutput>, StoreError> {
            self.store.result(id)
        }
        fn idempotency_get(
            &self,
            key: &str,
        ) -> Result<Option<crate::store::IdempotencyRecord>, StoreError> {
            self.store.idempotency_get(key)
        }
        fn idempotency_put(
            &self,
            key: &str,
            record: &crate::store::IdempotencyRecord,
        ) -> Result<bool, StoreError> {
            self.store.idempotency_put(key, record)
        }
        fn idempotency_sweep(&self, before_ms: u64) -> Result<usize, StoreError> {
            self.store.idempotency_sweep(before_ms)
        }
        fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.store.cache_get(key)
        }
        fn cache_put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
            self.store.cache_put(key, value, ttl)
        }
    }

    #[async_trait]
    impl crate::abuse::CounterStore for Flaky {
        async fn take(
            &self,
            key: &str,
            rule: crate::abuse::BucketRule,
            now_ms: u64,
        ) -> Result<Result<(), Duration>, crate::abuse::StoreError> {
            self.store.take(key, rule, now_ms).await
        }
        async fn reserve_daily(
            &self,
            key: &str,
            day: u64,
            limit: u64,
        ) -> Result<bool, crate::abuse::StoreError> {
            self.store.reserve_daily(key, day, limit).await
        }
        async fn release_daily(&self, key: &str, day: u64) -> Result<(), crate::abuse::StoreError> {
            self.store.release_daily(key, day).await
        }
        async fn daily_count(&self, key: &str, day: u64) -> Result<u64, crate::abuse::StoreError> {
            self.store.daily_count(key, day).await
        }
    }

    /// Reports 40, waits to be told to go on, reports 70 and succeeds.
    #[derive(Default)]
    struct Stepwise(tokio::sync::Notify);

    #[async_trait]
    impl Provider for Stepwise {
        fn info(&self) -> ProviderInfo {
            Scripted(vec![]).info()
        }
        async fn run(
            &self,
            job: TryOnJob,
            sink: &dyn ProgressSink,
        ) -> Result<TryOnOutput, ProviderError> {
            Scripted(vec![40]).run(job.clone(), sink).await.ok();
            self.0.notified().await;
            Scripted(vec![70]).run(job, sink).await
        }
    }

    #[tokio::test]
    async fn events_a_failed_store_write_missed_are_stored_with_the_next_write() {
        let flaky = Arc::new(Flaky::default());
        let provider = Arc::new(Stepwise::default());
        let options = RegistryOptions {
            max_running: 1,
            retention: Duration::from_secs(60),
        };
        let registry = Registry::with_store(provider.clone(), options, flaky.clone()).unwrap();
        flaky.down.store(true, std::sync::atomic::Ordering::SeqCst);
        let id = registry.create(job()).unwrap().id;
        let mut events = Box::pin(registry.events(&id, 0).unwrap());
        for _ in 0..3 {
            events.next().await.expect("queued, running, 40%");
        }
        assert_eq!(
            flaky.store.load_tasks().unwrap()[0].log.len(),
            1,
            "writes failed"
        );
        flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
        provider.0.notify_one();
        let rest: Vec<_> = events.collect().await;
        assert_eq!(rest.last().unwrap().1.status, TaskStatus::Succeeded);
        let stored: Vec<_> = flaky.store.load_tasks().unwrap()[0]
            .log
            .iter()
            .map(|v| (v.status, v.progress))
            .collect();
        let shown: Vec<_> = registry.events(&id, 0).unwrap().collect().await;
        let shown: Vec<_> = shown.iter().map(|(_, v)| (v.status, v.progress)).collect();
        assert_eq!(
            stored, shown,
            "the stored log has no hole where writes failed"
        );
    }

    #[test]
    fn task_ids_are_128_bit_hex_and_differ() {
        let (a, b) = (new_task_id(), new_task_id());
        assert!(is_task_id(&a) && is_task_id(&b));
        for junk in ["", "../x", &a.to_uppercase(), &a[1..], &format!("{a}0")] {
            assert!(!is_task_id(junk), "{junk:?}");
        }
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
