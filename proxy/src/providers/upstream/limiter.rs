//! One request budget per vendor key, shared by every task and every kind of call.
//!
//! Vendors count requests per key over a sliding window (Fitroom: 60 per minute). The limiter
//! keeps a log of the calls it let through and admits a new one only while fewer than `limit`
//! occupy the window. Waiting calls line up by priority, then arrival: a create (a shopper
//! who just pressed the button) goes before a shopper's pre-flight check (issue 13: anyone
//! can ask for one, and some cost credit), which goes before the polls of tasks already
//! running, which can afford to be a little late.
//!
//! The vendor counts a call when it receives it, which we never observe: only that it lies
//! between sending the call and its answer arriving. A call sent late may arrive at once and
//! an earlier one may have been held up on the way (a loaded machine, a slow network), so
//! counting calls when they are sent lets the vendor see more than the limit in its window.
//! A call therefore occupies its slot from when it is sent ([`Grant`]) until one window after
//! its answer arrived: the vendor received it in between, so no window of the vendor's holds
//! more than `limit` calls. The window the limiter enforces is still a tenth longer than the
//! vendor's, a margin for a vendor whose own clock or bookkeeping is coarser than ours.
//!
//! Polls alone could spend the whole window in a burst (ten Fitroom try-ons polled away 60 calls
//! in nine seconds), leaving every call, creates included, to wait out the rest of the minute.
//! So polls are held to two rules creates are not: they leave a reserve of the window to
//! creates (`limit / 6`, at least one), and once half the window is spent they are paced, one
//! poll per `window / limit`, so the polls of many running tasks spread over the window instead
//! of racing into it. A lone try-on, far from the limit, still polls at its own pace. A create
//! may spend the reserve at once; checks leave it alone too, so a flood of them never makes a
//! create wait.
//!
//! Several instances on one shared store (issue 7) spend the same key's budget, so each call
//! the head of the local line would send is also counted in the store's window for that key
//! ([`RateLimiter::share_through`]), holding its place there too until a window after its
//! answer; the line, its priorities and the places shoppers see stay in process. Should the
//! store not answer, the call goes out on the local log alone rather than stalling every
//! running task.
//!
//! The vendor's own word overrides the log (issue 13). A 429 pauses the whole key, not only
//! the refused call ([`RateLimiter::pause_for`]): for its `Retry-After`, or, since no vendor
//! but FitInView sends one, for the rest of the window ([`RateLimiter::rest_of_window`]),
//! and on a shared store on every instance, which spend the same key.
//! A vendor that reports its window on every answer (FitInView's `X-RateLimit-Limit`,
//! `-Remaining`, `-Reset`) is followed too ([`RateLimiter::observe_vendor_window`]): other
//! clients of the same key spend it where we cannot see, so once it says nothing remains,
//! nothing goes out until its reset.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::store::{Store, now_ms, off_runtime_detached};

/// Which calls go first when the budget is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Creates, the uploads and checks a create waits for: a shopper is watching a spinner.
    Create = 0,
    /// Issue 13: a shopper's pre-flight check (`POST /v1/checks/…`). Anyone can ask for one,
    /// so checks go after creates and, like polls, leave the creates' reserve of the window
    /// alone; they are not paced, since a shopper waits for the answer.
    Check = 1,
    /// Status polls and clean-up calls of tasks already running.
    Poll = 2,
}

#[derive(Debug)]
struct State {
    limit: u32,
    window: Duration,
    /// When the answers of calls no longer in flight arrived, oldest first.
    answered: VecDeque<Instant>,
    /// Calls sent and not yet answered: they hold their slot until a window after the answer.
    in_flight: usize,
    waiting: BTreeSet<(Priority, u64)>,
    next_ticket: u64,
    last_poll: Option<Instant>,
    /// The vendor refused a call for the key's limit: nothing goes out before this.
    paused_until: Option<Instant>,
    /// The vendor's own count (`X-RateLimit-*`): calls it still accepts until its reset.
    vendor_left: Option<(u32, Instant)>,
}

