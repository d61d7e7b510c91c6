//! Each vendor adapter behind the real proxy: `POST /v1/tryons` → follow → result, exactly as
//! the widget does it, with the vendor's strict fake upstream. The key must appear in no
//! response, and one task watched by ten browsers must cost one create.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures::StreamExt;
use secrecy::SecretString;
use serde_json::Value;
use tokio::net::TcpListener;
use tryon_proxy::app::{AppState, app};
use tryon_proxy::config::{Cli, Settings};
use tryon_proxy::providers::fitinview::FitInView;
use tryon_proxy::providers::fitroom::Fitroom;
use tryon_proxy::providers::tryiton::TryItOn;
use tryon_proxy::providers::vtryon::Vtryon;
use tryon_proxy::providers::{
    FitInViewSettings, FitroomSettings, Provider, TryItOnSettings, VTRYON_CHECKED_PHOTO_KEPT_FOR,
    VtryonSettings,
};

use crate::util::{EveryVendor, KEY, assert_no_key, fast_tuning, garment, person};
use tryon_fakes::Fake;
use tryon_fakes::{fitinview, fitroom, tryiton, vtryon};

const PATIENCE: Duration = Duration::from_secs(15);

/// The proxy on a loopback port around `provider`; its base URL.
async fn proxy(provider: Arc<dyn Provider>) -> String {
    let cli = Cli::try_parse_from(["tryon-proxy", "--create-burst", "1000000"]).unwrap();
    let state =
        AppState::new(Settings::from_cli(cli).unwrap(), provider).expect("app state builds");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let options = state.settings.serve.clone();
    let router = app(state);
    tokio::spawn(async move {
        tryon_proxy::serving::serve(listener, router, options, std::future::pending()).await
    });
    base
}

fn form(category: &str) -> reqwest::multipart::Form {
    let file = |bytes: &[u8], name: &str| {
        reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name(name.to_owned())
            .mime_str("image/jpeg")
            .unwrap()
    };
    reqwest::multipart::Form::new()
        .part("person", file(&person().bytes, "me.jpg"))
        .part("garment", file(&garment().bytes, "shirt.jpg"))
        .text("category", category.to_owned())
        .text("quality", "fast")
}

/// Everything a response showed: status line, headers and body, for the key check.
fn seen(response_headers: &reqwest::header::HeaderMap, body: &str) -> String {
    format!("{response_headers:?} {body}")
}

