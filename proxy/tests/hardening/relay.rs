//! Issue 13: shoppers behind Shopify's App Proxy all reach the proxy from a few Shopify
//! addresses. A request whose App Proxy signature verified is limited per shopper (the address
//! Shopify appended to `X-Forwarded-For`) within its shop; an unsigned request's
//! `X-Forwarded-For` still counts for nothing. The relay is a client bound to its own loopback
//! address, so every request below comes from one peer, as through Shopify.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde_json::Value;
use tokio::net::TcpListener;
use tryon_proxy::app::{AppState, app};
use tryon_proxy::config::{Cli, Settings};
use tryon_proxy::shopify::signature::sign_app_proxy_params;
use tryon_proxy::shopify::{ShopifyConfig, mount};

use crate::support::{RecordingProvider, assert_problem, numbered_jpeg, png};

const SHOPS: [&str; 2] = ["first.myshopify.com", "second.myshopify.com"];
const SECRET: &str = "relay-secret";
/// Shopify's relay as the socket peer.
const RELAY: &str = "127.0.0.3";

struct Relayed {
    addr: SocketAddr,
    relay: reqwest::Client,
    config: ShopifyConfig,
    provider: Arc<RecordingProvider>,
}

impl Relayed {
    async fn start(args: &[&str]) -> Self {
        let cli = Cli::try_parse_from(std::iter::once("tryon-proxy").chain(args.iter().copied()))
            .unwrap();
        let provider = Arc::new(RecordingProvider::default());
        let state = AppState::new(Settings::from_cli(cli).unwrap(), provider.clone()).unwrap();
        let config = ShopifyConfig::new(SECRET, SHOPS).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = state.settings.serve.clone();
        let router = mount(app(state), Arc::new(config.clone()));
        tokio::spawn(tryon_proxy::serving::serve(
            listener,
            router,
            options,
            std::future::pending(),
        ));
        let relay = reqwest::Client::builder()
            .no_proxy()
            .local_address(RELAY.parse::<IpAddr>().ok())
            .build()
            .unwrap();
        Self {
            addr,
            relay,
            config,
            provider,
        }
    }

    /// `path` under `/shopify` with the query Shopify signs for `shop`.
    fn signed(&self, shop: &str, path: &str) -> String {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let params = [
            ("shop", shop),
            ("logged_in_customer_id", ""),
            ("path_prefix", "/apps/tryon"),
            ("timestamp", timestamp.as_str()),
        ];
        let signature = sign_app_proxy_params(&self.config, &params);
        format!(
            "http://{}/shopify{path}?shop={shop}&logged_in_customer_id=&path_prefix=%2Fapps%2Ftryon&timestamp={timestamp}&signature={signature}",
            self.addr
        )
    }

    /// A create of photo `n` sent to `url` with `X-Forwarded-For: forwarded`.
    async fn create(&self, url: String, n: u32, forwarded: &str) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .part("person", file(numbered_jpeg(n)))
            .part("garment", file(png(40, 40)))
            .text("category", "upper");
        let response = self
            .relay
            .post(url)
            .header("X-Forwarded-For", forwarded)
            .multipart(form)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// A create relayed for `shop` from the shopper at `shopper`.
    async fn relayed_create(&self, shop: &str, n: u32, shopper: &str) -> (u16, Value) {
        self.create(self.signed(shop, "/v1/tryons"), n, shopper)
            .await
    }

    /// `GET /v1/config` relayed for `shop`, as the widget asks it when the dialog opens.
    async fn relayed_config(&self, shop: &str) -> (u16, Value) {
        let response = self
            .relay
            .get(self.signed(shop, "/v1/config"))
            .header("X-Forwarded-For", "198.51.100.9")
            .send()
            .await
            .unwrap();
        answer(response).await
    }
}

fn file(bytes: Vec<u8>) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name("file")
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {text:?}: {e}"));
    (status, json)
}

/// With the default limits (a burst of 3 per client).
#[tokio::test]
async fn twenty_shoppers_relayed_from_one_address_all_get_their_try_ons() {
    let server = Relayed::start(&[]).await;
    for n in 0..20 {
        // What a shopper writes on the left is hers to invent; Shopify appends the truth.
        let chain = format!("6.6.6.6, 198.51.100.{}", n + 1);
        let (status, json) = server.relayed_create(SHOPS[0], n, &chain).await;
        assert_eq!(status, 202, "shopper {n}: {json}");
    }
    server.provider.wait_jobs(20).await;
    // One shopper past the burst, whatever she forges.
    let mut statuses = Vec::new();
    for n in 20..24 {
        let chain = format!("6.6.6.{n}, 198.51.100.1");
        statuses.push(server.relayed_create(SHOPS[0], n, &chain).await);
    }
    let codes: Vec<u16> = statuses.iter().map(|(status, _)| *status).collect();
    assert_eq!(
        codes,
        [202, 202, 429, 429],
        "shopper 1 had one create already"
    );
    assert_problem(statuses[2].0, &statuses[2].1, 429, "rate_limited");
    // The same address in another shop is another shopper.
    let (status, json) = server.relayed_create(SHOPS[1], 30, "198.51.100.1").await;
    assert_eq!(status, 202, "{json}");
}