impl State {
    fn forget_expired(&mut self, now: Instant) {
        while self
            .answered
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.answered.pop_front();
        }
        if self.paused_until.is_some_and(|until| until <= now) {
            self.paused_until = None;
        }
        if self.vendor_left.is_some_and(|(_, reset)| reset <= now) {
            self.vendor_left = None;
        }
    }

    /// Until when the vendor's word holds every call back, whatever the local log says.
    fn held_back_until(&self) -> Option<Instant> {
        let spent = self
            .vendor_left
            .filter(|(left, _)| *left == 0)
            .map(|(_, reset)| reset);
        self.paused_until.max(spent)
    }

    /// How many calls the window may hold when one of `priority` is admitted: polls leave the
    /// reserve to creates.
    fn room_for(&self, priority: Priority) -> u32 {
        match priority {
            Priority::Create => self.limit,
            Priority::Check | Priority::Poll => self.limit - reserve_for_creates(self.limit),
        }
    }

    /// Whether half the window's budget is spent: from here on the budget is contended, so
    /// polls are paced (and callers that can poll less often).
    fn is_half_spent(&self) -> bool {
        self.held() as u32 * 2 >= self.limit
    }

    /// The calls occupying the window: in flight, or answered less than a window ago.
    fn held(&self) -> usize {
        self.answered.len() + self.in_flight
    }

    /// When the head of the line, of `priority`, may go by the local log. Expects expired
    /// answers forgotten.
    fn next_slot(&self, priority: Priority, now: Instant) -> Slot {
        let room = self.room_for(priority) as usize;
        let held = self.held();
        // Answered calls free their slots oldest first; calls in flight only once answered.
        let freed = match held.checked_sub(room) {
            None => None,
            Some(first_to_free) => match self.answered.get(first_to_free) {
                Some(answered) => Some(*answered + self.window),
                None => return Slot::AfterAnAnswer,
            },
        };
        let paced = match priority {
            Priority::Poll if self.is_half_spent() => self
                .last_poll
                .map(|at| at + self.window / self.limit)
                .filter(|at| *at > now),
            _ => None,
        };
        match freed.max(paced).max(self.held_back_until()) {
            None => Slot::Now,
            Some(at) => Slot::At(at),
        }
    }
}

/// When a call may go by the local log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Now,
    At(Instant),
    /// Every slot is held by a call in flight: none frees before an answer arrives.
    AfterAnAnswer,
}

/// The part of a window polls leave to creates: a sixth, at least one call, and none when the
/// limit is a single call (polls must still get through).
fn reserve_for_creates(limit: u32) -> u32 {
    (limit / 6).max(1).min(limit - 1)
}

/// The window of one key in a store other instances share.
struct SharedBudget {
    store: Arc<dyn Store>,
    /// Names the key by a hash of it, never the key itself.
    key: String,
}

impl std::fmt::Debug for SharedBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedBudget({})", self.key)
    }
}

