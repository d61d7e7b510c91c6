//! The real v1 routes behind the Shopify surface ([`tryon_proxy::shopify::mount`]), served on a
//! loopback port: requests signed the way Shopify's App Proxy signs them get the same answers
//! as the plain routes, a whole try-on can be created and followed by polling through
//! `/shopify/…` (the App Proxy may not pass event streams through), and the direct stream link
//! opens the task's events on the plain route with CORS for the shop's origin only.

#[path = "util/mod.rs"]
#[allow(dead_code)] // the shared helpers serve several test binaries; this one uses a few
mod util;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE, ORIGIN};
use serde_json::Value;
use tokio::net::TcpListener;
use tryon_proxy::app::{AppState, app};
use tryon_proxy::config::{Cli, Settings};
use tryon_proxy::providers::local::LocalProvider;
use tryon_proxy::shopify::signature::sign_app_proxy_params;
use tryon_proxy::shopify::{AppProxyRequest, ShopifyConfig, VerifiedAppProxy, mount};
use tryon_proxy::wire::TaskStatus;
use util::{PATIENCE, assert_problem, figure_photo, file_part, shirt_photo, unique_form};

const SHOP: &str = "shop-name.myshopify.com";
const SHOP_ORIGIN: &str = "https://shop-name.myshopify.com";

/// The proxy with the local compositor and the Shopify surface, on 127.0.0.1.
struct ShopifyServer {
    base: String,
    client: reqwest::Client,
    config: Arc<ShopifyConfig>,
}

impl ShopifyServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config = Arc::new(
            ShopifyConfig::new("app-secret", [SHOP])
                .and_then(|config| config.with_public_url(&base))
                .expect("valid Shopify config"),
        );
        let cli =
            Cli::try_parse_from(["tryon-proxy", "--create-burst", "1000"]).expect("flags parse");
        let settings = Settings::from_cli(cli).expect("test settings are valid");
        let provider = Arc::new(LocalProvider::new(std::time::Duration::from_millis(200)));
        let state = AppState::new(settings, provider).expect("app state builds");
        let serve_options = state.settings.serve.clone();
        let router = mount(app(state), config.clone());
        tokio::spawn(async move {
            tryon_proxy::serving::serve(listener, router, serve_options, std::future::pending())
                .await
                .expect("test server runs")
        });
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Self {
            base,
            client,
            config,
        }
    }

    /// `path` with the query Shopify's App Proxy appends, signed now.
    fn signed(&self, path: &str) -> String {
        let timestamp = now().to_string();
        let params = [
            ("shop", SHOP),
            ("logged_in_customer_id", ""),
            ("path_prefix", "/apps/tryon"),
            ("timestamp", timestamp.as_str()),
        ];
        let signature = sign_app_proxy_params(&self.config, &params);
        format!(
            "{}/shopify{path}?shop={SHOP}&logged_in_customer_id=&path_prefix=%2Fapps%2Ftryon&timestamp={timestamp}&signature={signature}",
            self.base
        )
    }

    async fn get_json(&self, url: &str) -> (u16, Value) {
        let response = self
            .client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        json_of(response).await
    }
}

/// A standing figure and a shirt: what the local compositor turns into a real result.
fn figure_form() -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .part("person", file_part(figure_photo(), "person.jpg"))
        .part("garment", file_part(shirt_photo(), "garment.png"))
        .text("category", "upper")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} non-JSON {text:?}: {e}"));
    (status, json)
}

#[tokio::test]
async fn signed_requests_get_the_same_answers_as_the_plain_routes() {
    let server = ShopifyServer::start().await;
    let (status, through_shopify) = server.get_json(&server.signed("/v1/config")).await;
    assert_eq!(status, 200, "{through_shopify}");
    let (_, plain) = server.get_json(&format!("{}/v1/config", server.base)).await;
    assert_eq!(through_shopify, plain);
}

#[tokio::test]
async fn unsigned_or_stale_requests_under_shopify_are_refused() {
    let server = ShopifyServer::start().await;
    let (status, json) = server
        .get_json(&format!("{}/shopify/v1/config", server.base))
        .await;
    assert_problem(status, &json, 401, "unauthorized");

    let response = server
        .client
        .post(format!("{}/shopify/v1/tryons", server.base))
        .multipart(unique_form())
        .send()
        .await
        .unwrap();
    let (status, json) = json_of(response).await;
    assert_problem(status, &json, 401, "unauthorized");

    let stale = server
        .signed("/v1/config")
        .replace(&format!("timestamp={}", now()), "timestamp=1317327555");
    let (status, json) = server.get_json(&stale).await;
    assert_problem(status, &json, 401, "unauthorized");
}

#[tokio::test]
async fn a_try_on_completes_through_the_app_proxy_by_polling() {
    let server = ShopifyServer::start().await;
    let response = server
        .client
        .post(server.signed("/v1/tryons"))
        .header("cookie", "_shopify_y=ignored")
        .multipart(figure_form())
        .send()
        .await
        .unwrap();
    let (status, created) = json_of(response).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().expect("task id").to_owned();

    let deadline = tokio::time::Instant::now() + PATIENCE;
    let view = loop {
        let (status, view) = server
            .get_json(&server.signed(&format!("/v1/tryons/{id}")))
            .await;
        assert_eq!(status, 200, "{view}");
        if view["status"] == "succeeded" || view["status"] == "failed" {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task did not finish: {view}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        view["status"],
        serde_json::to_value(TaskStatus::Succeeded).unwrap(),
        "{view}"
    );

    let result = server
        .client
        .get(server.signed(&format!("/v1/tryons/{id}/result")))
        .send()
        .await
        .unwrap();
    assert_eq!(result.status(), 200);
    assert_eq!(
        result.headers()[CONTENT_TYPE],
        view["result"]["content_type"].as_str().unwrap()
    );
    assert!(!result.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_direct_stream_link_opens_the_events_for_the_shops_origin_only() {
    let server = ShopifyServer::start().await;
    let (status, created) = json_of(
        server
            .client
            .post(server.signed("/v1/tryons"))
            .multipart(figure_form())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap();
    let request = AppProxyRequest {
        proxy: VerifiedAppProxy {
            shop: SHOP.into(),
            logged_in_customer_id: None,
            path_prefix: Some("/apps/tryon".into()),
        },
        storefront_origin: None,
    };
    let stream = server
        .config
        .direct_stream(id, &request, now())
        .expect("a public URL is configured");
    assert!(
        stream.url.starts_with(&format!(
            "{}/v1/tryons/{id}/events?stream_token=",
            server.base
        )),
        "{}",
        stream.url
    );

    let events = server
        .client
        .get(&stream.url)
        .header(ORIGIN, SHOP_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], SHOP_ORIGIN);
    assert!(
        events.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = tokio::time::timeout(PATIENCE, events.text())
        .await
        .expect("the stream ends after the task")
        .unwrap();
    assert!(body.contains("event: status"), "{body}");
    assert!(
        body.contains("\"succeeded\""),
        "the stream ran to the end: {body}"
    );

    let foreign = server
        .client
        .get(&stream.url)
        .header(ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    let (status, json) = json_of(foreign).await;
    assert_problem(status, &json, 403, "origin_not_allowed");

    let other_task = stream.url.replace(id, "not-this-task");
    let (status, json) = server.get_json(&other_task).await;
    assert_problem(status, &json, 401, "unauthorized");
}