/// Creates a try-on and follows it by polling until it ends; the final view, every progress
/// kind seen while running, and the result bytes.
async fn try_on(base: &str) -> (Value, Vec<String>, Vec<u8>) {
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{base}/v1/tryons"))
        .multipart(form("upper"))
        .send()
        .await
        .unwrap();
    let headers = created.headers().clone();
    let body = created.text().await.unwrap();
    assert_no_key("the create response", &seen(&headers, &body));
    let created: Value = serde_json::from_str(&body).unwrap();
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no task id in {body}"))
        .to_owned();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut kinds = Vec::new();
    loop {
        let response = http
            .get(format!("{base}/v1/tryons/{id}"))
            .send()
            .await
            .unwrap();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        assert_no_key("a status response", &seen(&headers, &text));
        let view: Value = serde_json::from_str(&text).unwrap();
        if view["status"] == "running" {
            kinds.push(
                view["progress_kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        if view["status"] == "succeeded" || view["status"] == "failed" {
            let result = http
                .get(format!("{base}/v1/tryons/{id}/result"))
                .send()
                .await
                .unwrap();
            let bytes = result.bytes().await.unwrap().to_vec();
            return (view, kinds, bytes);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the try-on did not end in time: {view}"
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

fn assert_succeeded(view: &Value, kinds: &[String], expected_kind: &str) {
    assert_eq!(view["status"], "succeeded", "{view}");
    assert_eq!(view["progress"], 100);
    assert!(
        kinds.iter().all(|k| k == expected_kind),
        "progress kinds while running: {kinds:?}"
    );
}

#[tokio::test]
async fn fitroom_through_the_v1_api() {
    let fake = fitroom::FitroomFake::start().await;
    let tuning = fast_tuning(60, Duration::from_secs(60));
    let settings = FitroomSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        tuning,
    };
    let base = proxy(Arc::new(Fitroom::new(settings).unwrap())).await;
    let (view, kinds, bytes) = try_on(&base).await;
    assert_succeeded(&view, &kinds, "reported");
    assert_eq!(
        bytes,
        fake.only_task().result.to_vec(),
        "the proxy serves the vendor's picture"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn tryiton_through_the_v1_api() {
    let fake = tryiton::TryItOnFake::start(tryiton::DEFAULT_STATUS_PATH).await;
    let settings = TryItOnSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        status_path: tryiton::DEFAULT_STATUS_PATH.into(),
        style: Default::default(),
        tuning: fast_tuning(60, Duration::from_secs(60)),
    };
    let base = proxy(Arc::new(TryItOn::new(settings).unwrap())).await;
    let (view, kinds, bytes) = try_on(&base).await;
    assert_succeeded(&view, &kinds, "estimated");
    assert_eq!(bytes, fake.only_job().result.to_vec());
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_webp_result_from_tryiton_2026_is_served_as_webp() {
    let fake = tryiton::TryItOnFake::start(tryiton::DEFAULT_STATUS_PATH).await;
    fake.set(|b| {
        b.style = tryiton::Style::Sdk2026;
        b.answers = tryiton::Style::Sdk2026;
        b.webp_results = true;
    });
    let settings = TryItOnSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        status_path: tryiton::DEFAULT_STATUS_PATH.into(),
        style: tryon_proxy::providers::TryItOnStyle::Sdk2026,
        tuning: fast_tuning(60, Duration::from_secs(60)),
    };
    let base = proxy(Arc::new(TryItOn::new(settings).unwrap())).await;
    let (view, kinds, bytes) = try_on(&base).await;
    assert_succeeded(&view, &kinds, "estimated");
    assert_eq!(view["result"]["content_type"], "image/webp", "{view}");
    assert_eq!(bytes, fake.only_job().result.to_vec());
    assert!(bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP");
    let url = format!("{base}{}", view["result"]["url"].as_str().unwrap());
    let served = reqwest::get(url).await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/webp");
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn fitinview_through_the_v1_api() {
    let fake = fitinview::FitInViewFake::start(Duration::from_secs(60)).await;
    let settings = FitInViewSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        webhook_secret: None,
        public_url: None,
        tuning: fast_tuning(20, Duration::from_secs(60)),
    };
    let base = proxy(Arc::new(FitInView::new(settings).unwrap())).await;
    let (view, kinds, bytes) = try_on(&base).await;
    assert_succeeded(&view, &kinds, "estimated");
    assert_eq!(bytes, fake.only_job().result.to_vec());
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn vtryon_through_the_v1_api() {
    let fake = vtryon::VtryonFake::start().await;
    let settings = VtryonSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        webhook_secret: None,
        checked_photo_kept_for: VTRYON_CHECKED_PHOTO_KEPT_FOR,
        tuning: fast_tuning(60, Duration::from_secs(60)),
    };
    let base = proxy(Arc::new(Vtryon::new(settings).unwrap())).await;
    let (view, kinds, bytes) = try_on(&base).await;
    assert_succeeded(&view, &kinds, "estimated");
    assert_eq!(bytes, fake.only_task().result.to_vec());
    fake.assert_no_person_images_left().await;
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn ten_watchers_of_one_fitroom_task_cost_one_create() {
    let fake = fitroom::FitroomFake::start().await;
    let tuning = fast_tuning(60, Duration::from_secs(60));
    let settings = FitroomSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        tuning,
    };
    let base = proxy(Arc::new(Fitroom::new(settings).unwrap())).await;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{base}/v1/tryons"))
        .multipart(form("upper"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = format!("{base}{}", created["links"]["events"].as_str().unwrap());
    let watchers: Vec<_> = (0..10)
        .map(|_| {
            let (http, events) = (http.clone(), events.clone());
            tokio::spawn(async move {
                let response = http.get(&events).send().await.unwrap();
                let mut stream = response.bytes_stream();
                let mut text = String::new();
                while let Some(chunk) = stream.next().await {
                    text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                    if text.contains("\"status\":\"succeeded\"") {
                        return text;
                    }
                }
                text
            })
        })
        .collect();
    for watcher in watchers {
        let text = tokio::time::timeout(PATIENCE, watcher)
            .await
            .expect("a watcher saw the end in time")
            .unwrap();
        assert!(
            text.contains("\"status\":\"succeeded\""),
            "a watcher missed the end: {text}"
        );
        assert_no_key("an event stream", &text);
    }
    assert_eq!(
        fake.recorder.count(fitroom::CREATE),
        1,
        "one driver per task, however many watch it"
    );
    fake.recorder.assert_clean();
}

/// A `tracing` writer into memory, so a test can read every log line the proxy wrote.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_key_appears_in_no_log_line_whatever_goes_wrong() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime is single-threaded, so the proxy's and the adapter's tasks all log here.
    let _guard = tracing::subscriber::set_default(subscriber);
    let fake = fitroom::FitroomFake::start().await;
    let tuning = fast_tuning(60, Duration::from_secs(60));
    let settings = FitroomSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        tuning,
    };
    let base = proxy(Arc::new(Fitroom::new(settings).unwrap())).await;
    for (fault, code) in [
        (tryon_fakes::Fault::Status(401, None), "provider_auth"),
        (
            tryon_fakes::Fault::Status(402, None),
            "provider_out_of_credit",
        ),
        (
            tryon_fakes::Fault::Status(503, Some(60)),
            "provider_unavailable",
        ),
        (tryon_fakes::Fault::DropAfterReading, "provider_unavailable"),
    ] {
        fake.fault(fitroom::CREATE, fault);
        let (view, _, _) = try_on(&base).await;
        assert_eq!(
            (view["status"].as_str(), view["error"]["code"].as_str()),
            (Some("failed"), Some(code)),
            "{view}"
        );
        assert_no_key("a failed task's view", &view.to_string());
    }
    let (view, _, _) = try_on(&base).await;
    assert_eq!(view["status"], "succeeded");
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > 5,
        "the proxy should have logged the requests: {logs}"
    );
    assert_no_key("the logs", &logs);
    fake.recorder.assert_clean();
}

/// Issue 13: words only a vendor would write, to look for in every browser-facing answer.
const VENDOR_WORDS: &str = "Upstream node gpu-7 rejected tensor 0xDEADBEEF for acct 4711";

/// Every event of a finished task, as the SSE replay sends them.
async fn replayed_events(base: &str, id: &str) -> String {
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/tryons/{id}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    tokio::time::timeout(PATIENCE, response.text())
        .await
        .expect("the stream of a finished task ends")
        .unwrap()
}

#[tokio::test]
async fn a_vendor_error_text_reaches_no_status_or_event_on_any_vendor() {
    let fakes = EveryVendor::start().await;
    for (vendor, provider, fault) in fakes.rows() {
        let base = proxy(provider).await;
        for status in [422, 409] {
            fault(tryon_fakes::Fault::Saying(status, VENDOR_WORDS));
            let (view, _, _) = try_on(&base).await;
            assert_eq!(view["status"], "failed", "{vendor} {status}: {view}");
            let id = view["id"].as_str().unwrap();
            let events = replayed_events(&base, id).await;
            assert!(events.contains("\"failed\""), "{vendor}: {events}");
            for (what, seen) in [("status", view.to_string()), ("events", events)] {
                assert!(
                    !seen.contains("gpu-7") && !seen.contains("DEADBEEF"),
                    "{vendor} {status}: the vendor's words reached the {what}: {seen}"
                );
            }
        }
    }
}

/// Issue 13: once a vendor refuses the merchant's account (no credit, a refused key), the
/// widget's `GET /v1/config` says so, so the next shopper is told when the dialog opens,
/// before she uploads her photo; a later success (a topped-up account) lifts it.
#[tokio::test]
async fn an_account_refusal_on_any_vendor_is_said_before_the_next_upload() {
    let fakes = EveryVendor::start().await;
    let client = reqwest::Client::new();
    for (vendor, provider, fault) in fakes.rows() {
        // A proxy for each refusal: an identical submission after the success would be
        // answered with the succeeded task (the ten-minute rule), never reaching the vendor.
        for (status, code) in [(402, "provider_out_of_credit"), (401, "provider_auth")] {
            let base = proxy(provider.clone()).await;
            let config = || async {
                let response = client
                    .get(format!("{base}/v1/config"))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap())
            };
            assert_eq!(config().await.0, 200, "{vendor}: a fresh account");
            fault(tryon_fakes::Fault::Status(status, None));
            let (view, _, _) = try_on(&base).await;
            assert_eq!(view["error"]["code"], code, "{vendor} {status}: {view}");
            let (answered, problem) = config().await;
            assert_eq!(
                (answered, problem["code"].as_str()),
                (503, Some(code)),
                "{vendor} {status}: {problem}"
            );
            let (view, _, _) = try_on(&base).await;
            assert_eq!(view["status"], "succeeded", "{vendor}: {view}");
            assert_eq!(config().await.0, 200, "{vendor}: a success lifts it");
        }
    }
}