impl SharedBudget {
    /// Counts one call in the shared window, or says how long until one fits; a store that
    /// does not answer admits it (the local log still holds this instance to the limit).
    /// A pause another instance's 429 set (see [`SharedBudget::pause_for`]) holds the call
    /// back too.
    async fn take(&self, call: u64, limit: u32, window: Duration) -> Result<(), Duration> {
        let (store, key, pause_key) = (self.store.clone(), self.key.clone(), self.pause_key());
        let verdict = tokio::task::spawn_blocking(move || {
            let paused_until = store
                .cache_get(&pause_key)?
                .and_then(|stored| String::from_utf8(stored).ok()?.parse::<u64>().ok());
            let now = now_ms();
            match paused_until {
                Some(until) if until > now => Ok(Err(Duration::from_millis(until - now))),
                _ => store.take_in_window(&key, call, limit, window),
            }
        })
        .await;
        match verdict {
            Ok(Ok(verdict)) => verdict,
            Ok(Err(error)) => {
                tracing::warn!(%error, "shared upstream budget unavailable; counting locally");
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, "shared upstream budget call failed; counting locally");
                Ok(())
            }
        }
    }

    /// Pauses the key on every instance for `pause` from now (the vendor answered 429), without
    /// waiting for the store: until it has heard, the others may send a call or two more.
    fn pause_for(&self, pause: Duration) {
        let (store, pause_key) = (self.store.clone(), self.pause_key());
        let until = now_ms().saturating_add(pause.as_millis() as u64);
        off_runtime_detached(move || {
            if let Err(error) = store.cache_put(&pause_key, until.to_string().as_bytes(), pause) {
                tracing::warn!(%error, "the other instances did not hear of a 429's pause");
            }
        });
    }

    /// Where the key's pause is kept: wall-clock milliseconds, which every instance reads alike.
    fn pause_key(&self) -> String {
        format!("{}:paused", self.key)
    }

    /// Tells the store that `call` got its answer, without waiting for it: should the store
    /// not hear it, the call keeps its place a while longer, which is safe.
    fn answered(&self, call: u64, window: Duration) {
        let (store, key) = (self.store.clone(), self.key.clone());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn_blocking(move || {
            if let Err(error) = store.answered_in_window(&key, call, window) {
                tracing::warn!(%error, "shared upstream budget did not hear an answer");
            }
        });
    }
}

/// A sliding-window rate limiter with two priority classes and first-come order within each.
#[derive(Debug)]
pub struct RateLimiter {
    state: Mutex<State>,
    changed: Notify,
    shared: OnceLock<SharedBudget>,
}

/// What the head of the line does next.
enum Step {
    Go,
    AskShared { limit: u32, window: Duration },
    Wait(Option<Instant>),
}

