//! One behaviour, three stores: every test runs against memory, SQLite and a real
//! `redis-server` (started on a loopback port for the test).

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::wire::{ProgressKind, ResultInfo, TaskStatus};

#[path = "../../tests/durability/redis_server.rs"]
pub(crate) mod redis_server;

use redis_server::RedisServer;

/// What a store needs kept alive for the test: its folder or its server.
type Guard = Box<dyn std::any::Any>;

fn stores() -> Vec<(&'static str, Arc<dyn Store>, Option<Guard>)> {
    let dir = TempDir::new("stores");
    let (redis, server) = redis_store(Duration::from_secs(60));
    vec![
        ("memory", Arc::new(MemoryStore::default()), None),
        (
            "sqlite",
            Arc::new(SqliteStore::open(&dir.0).expect("opens")),
            Some(Box::new(dir)),
        ),
        ("redis", Arc::new(redis), Some(Box::new(server))),
    ]
}

fn redis_store(retention: Duration) -> (RedisStore, RedisServer) {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url(0), retention).expect("connects to redis-server");
    (store, server)
}

/// A fresh folder under the system's temp dir, removed on drop.
pub(crate) struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "tryon-store-{label}-{}-{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 6]>())
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Subscribes to `store`'s remote events; they arrive on the receiver for as long as the
/// returned listener is kept (the store holds it weakly).
fn subscribed(
    store: &RedisStore,
) -> (
    Arc<dyn Fn(RemoteEvent) + Send + Sync>,
    std::sync::mpsc::Receiver<RemoteEvent>,
) {
    let (sender, received) = std::sync::mpsc::channel();
    let sender = std::sync::Mutex::new(sender);
    let listener: Arc<dyn Fn(RemoteEvent) + Send + Sync> = Arc::new(move |event| {
        let _ = sender.lock().unwrap().send(event);
    });
    store.subscribe(Arc::downgrade(&listener));
    (listener, received)
}

fn image(marker: u8, len: usize) -> PreparedImage {
    PreparedImage {
        bytes: vec![marker; len].into(),
        width: 3,
        height: 4,
        content_type: crate::wire::media::JPEG,
    }
}

fn job() -> TryOnJob {
    TryOnJob {
        person: image(1, 10),
        garment: image(2, 10),
        lower_garment: Some(image(3, 10)),
        category: Category::Combo,
        quality: Quality::Best,
    }
}

fn view(id: &str, status: TaskStatus, progress: u8) -> TryOnView {
    TryOnView {
        id: id.into(),
        status,
        progress,
        progress_kind: ProgressKind::Reported,
        stage: None,
        queue_position: None,
        result: None,
        error: None,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
    }
}

/// A result whose bytes are a pattern no other data in the file contains.
fn output() -> TryOnOutput {
    TryOnOutput {
        bytes: b"RESULT-PIXELS-7f3a9c".repeat(200).into(),
        width: 5,
        height: 6,
        content_type: "image/jpeg".into(),
    }
}

#[test]
fn a_task_comes_back_with_its_log_photos_and_upstream_state() {
    for (name, store, _dir) in stores() {
        store
            .insert_task(&view("a", TaskStatus::Queued, 0), &job())
            .unwrap();
        store
            .append_event("a", 2, &view("a", TaskStatus::Running, 10))
            .unwrap();
        store
            .save_upstream("a", &serde_json::json!({"vendor_task": "v-1"}))
            .unwrap();
        let tasks = store.load_tasks().unwrap();
        assert_eq!(tasks.len(), 1, "{name}");
        let task = &tasks[0];
        let progress: Vec<_> = task.log.iter().map(|v| (v.status, v.progress)).collect();
        assert_eq!(
            progress,
            [(TaskStatus::Queued, 0), (TaskStatus::Running, 10)],
            "{name}"
        );
        let job = task.job.as_ref().expect("photos kept while running");
        assert_eq!(job.person.bytes[..], [1; 10], "{name}");
        assert_eq!(
            job.lower_garment.as_ref().map(|g| g.bytes[0]),
            Some(3),
            "{name}"
        );
        assert_eq!(
            (job.category, job.quality),
            (Category::Combo, Quality::Best)
        );
        assert_eq!(
            task.upstream,
            Some(serde_json::json!({"vendor_task": "v-1"})),
            "{name}"
        );
        assert_eq!(task.finished_at_ms, None, "{name}");
    }
}

