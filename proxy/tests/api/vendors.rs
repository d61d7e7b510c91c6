//! The check routes and failover through the v1 API with the vendors' strict fakes
//! (`tryon-fakes`) upstream, configured the way the binary configures them
//! (`TRYON_PROVIDER`, `TRYON_FAILOVER`, each vendor's variables), and the key-leak sweep over
//! every route.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use reqwest::multipart::Form;
use serde_json::Value;
use tryon_fakes::fitroom::FitroomFake;
use tryon_fakes::tryiton::TryItOnFake;
use tryon_fakes::{Fake, KEY, fitroom, jpeg, tryiton};
use tryon_proxy::config::{Cli, Settings};
use tryon_proxy::providers::{Provider, failover};

use crate::util::{LogCapture, TestServer, assert_problem, file_part};

/// The provider the binary would build for `args`, with the vendors' variables in `vars`
/// instead of the process environment.
fn configured(args: &[&str], vars: &[(&str, String)]) -> Arc<dyn Provider> {
    let cli = Cli::try_parse_from(std::iter::once("tryon-proxy").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("flags {args:?}: {e}"));
    let settings = Settings::from_cli(cli).expect("valid settings");
    let first = settings.provider.vendor().expect("a vendor provider");
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    failover::from_lookup(first, &settings.failover, |name| vars.get(name).cloned())
        .unwrap_or_else(|e| panic!("building {args:?}: {e}"))
}

fn fitroom_vars(fake: &FitroomFake) -> Vec<(&'static str, String)> {
    vec![
        ("FITROOM_API_KEY", KEY.to_owned()),
        ("FITROOM_BASE_URL", fake.base_url()),
    ]
}

async fn fitroom_proxy(args: &[&str]) -> (Arc<FitroomFake>, TestServer) {
    let fake = FitroomFake::start().await;
    let provider = configured(&["--provider", "fitroom"], &fitroom_vars(&fake));
    (fake, TestServer::start(provider, args).await)
}

/// A person photo of one colour: a different colour is a different photo to the cache (if
/// far enough apart to survive the proxy's JPEG re-encoding).
fn photo(colour: u8) -> Vec<u8> {
    jpeg(600, 900, [colour, 150, 130])
}

async fn check(server: &TestServer, route: &str, field: &str, bytes: Vec<u8>) -> (u16, Value) {
    let form = Form::new().part(field.to_owned(), file_part(bytes, "image.jpg"));
    let response = server
        .client
        .post(server.url(route))
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {route}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{route} answered {status} non-JSON {text:?}: {e}"));
    (status, json)
}

async fn check_person(server: &TestServer, bytes: Vec<u8>) -> (u16, Value) {
    check(server, "/v1/checks/person", "person", bytes).await
}

