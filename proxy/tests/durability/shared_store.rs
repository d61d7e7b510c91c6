//! Issue 7 with `TRYON_STORE=redis://…`: real `tryon-proxy` binaries on one real
//! `redis-server`, driving a strict fake of a vendor (Fitroom's) that counts every call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tryon_fakes::Fake;
use tryon_fakes::fitroom::{CHECK_MODEL, CREATE, FitroomFake, STATUS};

use crate::process::{DataDir, PATIENCE, Proxy};
use crate::redis_server::RedisServer;

/// The fake vendor, slow enough that a test can act while a task runs upstream.
async fn slow_fitroom(processing: Duration) -> Arc<FitroomFake> {
    let fake = FitroomFake::start().await;
    fake.set(|behaviour| behaviour.processing_for = processing);
    fake
}

/// The environment that points the proxy's Fitroom adapter at `fake`.
fn fitroom_env(fake: &FitroomFake) -> Vec<(&'static str, String)> {
    vec![
        ("FITROOM_API_KEY", tryon_fakes::KEY.to_owned()),
        ("FITROOM_BASE_URL", fake.base_url()),
    ]
}

async fn start_on_redis(data: &DataDir, redis: &RedisServer, fake: &FitroomFake) -> Proxy {
    start_on_redis_with(data, redis, fake, &[]).await
}

async fn start_on_redis_with(
    data: &DataDir,
    redis: &RedisServer,
    fake: &FitroomFake,
    args: &[&str],
) -> Proxy {
    let url = redis.url(0);
    let mut all = vec!["--store", &url, "--provider", "fitroom"];
    all.extend_from_slice(args);
    Proxy::start_with_env(&data.0, &all, &fitroom_env(fake)).await
}

#[tokio::test]
async fn a_paused_redis_refuses_creates_quickly_with_503_and_the_vendor_sees_no_create() {
    let redis = RedisServer::start();
    let fake = slow_fitroom(Duration::from_millis(200)).await;
    let data = DataDir::new("redis-paused");
    let proxy = start_on_redis(&data, &redis, &fake).await;
    let (status, created) = proxy.create(1, None).await;
    assert_eq!(status, 202, "a create with Redis up: {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    proxy
        .wait_for(&id, "success", |v| v["status"] == "succeeded")
        .await;
    assert_eq!(fake.recorder.count(CREATE), 1);

    redis.pause();
    let started = Instant::now();
    let (status, problem) = proxy.create(2, None).await;
    let took = started.elapsed();
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("store_unavailable")),
        "a create while Redis is paused: {problem}"
    );
    assert!(
        took < Duration::from_secs(5),
        "the create must fail after the store's ~1 s timeout, not hang; took {took:?}"
    );
    assert_eq!(
        fake.recorder.count(CREATE),
        1,
        "nothing reaches the vendor (nor is charged) while the store is unavailable"
    );
    let (status, readiness) = proxy.text("/readyz").await;
    assert_eq!(status, 503, "not ready while Redis is paused: {readiness}");

    redis.resume();
    let (status, created) = proxy.create(3, None).await;
    assert_eq!(status, 202, "creates work again after SIGCONT: {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    proxy
        .wait_for(&id, "success after SIGCONT", |v| v["status"] == "succeeded")
        .await;
    assert_eq!(fake.recorder.count(CREATE), 2);
}

