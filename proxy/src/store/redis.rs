//! The shared store (`TRYON_STORE=redis://host:port/db`): several proxy instances keep their
//! tasks, event logs, results, idempotency keys and counters in one Redis, so any instance can
//! answer for any task and the limits hold across all of them.
//!
//! Every write that must be atomic is one Lua script (Redis runs a script without
//! interleaving): an event is appended and published to the other instances in one step, and
//! the terminal event, the result and the photo deletion land together. Retention is Redis's
//! own: photos expire after the retention even if every instance died, and a finished task's
//! keys expire when its retention ends, whichever instance (if any) sweeps.
//!
//! Calls are synchronous, on a small pool of connections with ~1 s connect, read and write
//! timeouts: a paused or unreachable Redis makes a call fail fast (creates answer 503
//! `store_unavailable`) instead of hanging a request. A connection that failed is dropped,
//! never reused half-read. The limiter's counter calls, made by every request handler, run
//! on Tokio's blocking pool so a stuck Redis cannot occupy the runtime's workers.
//!
//! Keys, under the `tryon:` prefix: `seq` (creation order), `tasks` (sorted set of ids by
//! creation), `unfinished` (set), `task:{id}` (hash: options, upstream, finished_at_ms),
//! `log:{id}` (list of views as JSON: event `n` is element `n - 1`), `photos:{id}` (hash:
//! role → size header and JPEG), `result:{id}` (hash), `lease:{id}` (the instance driving the
//! task), `idem:{key}` and the `idem` sorted set by age, `cache:{key}`, `bucket:{key}`,
//! `daily:{day}:{key}`, `photo:{id}` (an uploaded photo, `redis_photos.rs`), `window:upstream:{key hash}` (an upstream budget's call times),
//! `idem-lock:{key}` (a create with that key is in progress on some
//! instance). Events, and the leases a draining instance gives back, are published on the
//! `tryon:events` channel; notices between instances (vendor webhooks, [`Store::notify`]) on
//! `tryon:notice:{topic}`.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use ::redis::{Connection, RedisResult, Script, Value};
use async_trait::async_trait;
use bytes::Bytes;

use super::{
    IdempotencyRecord, JobOptions, PhotoRole, RemoteEvent, Store, StoreError, TaskRecord, job_from,
    photos_of,
};
use crate::abuse::{self, BucketRule, CounterStore};
use crate::job::{PreparedImage, TryOnJob, TryOnOutput};
use crate::wire::{TryOnView, media};

mod notices;

/// Connect, read and write timeout of every call.
const TIMEOUT: Duration = Duration::from_secs(1);
/// Idle connections kept for reuse; more are opened under load and closed after.
const POOL: usize = 8;
/// Daily counters outlive their day by one, for clocks that disagree around midnight.
const DAILY_TTL_S: u64 = 2 * 86_400;

/// The store in one Redis database.
#[derive(Clone)]
pub struct RedisStore {
    client: ::redis::Client,
    /// Shared by the clones that carry a counter call to the blocking pool.
    idle: Arc<Mutex<Vec<Connection>>>,
    prefix: String,
    retention: Duration,
    /// The URL without credentials, for messages.
    address: String,
}

fn failed(error: impl std::fmt::Display) -> StoreError {
    StoreError(error.to_string())
}

impl RedisStore {
    /// Connects to `url` (`redis://[:password@]host:port/db`) and checks that it answers.
    /// Finished tasks' keys expire `retention` after the task ended.
    pub fn open(url: &str, retention: Duration) -> Result<Self, StoreError> {
        Self::open_with_prefix(url, retention, "tryon:")
    }

