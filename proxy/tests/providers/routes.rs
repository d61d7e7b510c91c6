//! The check and webhook routes (`providers::routes`) served on their own, with the vendor
//! fakes upstream.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use tokio::net::TcpListener;
use tryon_proxy::images::ImagePreparer;
use tryon_proxy::providers::fitinview::{FitInView, WEBHOOK_PATH};
use tryon_proxy::providers::fitroom::Fitroom;
use tryon_proxy::providers::local::LocalProvider;
use tryon_proxy::providers::tryiton::TryItOn;
use tryon_proxy::providers::vtryon::Vtryon;
use tryon_proxy::providers::{
    FitInViewSettings, FitroomSettings, Provider, TryItOnSettings, VtryonSettings, routes,
};

use crate::util::{KEY, assert_no_key, fast_tuning, garment, person};
use tryon_fakes::Fake;
use tryon_fakes::{fitinview, fitroom, tryiton, vtryon};

async fn serve_routes(provider: Arc<dyn Provider>) -> String {
    let router: axum::Router = routes::router(provider, ImagePreparer::new(2048, 1024), 10_000_000);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

async fn post_file(base: &str, path: &str, field: &str, bytes: &[u8]) -> (u16, String, Value) {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name("image.jpg")
        .mime_str("image/jpeg")
        .unwrap();
    let form = reqwest::multipart::Form::new().part(field.to_owned(), part);
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_no_key("a check response", &text);
    (
        status,
        content_type,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn fitroom_adapter(fake: &fitroom::FitroomFake) -> Arc<dyn Provider> {
    let settings = FitroomSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        tuning: fast_tuning(60, Duration::from_secs(60)),
    };
    Arc::new(Fitroom::new(settings).unwrap())
}

#[tokio::test]
async fn the_person_check_answers_with_fitroom_issues_and_is_paid_once_per_photo() {
    let fake = fitroom::FitroomFake::start().await;
    fake.set(|b| {
        b.model_verdict =
            serde_json::json!({"is_good": false, "error_code": "400003", "good_clothes_types": []})
    });
    let base = serve_routes(fitroom_adapter(&fake)).await;
    for _ in 0..2 {
        let (status, _, check) =
            post_file(&base, "/v1/checks/person", "person", &person().bytes).await;
        assert_eq!(status, 200, "{check}");
        assert_eq!(check["ok"], false);
        assert_eq!(check["source"], "provider");
        assert_eq!(check["issues"][0]["code"], "not_facing_forward");
        assert_eq!(check["issues"][0]["severity"], "error");
    }
    assert_eq!(
        fake.recorder.count(fitroom::CHECK_MODEL),
        1,
        "the same photo is checked once"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_garment_check_reports_the_kind() {
    let fake = fitroom::FitroomFake::start().await;
    fake.set(|b| {
        b.clothes_verdict = serde_json::json!({"clothes_type": "full", "is_clothes": true})
    });
    let base = serve_routes(fitroom_adapter(&fake)).await;
    let (status, _, check) =
        post_file(&base, "/v1/checks/garment", "garment", &garment().bytes).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(
        (
            check["ok"].as_bool(),
            check["kind"].as_str(),
            check["source"].as_str()
        ),
        (Some(true), Some("full"), Some("provider"))
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_provider_without_checks_answers_with_local_ones() {
    let fake = tryiton::TryItOnFake::start(tryiton::DEFAULT_STATUS_PATH).await;
    let settings = TryItOnSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        status_path: tryiton::DEFAULT_STATUS_PATH.into(),
        style: Default::default(),
        tuning: fast_tuning(60, Duration::from_secs(60)),
    };
    let base = serve_routes(Arc::new(TryItOn::new(settings).unwrap())).await;
    let (status, _, check) = post_file(&base, "/v1/checks/person", "person", &person().bytes).await;
    assert_eq!(
        (status, check["source"].as_str(), check["ok"].as_bool()),
        (200, Some("local"), Some(true)),
        "{check}"
    );
    assert_eq!(fake.recorder.count(tryiton::CREATE), 0);
}

#[tokio::test]
async fn intake_and_provider_errors_are_problems() {
    let fake = fitroom::FitroomFake::start().await;
    let base = serve_routes(fitroom_adapter(&fake)).await;
    let (status, content_type, problem) =
        post_file(&base, "/v1/checks/person", "garment", &person().bytes).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("missing_field")),
        "{problem}"
    );
    assert!(
        content_type.starts_with("application/problem+json"),
        "{content_type}"
    );
    let (status, _, problem) =
        post_file(&base, "/v1/checks/person", "person", b"not an image at all").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (415, Some("unsupported_type")),
        "{problem}"
    );
    fake.set(|b| b.out_of_credit = true);
    let (status, content_type, problem) =
        post_file(&base, "/v1/checks/garment", "garment", &garment().bytes).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("provider_out_of_credit")),
        "{problem}"
    );
    assert!(content_type.starts_with("application/problem+json"));
    assert_eq!(
        problem["detail"], "try-on is unavailable right now",
        "the shopper learns nothing about the account"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn fitinview_webhooks_are_verified_before_they_are_believed() {
    let fake = fitinview::FitInViewFake::start(Duration::from_secs(60)).await;
    let settings = FitInViewSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        webhook_secret: Some(SecretString::from(fitinview::WEBHOOK_SECRET)),
        public_url: Some("https://proxy.example".parse().unwrap()),
        tuning: fast_tuning(20, Duration::from_secs(60)),
    };
    let base = serve_routes(Arc::new(FitInView::new(settings).unwrap())).await;
    let http = reqwest::Client::new();
    let body = r#"{"event":"tryon.completed","job_id":"job_9","status":"succeeded","result_url":"https://x/r.png"}"#;
    let forged = http
        .post(format!("{base}{WEBHOOK_PATH}"))
        .header("x-fitinview-signature", "sha256=00")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let signature = {
        use hmac::Mac;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(fitinview::WEBHOOK_SECRET.as_bytes())
                .unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let signed = http
        .post(format!("{base}{WEBHOOK_PATH}"))
        .header("x-fitinview-signature", &signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        signed.status(),
        204,
        "an event for an unknown job is accepted and ignored"
    );

    let local = serve_routes(Arc::new(LocalProvider::new(Duration::from_millis(10)))).await;
    let refused = http
        .post(format!("{local}{WEBHOOK_PATH}"))
        .header("x-fitinview-signature", &signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
}

#[tokio::test]
async fn a_vendor_error_text_never_reaches_a_check_answer() {
    const VENDOR_WORDS: &str = "Upstream node gpu-7 rejected tensor 0xDEADBEEF for acct 4711";
    let fitroom = fitroom::FitroomFake::start().await;
    let vtryon = vtryon::VtryonFake::start().await;
    let vtryon_adapter: Arc<dyn Provider> = Arc::new(
        Vtryon::new(VtryonSettings {
            api_key: SecretString::from(KEY),
            base_url: vtryon.base_url().parse().unwrap(),
            tuning: fast_tuning(60, Duration::from_secs(60)),
            webhook_secret: None,
            checked_photo_kept_for: tryon_proxy::providers::VTRYON_CHECKED_PHOTO_KEPT_FOR,
        })
        .unwrap(),
    );
    let vendors: Vec<(&str, Arc<dyn Provider>, crate::util::FaultAtCreate<'_>)> = vec![
        (
            "fitroom",
            fitroom_adapter(&fitroom),
            Box::new(|fault| fitroom.fault(fitroom::CHECK_MODEL, fault)),
        ),
        (
            "vtryon",
            vtryon_adapter,
            Box::new(|fault| vtryon.fault(vtryon::VALIDATE, fault)),
        ),
    ];
    for (vendor, provider, fault) in vendors {
        let base = serve_routes(provider).await;
        for status in [422, 409] {
            fault(tryon_fakes::Fault::Saying(status, VENDOR_WORDS));
            let (answered, _, problem) =
                post_file(&base, "/v1/checks/person", "person", &person().bytes).await;
            assert!(answered >= 400, "{vendor} {status}: {answered} {problem}");
            let seen = problem.to_string();
            assert!(
                !seen.contains("gpu-7") && !seen.contains("DEADBEEF"),
                "{vendor} {status}: the vendor's words reached the check answer: {seen}"
            );
        }
    }
}