#[test]
fn finishing_keeps_the_result_and_drops_the_photos_and_delete_drops_everything() {
    for (name, store, _dir) in stores() {
        store
            .insert_task(&view("a", TaskStatus::Queued, 0), &job())
            .unwrap();
        let mut done = view("a", TaskStatus::Succeeded, 100);
        done.result = Some(ResultInfo {
            url: "/v1/tryons/a/result".into(),
            width: 5,
            height: 6,
            content_type: "image/jpeg".into(),
        });
        // Now, not an instant long past: Redis expires a task its retention after it ended.
        let finished_at_ms = now_ms();
        store
            .finish_task("a", 2, &done, Some(&output()), finished_at_ms)
            .unwrap();
        let task = store.load_tasks().unwrap().remove(0);
        assert!(task.job.is_none(), "{name}: photos gone once the task ends");
        assert_eq!(task.finished_at_ms, Some(finished_at_ms), "{name}");
        assert_eq!(task.log.last(), Some(&done), "{name}");
        let result = store.result("a").unwrap().expect("result kept");
        assert_eq!(result.bytes, output().bytes, "{name}");
        store.delete_task("a").unwrap();
        assert!(store.load_tasks().unwrap().is_empty(), "{name}");
        assert!(store.result("a").unwrap().is_none(), "{name}");
    }
}

#[test]
fn idempotency_keys_are_set_once_and_swept_by_age() {
    for (name, store, _dir) in stores() {
        let record = |task: &str, created_ms| IdempotencyRecord {
            fingerprint: [7; 32],
            task_id: task.into(),
            created_ms,
        };
        assert!(store.idempotency_put("k", &record("t1", 100)).unwrap());
        assert!(
            !store.idempotency_put("k", &record("t2", 200)).unwrap(),
            "{name}: SET NX"
        );
        assert_eq!(
            store.idempotency_get("k").unwrap(),
            Some(record("t1", 100)),
            "{name}"
        );
        assert_eq!(store.idempotency_sweep(101).unwrap(), 1, "{name}");
        assert_eq!(store.idempotency_get("k").unwrap(), None, "{name}");
    }
}

#[test]
fn cached_values_expire() {
    for (name, store, _dir) in stores() {
        store
            .cache_put("check", b"usable", Duration::from_secs(60))
            .unwrap();
        store
            .cache_put("gone", b"x", Duration::from_millis(0))
            .unwrap();
        assert_eq!(
            store.cache_get("check").unwrap().as_deref(),
            Some(&b"usable"[..]),
            "{name}"
        );
        assert_eq!(store.cache_get("gone").unwrap(), None, "{name}");
    }
}

#[tokio::test]
async fn counters_reserve_up_to_the_limit_and_buckets_refill() {
    let rule = crate::abuse::BucketRule {
        burst: 1,
        period: Duration::from_secs(10),
    };
    for (name, store, _dir) in stores() {
        assert!(store.reserve_daily("shop", 1, 1).await.unwrap(), "{name}");
        assert!(!store.reserve_daily("shop", 1, 1).await.unwrap(), "{name}");
        store.release_daily("shop", 1).await.unwrap();
        assert!(store.reserve_daily("shop", 1, 1).await.unwrap(), "{name}");
        assert_eq!(store.take("ip", rule, 0).await.unwrap(), Ok(()), "{name}");
        assert_eq!(
            store.take("ip", rule, 1_000).await.unwrap(),
            Err(Duration::from_secs(9)),
            "{name}"
        );
        assert_eq!(
            store.take("ip", rule, 10_000).await.unwrap(),
            Ok(()),
            "{name}"
        );
    }
}

