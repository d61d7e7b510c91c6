//! Issue 13, "credits an attacker can spend": vendor calls that cost the merchant money count
//! against the daily quotas even when they are not try-ons (Fitroom's checks, 0.5 credit) or
//! end in a refusal the vendor still bills (FitInView's `content_blocked`), and a paid check is
//! never sent twice after its answer was lost. Real proxy on loopback, strict fakes upstream.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use secrecy::SecretString;
use serde_json::Value;
use tokio::net::TcpListener;
use tryon_proxy::app::{AppState, app};
use tryon_proxy::config::{Cli, Settings};
use tryon_proxy::providers::fitinview::FitInView;
use tryon_proxy::providers::fitroom::Fitroom;
use tryon_proxy::providers::{FitInViewSettings, FitroomSettings, Provider};
use tryon_proxy::shopify::signature::sign_app_proxy_params;
use tryon_proxy::shopify::{ShopifyConfig, mount};

use crate::util::{KEY, fast_tuning, garment};
use tryon_fakes::fitinview::FitInViewFake;
use tryon_fakes::fitroom::{CHECK_MODEL, FitroomFake};
use tryon_fakes::{Fake, Fault};

const SHOP: &str = "paid-calls.myshopify.com";
const SECRET: &str = "paid-calls-secret";
const PATIENCE: Duration = Duration::from_secs(15);

/// The proxy around `provider` with `args`, serving Shopify's App Proxy for [`SHOP`] too.
struct Proxy {
    base: String,
    http: reqwest::Client,
    shopify: ShopifyConfig,
}

impl Proxy {
    async fn start(provider: Arc<dyn Provider>, args: &[&str]) -> Self {
        let cli = Cli::try_parse_from(std::iter::once("tryon-proxy").chain(args.iter().copied()))
            .unwrap();
        let state = AppState::new(Settings::from_cli(cli).unwrap(), provider).unwrap();
        let shopify = ShopifyConfig::new(SECRET, [SHOP]).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let options = state.settings.serve.clone();
        let router = mount(app(state), Arc::new(shopify.clone()));
        tokio::spawn(async move {
            tryon_proxy::serving::serve(listener, router, options, std::future::pending()).await
        });
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        Self {
            base,
            http,
            shopify,
        }
    }

    /// `path` as Shopify's App Proxy relays it for [`SHOP`], signed now.
    fn relayed(&self, path: &str) -> String {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let params = [
            ("shop", SHOP),
            ("logged_in_customer_id", ""),
            ("path_prefix", "/apps/tryon"),
            ("timestamp", timestamp.as_str()),
        ];
        let signature = sign_app_proxy_params(&self.shopify, &params);
        format!(
            "{}/shopify{path}?shop={SHOP}&logged_in_customer_id=&path_prefix=%2Fapps%2Ftryon&timestamp={timestamp}&signature={signature}",
            self.base
        )
    }