    /// Like [`RedisStore::open`] with every key under `prefix` (tests share one server).
    pub fn open_with_prefix(
        url: &str,
        retention: Duration,
        prefix: &str,
    ) -> Result<Self, StoreError> {
        let client = ::redis::Client::open(url).map_err(|e| failed(format!("{url:?}: {e}")))?;
        let info = client.get_connection_info();
        let address = format!("redis://{}/{}", info.addr(), info.redis_settings().db());
        let store = Self {
            client,
            idle: Arc::default(),
            prefix: prefix.to_owned(),
            retention,
            address,
        };
        store.ping()?;
        Ok(store)
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn connect(&self) -> RedisResult<Connection> {
        let connection = self.client.get_connection_with_timeout(TIMEOUT)?;
        connection.set_read_timeout(Some(TIMEOUT))?;
        connection.set_write_timeout(Some(TIMEOUT))?;
        Ok(connection)
    }

    /// Runs `work` on a pooled connection. A connection whose call failed is closed: after a
    /// timeout its reply may still be on the way, and would answer the next call.
    pub(super) fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle().pop();
        let mut connection = match pooled {
            Some(connection) => connection,
            None => self.connect().map_err(|e| self.failed(e))?,
        };
        let output = work(&mut connection).map_err(|e| self.failed(e))?;
        let mut idle = self.idle();
        if idle.len() < POOL {
            idle.push(connection);
        }
        Ok(output)
    }

    fn failed(&self, error: ::redis::RedisError) -> StoreError {
        if error.is_timeout() {
            failed(format!("{}: no answer within {TIMEOUT:?}", self.address))
        } else {
            failed(format!("{}: {error}", self.address))
        }
    }

    pub(super) fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn global(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn channel(&self) -> String {
        self.global("events")
    }

    /// The message other instances receive for event `event_id` of task `id`.
    fn message(id: &str, event_id: u64, json: &str) -> String {
        format!("{id} {event_id} {json}")
    }

    /// The message other instances receive when task `id`'s lease was given back.
    fn released_message(id: &str) -> String {
        format!("{id} {RELEASED}")
    }

    fn read_task(&self, connection: &mut Connection, id: &str) -> RedisResult<Option<TaskRecord>> {
        let (fields, log, photos): (Hash<String>, Vec<String>, Hash<Vec<u8>>) = ::redis::pipe()
            .cmd("HGETALL")
            .arg(self.key("task", id))
            .cmd("LRANGE")
            .arg(self.key("log", id))
            .arg(0)
            .arg(-1)
            .cmd("HGETALL")
            .arg(self.key("photos", id))
            .query(connection)?;
        let field = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let (Some(options), false) = (field("options"), log.is_empty()) else {
            return Ok(None);
        };
        let Ok(options) = serde_json::from_str::<JobOptions>(options) else {
            return Ok(None);
        };
        let log = log
            .iter()
            .filter_map(|json| serde_json::from_str::<TryOnView>(json).ok())
            .collect();
        let images = photos
            .into_iter()
            .filter_map(|(role, blob)| Some((PhotoRole::of(&role)?, photo_from(&blob)?)))
            .collect();
        Ok(Some(TaskRecord {
            id: id.to_owned(),
            log,
            job: job_from(options, images),
            upstream: field("upstream").and_then(|json| serde_json::from_str(json).ok()),
            finished_at_ms: field("finished_at_ms").and_then(|ms| ms.parse().ok()),
        }))
    }
}

/// A Redis hash as field and value pairs.
type Hash<V> = Vec<(String, V)>;

/// A photo as stored: width and height (4 bytes each, big-endian), then the JPEG.
pub(super) fn photo_blob(image: &PreparedImage) -> Vec<u8> {
    let mut blob = Vec::with_capacity(8 + image.bytes.len());
    blob.extend_from_slice(&image.width.to_be_bytes());
    blob.extend_from_slice(&image.height.to_be_bytes());
    blob.extend_from_slice(&image.bytes);
    blob
}

pub(super) fn photo_from(blob: &[u8]) -> Option<PreparedImage> {
    let (width, rest) = blob.split_first_chunk::<4>()?;
    let (height, jpeg) = rest.split_first_chunk::<4>()?;
    Some(PreparedImage {
        bytes: Bytes::copy_from_slice(jpeg),
        width: u32::from_be_bytes(*width),
        height: u32::from_be_bytes(*height),
        content_type: media::JPEG,
    })
}

fn view_json(view: &TryOnView) -> String {
    serde_json::to_string(view).expect("a TryOnView always serialises")
}

/// Makes event `n` (ARGV[1]) the last element of the log KEYS[1], replacing any event at or
/// after `n` (a driver that took over rewrites from where the log it read ended), and
/// publishes ARGV[3] on channel KEYS[3]. Nothing happens to a task that no longer exists.
const APPEND_EVENT: &str = r"
local function append(log, task, channel, n, view, message)
  if redis.call('EXISTS', task) == 0 then return 0 end
  local len = redis.call('LLEN', log)
  if len >= n then redis.call('LTRIM', log, 0, n - 2) end
  redis.call('RPUSH', log, view)
  redis.call('PUBLISH', channel, message)
  return 1
end
";

const APPEND: &str =
    "return append(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), ARGV[2], ARGV[3])";

/// KEYS: log, task, channel, photos, result, unfinished, lease. ARGV: event id, view,
/// message, finished_at_ms, expire_at_ms, id, then the result's bytes, width, height and
/// content type if there is one.
const FINISH: &str = r"
if append(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), ARGV[2], ARGV[3]) == 0 then return 0 end
redis.call('DEL', KEYS[4])
redis.call('HDEL', KEYS[2], 'upstream')
redis.call('HSET', KEYS[2], 'finished_at_ms', ARGV[4])
redis.call('SREM', KEYS[6], ARGV[6])
redis.call('DEL', KEYS[7])
if ARGV[7] then
  redis.call('HSET', KEYS[5], 'bytes', ARGV[7], 'width', ARGV[8], 'height', ARGV[9], 'content_type', ARGV[10])
  redis.call('PEXPIREAT', KEYS[5], ARGV[5])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