#[test]
fn sqlite_keeps_everything_across_reopening_and_deleted_bytes_leave_the_disk() {
    let dir = TempDir::new("reopen");
    {
        let store = SqliteStore::open(&dir.0).unwrap();
        store
            .insert_task(&view("a", TaskStatus::Queued, 0), &job())
            .unwrap();
        store
            .finish_task(
                "a",
                2,
                &view("a", TaskStatus::Succeeded, 100),
                Some(&output()),
                1,
            )
            .unwrap();
    }
    let store = SqliteStore::open(&dir.0).unwrap();
    assert_eq!(store.load_tasks().unwrap()[0].log.len(), 2);
    assert!(store.result("a").unwrap().is_some());
    assert!(
        files_contain(&dir.0, b"RESULT-PIXELS-7f3a9c"),
        "the result is on disk while kept"
    );
    store.delete_task("a").unwrap();
    store.compact().unwrap();
    assert!(
        !files_contain(&dir.0, b"RESULT-PIXELS-7f3a9c"),
        "a deleted result must not stay in the database file or its journal"
    );
}

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|window| window == needle)
    })
}

#[test]
fn redis_forgets_a_finished_task_and_its_result_when_the_retention_passes() {
    let (store, _server) = redis_store(Duration::from_millis(300));
    store
        .insert_task(&view("a", TaskStatus::Queued, 0), &job())
        .unwrap();
    store
        .finish_task(
            "a",
            2,
            &view("a", TaskStatus::Succeeded, 100),
            Some(&output()),
            now_ms(),
        )
        .unwrap();
    assert!(
        store.result("a").unwrap().is_some(),
        "kept during retention"
    );
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        store.result("a").unwrap().is_none(),
        "the result must expire with its retention, even if no instance sweeps"
    );
    assert!(store.load_tasks().unwrap().is_empty());
    assert!(store.unfinished().unwrap().is_empty());
}

#[test]
fn redis_photos_expire_with_the_retention_even_if_the_task_never_ends() {
    let (store, _server) = redis_store(Duration::from_millis(300));
    store
        .insert_task(&view("a", TaskStatus::Queued, 0), &job())
        .unwrap();
    assert!(store.load_task("a").unwrap().unwrap().job.is_some());
    std::thread::sleep(Duration::from_millis(600));
    let task = store
        .load_task("a")
        .unwrap()
        .expect("the running task stays");
    assert!(
        task.job.is_none(),
        "its photos must not outlive the retention"
    );
    assert_eq!(store.unfinished().unwrap(), ["a"]);
}

#[test]
fn a_redis_lease_has_one_holder_until_it_expires_or_is_released() {
    let (store, _server) = redis_store(Duration::from_secs(60));
    let ttl = Duration::from_millis(300);
    assert!(store.claim("t", "A", ttl).unwrap());
    assert!(!store.claim("t", "B", ttl).unwrap(), "A holds it");
    assert!(store.claim("t", "A", ttl).unwrap(), "the holder renews");
    std::thread::sleep(Duration::from_millis(450));
    assert!(store.claim("t", "B", ttl).unwrap(), "expired: B takes over");
    store.release("t", "A").unwrap();
    assert!(
        !store.claim("t", "A", ttl).unwrap(),
        "A cannot release B's lease"
    );
    store.release("t", "B").unwrap();
    assert!(store.claim("t", "A", ttl).unwrap());
}