#[tokio::test]
async fn two_instances_create_on_a_watch_on_b_kill_a_and_b_takes_over_and_delivers_the_result() {
    let redis = RedisServer::start();
    let fake = slow_fitroom(Duration::from_secs(4)).await;
    // Separate data directories: everything shared goes through Redis.
    let (data_a, data_b) = (DataDir::new("redis-a"), DataDir::new("redis-b"));
    let a = start_on_redis(&data_a, &redis, &fake).await;
    let b = start_on_redis(&data_b, &redis, &fake).await;
    let (status, created) = a.create(5, Some("failover-key")).await;
    assert_eq!(status, 202, "create on A: {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let watcher = b.watch(&id, 0);

    let deadline = tokio::time::Instant::now() + PATIENCE;
    while fake.recorder.count(CREATE) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A never created the task upstream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.wait_for(&id, "running on B's view of it", |v| {
        v["status"] == "running"
    })
    .await;
    // The adapter records the vendor's task id right after the create's answer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill();

    let events = tokio::time::timeout(PATIENCE * 2, watcher)
        .await
        .expect("B takes the task over and the watcher's stream ends with the result")
        .unwrap();
    let event_ids: Vec<u64> = events.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        event_ids,
        (1..=event_ids.len() as u64).collect::<Vec<_>>(),
        "the watcher on B gets every event once, across the takeover"
    );
    let progress: Vec<u64> = events
        .iter()
        .map(|(_, v)| v["progress"].as_u64().unwrap())
        .collect();
    assert!(
        progress.windows(2).all(|pair| pair[0] <= pair[1]),
        "progress went backwards across the takeover: {progress:?}"
    );
    let last = &events.last().unwrap().1;
    assert_eq!(last["status"], "succeeded", "{last}");
    let result = b
        .client
        .get(b.url(&format!("/v1/tryons/{id}/result")))
        .send()
        .await
        .unwrap();
    assert_eq!(result.status(), 200, "B serves the result");
    image::load_from_memory(&result.bytes().await.unwrap()).expect("the result is an image");
    assert_eq!(
        fake.recorder.count(CREATE),
        1,
        "the vendor saw exactly one create: B resumed A's upstream task"
    );
    assert!(
        fake.recorder.count(STATUS) > 0,
        "B polled the upstream task"
    );
    fake.recorder.assert_clean();

    let (status, replay) = b.create(5, Some("failover-key")).await;
    assert_eq!(
        (status, replay["id"].as_str()),
        (202, Some(id.as_str())),
        "A's Idempotency-Key replays the same task on B: {replay}"
    );
}

/// Fitroom's limit for the shared-budget test, lowered (the fake enforces the same) so a few
/// try-ons spend it within seconds.
const VENDOR_LIMIT: usize = 12;
/// The part of the window the limiter keeps for creates (a sixth of the limit): polls stop
/// short of it, so only later shoppers' creates can spend the whole budget.
const CREATE_RESERVE: usize = VENDOR_LIMIT / 6;