redis.call('PEXPIREAT', KEYS[2], ARGV[5])
return 1
";

/// KEYS: task, log, photos, seq, tasks, unfinished. ARGV: id, options, first view, photo
/// expiry (ms), then role and blob pairs.
const INSERT: &str = r"
redis.call('HSET', KEYS[1], 'options', ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[6], ARGV[1])
redis.call('ZADD', KEYS[5], redis.call('INCR', KEYS[4]), ARGV[1])
return 1
";

/// KEYS: the idempotency key, the age index. ARGV: record, created_ms, key.
const IDEMPOTENCY_PUT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  return 1
end
return 0
";

/// KEYS: the age index. ARGV: created-before (ms), the key prefix.
const IDEMPOTENCY_SWEEP: &str = r"
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for _, key in ipairs(old) do redis.call('DEL', ARGV[2] .. key) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
return #old
";

/// GCRA in one step (see `abuse::gcra`). KEYS: the bucket. ARGV: now, period, tolerance
/// (ms). Returns 0 when admitted, else the wait in ms.
const TAKE: &str = r"
local now = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
if tat - now > tonumber(ARGV[3]) then return tat - now - tonumber(ARGV[3]) end
local next = tat + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.max(next - now, 1))
return 0
";

/// A sliding-window log on Redis's own clock, so instances whose clocks disagree still share
/// one window. KEYS: the sorted set of calls, scored by when each leaves the window less one
/// window. ARGV: limit, window (ms), a unique member. A call in flight is scored a window
/// ahead, holding its place for two windows unless [`ANSWERED_IN_WINDOW`] rescores it by its
/// answer (an instance that dies mid-call frees the place in the end). Returns 0 when the call
/// is counted, else the wait in ms until the first call leaves.
const TAKE_IN_WINDOW: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + window, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], 2 * window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(tonumber(oldest[2]) + window - now, 1)
";

/// A call of [`TAKE_IN_WINDOW`]'s log got its answer: it leaves the window one window from
/// now. KEYS: the sorted set. ARGV: the call's member, window (ms).
const ANSWERED_IN_WINDOW: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[2])
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now, ARGV[1]) == 1 and
    redis.call('PTTL', KEYS[1]) < window then
  redis.call('PEXPIRE', KEYS[1], window)
end
return 0
";

/// `INCR` + `EXPIRE`, giving the reservation back when it went over. KEYS: the counter.
/// ARGV: limit, TTL (s).
const RESERVE: &str = r"
local count = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if count > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) return 0 end
return 1
";

const RELEASE: &str = r"
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 1
";

/// Takes the lease KEYS[1] for ARGV[1] for ARGV[2] ms, or renews it if ARGV[1] holds it.
const CLAIM: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
";

