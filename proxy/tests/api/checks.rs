//! The pre-flight checks (`POST /v1/checks/person`, `POST /v1/checks/garment`) and the
//! FitInView webhook route as `app` mounts them: local checks where the provider has none,
//! and the same gates as a create (origin, App Proxy signature, size, per-client bucket,
//! deadlines) in front of any provider call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::multipart::Form;
use secrecy::SecretString;
use serde_json::Value;
use tryon_proxy::providers::fitinview::{FitInView, WEBHOOK_PATH};
use tryon_proxy::providers::{
    FitInViewSettings, PreparedImage, ProgressSink, Provider, ProviderError, ProviderInfo,
    TryOnJob, TryOnOutput, UpstreamTuning, VendorKind,
};
use tryon_proxy::wire::{
    Category, CheckSource, ChecksAvailable, GarmentCheck, GarmentKind, PersonCheck,
};

use crate::cors::{FOREIGN, SHOP_ORIGIN, STOREFRONT, server_with, signed};
use crate::util::{TestServer, assert_problem, file_part, jpeg, png};

/// A provider with its own checks that counts them and takes `delay` to answer.
struct Checking {
    calls: AtomicUsize,
    delay: Duration,
}

impl Checking {
    fn new(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            delay,
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Provider for Checking {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "checking",
            categories: vec![Category::Upper],
            checks: ChecksAvailable {
                person: true,
                garment: true,
            },
        }
    }

    async fn run(&self, _: TryOnJob, _: &dyn ProgressSink) -> Result<TryOnOutput, ProviderError> {
        Err(ProviderError::Failed("checks only".into()))
    }

    async fn check_person(&self, _: &PreparedImage) -> Result<PersonCheck, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        Ok(PersonCheck {
            ok: true,
            issues: vec![],
            garment_kinds: None,
            source: CheckSource::Provider,
        })
    }

    async fn check_garment(&self, _: &PreparedImage) -> Result<GarmentCheck, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(GarmentCheck {
            ok: true,
            kind: Some(GarmentKind::Lower),
            source: CheckSource::Provider,
        })
    }
}

fn person_form(bytes: Vec<u8>) -> Form {
    Form::new().part("person", file_part(bytes, "me.jpg"))
}