#[test]
fn a_redis_hand_over_gives_back_only_the_holders_leases_and_announces_them() {
    let (store, _server) = redis_store(Duration::from_secs(60));
    let (_listener, received) = subscribed(&store);
    let subscribed = received.recv_timeout(Duration::from_secs(5));
    assert!(
        matches!(subscribed, Ok(RemoteEvent::Resync)),
        "{subscribed:?}"
    );
    let ttl = Duration::from_secs(60);
    assert!(store.claim("mine", "A", ttl).unwrap());
    assert!(store.claim("theirs", "B", ttl).unwrap());
    let ids = [
        "mine".to_owned(),
        "theirs".to_owned(),
        "nobody's".to_owned(),
    ];
    assert_eq!(store.hand_over(&ids, "A").unwrap(), 1, "only A's own lease");
    assert!(
        !store.claim("theirs", "C", ttl).unwrap(),
        "B's lease is untouched"
    );
    assert!(
        store.claim("mine", "C", ttl).unwrap(),
        "A's is free at once"
    );
    match received.recv_timeout(Duration::from_secs(5)) {
        Ok(RemoteEvent::Released { id }) => assert_eq!(id, "mine"),
        other => panic!("the other instances are told about A's lease: {other:?}"),
    }
    assert!(
        received.recv_timeout(Duration::from_millis(200)).is_err(),
        "nothing is announced for leases A did not hold"
    );
}

#[test]
fn redis_events_reach_subscribers_in_order() {
    let (store, _server) = redis_store(Duration::from_secs(60));
    let (_listener, received) = subscribed(&store);
    let first = received
        .recv_timeout(Duration::from_secs(5))
        .expect("the subscription announces itself");
    assert!(matches!(first, RemoteEvent::Resync), "{first:?}");
    store
        .insert_task(&view("a", TaskStatus::Queued, 0), &job())
        .unwrap();
    store
        .append_event("a", 2, &view("a", TaskStatus::Running, 10))
        .unwrap();
    store
        .finish_task("a", 3, &view("a", TaskStatus::Failed, 10), None, 1)
        .unwrap();
    store.delete_task("a").unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        match received.recv_timeout(Duration::from_secs(5)).unwrap() {
            RemoteEvent::Event { id, event_id, view } => seen.push((id, event_id, view.status)),
            RemoteEvent::Deleted { id } => seen.push((id, 0, TaskStatus::Failed)),
            RemoteEvent::Resync | RemoteEvent::Released { .. } => {}
        }
    }
    assert_eq!(
        seen,
        [
            ("a".to_owned(), 2, TaskStatus::Running),
            ("a".to_owned(), 3, TaskStatus::Failed),
            ("a".to_owned(), 0, TaskStatus::Failed),
        ]
    );
}

#[test]
fn a_paused_redis_fails_calls_fast_and_they_work_again_after_it_resumes() {
    let (store, server) = redis_store(Duration::from_secs(60));
    store.ping().unwrap();
    server.pause();
    let started = std::time::Instant::now();
    let error = store
        .cache_get("k")
        .expect_err("a paused Redis cannot answer");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the call must fail after its timeout, not hang: {:?} ({error})",
        started.elapsed()
    );
    server.resume();
    store.ping().expect("works again after SIGCONT");
}

#[test]
fn a_notice_reaches_every_watcher_of_its_topic_and_no_other() {
    let (store, server) = redis_store(Duration::from_secs(60));
    let other = RedisStore::open(&server.url(0), Duration::from_secs(60)).unwrap();
    let (sender, received) = std::sync::mpsc::channel::<String>();
    let sender = std::sync::Mutex::new(sender);
    let listener: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(move |notice: &str| {
        let _ = sender.lock().unwrap().send(notice.to_owned());
    });
    other.watch("webhook:test", Arc::downgrade(&listener));
    // The watcher subscribes on its own thread; notices sent before are lost by design.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let first = loop {
        store.notify("webhook:other", "not for this topic").unwrap();
        store.notify("webhook:test", "job_1\n{}").unwrap();
        if let Ok(notice) = received.recv_timeout(Duration::from_millis(100)) {
            break notice;
        }
        assert!(std::time::Instant::now() < deadline, "no notice arrived");
    };
    assert_eq!(first, "job_1\n{}");
    assert!(
        received.try_iter().all(|notice| notice == "job_1\n{}"),
        "another topic's notices are not delivered"
    );
    // A store only this process uses has no one to tell, and says so without failing.
    assert!(MemoryStore::default().notify("webhook:test", "x").is_ok());
}

