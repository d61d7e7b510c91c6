//! `Idempotency-Key`: a retried upload never becomes a second task.

use std::sync::Arc;

use crate::util::{
    Step, SteppedProvider, TestServer, assert_problem, file_part, jpeg, png, valid_form,
};

#[tokio::test]
async fn the_same_key_and_body_returns_the_same_task_and_creates_nothing() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let (status, first) = server.create(valid_form(), Some("order-1")).await;
    assert_eq!(status, 202, "{first}");
    provider.wait_runs(1).await;
    let (status, again) = server.create(valid_form(), Some("order-1")).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["id"], first["id"], "the replay names the same task");
    provider.step(Step::Succeed);
    server.wait_terminal(first["id"].as_str().unwrap()).await;
    assert_eq!(provider.runs(), 1, "exactly one upstream run");
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused() {
    let server = TestServer::start(SteppedProvider::new(), &[]).await;
    let (status, _) = server.create(valid_form(), Some("order-2")).await;
    assert_eq!(status, 202);
    let other = reqwest::multipart::Form::new()
        .part("person", file_part(jpeg(61, 90), "person.jpg"))
        .part("garment", file_part(png(40, 40), "garment.png"))
        .text("category", "upper");
    let (status, json) = server.create(other, Some("order-2")).await;
    assert_problem(status, &json, 422, "idempotency_key_reused");
}

/// While the first request with a key is being processed, others with it are answered 409
/// (`idempotency_key_in_use`) or, once it is done, replay it: never a second task.
#[tokio::test]
async fn concurrent_requests_with_one_key_make_one_task() {
    let provider = SteppedProvider::new();
    let server = Arc::new(TestServer::start(provider.clone(), &[]).await);
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move { server.create(valid_form(), Some("double-click")).await })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for request in requests {
        let (status, json) = request.await.unwrap();
        match status {
            202 => ids.insert(json["id"].as_str().unwrap().to_owned()),
            _ => {
                assert_problem(status, &json, 409, "idempotency_key_in_use");
                continue;
            }
        };
    }
    assert_eq!(ids.len(), 1, "every 202 names the one task: {ids:?}");
    let (status, replay) = server.create(valid_form(), Some("double-click")).await;
    assert_eq!(status, 202, "a later retry replays: {replay}");
    assert!(ids.contains(replay["id"].as_str().unwrap()));
    provider.step(Step::Succeed);
    server.wait_terminal(ids.first().unwrap()).await;
    assert_eq!(provider.runs(), 1);
}

#[tokio::test]
async fn a_refused_first_attempt_does_not_burn_the_key() {
    let server = TestServer::start(SteppedProvider::new(), &[]).await;
    let broken = reqwest::multipart::Form::new().part("garment", file_part(png(10, 10), "g.png"));
    let (status, _) = server.create(broken, Some("retry-me")).await;
    assert_eq!(status, 400);
    let (status, json) = server.create(valid_form(), Some("retry-me")).await;
    assert_eq!(status, 202, "the corrected retry goes through: {json}");
}

#[tokio::test]
async fn malformed_keys_are_invalid_fields() {
    let server = TestServer::start(SteppedProvider::new(), &[]).await;
    let (status, json) = server.create(valid_form(), Some(&"k".repeat(300))).await;
    assert_problem(status, &json, 400, "invalid_field");
}
