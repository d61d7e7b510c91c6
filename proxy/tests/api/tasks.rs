//! Task status, result, delete and the first-in-first-out queue.

use tryon_proxy::wire::{ErrorCode, TaskStatus};

use crate::util::{LogCapture, Step, SteppedProvider, TestServer, assert_problem, file_part, png};

#[tokio::test]
async fn an_unknown_task_is_not_found_everywhere() {
    let server = TestServer::start(SteppedProvider::new(), &[]).await;
    let id = "0123456789abcdef0123456789abcdef";
    for path in [
        format!("/v1/tryons/{id}"),
        format!("/v1/tryons/{id}/result"),
    ] {
        let (status, json) = server.get_json(&path).await;
        assert_problem(status, &json, 404, "not_found");
    }
    let response = server
        .client
        .delete(server.url(&format!("/v1/tryons/{id}")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_problem(status, &response.json().await.unwrap(), 404, "not_found");
}

#[tokio::test]
async fn a_status_read_that_finds_its_task_is_logged_at_debug_others_at_info() {
    let logs = LogCapture::global();
    let server = TestServer::start(SteppedProvider::new(), &[]).await;
    let id = server.create_ok().await;
    let found = format!("/v1/tryons/{id}");
    assert_eq!(server.get_json(&found).await.0, 200);
    // Unique to this test, as the capture holds every test's lines.
    let unknown = format!("/v1/tryons/{}", id.chars().rev().collect::<String>());
    assert_eq!(server.get_json(&unknown).await.0, 404);

    let lines = logs.lines();
    // Issue 13: the access log shows a task id's first 8 digits only.
    let masked = |path: &str| match path.rsplit_once('/') {
        Some((head, id)) if id.len() == 32 => format!("{head}/{}…", &id[..8]),
        _ => path.to_owned(),
    };
    let access_lines = |path: &str| {
        lines
            .iter()
            .filter(|line| {
                line["message"] == "finished processing request"
                    && line["span"]["path"] == masked(path)
            })
            .collect::<Vec<_>>()
    };
    let created = access_lines("/v1/tryons");
    assert!(
        created
            .iter()
            .any(|line| line["status"] == 202 && line["level"] == "INFO"),
        "a create's access line is at INFO with its request id: {created:#?}"
    );
    assert!(
        access_lines(&found).is_empty(),
        "a status read that found its task logs at DEBUG, below the INFO capture: {:#?}",
        access_lines(&found)
    );
    let missed = access_lines(&unknown);
    assert_eq!(
        missed.len(),
        1,
        "a failed read is logged at INFO: {missed:#?}"
    );
    assert_eq!(missed[0]["status"], 404);
    let reversed = unknown.rsplit('/').next().unwrap();
    assert!(
        lines
            .iter()
            .all(|line| !line.to_string().contains(reversed)),
        "the whole id of a read task is in no log line"
    );
    assert!(
        missed[0]["span"]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{missed:#?}"
    );
}

#[tokio::test]
async fn the_result_is_not_ready_before_success_and_private_after() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let id = server.create_ok().await;
    provider.wait_runs(1).await;
    let (status, json) = server.get_json(&format!("/v1/tryons/{id}/result")).await;
    assert_problem(status, &json, 404, "not_ready");

    provider.step(Step::Progress(40));
    let running = server
        .wait_for(&id, "progress 40", |v| v.progress == 40)
        .await;
    assert_eq!(running.status, TaskStatus::Running);
    assert_eq!(running.stage.as_deref(), Some("stepping"));
    assert_eq!(running.queue_position, None);
    assert!(running.result.is_none());

    provider.step(Step::Succeed);
    let done = server.wait_terminal(&id).await;
    assert_eq!((done.status, done.progress), (TaskStatus::Succeeded, 100));
    let result = done.result.expect("a succeeded task names its result");
    assert_eq!(result.url, format!("/v1/tryons/{id}/result"));
    assert_eq!(result.content_type, "image/jpeg");
    let response = server.get(&result.url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.headers()["cache-control"], "private");
    let bytes = response.bytes().await.unwrap();
    let image = image::load_from_memory(&bytes).expect("the result decodes");
    assert_eq!(
        (image.width(), image.height()),
        (result.width, result.height)
    );
    assert!(
        time::OffsetDateTime::parse(
            &done.created_at,
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
    assert!(
        done.updated_at >= done.created_at,
        "{} < {}",
        done.updated_at,
        done.created_at
    );
}

/// Issue 14: a phone asks for the result at the width it shows it (`?width=`), so fewer bytes
/// come down a slow link; the plain link keeps the full result (for downloads), and a width at
/// or above the result's is the full result too. The stepped provider hands back the person
/// photo it received, here a 200×300 portrait.
#[tokio::test]
async fn the_result_comes_fitted_to_a_width_asked_for_and_in_full_without_one() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let form = reqwest::multipart::Form::new()
        .part("person", file_part(png(200, 300), "person.png"))
        .part("garment", file_part(png(40, 40), "garment.png"))
        .text("category", "upper");
    let (status, json) = server.create(form, None).await;
    assert_eq!(status, 202, "{json}");
    let id = json["id"].as_str().unwrap();
    provider.step(Step::Succeed);
    let result = server.wait_terminal(id).await.result.expect("a result");
    assert_eq!((result.width, result.height), (200, 300));
    let full = server.get(&result.url).await.bytes().await.unwrap();

    let response = server.get(&format!("{}?width=120", result.url)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.headers()["cache-control"], "private");
    let fitted = response.bytes().await.unwrap();
    let image = image::load_from_memory(&fitted).expect("the fitted result decodes");
    assert_eq!((image.width(), image.height()), (120, 180), "aspect kept");
    assert!(
        fitted.len() < full.len(),
        "{} bytes fitted, {} in full",
        fitted.len(),
        full.len()
    );

    for width in ["200", "4000"] {
        let same = server.get(&format!("{}?width={width}", result.url)).await;
        assert_eq!(same.status(), 200);
        assert_eq!(
            same.bytes().await.unwrap(),
            full,
            "width {width}: the full result"
        );
    }
    for width in ["0", "-3", "wide", ""] {
        let (status, json) = server
            .get_json(&format!("{}?width={width}", result.url))
            .await;
        assert_problem(status, &json, 400, "invalid_field");
    }
}

/// Fitting a result costs the proxy a decode and an encode: a client past its bucket (the
/// replay rule's, here 2 with no refill for a minute) gets the result in full, never a refusal.
#[tokio::test]
async fn fitting_results_past_the_clients_bucket_serves_them_in_full() {
    let provider = SteppedProvider::new();
    let args = ["--replay-burst", "2", "--replay-period-s", "60"];
    let server = TestServer::start(provider.clone(), &args).await;
    let form = reqwest::multipart::Form::new()
        .part("person", file_part(png(200, 300), "person.png"))
        .part("garment", file_part(png(40, 40), "garment.png"))
        .text("category", "upper");
    let (status, json) = server.create(form, None).await;
    assert_eq!(status, 202, "{json}");
    let id = json["id"].as_str().unwrap();
    provider.step(Step::Succeed);
    let result = server.wait_terminal(id).await.result.expect("a result");
    let mut widths = Vec::new();
    for _ in 0..4 {
        let response = server.get(&format!("{}?width=100", result.url)).await;
        assert_eq!(response.status(), 200);
        let bytes = response.bytes().await.unwrap();
        widths.push(image::load_from_memory(&bytes).unwrap().width());
    }
    assert_eq!(
        widths,
        [100, 100, 200, 200],
        "two fitted, then the full result"
    );
}

/// The stepped provider hands back the person photo it received, so the result shows what
/// went upstream: a JPEG re-encoded from the PNG upload, resized to `--person-max-edge`.
#[tokio::test]
async fn the_provider_receives_a_re_encoded_photo_within_the_edge_limit() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &["--person-max-edge", "64"]).await;
    let form = reqwest::multipart::Form::new()
        .part("person", file_part(png(300, 200), "person.png"))
        .part("garment", file_part(png(40, 40), "garment.png"))
        .text("category", "upper");
    let (status, json) = server.create(form, None).await;
    assert_eq!(status, 202, "{json}");
    let id = json["id"].as_str().unwrap();
    provider.step(Step::Succeed);
    let result = server.wait_terminal(id).await.result.expect("a result");
    let bytes = server.get(&result.url).await.bytes().await.unwrap();
    assert_eq!(
        &bytes[..2],
        [0xFF, 0xD8],
        "upstream got a JPEG, not the PNG that was sent"
    );
    let image = image::load_from_memory(&bytes).unwrap();
    assert_eq!(image.width(), 64, "long edge at the limit");
    assert!(
        image.height().abs_diff(43) <= 1,
        "aspect kept: {}x{}",
        image.width(),
        image.height()
    );
}

#[tokio::test]
async fn a_failed_task_reports_its_error() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let id = server.create_ok().await;
    provider.step(Step::Progress(30));
    provider.step(Step::Fail);
    let done = server.wait_terminal(&id).await;
    assert_eq!(done.status, TaskStatus::Failed);
    assert_eq!(done.progress, 30, "failure keeps the progress reached");
    let error = done.error.expect("a failed task has an error");
    assert_eq!(error.code, ErrorCode::ProviderFailed);
    assert!(error.retryable);
    let (status, json) = server.get_json(&format!("/v1/tryons/{id}/result")).await;
    assert_problem(status, &json, 404, "not_ready");
}