/// An uploaded photo whose bytes are a pattern nothing else in the store contains.
fn uploaded(marker: &[u8], expires_in: Duration) -> StoredPhoto {
    StoredPhoto {
        image: PreparedImage {
            bytes: marker.repeat(300).into(),
            width: 30,
            height: 40,
            content_type: crate::wire::media::JPEG,
        },
        content_hash: [marker[0]; 32],
        expires_ms: now_ms() + expires_in.as_millis() as u64,
    }
}

#[test]
fn uploaded_photos_are_found_until_they_expire_or_are_deleted() {
    for (name, store, _guard) in stores() {
        let kept = uploaded(b"KEPT-PHOTO-51c2", Duration::from_secs(60));
        store.photo_put("kept", &kept).unwrap();
        store
            .photo_put(
                "brief",
                &uploaded(b"BRIEF-PHOTO", Duration::from_millis(300)),
            )
            .unwrap();
        let found = store.photo_get("kept").unwrap().expect(name);
        assert_eq!(found.image.bytes, kept.image.bytes, "{name}");
        assert_eq!(
            (
                found.image.width,
                found.image.height,
                found.content_hash,
                found.expires_ms
            ),
            (30, 40, kept.content_hash, kept.expires_ms),
            "{name}"
        );
        assert!(store.photo_get("brief").unwrap().is_some(), "{name}");
        assert!(store.photo_get("never").unwrap().is_none(), "{name}");

        assert!(store.photo_delete("kept").unwrap(), "{name}: deleted");
        assert!(store.photo_get("kept").unwrap().is_none(), "{name}");
        assert!(!store.photo_delete("kept").unwrap(), "{name}: already gone");

        std::thread::sleep(Duration::from_millis(450));
        assert!(
            store.photo_get("brief").unwrap().is_none(),
            "{name}: an expired photo is never given out, swept or not"
        );
        store.photo_sweep(now_ms()).unwrap();
        assert!(!store.photo_delete("brief").unwrap(), "{name}: swept");
    }
}

#[test]
fn deleted_and_expired_photos_leave_the_sqlite_file() {
    let dir = TempDir::new("photos");
    let store = SqliteStore::open(&dir.0).unwrap();
    store
        .photo_put(
            "a",
            &uploaded(b"DELETED-PHOTO-0e1d", Duration::from_secs(60)),
        )
        .unwrap();
    store
        .photo_put(
            "b",
            &uploaded(b"EXPIRED-PHOTO-9b4f", Duration::from_millis(100)),
        )
        .unwrap();
    assert!(files_contain(&dir.0, b"DELETED-PHOTO-0e1d"));
    assert!(store.photo_delete("a").unwrap());
    assert!(
        !files_contain(&dir.0, b"DELETED-PHOTO-0e1d"),
        "a deleted photo must not stay in the database file or its journal"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(store.photo_sweep(now_ms()).unwrap(), 1);
    assert!(!files_contain(&dir.0, b"EXPIRED-PHOTO-9b4f"));
}

#[test]
fn redis_forgets_an_expired_photo_by_itself() {
    let (store, _server) = redis_store(Duration::from_secs(60));
    store
        .photo_put("a", &uploaded(b"REDIS-PHOTO", Duration::from_millis(300)))
        .unwrap();
    let exists = || -> u64 {
        store
            .with(|c| ::redis::cmd("EXISTS").arg("tryon:photo:a").query(c))
            .unwrap()
    };
    assert_eq!(exists(), 1);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        exists(),
        0,
        "Redis expires the key even if no instance sweeps"
    );
}