impl RateLimiter {
    /// Admits at most `limit` calls per `vendor_window` as the vendor sees them.
    pub fn new(limit: u32, vendor_window: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                limit: limit.max(1),
                window: with_slack(vendor_window),
                answered: VecDeque::new(),
                in_flight: 0,
                waiting: BTreeSet::new(),
                next_ticket: 0,
                last_poll: None,
                paused_until: None,
                vendor_left: None,
            }),
            changed: Notify::new(),
            shared: OnceLock::new(),
        }
    }

    /// Counts every call also in `store`'s window for `key_id` (a hash naming the vendor key),
    /// so instances sharing the store share the budget. Only the first call takes effect.
    pub fn share_through(&self, store: Arc<dyn Store>, key_id: &str) {
        let _ = self.shared.set(SharedBudget {
            store,
            key: format!("upstream:{key_id}"),
        });
    }

    /// Adopts a limit the vendor reported about itself (FitInView's `rate_limit_per_min`).
    pub fn set_limit(&self, limit: u32, vendor_window: Duration) {
        let mut state = self.lock();
        state.limit = limit.max(1);
        state.window = with_slack(vendor_window);
        drop(state);
        self.changed.notify_waiters();
    }

    pub fn limit(&self) -> u32 {
        self.lock().limit
    }

    /// Whether the budget is contended: calls are waiting, or half the window's budget is
    /// spent. Callers that can, then poll less often.
    pub fn is_busy(&self) -> bool {
        let mut state = self.lock();
        state.forget_expired(Instant::now());
        !state.waiting.is_empty() || state.is_half_spent()
    }

    /// Waits until this call may go out. `on_wait` hears how many calls are ahead while it
    /// waits (0 = next), and `None` when the call is admitted after having waited. Hold the
    /// returned grant until the call's answer arrived (or the call failed): its slot in the
    /// window runs from now until a window after the grant is dropped.
    pub async fn acquire(
        &self,
        priority: Priority,
        mut on_wait: impl FnMut(Option<u32>),
    ) -> Grant<'_> {
        let ticket = {
            let mut state = self.lock();
            let ticket = (priority, state.next_ticket);
            state.next_ticket += 1;
            state.waiting.insert(ticket);
            ticket
        };
        // If the caller gives up (its task was deleted), its place in line must go with it.
        let mut place = Place {
            limiter: self,
            ticket: Some(ticket),
        };
        let mut waited = false;
        let mut last_ahead = None;
        // The call's name and window in the shared store, once counted there.
        let mut shared_call = None;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let step = {
                let mut state = self.lock();
                let now = Instant::now();
                state.forget_expired(now);
                let ahead = state.waiting.range(..ticket).count() as u32;
                let slot = state.next_slot(priority, now);
                if ahead == 0 && slot == Slot::Now {
                    match self.shared.get() {
                        None => Step::Go,
                        // The reserve holds across instances too.
                        Some(_) => Step::AskShared {
                            limit: state.room_for(priority),
                            window: state.window,
                        },
                    }
                } else {
                    if last_ahead != Some(ahead) {
                        on_wait(Some(ahead));
                        last_ahead = Some(ahead);
                    }
                    waited = true;
                    // Only the head of the line watches the clock; the others wait for it to
                    // move.
                    Step::Wait(match slot {
                        Slot::At(at) if ahead == 0 => Some(at),
                        // An answer arriving wakes the line.
                        _ => None,
                    })
                }
            };
            match step {
                Step::Go => {}
                Step::AskShared { limit, window } => {
                    let budget = self.shared.get().expect("asked only when shared");
                    // Two calls in the same millisecond are two members.
                    let call: u64 = rand::random();
                    if let Err(wait) = budget.take(call, limit, window).await {
                        // Other instances spent the window: still first here, so wait it out.
                        if last_ahead != Some(0) {
                            on_wait(Some(0));
                            last_ahead = Some(0);
                        }
                        waited = true;
                        tokio::time::sleep(wait.min(window)).await;
                        continue;
                    }
                    shared_call = Some((call, window));
                }
                Step::Wait(wake_at) => {
                    match wake_at {
                        Some(at) => {
                            tokio::select! {
                                _ = &mut notified => {}
                                _ = tokio::time::sleep_until(at) => {}
                            }
                        }
                        None => notified.await,
                    }
                    continue;
                }
            }
            let mut state = self.lock();
            let now = Instant::now();
            state.in_flight += 1;
            if priority == Priority::Poll {
                state.last_poll = Some(now);
            }
            if let Some((left, _)) = state.vendor_left.as_mut() {
                *left = left.saturating_sub(1);
            }
            state.waiting.remove(&ticket);
            place.ticket = None;
            drop(state);
            // The next in line may be admissible now.
            self.changed.notify_waiters();
            if waited {
                on_wait(None);
            }
            return Grant {
                limiter: self,
                shared_call,
            };
        }
    }

    /// The vendor refused a call for the key's limit (429): no call of any kind goes out for
    /// `pause`, so the refused call's retry does not come back early with the others' polls.
    /// On a shared store the other instances pause too (issue 13): they spend the same key.
    pub fn pause_for(&self, pause: Duration) {
        let until = Instant::now() + pause;
        let mut state = self.lock();
        state.paused_until = state.paused_until.max(Some(until));
        drop(state);
        if let Some(budget) = self.shared.get() {
            budget.pause_for(pause);
        }
        self.changed.notify_waiters();
    }

    /// How long until the oldest call in the window leaves it: the earliest the vendor's own
    /// count can go down when it refused us without saying when to come back. A whole window
    /// when the log holds nothing answered (the key was spent by someone else).
    pub fn rest_of_window(&self) -> Duration {
        let mut state = self.lock();
        let now = Instant::now();
        state.forget_expired(now);
        match state.answered.front() {
            Some(oldest) => (*oldest + state.window).saturating_duration_since(now),
            None => state.window,
        }
    }

    /// Follows the vendor's account of its window, read from an answer while that call's
    /// grant is still held: `limit` calls per window, `remaining` of them left until
    /// `reset_in` from now. Calls already in flight besides the one answered will spend some
    /// of what remains.
    pub fn observe_vendor_window(&self, limit: Option<u32>, remaining: u32, reset_in: Duration) {
        let mut state = self.lock();
        if let Some(limit) = limit.filter(|l| *l > 0) {
            state.limit = limit;
        }
        let others_in_flight = state.in_flight.saturating_sub(1) as u32;
        let left = remaining.saturating_sub(others_in_flight);
        state.vendor_left = Some((left, Instant::now() + reset_in));
        drop(state);
        self.changed.notify_waiters();
    }

    /// The call of a grant got its answer (or failed) now: its slot frees a window from now.
    fn answered(&self, shared_call: Option<(u64, Duration)>) {
        if let (Some((call, window)), Some(budget)) = (shared_call, self.shared.get()) {
            budget.answered(call, window);
        }
        let mut state = self.lock();
        state.in_flight -= 1;
        state.answered.push_back(Instant::now());
        drop(state);
        // The head of the line may have been waiting for an answer to know when it may go.
        self.changed.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the log inconsistent: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The window the limiter enforces: the vendor's plus a tenth for delivery jitter.
fn with_slack(vendor_window: Duration) -> Duration {
    vendor_window + vendor_window / 10
}

/// An admitted call, holding its slot while it is in flight: drop it when the call's answer
/// has arrived or the call failed.
#[derive(Debug)]
pub struct Grant<'a> {
    limiter: &'a RateLimiter,
    shared_call: Option<(u64, Duration)>,
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        self.limiter.answered(self.shared_call);
    }
}

