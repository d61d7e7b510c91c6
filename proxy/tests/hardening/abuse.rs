//! Credit abuse through the real create and check routes: per-client buckets, daily budget,
//! spoofed `X-Forwarded-For`, required and concurrent `Idempotency-Key`s, identical submissions.

use std::sync::Arc;

use crate::support::{Create, Server, assert_problem, numbered_jpeg};

const BURST_3: &[&str] = &["--create-burst", "3", "--create-period-s", "20"];

#[tokio::test]
async fn twenty_creates_from_one_address_let_exactly_the_burst_through() {
    let server = Server::start(BURST_3).await;
    let mut accepted = 0;
    for n in 0..20 {
        let (status, retry_after, json) = server.create(Create::unique(n)).await;
        if status == 202 {
            accepted += 1;
            continue;
        }
        assert_problem(status, &json, 429, "rate_limited");
        let wait = retry_after.expect("429 carries Retry-After");
        assert!(
            (1..=20).contains(&wait),
            "Retry-After {wait} s is within one period"
        );
    }
    assert_eq!(accepted, 3);
    assert_eq!(
        server.provider.wait_jobs(3).await.len(),
        3,
        "refused creates never ran"
    );
}

#[tokio::test]
async fn the_daily_budget_stops_creates_at_its_number() {
    let server = Server::start(&["--daily-budget", "2", "--create-burst", "100"]).await;
    let config = || async {
        let response = server.client.get(server.url("/v1/config")).send().await;
        let response = response.expect("GET /v1/config");
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };
    for n in 0..2 {
        assert_eq!(config().await.0, 200, "the budget is not spent yet");
        let (status, _, json) = server.create(Create::unique(n)).await;
        assert_eq!(status, 202, "{json}");
    }
    server.provider.wait_jobs(2).await;
    // Issue 13: the widget asks when the dialog opens, before a photo is uploaded.
    let (status, json) = config().await;
    assert_problem(status, &json, 429, "quota_exhausted");
    for n in 2..5 {
        let (status, retry_after, json) = server.create(Create::unique(n)).await;
        assert_problem(status, &json, 429, "quota_exhausted");
        let wait = retry_after.expect("Retry-After");
        assert!(
            (1..=86_400).contains(&wait),
            "retry at the next UTC midnight, not {wait}"
        );
    }
    assert_eq!(server.provider.jobs().len(), 2);
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let server = Server::start(BURST_3).await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        let spoofed = format!("198.51.100.{n}");
        let request = Create::unique(n).header("X-Forwarded-For", &spoofed);
        statuses.push(server.create(request).await.0);
    }
    assert_eq!(
        statuses,
        [202, 202, 202, 429, 429],
        "every request is 127.0.0.1's"
    );
}

#[tokio::test]
async fn through_a_trusted_proxy_the_right_most_untrusted_address_is_the_client() {
    let mut args = BURST_3.to_vec();
    args.extend(["--trusted-proxies", "127.0.0.0/8"]);
    let server = Server::start(&args).await;
    // Five shoppers behind our proxy: each has its own bucket, whatever they put on the left.
    for n in 0..5 {
        let chain = format!("6.6.6.6, 198.51.100.{n}");
        let (status, _, json) = server
            .create(Create::unique(n).header("X-Forwarded-For", &chain))
            .await;
        assert_eq!(status, 202, "shopper {n}: {json}");
    }
    // One shopper rotating the forged left-most entry is still one client.
    let mut statuses = Vec::new();
    for n in 10..14 {
        let chain = format!("6.6.6.{n}, 203.0.113.7");
        statuses.push(
            server
                .create(Create::unique(n).header("X-Forwarded-For", &chain))
                .await
                .0,
        );
    }
    assert_eq!(statuses, [202, 202, 202, 429]);
}

#[tokio::test]
async fn checks_have_their_own_bucket_per_client_and_ignore_spoofed_forwarding() {
    let limits = ["--check-burst", "2", "--check-period-s", "60"];
    let mut args = BURST_3.to_vec();
    args.extend(limits);
    let server = Server::start(&args).await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        let spoofed = format!("198.51.100.{n}");
        let headers = [("X-Forwarded-For", spoofed.as_str())];
        let (status, _) = server
            .check_person_with(numbered_jpeg(n), "image/jpeg", &headers)
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 429, 429], "every check is 127.0.0.1's");
    assert_eq!(
        server.provider.checks(),
        2,
        "refused checks reach no provider"
    );
    let (status, _, json) = server.create(Create::unique(0)).await;
    assert_eq!(status, 202, "checks spend no create tokens: {json}");

    let mut args = limits.to_vec();
    args.extend(["--trusted-proxies", "127.0.0.0/8"]);
    let behind_our_proxy = Server::start(&args).await;
    for n in 0..4 {
        let chain = format!("6.6.6.6, 198.51.100.{n}");
        let headers = [("X-Forwarded-For", chain.as_str())];
        let (status, json) = behind_our_proxy
            .check_person_with(numbered_jpeg(n), "image/jpeg", &headers)
            .await;
        assert_eq!(status, 200, "shopper {n} has a bucket of their own: {json}");
    }
}

