//! Issue 7: tasks survive the proxy being killed. These tests run the real `tryon-proxy`
//! binary (built by cargo for this test) on a data directory, SIGKILL it mid-task, start it
//! again on the same directory, and follow the tasks to their results.

mod process;
mod redis_server;
mod shared_store;
mod vendor_restart;

use std::collections::HashMap;
use std::time::Duration;

use process::{DataDir, PATIENCE, Proxy};

const ARGS: &[&str] = &["--local-duration-ms", "2000", "--max-running-tasks", "1"];

#[tokio::test]
async fn a_killed_proxy_resumes_every_task_and_watchers_get_the_rest_without_gaps() {
    let data = DataDir::new("restart");
    let first = Proxy::start(&data.0, ARGS).await;
    let mut ids = Vec::new();
    for n in 0..3u8 {
        let key = format!("restart-key-{n}");
        let (status, created) = first.create(n, Some(&key)).await;
        assert_eq!(status, 202, "create {n}: {created}");
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let watching: Vec<_> = ids
        .iter()
        .map(|id| (id.clone(), first.watch(id, 0)))
        .collect();
    first
        .wait_for(&ids[0], "running past 30%", |v| {
            v["status"] == "running" && v["progress"].as_u64() >= Some(30)
        })
        .await;
    assert!(
        data.stored_photos() > 0,
        "the photos of unfinished tasks must be in the store"
    );
    first.kill();

    let mut before = HashMap::new();
    for (id, watcher) in watching {
        let events = tokio::time::timeout(PATIENCE, watcher)
            .await
            .expect("a watcher of a killed proxy ends")
            .unwrap();
        assert!(
            !events.is_empty(),
            "task {id}: its watcher saw no event before the kill"
        );
        before.insert(id, events);
    }
    assert_eq!(
        before[&ids[2]].last().unwrap().1["status"],
        "queued",
        "the third task was still in line when the proxy died"
    );

    let second = Proxy::start(&data.0, ARGS).await;
    let resumed: Vec<_> = ids
        .iter()
        .map(|id| {
            let last = before[id].last().unwrap().0;
            (id.clone(), last, second.watch(id, last))
        })
        .collect();
    for (id, last, watcher) in resumed {
        let rest = tokio::time::timeout(PATIENCE * 2, watcher)
            .await
            .unwrap_or_else(|_| panic!("task {id} never finished after the restart"))
            .unwrap();
        let all: Vec<_> = before[&id].iter().chain(rest.iter()).cloned().collect();
        let event_ids: Vec<u64> = all.iter().map(|(n, _)| *n).collect();
        let expected: Vec<u64> = (1..=event_ids.len() as u64).collect();
        assert_eq!(
            event_ids, expected,
            "task {id}: events before the kill (up to {last}) and after must join without gap or repeat"
        );
        let progress: Vec<u64> = all
            .iter()
            .map(|(_, v)| v["progress"].as_u64().unwrap())
            .collect();
        assert!(
            progress.windows(2).all(|pair| pair[0] <= pair[1]),
            "task {id}: progress went backwards across the restart: {progress:?}"
        );
        let last_view = &all.last().unwrap().1;
        assert_eq!(last_view["status"], "succeeded", "task {id}: {last_view}");
        let result = second
            .client
            .get(second.url(&format!("/v1/tryons/{id}/result")))
            .send()
            .await
            .unwrap();
        assert_eq!(result.status(), 200, "task {id}: result after the restart");
        let bytes = result.bytes().await.unwrap();
        let picture = image::load_from_memory(&bytes).expect("the result is an image");
        assert_eq!(
            (picture.width() as u64, picture.height() as u64),
            (
                last_view["result"]["width"].as_u64().unwrap(),
                last_view["result"]["height"].as_u64().unwrap()
            )
        );
    }
    assert_eq!(
        data.stored_photos(),
        0,
        "photos are deleted as soon as their tasks end"
    );

    let (status, replay) = second.create(0, Some("restart-key-0")).await;
    assert_eq!(
        (status, replay["id"].as_str()),
        (202, Some(ids[0].as_str())),
        "an Idempotency-Key used before the kill replays the same task: {replay}"
    );
}

#[tokio::test]
async fn results_leave_the_disk_when_their_retention_passes() {
    let data = DataDir::new("retention");
    let proxy = Proxy::start(
        &data.0,
        &["--local-duration-ms", "200", "--result-retention-s", "1"],
    )
    .await;
    let (status, created) = proxy.create(7, None).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    proxy
        .wait_for(&id, "success", |v| v["status"] == "succeeded")
        .await;
    let result = proxy
        .client
        .get(proxy.url(&format!("/v1/tryons/{id}/result")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let sample = &result[result.len() / 2..result.len() / 2 + 64];
    assert!(data.contains(sample), "the kept result is in the store");
    assert_eq!(data.stored_photos(), 0, "photos go when the task ends");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while proxy.view(&id).await.0 != 404 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task outlived its retention"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The sweep compacts right after deleting; give it that moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !data.contains(sample),
        "the result's bytes must be gone from the data directory after the retention"
    );
}

#[tokio::test]
async fn sigterm_drains_within_ten_seconds_and_the_next_start_finishes_the_task() {
    let data = DataDir::new("drain");
    let args = &["--local-duration-ms", "4000"];
    let first = Proxy::start(&data.0, args).await;
    let (status, ready) = first.text("/readyz").await;
    assert_eq!(status, 200, "a fresh proxy is ready: {ready}");
    let (status, created) = first.create(3, None).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let watcher = first.watch(&id, 0);
    first
        .wait_for(&id, "running", |v| v["status"] == "running")
        .await;
    // The watcher connects on its own task: wait (bounded) until the proxy has counted it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let (_, metrics) = first.text("/metrics").await;
        if metrics.contains("tryon_watchers 1") || tokio::time::Instant::now() >= deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        metrics.contains("tryon_watchers 1") && metrics.contains("tryon_queue_depth 0"),
        "one watcher, nobody in line:\n{metrics}"
    );

    let (took, clean) = first.terminate();
    assert!(clean, "SIGTERM ends the proxy with a success status");
    assert!(
        took < Duration::from_secs(10),
        "SIGTERM must end the proxy within 10 s, took {took:?}"
    );
    let before = tokio::time::timeout(PATIENCE, watcher)
        .await
        .expect("the event stream ends on SIGTERM")
        .unwrap();
    let last = before.last().expect("events before the drain");
    assert_ne!(
        last.1["status"], "succeeded",
        "the stream was ended (told to reconnect), not finished"
    );

    let second = Proxy::start(&data.0, args).await;
    let rest = tokio::time::timeout(PATIENCE, second.watch(&id, last.0))
        .await
        .expect("the task finishes after the restart")
        .unwrap();
    assert_eq!(
        rest.first().map(|(n, _)| *n),
        Some(last.0 + 1),
        "the reconnect continues right after the last event"
    );
    assert_eq!(rest.last().unwrap().1["status"], "succeeded");
    let (_, metrics) = second.text("/metrics").await;
    for line in [
        "tryon_tryons_total{provider=\"local\",outcome=\"succeeded\"} 1",
        "tryon_credits_spent_total{provider=\"local\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line:?}:\n{metrics}");
    }
}

#[tokio::test]
async fn a_second_proxy_on_the_same_data_directory_refuses_to_start() {
    let data = DataDir::new("locked");
    let first = Proxy::start(&data.0, &[]).await;
    let dir = data.0.clone();
    let refused =
        tokio::task::spawn_blocking(move || Proxy::refused_start(&dir, Duration::from_secs(10)))
            .await
            .unwrap();
    let (succeeded, stderr) = refused.expect("the second proxy kept running on the same directory");
    assert!(!succeeded, "the second proxy must exit with a failure");
    assert!(
        stderr.contains("data directory") && stderr.contains("TRYON_STORE=redis://"),
        "the refusal says why and what to do instead: {stderr}"
    );
    assert_eq!(
        first.text("/healthz").await.0,
        200,
        "the first one serves on"
    );
    let (_, clean) = first.terminate();
    assert!(clean);
    // The lock goes with its process: the directory can be used again.
    let again = Proxy::start(&data.0, &[]).await;
    assert_eq!(again.text("/healthz").await.0, 200);
}
