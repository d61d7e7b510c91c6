//! `GET /v1/tryons/{id}/events`: Server-Sent Events, resume, fan-out and the end of a stream.

use tryon_proxy::wire::TaskStatus;

use crate::util::{
    SseReader, Step, SteppedProvider, TestServer, assert_consecutive, assert_progress_monotonic,
    figure_photo, file_part, shirt_photo, status_of,
};

#[tokio::test]
async fn the_stream_sends_the_state_at_once_then_every_change_then_ends() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let id = server.create_ok().await;
    let response = server.events(&id, None).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let mut reader = SseReader::new(response);
    let first = reader
        .next()
        .await
        .expect("the current state comes at once");
    assert_eq!(first.event.as_deref(), Some("status"));
    assert_eq!(
        first.retry,
        Some(3000),
        "the first event tells EventSource how long to wait"
    );
    assert_eq!(first.view().id, id);

    provider.wait_runs(1).await;
    for progress in [20, 10, 60, 100] {
        provider.step(Step::Progress(progress));
    }
    provider.step(Step::Succeed);
    let events = reader.collect().await;
    assert_consecutive(&events, 1);
    assert_progress_monotonic(&events);
    let statuses = status_of(&events);
    assert_eq!(statuses.first(), Some(&TaskStatus::Queued));
    assert_eq!(
        statuses.last(),
        Some(&TaskStatus::Succeeded),
        "the stream ends after the terminal status"
    );
    let progress: Vec<u8> = events.iter().map(|e| e.view().progress).collect();
    assert!(
        progress.contains(&20) && progress.contains(&60) && progress.contains(&99),
        "{progress:?}"
    );
    assert!(
        !progress[..progress.len() - 1].contains(&100),
        "100 only with success: {progress:?}"
    );
}

#[tokio::test]
async fn last_event_id_resumes_without_gaps_or_duplicates() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let id = server.create_ok().await;
    provider.wait_runs(1).await;
    provider.step(Step::Progress(10));
    let mut reader = SseReader::new(server.events(&id, None).await);
    let seen = reader.until("progress 10", |v| v.progress == 10).await;
    let last = seen.id.unwrap();
    drop(reader); // the browser lost its connection

    provider.step(Step::Progress(30));
    provider.step(Step::Progress(50));
    server
        .wait_for(&id, "progress 50", |v| v.progress == 50)
        .await;
    provider.step(Step::Succeed);
    let resumed = SseReader::new(server.events(&id, Some(last)).await)
        .collect()
        .await;
    assert_consecutive(&resumed, last + 1);
    let progress: Vec<u8> = resumed.iter().map(|e| e.view().progress).collect();
    assert_eq!(progress, [30, 50, 100], "exactly the missed changes");
    assert_eq!(resumed[0].retry, Some(3000));

    let all = SseReader::new(server.events(&id, None).await)
        .collect()
        .await;
    assert_consecutive(&all, 1);
    assert_eq!(
        all[last as usize..]
            .iter()
            .map(|e| e.data.clone())
            .collect::<Vec<_>>(),
        resumed.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
        "a resume replays the same events"
    );
}

#[tokio::test]
async fn nothing_left_to_send_answers_204_so_event_source_stops() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    assert_eq!(
        server
            .events("0123456789abcdef0123456789abcdef", None)
            .await
            .status(),
        204,
        "unknown task"
    );
    let id = server.create_ok().await;
    provider.step(Step::Succeed);
    let events = SseReader::new(server.events(&id, None).await)
        .collect()
        .await;
    let last = events.last().and_then(|e| e.id).unwrap();
    assert_eq!(
        server.events(&id, Some(last)).await.status(),
        204,
        "terminal and fully seen"
    );
    let response = server.events(&id, Some(last - 1)).await;
    let rest = SseReader::new(response).collect().await;
    assert_eq!(rest.len(), 1, "only the terminal event is left: {rest:?}");
}

#[tokio::test]
async fn two_watchers_share_one_upstream_run() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let id = server.create_ok().await;
    let mut first = SseReader::new(server.events(&id, None).await);
    let mut second = SseReader::new(server.events(&id, None).await);
    first.next().await.unwrap();
    second.next().await.unwrap();
    provider.wait_runs(1).await;
    provider.step(Step::Progress(45));
    first.until("progress 45", |v| v.progress == 45).await;
    second.until("progress 45", |v| v.progress == 45).await;
    provider.step(Step::Succeed);
    let (a, b) = (first.collect().await, second.collect().await);
    assert_eq!(
        a.iter().map(|e| &e.data).collect::<Vec<_>>(),
        b.iter().map(|e| &e.data).collect::<Vec<_>>(),
        "both watchers see the same events"
    );
    assert_eq!(status_of(&a).last(), Some(&TaskStatus::Succeeded));
    assert_eq!(provider.runs(), 1, "one driver, however many watchers");
}

#[tokio::test]
async fn shutting_down_ends_open_streams_so_the_server_can_drain() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let id = server.create_ok().await;
    let mut reader = SseReader::new(server.events(&id, None).await);
    reader.next().await.expect("the current state");
    server.state.begin_shutdown();
    let rest = reader.collect().await;
    assert!(
        rest.iter().all(|e| !e.view().status.is_terminal()),
        "the stream ended because of the shutdown, not the task: {rest:?}"
    );
}

/// The real compositor end to end: upload, follow the stream, fetch the picture.
#[tokio::test]
async fn the_local_provider_runs_a_try_on_to_a_real_result() {
    let server = TestServer::with_local(300, &[]).await;
    let form = reqwest::multipart::Form::new()
        .part("person", file_part(figure_photo(), "person.jpg"))
        .part("garment", file_part(shirt_photo(), "garment.png"))
        .text("category", "upper");
    let (status, json) = server.create(form, None).await;
    assert_eq!(status, 202, "{json}");
    let id = json["id"].as_str().unwrap();
    let events = SseReader::new(server.events(id, None).await)
        .collect()
        .await;
    assert_consecutive(&events, 1);
    assert_progress_monotonic(&events);
    let done = events.last().unwrap().view();
    assert_eq!(done.status, TaskStatus::Succeeded, "{done:?}");
    let stages: std::collections::BTreeSet<_> =
        events.iter().filter_map(|e| e.view().stage).collect();
    assert!(
        stages.len() >= 2,
        "the local provider names its stages: {stages:?}"
    );
    let result = done.result.unwrap();
    let bytes = server.get(&result.url).await.bytes().await.unwrap();
    let image = image::load_from_memory(&bytes).expect("the composite decodes");
    assert_eq!(
        (image.width(), image.height()),
        (result.width, result.height)
    );
}