const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
";

/// Gives back each lease in KEYS that ARGV[1] still holds and publishes its message on the
/// channel; returns how many were given back. Comparing and deleting in one script leaves
/// alone, atomically, a lease another instance has taken meanwhile.
/// ARGV: holder, channel, then one message per key, in KEYS' order.
const HAND_OVER: &str = r"
local given = 0
for i, lease in ipairs(KEYS) do
  if redis.call('GET', lease) == ARGV[1] then
    redis.call('DEL', lease)
    redis.call('PUBLISH', ARGV[2], ARGV[i + 2])
    given = given + 1
  end
end
return given
";

fn script(body: &str) -> Script {
    Script::new(&format!("{APPEND_EVENT}\n{body}"))
}

impl Store for RedisStore {
    fn ping(&self) -> Result<(), StoreError> {
        self.with(|connection| ::redis::cmd("PING").query::<String>(connection).map(drop))
    }

    fn insert_task(&self, first: &TryOnView, job: &TryOnJob) -> Result<(), StoreError> {
        let options = serde_json::to_string(&JobOptions {
            category: job.category,
            quality: job.quality,
        })
        .map_err(failed)?;
        let id = &first.id;
        let insert = script(INSERT);
        let mut invocation = insert.prepare_invoke();
        invocation
            .key(self.key("task", id))
            .key(self.key("log", id))
            .key(self.key("photos", id))
            .key(self.global("seq"))
            .key(self.global("tasks"))
            .key(self.global("unfinished"))
            .arg(id)
            .arg(options)
            .arg(view_json(first))
            // Photos never outlive the retention, even if no instance is left to end the task.
            .arg(self.retention.as_millis().max(1) as u64);
        for (role, image) in photos_of(job) {
            invocation.arg(role.name()).arg(photo_blob(image));
        }
        self.with(|connection| invocation.invoke::<i64>(connection).map(drop))
    }

    fn append_event(&self, id: &str, event_id: u64, view: &TryOnView) -> Result<(), StoreError> {
        let json = view_json(view);
        self.with(|connection| {
            script(APPEND)
                .key(self.key("log", id))
                .key(self.key("task", id))
                .key(self.channel())
                .arg(event_id)
                .arg(&json)
                .arg(Self::message(id, event_id, &json))
                .invoke::<i64>(connection)
                .map(drop)
        })
    }

    fn save_upstream(&self, id: &str, state: &serde_json::Value) -> Result<(), StoreError> {
        self.with(|connection| {
            ::redis::cmd("HSET")
                .arg(self.key("task", id))
                .arg("upstream")
                .arg(state.to_string())
                .query::<i64>(connection)
                .map(drop)
        })
    }

    fn finish_task(
        &self,
        id: &str,
        event_id: u64,
        view: &TryOnView,
        result: Option<&TryOnOutput>,
        finished_at_ms: u64,
    ) -> Result<(), StoreError> {
        let json = view_json(view);
        let expire_at_ms = finished_at_ms + self.retention.as_millis() as u64;
        let finish = script(FINISH);
        let mut invocation = finish.prepare_invoke();
        invocation
            .key(self.key("log", id))
            .key(self.key("task", id))
            .key(self.channel())
            .key(self.key("photos", id))
            .key(self.key("result", id))
            .key(self.global("unfinished"))
            .key(self.key("lease", id))
            .arg(event_id)
            .arg(&json)
            .arg(Self::message(id, event_id, &json))
            .arg(finished_at_ms)
            .arg(expire_at_ms)
            .arg(id);
        if let Some(output) = result {
            invocation
                .arg(&output.bytes[..])
                .arg(output.width)
                .arg(output.height)
                .arg(&output.content_type);
        }
        self.with(|connection| invocation.invoke::<i64>(connection).map(drop))
    }

