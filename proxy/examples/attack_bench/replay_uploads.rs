//! Parallel 25 MB uploads that all replay one completed `Idempotency-Key`: before issue 13 a
//! completed key skipped the per-address limit, so every one of them was received, buffered
//! and hashed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::Report;
use crate::honest::{self, HONEST_ADDRESS};
use crate::proxy::Proxy;

const ATTACKER: &str = "127.0.0.2";
const KEY: &str = "attack-bench-replayed-key";
/// Uploads at once, uploads in all, and the longest the attack may last.
const PARALLEL: usize = 16;
const MAX_UPLOADS: usize = 240;
const LENGTH: Duration = Duration::from_secs(20);
const BOUNDARY: &str = "attackbenchboundary";

pub async fn run() -> Report {
    let proxy = Proxy::start(&[], &[]).await;
    let attacker = reqwest::Client::builder()
        .no_proxy()
        .local_address(ATTACKER.parse().ok())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    // The key completes once, as a shopper's first click would.
    let first = attacker
        .post(proxy.url("/v1/tryons"))
        .header("Idempotency-Key", KEY)
        .multipart(honest::create_form(1))
        .send()
        .await
        .expect("first create");
    assert_eq!(first.status(), 202, "the key's first create");
    // The honest shopper follows a task of her own.
    let honest_client = honest::fresh_connection_client(HONEST_ADDRESS);
    let created: serde_json::Value = honest_client
        .post(proxy.url("/v1/tryons"))
        .multipart(honest::create_form(2))
        .send()
        .await
        .expect("honest create")
        .json()
        .await
        .unwrap();
    let status_url = proxy.url(&format!("/v1/tryons/{}", created["id"].as_str().unwrap()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss_mib = proxy.rss_mib();

    let body = upload_body();
    let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let (attacker, body, url) = (attacker.clone(), body.clone(), proxy.url("/v1/tryons"));
            let (statuses, sent) = (statuses.clone(), sent.clone());
            tokio::spawn(async move {
                while started.elapsed() < LENGTH && sent.fetch_add(1, Ordering::SeqCst) < MAX_UPLOADS {
                    let answer = attacker
                        .post(&url)
                        .header("Idempotency-Key", KEY)
                        .header(
                            "content-type",
                            format!("multipart/form-data; boundary={BOUNDARY}"),
                        )
                        .body(body.clone())
                        .send()
                        .await;
                    let status = answer.map_or(0, |a| a.status().as_u16());
                    *statuses.lock().unwrap().entry(status).or_insert(0) += 1;
                }
            })
        })
        .collect();
    let honest = honest::measure(LENGTH, Duration::from_millis(20), 200, |_| {
        let (client, url) = (honest_client.clone(), status_url.clone());
        async move { client.get(url).send().await.ok().map(|a| a.status().as_u16()) }
    })
    .await;
    for worker in workers {
        worker.await.unwrap();
    }
    let statuses = statuses.lock().unwrap();
    Report {
        idle_rss_mib,
        peak_rss_mib: proxy.peak_rss_mib(),
        honest,
        attack: format!(
            "{} uploads of {:.1} MB replaying one key in {:.1} s, {PARALLEL} at once; answers by status {:?}",
            statuses.values().sum::<usize>(),
            body.len() as f64 / 1e6,
            started.elapsed().as_secs_f64(),
            *statuses
        ),
    }
}

/// A multipart body just under the 25,000,000-byte request limit: two files just under the
/// 10 MB per-file limit and a field the proxy does not know, all of which it must receive.
fn upload_body() -> Bytes {
    let mut body = Vec::with_capacity(25_000_000);
    for (name, size) in [("person", 9_900_000), ("garment", 9_900_000), ("padding", 5_000_000)] {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend((0..size).map(|i: usize| (i.wrapping_mul(31) >> 3) as u8));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    assert!(body.len() < 25_000_000);
    Bytes::from(body)
}