#[tokio::test]
async fn fitroom_judges_the_person_photo_once_per_photo() {
    let (fake, server) = fitroom_proxy(&[]).await;
    let (status, config) = server.get_json("/v1/config").await;
    assert_eq!(status, 200);
    assert_eq!(
        config["check_sources"],
        serde_json::json!({"person": "provider", "garment": "provider"})
    );

    let (status, good) = check_person(&server, photo(10)).await;
    assert_eq!(status, 200, "{good}");
    assert_eq!(
        (good["ok"].as_bool(), good["source"].as_str()),
        (Some(true), Some("provider")),
        "{good}"
    );
    assert_eq!(good["issues"], serde_json::json!([]));
    assert_eq!(
        good["garment_kinds"],
        serde_json::json!(["upper", "lower", "full"])
    );

    fake.set(|b| {
        b.model_verdict =
            serde_json::json!({"is_good": false, "error_code": "400002", "good_clothes_types": []})
    });
    let (_, two_people) = check_person(&server, photo(90)).await;
    assert_eq!(two_people["ok"], false, "{two_people}");
    assert_eq!(two_people["issues"][0]["code"], "multiple_people");
    assert_eq!(two_people["issues"][0]["severity"], "error");

    fake.set(|b| {
        b.model_verdict = serde_json::json!({"is_good": true, "error_code": "410001", "good_clothes_types": ["upper"]})
    });
    let (_, small) = check_person(&server, photo(170)).await;
    assert_eq!(
        small["ok"], true,
        "a warning lets the shopper go on: {small}"
    );
    assert_eq!(small["issues"][0]["code"], "person_slightly_small");
    assert_eq!(small["issues"][0]["severity"], "warning");
    assert_eq!(fake.recorder.count(fitroom::CHECK_MODEL), 3);

    let (_, again) = check_person(&server, photo(90)).await;
    assert_eq!(again, two_people, "the cached verdict, word for word");
    assert_eq!(
        fake.recorder.count(fitroom::CHECK_MODEL),
        3,
        "the same photo is never paid for twice"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn fitroom_names_the_garment_kind_once_per_image() {
    let (fake, server) = fitroom_proxy(&[]).await;
    fake.set(|b| {
        b.clothes_verdict = serde_json::json!({"clothes_type": "lower", "is_clothes": true})
    });
    let trousers = jpeg(400, 400, [30, 30, 90]);
    for _ in 0..2 {
        let (status, garment) =
            check(&server, "/v1/checks/garment", "garment", trousers.clone()).await;
        assert_eq!(status, 200, "{garment}");
        assert_eq!(
            garment,
            serde_json::json!({"ok": true, "kind": "lower", "source": "provider"})
        );
    }
    assert_eq!(fake.recorder.count(fitroom::CHECK_CLOTHES), 1);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_check_after_the_burst_is_refused_without_an_upstream_call() {
    let (fake, server) = fitroom_proxy(&["--check-burst", "3", "--check-period-s", "60"]).await;
    for colour in [60, 120, 180] {
        let (status, verdict) = check_person(&server, photo(colour)).await;
        assert_eq!(status, 200, "{verdict}");
    }
    let (status, problem) = check_person(&server, photo(240)).await;
    assert_problem(status, &problem, 429, "rate_limited");
    assert_eq!(
        fake.recorder.count(fitroom::CHECK_MODEL),
        3,
        "the refused check never reached Fitroom"
    );
    fake.recorder.assert_clean();
}

/// Creates a try-on and polls it to its end; the final view.
async fn try_on(server: &TestServer, colour: u8) -> Value {
    let form = Form::new()
        .part("person", file_part(photo(colour), "me.jpg"))
        .part(
            "garment",
            file_part(jpeg(400, 400, [200, 20, colour]), "shirt.jpg"),
        )
        .text("category", "upper")
        .text("quality", "fast");
    let (status, created) = server.create(form, None).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().expect("task id").to_owned();
    let view = server.wait_terminal(&id).await;
    serde_json::to_value(view).unwrap()
}

#[tokio::test]
async fn a_vendor_out_of_credit_sends_this_and_later_try_ons_to_the_next() {
    let first = FitroomFake::start().await;
    let second = TryItOnFake::start(tryiton::DEFAULT_STATUS_PATH).await;
    let mut vars = fitroom_vars(&first);
    vars.extend([
        ("TRYITON_API_KEY", KEY.to_owned()),
        ("TRYITON_BASE_URL", second.base_url()),
    ]);
    let provider = configured(&["--provider", "fitroom", "--failover", "tryiton"], &vars);
    let server = TestServer::start(provider, &[]).await;
    let (_, config) = server.get_json("/v1/config").await;
    assert_eq!(config["provider"], "fitroom");

    first.set(|b| b.out_of_credit = true);
    let moved = try_on(&server, 1).await;
    assert_eq!(
        moved["status"], "succeeded",
        "a 402 created nothing, so the same try-on moves on: {moved}"
    );
    let (_, config) = server.get_json("/v1/config").await;
    assert_eq!(config["provider"], "tryiton", "new try-ons go to the next");
    assert_eq!(
        config["check_sources"]["person"], "local",
        "TryItOn has no checks of its own"
    );
    let later = try_on(&server, 2).await;
    assert_eq!(later["status"], "succeeded", "{later}");
    assert_eq!(
        first.recorder.count(fitroom::CREATE),
        1,
        "Fitroom is not asked again while it cools down"
    );
    assert_eq!(second.recorder.count(tryiton::CREATE), 2);
    first.recorder.assert_clean();
    second.recorder.assert_clean();
}

/// Every header and the body of a response, for the leak check.
async fn seen(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let headers = format!("{:?}", response.headers());
    let body = String::from_utf8_lossy(&response.bytes().await.unwrap()).into_owned();
    (status, format!("{headers}\n{body}"))
}

fn assert_no_key(what: &str, text: &str) {
    assert!(
        !text.contains(KEY) && !text.contains("DISTINCTIVE_K3Y"),
        "the API key leaked into {what}: {text}"
    );
}

#[tokio::test]
async fn the_key_appears_in_no_response_and_no_log_line_on_any_route() {
    let logs = LogCapture::global();
    let (fake, server) = fitroom_proxy(&[]).await;
    let http = &server.client;
    let mut answers = Vec::new();

    for path in [
        "/v1/config",
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/openapi.json",
    ] {
        answers.push((path.to_owned(), seen(server.get(path).await).await));
    }
    for (route, field) in [
        ("/v1/checks/person", "person"),
        ("/v1/checks/garment", "garment"),
    ] {
        let form = || Form::new().part(field, file_part(photo(200), "image.jpg"));
        let ok = http.post(server.url(route)).multipart(form()).send();
        answers.push((route.to_owned(), seen(ok.await.unwrap()).await));
        // A refused key, then no credit: the merchant's problems, logged loudly.
        for status in [401, 402] {
            let endpoint = if field == "person" {
                fitroom::CHECK_MODEL
            } else {
                fitroom::CHECK_CLOTHES
            };
            fake.fault(endpoint, tryon_fakes::Fault::Status(status, None));
            let form = Form::new().part(field, file_part(photo(status as u8), "image.jpg"));
            let refused = http.post(server.url(route)).multipart(form).send();
            let (code, text) = seen(refused.await.unwrap()).await;
            assert_eq!(code, 503, "{route} with a vendor {status}: {text}");
            answers.push((format!("{route} ({status})"), (code, text)));
        }
    }
    let webhook = http
        .post(server.url("/v1/webhooks/fitinview"))
        .header("x-fitinview-signature", "sha256=00")
        .body("{}")
        .send();
    answers.push(("webhook".into(), seen(webhook.await.unwrap()).await));

    fake.fault(fitroom::CREATE, tryon_fakes::Fault::Status(401, None));
    let failed = try_on(&server, 40).await;
    assert_eq!(failed["error"]["code"], "provider_auth", "{failed}");
    let succeeded = try_on(&server, 41).await;
    assert_eq!(succeeded["status"], "succeeded", "{succeeded}");
    for view in [&failed, &succeeded] {
        let id = view["id"].as_str().unwrap();
        for path in [
            format!("/v1/tryons/{id}"),
            format!("/v1/tryons/{id}/events"),
            format!("/v1/tryons/{id}/result"),
        ] {
            answers.push((path.clone(), seen(server.get(&path).await).await));
        }
        let deleted = http.delete(server.url(&format!("/v1/tryons/{id}"))).send();
        answers.push(("delete".into(), seen(deleted.await.unwrap()).await));
    }

    for (what, (_, text)) in &answers {
        assert_no_key(what, text);
    }
    let lines = logs.lines();
    assert!(
        lines
            .iter()
            .any(|line| line.to_string().contains("/v1/checks/person")),
        "the check requests were logged"
    );
    for line in &lines {
        assert_no_key("a log line", &line.to_string());
    }
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn webhooks_reach_fitinview_behind_another_provider_in_the_failover_list() {
    let first = FitroomFake::start().await;
    let second = tryon_fakes::fitinview::FitInViewFake::start(Duration::from_secs(60)).await;
    let mut vars = fitroom_vars(&first);
    vars.extend([
        ("FITINVIEW_API_KEY", KEY.to_owned()),
        ("FITINVIEW_BASE_URL", second.base_url()),
        (
            "FITINVIEW_WEBHOOK_SECRET",
            tryon_fakes::fitinview::WEBHOOK_SECRET.to_owned(),
        ),
        ("TRYON_PUBLIC_URL", "https://proxy.example".to_owned()),
    ]);
    let provider = configured(&["--provider", "fitroom", "--failover", "fitinview"], &vars);
    let server = TestServer::start(provider, &[]).await;
    let body = r#"{"event":"tryon.completed","job_id":"job_unknown","status":"succeeded","result_url":"https://x/r.png"}"#;
    let signature = {
        use hmac::Mac;
        let secret = tryon_fakes::fitinview::WEBHOOK_SECRET.as_bytes();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    for (signature, expected) in [("sha256=00".to_owned(), 401), (signature, 204)] {
        let response = server
            .client
            .post(server.url("/v1/webhooks/fitinview"))
            .header("x-fitinview-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected);
    }
    assert_eq!(
        first.recorder.calls_total() + second.recorder.calls_total(),
        0,
        "a webhook makes no vendor call"
    );
}

/// Every vendor's variables, pointing at a closed port: `/v1/config` never calls upstream.
fn all_vendor_vars() -> Vec<(&'static str, String)> {
    ["FITROOM", "TRYITON", "VTRYON", "FITINVIEW"]
        .into_iter()
        .flat_map(|vendor| {
            let key: &'static str = format!("{vendor}_API_KEY").leak();
            let url: &'static str = format!("{vendor}_BASE_URL").leak();
            [
                (key, format!("fiv_live_{}", KEY)),
                (url, "http://127.0.0.1:9/".to_owned()),
            ]
        })
        .collect()
}

#[tokio::test]
async fn config_publishes_the_sizes_each_provider_processes() {
    // (flags, person and garment long edge): each vendor's document, the most demanding
    // provider of a failover list, and the operator's limits capping them (the garment's
    // default limit, 1024, is below TryItOn's 1296).
    let cases: [(&[&str], u32, u32); 9] = [
        (&["--provider", "fitroom"], 2048, 1024),
        (&["--provider", "tryiton"], 1296, 1024),
        (&["--provider", "vtryon"], 2048, 1024),
        (&["--provider", "fitinview"], 2048, 1024),
        (
            &["--provider", "tryiton", "--failover", "fitroom"],
            2048,
            1024,
        ),
        (
            &["--provider", "fitroom", "--failover", "tryiton"],
            2048,
            1024,
        ),
        (
            &["--provider", "fitroom", "--person-max-edge", "1600"],
            1600,
            1024,
        ),
        (
            &["--provider", "tryiton", "--garment-max-edge", "2048"],
            1296,
            1296,
        ),
        (
            &["--provider", "tryiton", "--garment-max-edge", "800"],
            1296,
            800,
        ),
    ];
    let vars = all_vendor_vars();
    for (flags, person, garment) in cases {
        let server = TestServer::start(configured(flags, &vars), flags).await;
        let (status, config) = server.get_json("/v1/config").await;
        assert_eq!(status, 200, "{flags:?}: {config}");
        let limits = &config["limits"];
        assert_eq!(
            (
                limits["person_max_edge"].as_u64(),
                limits["garment_max_edge"].as_u64()
            ),
            (Some(u64::from(person)), Some(u64::from(garment))),
            "{flags:?}"
        );
    }
    let local = TestServer::with_local(0, &[]).await;
    let (_, config) = local.get_json("/v1/config").await;
    assert_eq!(config["limits"]["person_max_edge"], 2048, "local: {config}");
    assert_eq!(
        config["limits"]["garment_max_edge"], 1024,
        "local: {config}"
    );
}