/// A waiting call's place in line, given up if the waiting future is dropped.
struct Place<'a> {
    limiter: &'a RateLimiter,
    ticket: Option<(Priority, u64)>,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.limiter.lock().waiting.remove(&ticket);
            self.limiter.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn admits_the_limit_of_creates_at_once_then_waits_for_the_window() {
        let limiter = RateLimiter::new(3, Duration::from_secs(10));
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire(Priority::Create, |_| {}).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire(Priority::Create, |_| {}).await;
        // 10 s window + 1 s slack.
        assert_eq!(start.elapsed(), Duration::from_secs(11));
    }

    #[tokio::test(start_paused = true)]
    async fn busy_means_half_the_budget_spent_or_a_line() {
        let limiter = RateLimiter::new(4, Duration::from_secs(10));
        limiter.acquire(Priority::Create, |_| {}).await;
        assert!(!limiter.is_busy());
        limiter.acquire(Priority::Create, |_| {}).await;
        assert!(limiter.is_busy());
        tokio::time::advance(Duration::from_secs(12)).await;
        assert!(
            !limiter.is_busy(),
            "calls older than the window no longer count"
        );
    }

    /// The order in which callers arriving as `arrivals` (one per millisecond, so the arrival
    /// order is certain) are admitted by a limiter of one call per window already spent.
    async fn admission_order(arrivals: [(&'static str, Priority); 3]) -> Vec<&'static str> {
        let limiter = Arc::new(RateLimiter::new(1, Duration::from_secs(10)));
        limiter.acquire(Priority::Poll, |_| {}).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for (name, priority) in arrivals {
            let (limiter, order) = (limiter.clone(), order.clone());
            handles.push(tokio::spawn(async move {
                limiter.acquire(priority, |_| {}).await;
                order.lock().unwrap().push(name);
            }));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for handle in handles {
            handle.await.unwrap();
        }
        order.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_create_goes_before_earlier_polls() {
        let arrivals = [
            ("poll-a", Priority::Poll),
            ("poll-b", Priority::Poll),
            ("create", Priority::Create),
        ];
        assert_eq!(
            admission_order(arrivals).await,
            ["create", "poll-a", "poll-b"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn checks_go_after_creates_and_before_polls() {
        let arrivals = [
            ("poll", Priority::Poll),
            ("check", Priority::Check),
            ("create", Priority::Create),
        ];
        assert_eq!(admission_order(arrivals).await, ["create", "check", "poll"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_checks_leaves_the_creates_reserve() {
        // 60 per minute: checks may hold 50 of the window, creates the other 10 at once.
        let limiter = Arc::new(RateLimiter::new(60, Duration::from_secs(60)));
        let _checks = spawn_callers(&limiter, Priority::Check, 80);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(limiter.lock().held(), 50, "checks stop at the reserve");
        let arrived = Instant::now();
        for _ in 0..10 {
            limiter.acquire(Priority::Create, |_| {}).await;
        }
        assert_eq!(
            arrived.elapsed(),
            Duration::ZERO,
            "creates waited behind a flood of checks"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_callers_hear_their_place_in_line() {
        let limiter = Arc::new(RateLimiter::new(1, Duration::from_secs(10)));
        limiter.acquire(Priority::Create, |_| {}).await;
        let first = tokio::spawn({
            let limiter = limiter.clone();
            async move {
                limiter.acquire(Priority::Create, |_| {}).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        let heard = Arc::new(Mutex::new(Vec::new()));
        let second = tokio::spawn({
            let (limiter, heard) = (limiter.clone(), heard.clone());
            async move {
                limiter
                    .acquire(Priority::Create, |ahead| heard.lock().unwrap().push(ahead))
                    .await;
            }
        });
        first.await.unwrap();
        second.await.unwrap();
        assert_eq!(*heard.lock().unwrap(), [Some(1), Some(0), None]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_gives_up_leaves_the_line() {
        let limiter = Arc::new(RateLimiter::new(1, Duration::from_secs(10)));
        limiter.acquire(Priority::Create, |_| {}).await;
        let quitter = tokio::spawn({
            let limiter = limiter.clone();
            async move {
                limiter.acquire(Priority::Create, |_| {}).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        quitter.abort();
        let start = Instant::now();
        limiter.acquire(Priority::Poll, |_| {}).await;
        assert!(
            start.elapsed() <= Duration::from_secs(11),
            "the abandoned ticket blocked the line"
        );
        assert!(limiter.lock().waiting.is_empty());
    }

    #[tokio::test]
    async fn limiters_sharing_a_store_share_one_budget() {
        let store: Arc<dyn Store> = Arc::new(crate::store::MemoryStore::default());
        // 500 ms enforced (a tenth of slack on the vendor's window).
        let window = Duration::from_millis(454);
        let (a, b) = (RateLimiter::new(2, window), RateLimiter::new(2, window));
        a.share_through(store.clone(), "key-hash");
        b.share_through(store.clone(), "key-hash");
        let start = Instant::now();
        a.acquire(Priority::Create, |_| {}).await;
        b.acquire(Priority::Create, |_| {}).await;
        assert!(start.elapsed() < Duration::from_millis(200));
        let mut heard = Vec::new();
        a.acquire(Priority::Create, |ahead| heard.push(ahead)).await;
        assert!(
            start.elapsed() >= Duration::from_millis(400),
            "the third call within the window went out after {:?}, though each limiter had \
             spent only half the shared budget",
            start.elapsed()
        );
        assert_eq!(heard, [Some(0), None], "it waited first in line here");
    }

    /// Issue 13: a 429 on one instance pauses the key on all of them (real time: the store
    /// keeps the pause in wall-clock time, which instances share).
    #[tokio::test]
    async fn a_pause_on_one_instance_holds_back_the_others() {
        let store: Arc<dyn Store> = Arc::new(crate::store::MemoryStore::default());
        let window = Duration::from_secs(10);
        let (a, b) = (RateLimiter::new(10, window), RateLimiter::new(10, window));
        a.share_through(store.clone(), "key-hash");
        b.share_through(store, "key-hash");
        a.pause_for(Duration::from_millis(400));
        // The pause reaches the store off the runtime; wait until it has.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let start = Instant::now();
        let mut heard = Vec::new();
        b.acquire(Priority::Create, |ahead| heard.push(ahead)).await;
        assert!(
            start.elapsed() >= Duration::from_millis(300),
            "the other instance sent a call {:?} into a pause of 400 ms",
            start.elapsed()
        );
        assert_eq!(heard, [Some(0), None], "it waited, first in line");
        let start = Instant::now();
        b.acquire(Priority::Create, |_| {}).await;
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "once the pause is over calls go out at once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_limit_in_any_window() {
        let limiter = Arc::new(RateLimiter::new(5, Duration::from_secs(1)));
        let times = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..23)
            .map(|i| {
                let (limiter, times) = (limiter.clone(), times.clone());
                let priority = if i % 3 == 0 {
                    Priority::Create
                } else {
                    Priority::Poll
                };
                tokio::spawn(async move {
                    limiter.acquire(priority, |_| {}).await;
                    times.lock().unwrap().push(Instant::now());
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        let times = times.lock().unwrap().clone();
        assert_at_most_per_window(&times, 5, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_held_up_on_the_way_keeps_its_slot_until_a_window_after_its_answer() {
        // 1 per 10 s, 11 s enforced. The first call is sent at 0 s but, on a loaded machine,
        // reaches the vendor only at 4 s and is answered at 5 s. Counted from when it was
        // sent, a second call could go at 11 s and reach the vendor 7 s after the first.
        let vendor_window = Duration::from_secs(10);
        let limiter = RateLimiter::new(1, vendor_window);
        let start = Instant::now();
        let grant = limiter.acquire(Priority::Create, |_| {}).await;
        let first_received = start + Duration::from_secs(4);
        let answer = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(grant);
        };
        let second = async {
            limiter.acquire(Priority::Create, |_| {}).await;
            // Sent now, received at once at best.
            Instant::now()
        };
        let ((), second_received) = tokio::join!(answer, second);
        assert!(
            second_received - first_received >= vendor_window,
            "the vendor received two calls {:?} apart, within its {vendor_window:?} window",
            second_received - first_received
        );
        assert_eq!(
            second_received - start,
            Duration::from_secs(16),
            "5 s + 11 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn calls_in_flight_hold_the_window_until_answered() {
        let limiter = RateLimiter::new(2, Duration::from_secs(10));
        let first = limiter.acquire(Priority::Create, |_| {}).await;
        let _second = limiter.acquire(Priority::Create, |_| {}).await;
        // Far past the window, but both calls are still unanswered.
        let answered_at = Instant::now() + Duration::from_secs(30);
        let answer = async {
            tokio::time::sleep_until(answered_at).await;
            drop(first);
        };
        let third = async {
            limiter.acquire(Priority::Create, |_| {}).await;
            Instant::now()
        };
        let ((), sent) = tokio::join!(answer, third);
        assert_eq!(sent - answered_at, Duration::from_secs(11));
    }

    /// Fails naming the busiest window if more than `limit` of `times` fall in any `window`.
    fn assert_at_most_per_window(times: &[Instant], limit: usize, window: Duration) {
        let mut times = times.to_vec();
        times.sort();
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < window)
                .count();
            assert!(
                in_window <= limit,
                "{in_window} calls within one {window:?} window starting at call {i} \
                 (at most {limit} allowed)"
            );
        }
    }

    /// Starts `n` callers of `priority` at once; returns when each was admitted.
    fn spawn_callers(
        limiter: &Arc<RateLimiter>,
        priority: Priority,
        n: usize,
    ) -> Vec<tokio::task::JoinHandle<Instant>> {
        (0..n)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    limiter.acquire(priority, |_| {}).await;
                    Instant::now()
                })
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn polls_alone_are_spaced_and_leave_the_reserve() {
        // 6 per 10 s: 11 s enforced, so 5 polls per window and, once 3 are in it, one poll
        // per 11/6 s.
        let limiter = Arc::new(RateLimiter::new(6, Duration::from_secs(10)));
        let start = Instant::now();
        let mut times = Vec::new();
        for handle in spawn_callers(&limiter, Priority::Poll, 15) {
            times.push(handle.await.unwrap());
        }
        times.sort();
        let spacing = Duration::from_secs(11) / 6;
        assert_eq!(times[2], start, "half the window is free for polls at once");
        // The timer wakes to the millisecond.
        let fourth = times[3] - start;
        assert!(
            fourth >= spacing && fourth < spacing + Duration::from_millis(2),
            "then polls are paced, but the fourth went out after {fourth:?}"
        );
        assert_at_most_per_window(&times, 3, spacing);
        assert_at_most_per_window(&times, 5, Duration::from_secs(11));
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_after_a_burst_of_polls_spends_the_reserve_at_once() {
        // Fitroom: 60 per minute, 66 s enforced; the polls may hold 50 of them.
        let limiter = Arc::new(RateLimiter::new(60, Duration::from_secs(60)));
        let start = Instant::now();
        let polls = spawn_callers(&limiter, Priority::Poll, 80);
        // By now the polls have taken all the window leaves them and wait for it to slide.
        tokio::time::sleep(Duration::from_secs(58)).await;
        assert_eq!(limiter.lock().held(), 50);
        let arrived = Instant::now();
        for _ in 0..10 {
            limiter.acquire(Priority::Create, |_| {}).await;
        }
        assert_eq!(
            arrived.elapsed(),
            Duration::ZERO,
            "creates within the reserve waited behind the polls"
        );
        limiter.acquire(Priority::Create, |_| {}).await;
        assert!(
            arrived.elapsed() > Duration::ZERO,
            "a create beyond the limit went out at once"
        );
        let mut times = Vec::new();
        for handle in polls {
            times.push(handle.await.unwrap());
        }
        assert!(times.iter().all(|t| *t - start < Duration::from_secs(200)));
    }

    #[tokio::test(start_paused = true)]
    async fn polls_and_creates_arriving_over_time_never_exceed_the_limit() {
        let limiter = Arc::new(RateLimiter::new(12, Duration::from_secs(10)));
        let mut handles = spawn_callers(&limiter, Priority::Poll, 40);
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(2_700)).await;
            handles.extend(spawn_callers(&limiter, Priority::Create, 3));
        }
        let mut times = Vec::new();
        for handle in handles {
            times.push(handle.await.unwrap());
        }
        assert_at_most_per_window(&times, 12, Duration::from_secs(11));
    }
    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_every_call_creates_included() {
        let limiter = RateLimiter::new(10, Duration::from_secs(10));
        let start = Instant::now();
        limiter.pause_for(Duration::from_secs(3));
        limiter.acquire(Priority::Create, |_| {}).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        limiter.acquire(Priority::Poll, |_| {}).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3), "the pause is over");
    }

    #[tokio::test(start_paused = true)]
    async fn the_rest_of_the_window_runs_from_the_oldest_answer() {
        let limiter = RateLimiter::new(10, Duration::from_secs(10));
        assert_eq!(
            limiter.rest_of_window(),
            Duration::from_secs(11),
            "nothing logged"
        );
        drop(limiter.acquire(Priority::Create, |_| {}).await);
        tokio::time::advance(Duration::from_secs(4)).await;
        drop(limiter.acquire(Priority::Create, |_| {}).await);
        assert_eq!(limiter.rest_of_window(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn the_vendors_remaining_count_is_spent_then_waited_out() {
        let limiter = RateLimiter::new(50, Duration::from_secs(60));
        let start = Instant::now();
        let grant = limiter.acquire(Priority::Create, |_| {}).await;
        // The vendor says: 2 left of 20, the window slides on in 5 s.
        limiter.observe_vendor_window(Some(20), 2, Duration::from_secs(5));
        drop(grant);
        assert_eq!(limiter.limit(), 20);
        for _ in 0..2 {
            limiter.acquire(Priority::Create, |_| {}).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire(Priority::Create, |_| {}).await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(5),
            "none left until the reset"
        );
    }
}
