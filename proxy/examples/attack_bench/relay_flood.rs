//! Shopify's App Proxy relays every shopper of a shop from a few addresses. One shopper floods
//! a shop's `/apps/…` path with empty creates (the relay signs them all) while twenty honest
//! shoppers, relayed from the same address, start their try-ons.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tryon_proxy::shopify::ShopifyConfig;
use tryon_proxy::shopify::signature::sign_app_proxy_params;

use crate::Report;
use crate::honest;
use crate::proxy::Proxy;

/// Shopify's relay, as the proxy's socket peer.
const RELAY: &str = "127.0.0.3";
const SHOP: &str = "attack-bench.myshopify.com";
const SECRET: &str = "attack-bench-secret";
const ATTACKING_SHOPPER: &str = "203.0.113.66";
const HONEST_SHOPPERS: u64 = 20;
const PARALLEL: usize = 8;
const MAX_FLOOD: usize = 5_000;
const LENGTH: Duration = Duration::from_secs(15);

pub async fn run() -> Report {
    let proxy = Proxy::start(&["--shopify-shops", SHOP], &[("SHOPIFY_API_SECRET", SECRET)]).await;
    let config = Arc::new(ShopifyConfig::new(SECRET, [SHOP]).expect("valid config"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss_mib = proxy.rss_mib();
    let relay = honest::fresh_connection_client(RELAY);
    let flooder = reqwest::Client::builder()
        .no_proxy()
        .local_address(RELAY.parse().ok())
        .build()
        .unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let started = Instant::now();
    let floods: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let (client, config, base) = (flooder.clone(), config.clone(), proxy.url(""));
            let (sent, statuses) = (sent.clone(), statuses.clone());
            tokio::spawn(async move {
                while started.elapsed() < LENGTH && sent.fetch_add(1, Ordering::SeqCst) < MAX_FLOOD {
                    let answer = client
                        .post(signed(&config, &base, "/v1/tryons"))
                        .header("X-Forwarded-For", ATTACKING_SHOPPER)
                        .header("content-type", "multipart/form-data; boundary=x")
                        .body("--x--\r\n")
                        .send()
                        .await;
                    let status = answer.map_or(0, |a| a.status().as_u16());
                    *statuses.lock().unwrap().entry(status).or_insert(0) += 1;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let honest = honest::measure(LENGTH - Duration::from_secs(1), Duration::from_millis(500), 202, |n| {
        let (client, url) = (relay.clone(), signed(&config, &proxy.url(""), "/v1/tryons"));
        let shopper = format!("198.51.100.{}", n % HONEST_SHOPPERS + 1);
        async move {
            client
                .post(url)
                .header("X-Forwarded-For", shopper)
                .multipart(honest::create_form(1000 + n))
                .send()
                .await
                .ok()
                .map(|a| a.status().as_u16())
        }
    })
    .await;
    for flood in floods {
        flood.await.unwrap();
    }
    let statuses = statuses.lock().unwrap();
    Report {
        idle_rss_mib,
        peak_rss_mib: proxy.peak_rss_mib(),
        honest,
        attack: format!(
            "{} empty creates from one shopper through the relay in {:.1} s, {PARALLEL} at once; \
             answers by status {:?}; honest: {HONEST_SHOPPERS} shoppers creating through the same relay",
            statuses.values().sum::<usize>(),
            started.elapsed().as_secs_f64(),
            *statuses
        ),
    }
}

/// `base` + `/shopify` + `path` with the query Shopify appends, signed now.
fn signed(config: &ShopifyConfig, base: &str, path: &str) -> String {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let params = [
        ("shop", SHOP),
        ("logged_in_customer_id", ""),
        ("path_prefix", "/apps/tryon"),
        ("timestamp", timestamp.as_str()),
    ];
    let signature = sign_app_proxy_params(config, &params);
    format!(
        "{base}/shopify{path}?shop={SHOP}&logged_in_customer_id=&path_prefix=%2Fapps%2Ftryon&timestamp={timestamp}&signature={signature}"
    )
}