/// Posts `form` to `path` with `headers`; status, `Retry-After`, the response's headers and
/// its JSON body.
async fn post(
    server: &TestServer,
    url: &str,
    form: Form,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = server.client.post(url).multipart(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{url} answered {status} non-JSON {text:?}: {e}"));
    (status, headers, json)
}

async fn check_person(server: &TestServer, bytes: Vec<u8>) -> (u16, Value) {
    let url = server.url("/v1/checks/person");
    let (status, _, json) = post(server, &url, person_form(bytes), &[]).await;
    (status, json)
}

#[tokio::test]
async fn without_vendor_checks_the_proxy_judges_resolution_and_aspect() {
    let server = TestServer::with_local(10, &[]).await;
    let (status, check) = check_person(&server, jpeg(600, 900)).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(
        check,
        serde_json::json!({"ok": true, "issues": [], "garment_kinds": null, "source": "local"})
    );
    let (_, tiny) = check_person(&server, jpeg(120, 200)).await;
    assert_eq!(tiny["ok"], false, "{tiny}");
    assert_eq!(
        (&tiny["issues"][0]["code"], &tiny["issues"][0]["severity"]),
        (&"low_resolution".into(), &"error".into()),
        "{tiny}"
    );
    let (_, landscape) = check_person(&server, jpeg(900, 600)).await;
    assert_eq!(landscape["ok"], true, "a warning lets the shopper go on");
    assert_eq!(landscape["issues"][0]["code"], "landscape_photo");
    assert_eq!(landscape["issues"][0]["severity"], "warning");

    let garment = Form::new().part("garment", file_part(png(300, 300), "g.png"));
    let url = server.url("/v1/checks/garment");
    let (status, headers, check) = post(&server, &url, garment, &[]).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(
        check,
        serde_json::json!({"ok": true, "kind": null, "source": "local"})
    );
    assert!(
        headers.contains_key("x-request-id"),
        "checks carry a request id like every route: {headers:?}"
    );
}

#[tokio::test]
async fn bad_check_uploads_are_problems_that_reach_no_provider() {
    let provider = Checking::new(Duration::ZERO);
    let server = TestServer::start(provider.clone(), &["--max-image-bytes", "20000"]).await;
    let url = server.url("/v1/checks/person");
    let wrong_field = Form::new().part("garment", file_part(jpeg(60, 90), "me.jpg"));
    let (status, _, problem) = post(&server, &url, wrong_field, &[]).await;
    assert_problem(status, &problem, 400, "missing_field");
    let (status, problem) = check_person(&server, b"<svg onload=alert(1)>".to_vec()).await;
    assert_problem(status, &problem, 415, "unsupported_type");
    let (status, problem) = check_person(&server, jpeg(60, 90)[..200].to_vec()).await;
    assert_problem(status, &problem, 422, "invalid_image");
    let (status, problem) = check_person(&server, vec![0xFF; 30_000]).await;
    assert_problem(status, &problem, 413, "image_too_large");
    let not_multipart = server
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = not_multipart.status().as_u16();
    assert_problem(
        status,
        &not_multipart.json().await.unwrap(),
        400,
        "invalid_field",
    );
    assert_eq!(
        provider.calls(),
        0,
        "no refused upload reached the provider"
    );
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_unread_and_uncounted() {
    let provider = Checking::new(Duration::ZERO);
    let server = TestServer::start(
        provider.clone(),
        &["--max-image-bytes", "200000", "--check-burst", "1"],
    )
    .await;
    let head = format!(
        "POST /v1/checks/person HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 50000000\r\n\r\n",
        server.addr
    );
    let answer = crate::util::raw_exchange(server.addr, &head, b"").await;
    assert_problem(answer.status, &answer.json(), 413, "image_too_large");
    let (status, check) = check_person(&server, jpeg(600, 900)).await;
    assert_eq!(
        (status, check["source"].as_str()),
        (200, Some("provider")),
        "the refused request took no token from the bucket of one: {check}"
    );
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn the_check_bucket_refuses_the_next_check_before_the_provider_sees_it() {
    let provider = Checking::new(Duration::ZERO);
    let server = TestServer::start(
        provider.clone(),
        &["--check-burst", "2", "--check-period-s", "60"],
    )
    .await;
    for _ in 0..2 {
        let (status, check) = check_person(&server, jpeg(600, 900)).await;
        assert_eq!(status, 200, "{check}");
    }
    let url = server.url("/v1/checks/garment");
    let garment = Form::new().part("garment", file_part(png(300, 300), "g.png"));
    let (status, headers, problem) = post(&server, &url, garment, &[]).await;
    assert_problem(status, &problem, 429, "rate_limited");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(
        provider.calls(),
        2,
        "the refused check cost nothing upstream"
    );
    let creates_unaffected = server.create(crate::util::unique_form(), None).await;
    assert_eq!(creates_unaffected.0, 202, "creates have their own bucket");
    let metrics = server.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tryon_rate_limit_refusals_total")
                && l.contains(r#"route="/v1/checks/garment""#)),
        "the refusal is counted for /metrics:\n{metrics}"
    );
}

#[tokio::test]
async fn a_provider_slower_than_the_handler_timeout_is_unavailable_not_the_clients_fault() {
    let provider = Checking::new(Duration::from_secs(30));
    let server = TestServer::start(provider.clone(), &["--handler-timeout-s", "1"]).await;
    let started = std::time::Instant::now();
    let (status, problem) = check_person(&server, jpeg(600, 900)).await;
    assert_problem(status, &problem, 503, "provider_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn checks_pass_the_storefront_origin_gate_and_the_app_proxy_mount() {
    let provider = Checking::new(Duration::ZERO);
    let server = server_with(provider.clone(), true, &[]).await;
    let url = server.url("/v1/checks/person");
    let (status, _, problem) = post(
        &server,
        &url,
        person_form(jpeg(600, 900)),
        &[("origin", FOREIGN)],
    )
    .await;
    assert_problem(status, &problem, 403, "origin_not_allowed");
    assert_eq!(provider.calls(), 0);
    let (status, headers, check) = post(
        &server,
        &url,
        person_form(jpeg(600, 900)),
        &[("origin", STOREFRONT)],
    )
    .await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(headers["access-control-allow-origin"], STOREFRONT);

    let relayed = signed(&server, "/v1/checks/person");
    let (status, _, check) = post(
        &server,
        &relayed,
        person_form(jpeg(600, 900)),
        &[("origin", SHOP_ORIGIN)],
    )
    .await;
    assert_eq!(status, 200, "a signed App Proxy check is served: {check}");
    let unsigned = server.url("/shopify/v1/checks/person");
    let (status, _, problem) = post(&server, &unsigned, person_form(jpeg(600, 900)), &[]).await;
    assert_problem(status, &problem, 401, "unauthorized");
    assert_eq!(provider.calls(), 2);
}

/// FitInView with a webhook secret; its API is never called (webhooks for unknown jobs are
/// accepted and ignored), so the base URL is a closed port.
fn fitinview_with_webhooks() -> Arc<dyn Provider> {
    let settings = FitInViewSettings {
        api_key: SecretString::from("fiv_test_checks"),
        base_url: "http://127.0.0.1:9".parse().unwrap(),
        webhook_secret: Some(SecretString::from(WEBHOOK_SECRET)),
        public_url: Some("https://proxy.example".parse().unwrap()),
        tuning: UpstreamTuning::for_vendor(VendorKind::FitInView),
    };
    Arc::new(FitInView::new(settings).expect("FitInView adapter"))
}

const WEBHOOK_SECRET: &str = "whsec_checks_test";

fn sign(body: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn the_webhook_is_verified_at_the_top_level_and_absent_under_the_app_proxy() {
    let server = server_with(fitinview_with_webhooks(), true, &[]).await;
    let body = r#"{"event":"tryon.completed","job_id":"job_unknown","status":"succeeded","result_url":"https://x/r.png"}"#;
    let deliver = |url: String, signature: String| {
        let client = server.client.clone();
        async move {
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .header("x-fitinview-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let (status, text) = deliver(server.url(WEBHOOK_PATH), "sha256=00".into()).await;
    assert_eq!(status, 401, "a forged event is refused: {text}");
    let (status, text) = deliver(server.url(WEBHOOK_PATH), sign(body)).await;
    assert_eq!(status, 204, "a signed event is accepted: {text}");
    // Under `/shopify` only the widget's files answer unknown paths (GET), so a POST is 405.
    let (status, text) = deliver(signed(&server, WEBHOOK_PATH), sign(body)).await;
    assert!(
        [404, 405].contains(&status),
        "vendors call the proxy directly; the App Proxy serves no webhook: {status} {text}"
    );

    let local = TestServer::with_local(10, &[]).await;
    let (status, text) = deliver(local.url(WEBHOOK_PATH), sign(body)).await;
    assert_problem(
        status,
        &serde_json::from_str(&text).unwrap(),
        404,
        "not_found",
    );
}

#[tokio::test]
async fn a_garment_check_reads_a_garment_url_like_a_create_does() {
    let www = crate::create::tempdir("check-garment-urls");
    std::fs::create_dir_all(www.join("demo")).unwrap();
    std::fs::write(www.join("demo/trousers.png"), png(300, 300)).unwrap();
    let provider = Checking::new(Duration::ZERO);
    let server = TestServer::start(
        provider.clone(),
        &[
            "--demo",
            "--www-dir",
            www.to_str().unwrap(),
            "--garment-hosts",
            "https://cdn.example/",
        ],
    )
    .await;
    let url = server.url("/v1/checks/garment");
    let own = format!("http://{}/demo/trousers.png", server.addr);
    let (status, _, check) = post(&server, &url, Form::new().text("garment_url", own), &[]).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(check["kind"], "lower", "the provider judged the demo file");
    for refused in [
        "http://cdn.example/shirt.png",
        "https://127.0.0.1/shirt.png",
        "https://elsewhere.example/shirt.png",
    ] {
        let form = Form::new().text("garment_url", refused);
        let (status, _, problem) = post(&server, &url, form, &[]).await;
        assert_problem(status, &problem, 400, "garment_url_not_allowed");
    }
    assert_eq!(provider.calls(), 1, "refused URLs reached no provider");
}

#[tokio::test]
async fn a_garment_check_refuses_a_garment_url_over_two_kilobytes() {
    let provider = Checking::new(Duration::ZERO);
    let server = TestServer::start(
        provider.clone(),
        &["--garment-hosts", "https://cdn.example/"],
    )
    .await;
    let url = server.url("/v1/checks/garment");
    let long = format!("https://cdn.example/{}", "a".repeat(3000));
    let (status, _, problem) =
        post(&server, &url, Form::new().text("garment_url", long), &[]).await;
    assert_problem(status, &problem, 400, "invalid_field");
    assert!(
        problem["detail"].as_str().unwrap().contains("2048 bytes"),
        "{problem}"
    );
    assert_eq!(provider.calls(), 0);
}