#[tokio::test]
async fn the_vendor_rate_limit_holds_across_two_instances_and_later_shoppers_wait_in_line() {
    let redis = RedisServer::start();
    // Long tasks: each one keeps polling, so demand outruns the budget.
    let fake = slow_fitroom(Duration::from_secs(60)).await;
    fake.recorder
        .set_rate_limit(VENDOR_LIMIT as u32, Duration::from_secs(60));
    let limit = VENDOR_LIMIT.to_string();
    let env = {
        let mut env = fitroom_env(&fake);
        env.push(("FITROOM_RATE_LIMIT_PER_MIN", limit));
        env
    };
    let url = redis.url(0);
    let args = [
        "--store",
        &url,
        "--provider",
        "fitroom",
        "--max-running-tasks",
        "50",
    ];
    let (data_a, data_b) = (DataDir::new("upstream-a"), DataDir::new("upstream-b"));
    let a = Proxy::start_with_env(&data_a.0, &args, &env).await;
    let b = Proxy::start_with_env(&data_b.0, &args, &env).await;

    // 4 try-ons on each: each instance alone would spend the whole budget within seconds
    // (8 creates, then a poll per task every 1.5 s), so unshared they would double it.
    let creates = (0..8u8).map(|n| {
        let proxy = if n % 2 == 0 { &a } else { &b };
        async move { (proxy, proxy.create(n, None).await) }
    });
    let mut tasks = Vec::new();
    for (proxy, (status, created)) in futures::future::join_all(creates).await {
        assert_eq!(status, 202, "create: {created}");
        tasks.push((proxy, created["id"].as_str().unwrap().to_owned()));
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while fake.recorder.calls_total() < VENDOR_LIMIT - CREATE_RESERVE {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the try-ons' polls never spent the budget short of the creates' reserve: {:?}",
            fake.recorder.counts()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Time for calls over the budget to show, were the instances counting apart (each
    // would send its next polls 1.5 s later).
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        fake.recorder.calls_total(),
        VENDOR_LIMIT - CREATE_RESERVE,
        "polls on two instances together leave the creates' reserve: {:?}",
        fake.recorder.counts()
    );

    // Later shoppers spend the reserve at once; the next one waits for the budget and is told
    // her place in line.
    for n in 0..CREATE_RESERVE as u8 {
        let (status, created) = b.create(100 + n, None).await;
        assert_eq!(status, 202, "create within the reserve: {created}");
        tasks.push((&b, created["id"].as_str().unwrap().to_owned()));
    }
    while fake.recorder.calls_total() < VENDOR_LIMIT {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the creates within the reserve never reached the vendor: {:?}",
            fake.recorder.counts()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, created) = a.create(200, None).await;
    assert_eq!(status, 202, "late create: {created}");
    let late = created["id"].as_str().unwrap().to_owned();
    let waiting = a
        .wait_for(&late, "waiting for the budget with a place in line", |v| {
            v["status"] == "running" && v["queue_position"].is_u64()
        })
        .await;
    tasks.push((&a, late));

    let calls = fake.recorder.calls_total();
    assert!(
        fake.recorder.violations().is_empty() && calls <= VENDOR_LIMIT,
        "two instances together sent {calls} calls ({:?}) within a minute, over the \
         vendor's {VENDOR_LIMIT}: {:?}",
        fake.recorder.counts(),
        fake.recorder.violations()
    );
    assert_eq!(
        fake.recorder.max_in_window(Duration::from_secs(60)),
        VENDOR_LIMIT,
        "the budget is spent, not wasted"
    );
    for (proxy, id) in &tasks {
        let (status, view) = proxy.view(id).await;
        assert!(
            status == 200 && view["status"] == "running",
            "task {id} keeps running (or waits in line) within the budget, it does not fail: \
             {status} {view}"
        );
    }
    assert_eq!(
        waiting["progress"].as_u64(),
        Some(0),
        "the late task has not reached the vendor: {waiting}"
    );
}

#[tokio::test]
async fn the_per_ip_create_bucket_holds_across_instances() {
    let redis = RedisServer::start();
    let url = redis.url(0);
    let args = [
        "--store",
        &url,
        "--local-duration-ms",
        "200",
        "--create-burst",
        "2",
        "--create-period-s",
        "600",
    ];
    let (data_a, data_b) = (DataDir::new("bucket-a"), DataDir::new("bucket-b"));
    let a = Proxy::start(&data_a.0, &args).await;
    let b = Proxy::start(&data_b.0, &args).await;
    for (n, proxy) in [(1, &a), (2, &b)] {
        let (status, created) = proxy.create(n, None).await;
        assert_eq!(status, 202, "create {n}, within the burst of 2: {created}");
    }
    for (n, proxy) in [(3, &a), (4, &b)] {
        let (status, refused) = proxy.create(n, None).await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (429, Some("rate_limited")),
            "create {n}: this address spent its burst of 2 across both instances: {refused}"
        );
    }
}

#[tokio::test]
async fn a_photo_checked_on_one_instance_is_not_paid_for_again_on_the_other() {
    let redis = RedisServer::start();
    let fake = slow_fitroom(Duration::from_millis(100)).await;
    let (data_a, data_b) = (DataDir::new("check-a"), DataDir::new("check-b"));
    let a = start_on_redis(&data_a, &redis, &fake).await;
    let b = start_on_redis(&data_b, &redis, &fake).await;
    let (status, on_a) = a.check_person(9).await;
    assert_eq!(
        (status, on_a["source"].as_str()),
        (200, Some("provider")),
        "the vendor judged the photo on A: {on_a}"
    );
    let (status, on_b) = b.check_person(9).await;
    assert_eq!((status, &on_b), (200, &on_a), "B gives A's verdict");
    assert_eq!(
        fake.recorder.count(CHECK_MODEL),
        1,
        "the same photo is checked (and paid for) once across both instances"
    );
    b.check_person(10).await;
    assert_eq!(
        fake.recorder.count(CHECK_MODEL),
        2,
        "another photo is checked"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_double_submission_sent_to_both_instances_is_one_task() {
    let redis = RedisServer::start();
    let url = redis.url(0);
    let args = ["--store", &url, "--local-duration-ms", "2000"];
    let (data_a, data_b) = (DataDir::new("repeat-a"), DataDir::new("repeat-b"));
    let a = Proxy::start(&data_a.0, &args).await;
    let b = Proxy::start(&data_b.0, &args).await;
    let (status, first) = a.create(20, None).await;
    assert_eq!(status, 202, "the first submission, on A: {first}");
    let (status, repeat) = b.create(20, None).await;
    assert_eq!(
        (status, repeat["id"].as_str()),
        (202, first["id"].as_str()),
        "the same photo, garment and options on B, without an Idempotency-Key, is A's task: \
         {repeat}"
    );
    let (status, other) = b.create(21, None).await;
    assert_eq!(status, 202, "{other}");
    assert_ne!(other["id"], first["id"], "another photo is another try-on");
}

#[tokio::test]
async fn a_daily_budget_holds_across_instances_because_the_counters_are_shared() {
    let redis = RedisServer::start();
    let fake = slow_fitroom(Duration::from_millis(100)).await;
    let (data_a, data_b) = (DataDir::new("budget-a"), DataDir::new("budget-b"));
    let a = start_on_redis_with(&data_a, &redis, &fake, &["--daily-budget", "1"]).await;
    let b = start_on_redis_with(&data_b, &redis, &fake, &["--daily-budget", "1"]).await;
    let (status, created) = a.create(1, None).await;
    assert_eq!(status, 202, "the day's one try-on, on A: {created}");
    let (status, refused) = b.create(2, None).await;
    assert_eq!(status, 429, "B knows A spent the day's budget: {refused}");
    assert_eq!(fake.recorder.count(CREATE), 1);
}

/// A connection to the test's server, to read what the proxies stored.
fn connect(redis: &RedisServer) -> redis::Connection {
    let client = redis::Client::open(redis.url(0)).expect("a Redis URL");
    client.get_connection().expect("connect to redis-server")
}

/// The keys under `tryon:` that name task `id`, read straight from the server.
fn keys_of(redis: &RedisServer, id: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("tryon:*{id}"))
        .query(&mut connect(redis))
        .expect("KEYS");
    keys.sort();
    keys
}

/// The instance token holding task `id`'s lease, if anyone holds it.
fn lease_holder(redis: &RedisServer, id: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(format!("tryon:lease:{id}"))
        .query(&mut connect(redis))
        .expect("GET the lease")
}

/// Whether the driver of task `id` has stored its vendor's task id (what a resume needs).
fn upstream_recorded(redis: &RedisServer, id: &str) -> bool {
    redis::cmd("HEXISTS")
        .arg(format!("tryon:task:{id}"))
        .arg("upstream")
        .query(&mut connect(redis))
        .expect("HEXISTS the upstream state")
}

/// The lease a driver holds lasts 3 s and is renewed every second, so after a signal it
/// stands for at least 2 s more unless it is given back. A takeover within this shows it was.
const HANDED_OVER_WITHIN: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn sigterm_on_redis_gives_the_lease_back_and_the_other_instance_takes_over_at_once() {
    let redis = RedisServer::start();
    let fake = slow_fitroom(Duration::from_secs(5)).await;
    let (data_a, data_b) = (DataDir::new("handover-a"), DataDir::new("handover-b"));
    let a = start_on_redis(&data_a, &redis, &fake).await;
    let b = start_on_redis(&data_b, &redis, &fake).await;
    let (status, created) = a.create(9, None).await;
    assert_eq!(status, 202, "create on A: {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let on_a = a.watch(&id, 0);
    let on_b = b.watch(&id, 0);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !(upstream_recorded(&redis, &id)
        && a.text("/metrics").await.1.contains("tryon_watchers 1"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A never ran the task upstream with its watcher connected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let holder_a = lease_holder(&redis, &id).expect("A holds the lease while it drives");

    let signalled = Instant::now();
    let terminated = tokio::task::spawn_blocking(move || a.terminate());
    let taken_over = loop {
        match lease_holder(&redis, &id) {
            Some(holder) if holder != holder_a => break signalled.elapsed(),
            _ => {}
        }
        assert!(
            signalled.elapsed() < PATIENCE,
            "no other instance took the lease after A's SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let (took, clean) = terminated.await.unwrap();
    assert!(clean, "SIGTERM ends A with a success status");
    assert!(
        took < Duration::from_secs(10),
        "A must drain and exit within 10 s, took {took:?}"
    );
    assert!(
        taken_over < HANDED_OVER_WITHIN,
        "B must take the task over as soon as A gives its lease back, well before the lease \
         would run out; took {taken_over:?} from the signal"
    );

    let before = tokio::time::timeout(PATIENCE, on_a)
        .await
        .expect("A's stream ends on SIGTERM")
        .unwrap();
    assert_ne!(
        before.last().map(|(_, v)| v["status"].clone()),
        Some("succeeded".into()),
        "A's stream was told to reconnect, not finished"
    );
    let events = tokio::time::timeout(PATIENCE, on_b)
        .await
        .expect("B finishes the task and its watcher's stream ends")
        .unwrap();
    let event_ids: Vec<u64> = events.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        event_ids,
        (1..=event_ids.len() as u64).collect::<Vec<_>>(),
        "B's watcher gets every event once, across the hand-over"
    );
    let last = &events.last().unwrap().1;
    assert_eq!(last["status"], "succeeded", "{last}");
    assert_eq!(
        fake.recorder.count(CREATE),
        1,
        "B resumed A's upstream task instead of creating it again"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn with_redis_photos_go_when_the_task_ends_and_results_when_the_retention_passes() {
    let redis = RedisServer::start();
    let data = DataDir::new("redis-retention");
    let url = redis.url(0);
    let proxy = Proxy::start(
        &data.0,
        &[
            "--store",
            &url,
            "--local-duration-ms",
            "200",
            "--result-retention-s",
            "1",
        ],
    )
    .await;
    let (status, created) = proxy.create(7, None).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    proxy
        .wait_for(&id, "success", |v| v["status"] == "succeeded")
        .await;
    let kept = keys_of(&redis, &id);
    assert!(
        kept.contains(&format!("tryon:result:{id}"))
            && !kept.contains(&format!("tryon:photos:{id}")),
        "after the task: its result is kept and its photos are gone: {kept:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while proxy.view(&id).await.0 != 404 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task outlived its retention"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        keys_of(&redis, &id),
        Vec::<String>::new(),
        "nothing of the task is left in Redis after its retention"
    );
}

#[tokio::test]
async fn a_killed_proxy_on_redis_resumes_its_task_once_its_lease_runs_out() {
    let redis = RedisServer::start();
    let data = DataDir::new("redis-restart");
    let url = redis.url(0);
    let args = ["--store", &url, "--local-duration-ms", "2000"];
    let first = Proxy::start(&data.0, &args).await;
    let (status, created) = first.create(4, None).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let watcher = first.watch(&id, 0);
    // The watcher connects on its own task: wait (bounded) until the proxy has counted it.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !first.text("/metrics").await.1.contains("tryon_watchers 1") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watcher never connected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first
        .wait_for(&id, "running", |v| v["status"] == "running")
        .await;
    first.kill();
    let before = tokio::time::timeout(PATIENCE, watcher)
        .await
        .expect("the stream of a killed proxy ends")
        .unwrap();
    let last = before.last().expect("events before the kill").0;

    let second = Proxy::start(&data.0, &args).await;
    let rest = tokio::time::timeout(PATIENCE, second.watch(&id, last))
        .await
        .expect("the restarted proxy finishes the task")
        .unwrap();
    assert_eq!(
        rest.first().map(|(n, _)| *n),
        Some(last + 1),
        "the reconnect continues right after the last event"
    );
    assert_eq!(rest.last().unwrap().1["status"], "succeeded");
}

/// A status read of a task an instance does not hold asks Redis; while Redis is paused such
/// reads wait for its timeout, but on the side: reads of held tasks (and everything else)
/// keep answering on the runtime's threads, even with more stuck reads than threads.
#[tokio::test]
async fn with_redis_paused_reads_of_unheld_tasks_wait_aside_and_held_ones_answer() {
    let redis = RedisServer::start();
    let url = redis.url(0);
    let args = ["--store", &url, "--local-duration-ms", "60000"];
    let (data_a, data_b) = (DataDir::new("reads-a"), DataDir::new("reads-b"));
    let a = Proxy::start(&data_a.0, &args).await;
    let b = Proxy::start(&data_b.0, &args).await;
    let (status, created) = a.create(30, None).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, view) = b.view(&id).await;
    assert_eq!(
        (status, view["id"].as_str()),
        (200, Some(id.as_str())),
        "B reads A's task from Redis: {view}"
    );
    assert_eq!(b.view("0123456789abcdef0123456789abcdef").await.0, 404);

    redis.pause();
    let unheld: Vec<_> = (0..4)
        .map(|n| {
            let request = b.client.get(b.url(&format!("/v1/tryons/{n:032x}"))).send();
            tokio::spawn(request)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..3 {
        let (status, view) = b.view(&id).await;
        assert_eq!(
            status, 200,
            "a held task's read while Redis is paused: {view}"
        );
    }
    let answered_aside = unheld.iter().filter(|read| read.is_finished()).count();
    assert_eq!(
        answered_aside, 0,
        "the held task's reads answered before the reads stuck on Redis, not after them"
    );
    redis.resume();
    for read in unheld {
        let status = read.await.unwrap().expect("an answer").status();
        assert!(status == 404 || status == 500, "{status}");
    }
}

#[tokio::test]
async fn a_paused_redis_stalls_no_request_that_does_not_need_it() {
    let redis = RedisServer::start();
    let fake = slow_fitroom(Duration::from_millis(50)).await;
    let data = DataDir::new("redis-paused-async");
    let proxy = Arc::new(start_on_redis(&data, &redis, &fake).await);
    let (status, created) = proxy.create(1, None).await;
    assert_eq!(status, 202, "{created}");
    let held = created["id"].as_str().unwrap().to_owned();
    proxy
        .wait_for(&held, "success", |v| v["status"] == "succeeded")
        .await;

    redis.pause();
    // Requests that do need Redis, more than the runtime has threads, each waiting out the
    // store's timeout: on the runtime's threads they would stop every other request.
    let mut stuck = Vec::new();
    for n in 0..6u8 {
        let unknown = format!("{:032x}", 0xfeed_0000_u128 + u128::from(n));
        for (method, path) in [
            (reqwest::Method::GET, "/readyz".to_owned()),
            (reqwest::Method::DELETE, format!("/v1/tryons/{unknown}")),
            (reqwest::Method::GET, format!("/v1/tryons/{unknown}/events")),
        ] {
            let proxy = proxy.clone();
            stuck.push(tokio::spawn(async move {
                let _ = proxy.client.request(method, proxy.url(&path)).send().await;
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        for path in ["/healthz".to_owned(), format!("/v1/tryons/{held}")] {
            let started = Instant::now();
            let (status, body) = proxy.text(&path).await;
            slowest = slowest.max(started.elapsed());
            assert_eq!(status, 200, "{path} while Redis is paused: {body}");
        }
    }
    redis.resume();
    for request in stuck {
        request.await.unwrap();
    }
    assert!(
        slowest < Duration::from_millis(500),
        "/healthz and a held task's status waited for the paused Redis: {slowest:?}"
    );
}