    fn delete_task(&self, id: &str) -> Result<(), StoreError> {
        self.with(|connection| {
            ::redis::pipe()
                .atomic()
                .cmd("DEL")
                .arg(self.key("task", id))
                .arg(self.key("log", id))
                .arg(self.key("photos", id))
                .arg(self.key("result", id))
                .arg(self.key("lease", id))
                .cmd("ZREM")
                .arg(self.global("tasks"))
                .arg(id)
                .cmd("SREM")
                .arg(self.global("unfinished"))
                .arg(id)
                .cmd("PUBLISH")
                .arg(self.channel())
                .arg(Self::message(id, 0, ""))
                .query::<Value>(connection)
                .map(drop)
        })
    }

    fn load_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        self.with(|connection| {
            let ids: Vec<String> = ::redis::cmd("ZRANGE")
                .arg(self.global("tasks"))
                .arg(0)
                .arg(-1)
                .query(connection)?;
            let mut records = Vec::with_capacity(ids.len());
            for id in ids {
                match self.read_task(connection, &id)? {
                    Some(record) => records.push(record),
                    // Expired with its retention: forget it in the index too.
                    None => ::redis::pipe()
                        .cmd("ZREM")
                        .arg(self.global("tasks"))
                        .arg(&id)
                        .cmd("SREM")
                        .arg(self.global("unfinished"))
                        .arg(&id)
                        .query::<Value>(connection)
                        .map(drop)?,
                }
            }
            Ok(records)
        })
    }

    fn result(&self, id: &str) -> Result<Option<TryOnOutput>, StoreError> {
        let fields: Hash<Vec<u8>> = self.with(|connection| {
            ::redis::cmd("HGETALL")
                .arg(self.key("result", id))
                .query(connection)
        })?;
        let field = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_slice())
        };
        let number = |name: &str| {
            field(name)
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .and_then(|text| text.parse::<u32>().ok())
        };
        let (Some(bytes), Some(width), Some(height), Some(content_type)) = (
            field("bytes"),
            number("width"),
            number("height"),
            field("content_type"),
        ) else {
            return Ok(None);
        };
        Ok(Some(TryOnOutput {
            bytes: Bytes::copy_from_slice(bytes),
            width,
            height,
            content_type: String::from_utf8_lossy(content_type).into_owned(),
        }))
    }

    fn idempotency_get(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let stored: Option<String> = self.with(|connection| {
            ::redis::cmd("GET")
                .arg(self.key("idem", key))
                .query(connection)
        })?;
        Ok(stored.as_deref().and_then(idempotency_from))
    }

    fn idempotency_put(&self, key: &str, record: &IdempotencyRecord) -> Result<bool, StoreError> {
        let stored = format!(
            "{} {} {}",
            hex::encode(record.fingerprint),
            record.created_ms,
            record.task_id
        );
        self.with(|connection| {
            Script::new(IDEMPOTENCY_PUT)
                .key(self.key("idem", key))
                .key(self.global("idem"))
                .arg(stored)
                .arg(record.created_ms)
                .arg(key)
                .invoke::<i64>(connection)
                .map(|set| set == 1)
        })
    }

    fn idempotency_sweep(&self, created_before_ms: u64) -> Result<usize, StoreError> {
        self.with(|connection| {
            Script::new(IDEMPOTENCY_SWEEP)
                .key(self.global("idem"))
                .arg(created_before_ms)
                .arg(self.key("idem", ""))
                .invoke::<usize>(connection)
        })
    }

    fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|connection| {
            ::redis::cmd("GET")
                .arg(self.key("cache", key))
                .query(connection)
        })
    }

    fn cache_put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let key = self.key("cache", key);
        let ttl_ms = ttl.as_millis() as u64;
        self.with(|connection| {
            let mut command = if ttl_ms == 0 {
                ::redis::cmd("DEL")
            } else {
                ::redis::cmd("SET")
            };
            command.arg(&key);
            if ttl_ms > 0 {
                command.arg(value).arg("PX").arg(ttl_ms);
            }
            command.query::<Value>(connection).map(drop)
        })
    }

    fn take_in_window(
        &self,
        key: &str,
        call: u64,
        limit: u32,
        window: Duration,
    ) -> Result<Result<(), Duration>, StoreError> {
        let key = self.key("window", key);
        let wait_ms: u64 = self.with(|connection| {
            Script::new(TAKE_IN_WINDOW)
                .key(&key)
                .arg(limit)
                .arg(window.as_millis() as u64)
                .arg(call)
                .invoke(connection)
        })?;
        Ok(match wait_ms {
            0 => Ok(()),
            wait => Err(Duration::from_millis(wait)),
        })
    }

    fn answered_in_window(&self, key: &str, call: u64, window: Duration) -> Result<(), StoreError> {
        let key = self.key("window", key);
        self.with(|connection| {
            Script::new(ANSWERED_IN_WINDOW)
                .key(&key)
                .arg(call)
                .arg(window.as_millis() as u64)
                .invoke::<i64>(connection)
                .map(drop)
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn load_task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        self.with(|connection| self.read_task(connection, id))
    }

    fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        self.with(|connection| {
            ::redis::cmd("SMEMBERS")
                .arg(self.global("unfinished"))
                .query(connection)
        })
    }

    fn claim(&self, id: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.with(|connection| {
            Script::new(CLAIM)
                .key(self.key("lease", id))
                .arg(holder)
                .arg(ttl.as_millis().max(1) as u64)
                .invoke::<i64>(connection)
                .map(|held| held == 1)
        })
    }

    fn release(&self, id: &str, holder: &str) -> Result<(), StoreError> {
        self.with(|connection| {
            Script::new(RELEASE_LEASE)
                .key(self.key("lease", id))
                .arg(holder)
                .invoke::<i64>(connection)
                .map(drop)
        })
    }

    fn hand_over(&self, ids: &[String], holder: &str) -> Result<usize, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let hand_over = Script::new(HAND_OVER);
        let mut invocation = hand_over.prepare_invoke();
        invocation.arg(holder).arg(self.channel());
        for id in ids {
            invocation
                .key(self.key("lease", id))
                .arg(Self::released_message(id));
        }
        self.with(|connection| invocation.invoke::<usize>(connection))
    }

    fn idempotency_lock(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.with(|connection| {
            ::redis::cmd("SET")
                .arg(self.key("idem-lock", key))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .query::<Option<String>>(connection)
                .map(|set| set.is_some())
        })
    }

    fn idempotency_unlock(&self, key: &str) -> Result<(), StoreError> {
        self.with(|connection| {
            ::redis::cmd("DEL")
                .arg(self.key("idem-lock", key))
                .query::<i64>(connection)
                .map(drop)
        })
    }

    fn notify(&self, topic: &str, message: &str) -> Result<(), StoreError> {
        self.publish_notice(topic, message)
    }

    fn watch(&self, topic: &str, listener: Weak<dyn Fn(&str) + Send + Sync>) {
        self.watch_notices(topic, listener);
    }

    fn subscribe(&self, listener: Weak<dyn Fn(RemoteEvent) + Send + Sync>) {
        let client = self.client.clone();
        let channel = self.channel();
        std::thread::Builder::new()
            .name("tryon-redis-events".into())
            .spawn(move || listen(client, channel, listener))
            .expect("spawn the Redis event listener");
    }
}