#[tokio::test]
async fn browsers_must_send_an_idempotency_key() {
    let server = Server::start(&["--allowed-origins", "https://shop.example"]).await;
    let browser = Create::unique(1).header("Origin", "https://shop.example");
    let (status, _, json) = server.create(browser).await;
    assert_problem(status, &json, 400, "missing_field");
    assert!(
        json["detail"].as_str().unwrap().contains("Idempotency-Key"),
        "{json}"
    );
    let keyed = Create::unique(1)
        .header("Origin", "https://shop.example")
        .header("Idempotency-Key", "5b1f0c1e-4f7e-4c5e-9a53-0e1d2c3b4a59");
    assert_eq!(server.create(keyed).await.0, 202);
    assert!(server.provider.wait_jobs(1).await.len() == 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_creates_with_one_key_make_exactly_one_upstream_task() {
    // Replays past the replay bucket would get 429 (issue 13); not what is tested here.
    let limits = ["--create-burst", "1000", "--replay-burst", "1000"];
    let server = Arc::new(Server::start(&limits).await);
    let creates: Vec<_> = (0..50)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                server
                    .create(Create::unique(7).header("Idempotency-Key", "one-click"))
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for create in creates {
        let (status, _, json) = create.await.unwrap();
        match status {
            202 => ids.push(json["id"].as_str().unwrap().to_owned()),
            409 => assert_problem(status, &json, 409, "idempotency_key_in_use"),
            other => panic!("expected 202 or 409, got {other}: {json}"),
        }
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1, "every 202 names the same task: {ids:?}");
    server.provider.wait_jobs(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(server.provider.jobs().len(), 1, "exactly one upstream task");
}

#[tokio::test]
async fn an_identical_submission_without_a_key_returns_the_existing_task() {
    let server = Server::start(&[]).await;
    let (first_status, _, first) = server.create(Create::unique(3)).await;
    let (second_status, _, second) = server.create(Create::unique(3)).await;
    assert_eq!(
        (first_status, second_status),
        (202, 202),
        "{first} {second}"
    );
    assert_eq!(first["id"], second["id"], "a double click is one task");
    let (_, _, other) = server.create(Create::unique(4)).await;
    assert_ne!(first["id"], other["id"], "another photo is another task");
    server.provider.wait_jobs(2).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(server.provider.jobs().len(), 2);
}

/// Issue 13: a completed key used to skip the per-client limit before the body was read, so
/// one key allowed any number of parallel uploads, each received and hashed. Now each replay
/// takes a token of the client's replay bucket (default: a burst of 10, one per 3 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_replays_of_a_completed_key_past_the_replay_bucket_get_429() {
    let server = Arc::new(Server::start(&[]).await);
    let (status, _, first) = server
        .create(Create::unique(5).header("Idempotency-Key", "done-once"))
        .await;
    assert_eq!(status, 202, "{first}");
    let replays: Vec<_> = (0..20)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                server
                    .create(Create::unique(5).header("Idempotency-Key", "done-once"))
                    .await
            })
        })
        .collect();
    let (mut replayed, mut refused) = (0, 0);
    for replay in replays {
        let (status, retry_after, json) = replay.await.unwrap();
        match status {
            202 => {
                assert_eq!(json["id"], first["id"], "a replay names the first task");
                replayed += 1;
            }
            429 => {
                assert_problem(status, &json, 429, "rate_limited");
                assert!(retry_after.is_some(), "429 carries Retry-After");
                refused += 1;
            }
            other => panic!("expected 202 or 429, got {other}: {json}"),
        }
    }
    // The burst of 10, and one more token if the replays took over 3 s on a loaded machine.
    assert!(
        (10..=11).contains(&replayed) && replayed + refused == 20,
        "{replayed} replays answered, {refused} refused"
    );
    assert_eq!(server.provider.wait_jobs(1).await.len(), 1);
}