#[tokio::test]
async fn delete_removes_a_finished_task_at_once() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let id = server.create_ok().await;
    provider.step(Step::Succeed);
    server.wait_terminal(&id).await;
    let response = server
        .client
        .delete(server.url(&format!("/v1/tryons/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    for path in [
        format!("/v1/tryons/{id}"),
        format!("/v1/tryons/{id}/result"),
    ] {
        let (status, json) = server.get_json(&path).await;
        assert_problem(status, &json, 404, "not_found");
    }
    assert_eq!(
        server.events(&id, None).await.status(),
        204,
        "events of a deleted task"
    );
}

#[tokio::test]
async fn delete_cancels_a_running_task_and_frees_its_slot() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &["--max-running-tasks", "1"]).await;
    let first = server.create_ok().await;
    provider.wait_runs(1).await;
    let second = server.create_ok().await;
    assert_eq!(server.view(&second).await.queue_position, Some(0));
    let response = server
        .client
        .delete(server.url(&format!("/v1/tryons/{first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    provider.wait_runs(2).await;
    let running = server
        .wait_for(&second, "running", |v| v.status == TaskStatus::Running)
        .await;
    assert_eq!(running.queue_position, None);
    provider.step(Step::Succeed);
    assert_eq!(
        server.wait_terminal(&second).await.status,
        TaskStatus::Succeeded
    );
}

#[tokio::test]
async fn queued_tasks_see_their_real_position_move_up() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &["--max-running-tasks", "1"]).await;
    let ids = [
        server.create_ok().await,
        server.create_ok().await,
        server.create_ok().await,
    ];
    provider.wait_runs(1).await;
    let positions = |views: &[tryon_proxy::wire::TryOnView]| {
        views.iter().map(|v| v.queue_position).collect::<Vec<_>>()
    };
    let mut views = Vec::new();
    for id in &ids {
        views.push(server.view(id).await);
    }
    assert_eq!(positions(&views), [None, Some(0), Some(1)], "{views:#?}");
    assert_eq!(views[1].status, TaskStatus::Queued);

    provider.step(Step::Succeed);
    server
        .wait_for(&ids[1], "running", |v| v.status == TaskStatus::Running)
        .await;
    let third = server
        .wait_for(&ids[2], "first in line", |v| v.queue_position == Some(0))
        .await;
    assert_eq!(third.status, TaskStatus::Queued);
    provider.step(Step::Succeed);
    provider.step(Step::Succeed);
    server.wait_terminal(&ids[2]).await;
    assert_eq!(provider.runs(), 3);
}

#[tokio::test]
async fn finished_tasks_expire_after_the_retention() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &["--result-retention-s", "1"]).await;
    let id = server.create_ok().await;
    provider.step(Step::Succeed);
    server.wait_terminal(&id).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (status, _) = server.get_json(&format!("/v1/tryons/{id}")).await;
        if status == 404 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task still there 5 s after a 1 s retention"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