/// Receives the other instances' events until the listener is gone, reconnecting after any
/// failure. After each (re)subscription the listener is told to catch up from the store,
/// since messages published meanwhile were not received.
fn listen(
    client: ::redis::Client,
    channel: String,
    listener: Weak<dyn Fn(RemoteEvent) + Send + Sync>,
) {
    let alive = || listener.upgrade();
    while let Some(first) = alive() {
        drop(first);
        let subscribed = client
            .get_connection_with_timeout(TIMEOUT)
            .and_then(|mut connection| {
                connection.set_write_timeout(Some(TIMEOUT))?;
                let mut pubsub = connection.as_pubsub();
                pubsub.subscribe(&channel)?;
                // Wakes up now and then to notice a listener that is gone.
                pubsub.set_read_timeout(Some(TIMEOUT))?;
                let Some(listener) = alive() else {
                    return Ok(());
                };
                listener(RemoteEvent::Resync);
                drop(listener);
                loop {
                    let message = match pubsub.get_message() {
                        Ok(message) => message,
                        Err(error) if error.is_timeout() => {
                            if alive().is_none() {
                                return Ok(());
                            }
                            continue;
                        }
                        Err(error) => return Err(error),
                    };
                    let Some(listener) = alive() else {
                        return Ok(());
                    };
                    if let Some(event) = message
                        .get_payload::<String>()
                        .ok()
                        .as_deref()
                        .and_then(remote_event)
                    {
                        listener(event);
                    }
                }
            });
        if let Err(error) = subscribed {
            tracing::warn!(%error, "Redis event subscription lost; resubscribing");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// What follows the task id in a message that its lease was given back.
const RELEASED: &str = "released";

/// Parses `"{id} {event_id} {json}"`; event 0 means the task was deleted. `"{id} released"`
/// means its lease was given back.
fn remote_event(message: &str) -> Option<RemoteEvent> {
    let (id, rest) = message.split_once(' ')?;
    if rest == RELEASED {
        return Some(RemoteEvent::Released { id: id.to_owned() });
    }
    let (event_id, json) = rest.split_once(' ')?;
    let event_id: u64 = event_id.parse().ok()?;
    if event_id == 0 {
        return Some(RemoteEvent::Deleted { id: id.to_owned() });
    }
    Some(RemoteEvent::Event {
        id: id.to_owned(),
        event_id,
        view: Box::new(serde_json::from_str(json).ok()?),
    })
}

fn idempotency_from(stored: &str) -> Option<IdempotencyRecord> {
    let mut parts = stored.splitn(3, ' ');
    let fingerprint = hex::decode(parts.next()?).ok()?.try_into().ok()?;
    let created_ms = parts.next()?.parse().ok()?;
    Some(IdempotencyRecord {
        fingerprint,
        created_ms,
        task_id: parts.next()?.to_owned(),
    })
}

/// Runs a counter call on the blocking pool: the limiter's calls come from request handlers,
/// and a stuck Redis must not hold a runtime worker for the call's timeout.
async fn counter_off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, abuse::StoreError> {
    super::off_runtime(work)
        .await
        .map_err(abuse::StoreError::from)
}

#[async_trait]
impl CounterStore for RedisStore {
    async fn take(
        &self,
        key: &str,
        rule: BucketRule,
        now_ms: u64,
    ) -> Result<Result<(), Duration>, abuse::StoreError> {
        let period = rule.period.as_millis() as u64;
        let tolerance = period.saturating_mul(u64::from(rule.burst.max(1) - 1));
        let (store, key) = (self.clone(), self.key("bucket", key));
        let wait_ms: u64 = counter_off_runtime(move || {
            store.with(|connection| {
                Script::new(TAKE)
                    .key(&key)
                    .arg(now_ms)
                    .arg(period)
                    .arg(tolerance)
                    .invoke(connection)
            })
        })
        .await?;
        Ok(match wait_ms {
            0 => Ok(()),
            wait => Err(Duration::from_millis(wait)),
        })
    }

    async fn reserve_daily(
        &self,
        key: &str,
        day: u64,
        limit: u64,
    ) -> Result<bool, abuse::StoreError> {
        let (store, key) = (self.clone(), self.key("daily", &format!("{day}:{key}")));
        counter_off_runtime(move || {
            store.with(|connection| {
                Script::new(RESERVE)
                    .key(&key)
                    .arg(limit)
                    .arg(DAILY_TTL_S)
                    .invoke::<i64>(connection)
                    .map(|reserved| reserved == 1)
            })
        })
        .await
    }

    async fn release_daily(&self, key: &str, day: u64) -> Result<(), abuse::StoreError> {
        let (store, key) = (self.clone(), self.key("daily", &format!("{day}:{key}")));
        counter_off_runtime(move || {
            store.with(|connection| {
                Script::new(RELEASE)
                    .key(&key)
                    .invoke::<i64>(connection)
                    .map(drop)
            })
        })
        .await
    }

    async fn daily_count(&self, key: &str, day: u64) -> Result<u64, abuse::StoreError> {
        let (store, key) = (self.clone(), self.key("daily", &format!("{day}:{key}")));
        counter_off_runtime(move || {
            store.with(|connection| {
                ::redis::cmd("GET")
                    .arg(&key)
                    .query::<Option<u64>>(connection)
                    .map(Option::unwrap_or_default)
            })
        })
        .await
    }
}