#[tokio::test]
async fn an_unsigned_requests_forwarded_for_is_still_ignored() {
    let server = Relayed::start(&[]).await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        let plain = format!("http://{}/v1/tryons", server.addr);
        let spoofed = format!("198.51.100.{}", n + 1);
        statuses.push(server.create(plain, n, &spoofed).await.0);
    }
    assert_eq!(statuses, [202, 202, 202, 429, 429], "all are the peer's");
    // Under /shopify without a signature nothing is created at all.
    let unsigned = format!("http://{}/shopify/v1/tryons", server.addr);
    let (status, json) = server.create(unsigned, 9, "198.51.100.77").await;
    assert_problem(status, &json, 401, "unauthorized");
}

#[tokio::test]
async fn a_relayed_request_without_a_readable_shopper_counts_as_the_relays() {
    let server = Relayed::start(&[]).await;
    let mut statuses = Vec::new();
    for (n, forwarded) in ["", "not-an-address", "unknown", "", "junk"]
        .iter()
        .enumerate()
    {
        let url = server.signed(SHOPS[0], "/v1/tryons");
        statuses.push(server.create(url, n as u32, forwarded).await.0);
    }
    assert_eq!(
        statuses,
        [202, 202, 202, 429, 429],
        "one bucket: the relay's"
    );
}

#[tokio::test]
async fn each_shop_has_its_own_quota_through_the_relay() {
    let server = Relayed::start(&["--shop-daily-quota", "2"]).await;
    for n in 0..2 {
        let (status, json) = server.relayed_config(SHOPS[0]).await;
        assert_eq!(status, 200, "the shop's quota is not spent yet: {json}");
        let shopper = format!("198.51.100.{}", n + 1);
        let (status, json) = server.relayed_create(SHOPS[0], n, &shopper).await;
        assert_eq!(status, 202, "{json}");
    }
    // Issue 13: said when the dialog opens, before a shopper uploads her photo.
    let (status, json) = server.relayed_config(SHOPS[0]).await;
    assert_problem(status, &json, 429, "quota_exhausted");
    let (status, json) = server.relayed_create(SHOPS[0], 5, "198.51.100.9").await;
    assert_problem(status, &json, 429, "quota_exhausted");
    let (status, json) = server.relayed_config(SHOPS[1]).await;
    assert_eq!(status, 200, "the other shop's dialog opens: {json}");
    let (status, json) = server.relayed_create(SHOPS[1], 6, "198.51.100.9").await;
    assert_eq!(status, 202, "the other shop's budget is untouched: {json}");
}

#[tokio::test]
async fn relayed_shoppers_have_check_buckets_of_their_own() {
    let server = Relayed::start(&["--check-burst", "1", "--check-period-s", "60"]).await;
    for n in 0..5 {
        let form = reqwest::multipart::Form::new().part("person", file(numbered_jpeg(n)));
        let response = server
            .relay
            .post(server.signed(SHOPS[0], "/v1/checks/person"))
            .header("X-Forwarded-For", format!("198.51.100.{}", n + 1))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let (status, json) = answer(response).await;
        assert_eq!(status, 200, "shopper {n}: {json}");
    }
    assert_eq!(server.provider.checks(), 5);
}

/// Photo uploads (`POST /v1/photos`, burst 5) are keyed like creates: eight shoppers relayed
/// from one address each keep their own bucket, while one shopper past the burst gets 429.
#[tokio::test]
async fn relayed_shoppers_have_photo_buckets_of_their_own() {
    let relayed = Relayed::start(&[]).await;
    let upload = |n: u32, shopper: &'static str| {
        let form = reqwest::multipart::Form::new().part("person", file(numbered_jpeg(n)));
        relayed
            .relay
            .post(relayed.signed(SHOPS[0], "/v1/photos"))
            .header("X-Forwarded-For", shopper)
            .multipart(form)
            .send()
    };
    const SHOPPERS: [&str; 8] = [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "198.51.100.4",
        "198.51.100.5",
        "198.51.100.6",
        "198.51.100.7",
        "198.51.100.8",
    ];
    for (n, shopper) in SHOPPERS.into_iter().enumerate() {
        let (status, json) = answer(upload(n as u32, shopper).await.unwrap()).await;
        assert_eq!(status, 201, "shopper {shopper}: {json}");
    }
    let mut statuses = Vec::new();
    for n in 0..6 {
        let (status, json) = answer(upload(100 + n, "203.0.113.9").await.unwrap()).await;
        if status == 429 {
            assert_problem(status, &json, 429, "rate_limited");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [201, 201, 201, 201, 201, 429],
        "one shopper past the burst of 5"
    );
}