    /// A person check of a photo in `colour` (each colour is a photo the vendor has not seen),
    /// from shopper `shopper` through the App Proxy.
    async fn check_person(&self, colour: u8, shopper: &str) -> (u16, Value) {
        let photo = tryon_fakes::jpeg(600, 900, [colour, 120, 100]);
        let form = reqwest::multipart::Form::new().part("person", jpeg_part(photo));
        let response = self
            .http
            .post(self.relayed("/v1/checks/person"))
            .header("X-Forwarded-For", shopper)
            .multipart(form)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// A create with a person photo in `colour`, from shopper `shopper` through the App Proxy.
    async fn create(&self, colour: u8, shopper: &str) -> (u16, Value) {
        let photo = tryon_fakes::jpeg(600, 900, [colour, 100, 120]);
        let form = reqwest::multipart::Form::new()
            .part("person", jpeg_part(photo))
            .part("garment", jpeg_part(garment().bytes.to_vec()))
            .text("category", "upper");
        let response = self
            .http
            .post(self.relayed("/v1/tryons"))
            .header("X-Forwarded-For", shopper)
            .multipart(form)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// Polls the task until it ends; its final view.
    async fn wait_end(&self, id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let response = self
                .http
                .get(format!("{}/v1/tryons/{id}", self.base))
                .send()
                .await
                .unwrap();
            let (_, view) = answer(response).await;
            if view["status"] == "succeeded" || view["status"] == "failed" {
                return view;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the try-on did not end: {view}"
            );
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
}

fn jpeg_part(bytes: Vec<u8>) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes)
        .file_name("photo.jpg")
        .mime_str("image/jpeg")
        .unwrap()
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {text:?}: {e}"));
    (status, json)
}

fn fitroom(fake: &FitroomFake) -> Arc<dyn Provider> {
    Arc::new(
        Fitroom::new(FitroomSettings {
            api_key: SecretString::from(KEY),
            base_url: fake.base_url().parse().unwrap(),
            tuning: fast_tuning(60, Duration::from_secs(60)),
        })
        .unwrap(),
    )
}

#[tokio::test]
async fn fitroom_checks_count_half_a_try_on_against_the_shop_quota_and_the_daily_budget() {
    let fake = FitroomFake::start().await;
    // One try-on a day for the shop: two half-credit checks spend it.
    let proxy = Proxy::start(fitroom(&fake), &["--shop-daily-quota", "1"]).await;
    for colour in [10, 20] {
        let (status, json) = proxy.check_person(colour, "198.51.100.1").await;
        assert_eq!(status, 200, "check {colour}: {json}");
    }
    let (status, json) = proxy.check_person(30, "198.51.100.2").await;
    assert_eq!(
        (status, json["code"].as_str()),
        (429, Some("quota_exhausted")),
        "{json}"
    );
    let (status, json) = proxy.create(40, "198.51.100.3").await;
    assert_eq!(
        (status, json["code"].as_str()),
        (429, Some("quota_exhausted")),
        "{json}"
    );
    assert_eq!(
        fake.recorder.count(CHECK_MODEL),
        2,
        "refused checks reach no vendor"
    );

    // The proxy-wide budget counts them the same way (checks on the plain route, no shop).
    let fake = FitroomFake::start().await;
    let proxy = Proxy::start(fitroom(&fake), &["--daily-budget", "1"]).await;
    let plain = |colour: u8| {
        let form = reqwest::multipart::Form::new().part(
            "person",
            jpeg_part(tryon_fakes::jpeg(600, 900, [colour, 1, 2])),
        );
        proxy
            .http
            .post(format!("{}/v1/checks/person", proxy.base))
            .multipart(form)
            .send()
    };
    for colour in [50, 60] {
        assert_eq!(plain(colour).await.unwrap().status(), 200);
    }
    let (status, json) = answer(plain(70).await.unwrap()).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (429, Some("quota_exhausted")),
        "{json}"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_fitroom_check_whose_answer_was_lost_is_not_sent_again_and_stays_counted() {
    let fake = FitroomFake::start().await;
    let proxy = Proxy::start(fitroom(&fake), &["--shop-daily-quota", "1"]).await;
    fake.recorder.fault(CHECK_MODEL, Fault::DropAfterReading);
    let (status, json) = proxy.check_person(10, "198.51.100.1").await;
    assert_eq!(
        fake.recorder.count(CHECK_MODEL),
        1,
        "a paid check was re-sent after its answer was lost: {status} {json}"
    );
    assert_eq!(status, 503, "{json}");
    // The vendor may have billed it: half of the shop's try-on is spent.
    let (status, json) = proxy.check_person(20, "198.51.100.1").await;
    assert_eq!(status, 200, "{json}");
    let (status, json) = proxy.check_person(30, "198.51.100.1").await;
    assert_eq!(
        (status, json["code"].as_str()),
        (429, Some("quota_exhausted")),
        "{json}"
    );
}

#[tokio::test]
async fn fitinview_content_blocked_is_billed_so_it_spends_the_shop_quota() {
    let fake = FitInViewFake::start(Duration::from_secs(60)).await;
    fake.set(|b| b.fail_with = Some(("generation_failed".into(), "content_blocked".into())));
    let provider = Arc::new(
        FitInView::new(FitInViewSettings {
            api_key: SecretString::from(KEY),
            base_url: fake.base_url().parse().unwrap(),
            webhook_secret: None,
            public_url: None,
            tuning: fast_tuning(20, Duration::from_secs(60)),
        })
        .unwrap(),
    );
    let proxy = Proxy::start(
        provider,
        &["--shop-daily-quota", "1", "--create-burst", "1"],
    )
    .await;
    let (status, created) = proxy.create(10, "198.51.100.1").await;
    assert_eq!(status, 202, "{created}");
    let view = proxy.wait_end(created["id"].as_str().unwrap()).await;
    assert_eq!(view["error"]["code"], "content_rejected", "{view}");
    // Another shopper of the shop: the shop's one try-on was spent on the blocked one.
    let (status, json) = proxy.create(20, "198.51.100.2").await;
    assert_eq!(
        (status, json["code"].as_str()),
        (429, Some("quota_exhausted")),
        "{json}"
    );
    // And the shopper who sent it has spent her try-on too.
    let (status, json) = proxy.create(30, "198.51.100.1").await;
    assert_eq!(
        (status, json["code"].as_str()),
        (429, Some("rate_limited")),
        "{json}"
    );
    assert_eq!(fake.jobs().len(), 1, "one job reached the vendor");
    fake.recorder.assert_clean();
}
