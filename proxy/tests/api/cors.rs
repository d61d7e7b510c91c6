//! CORS for storefronts on other origins (issue 5): only `--allowed-origins` get CORS answers
//! and preflights on the API, any other origin is refused with 403 `origin_not_allowed`, the
//! widget's files stay loadable from anywhere, and requests relayed by Shopify's App Proxy
//! (same origin as the shop, vouched for by their signature) are not subject to the list.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use reqwest::Method;
use reqwest::header::{HeaderMap, ORIGIN};
use serde_json::Value;
use tokio::net::TcpListener;
use tryon_proxy::app::{AppState, app};
use tryon_proxy::config::{Cli, Settings};
use tryon_proxy::providers::Provider;
use tryon_proxy::providers::local::LocalProvider;
use tryon_proxy::shopify::ShopifyConfig;
use tryon_proxy::shopify::signature::sign_app_proxy_params;

use crate::create::tempdir;
use crate::util::{LogCapture, SteppedProvider, TestServer, assert_problem, unique_form};

pub(crate) const STOREFRONT: &str = "https://www.shop.example";
pub(crate) const FOREIGN: &str = "https://evil.example";
const SHOP: &str = "shop-name.myshopify.com";
pub(crate) const SHOP_ORIGIN: &str = "https://shop-name.myshopify.com";
const SECRET: &str = "cors-test-secret";

/// The proxy allowing [`STOREFRONT`], serving a widget file, and with `shopify` if given.
async fn server(shopify: bool) -> TestServer {
    let provider = Arc::new(LocalProvider::new(std::time::Duration::from_millis(100)));
    server_with(provider, shopify, &[]).await
}

/// Like [`server`] around `provider`, with `extra` flags.
pub(crate) async fn server_with(
    provider: Arc<dyn Provider>,
    shopify: bool,
    extra: &[&str],
) -> TestServer {
    // One folder per server: tests run in parallel and `tempdir` empties the folder it names.
    static SERVERS: AtomicUsize = AtomicUsize::new(0);
    let assets = tempdir(&format!(
        "cors-assets-{}",
        SERVERS.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(assets.join("widget.js"), "/* loader */").unwrap();
    let assets = assets.to_str().unwrap();
    let args = [
        "--create-burst",
        "1000",
        "--allowed-origins",
        STOREFRONT,
        "--assets-dir",
        assets,
    ];
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().unwrap();
    let listen = addr.to_string();
    let cli = Cli::try_parse_from(
        ["tryon-proxy", "--listen", listen.as_str()]
            .into_iter()
            .chain(args)
            .chain(extra.iter().copied()),
    )
    .expect("flags parse");
    let settings = Settings::from_cli(cli).expect("test settings are valid");
    let base = format!("http://{addr}");
    let config = shopify.then(|| {
        Arc::new(
            ShopifyConfig::new(SECRET, [SHOP])
                .and_then(|config| config.with_public_url(&base))
                .expect("valid Shopify config"),
        )
    });
    let state = AppState::new(settings, provider)
        .expect("app state builds")
        .with_shopify(config);
    let router = app(state.clone());
    let serve_options = state.settings.serve.clone();
    tokio::spawn(async move {
        tryon_proxy::serving::serve(listener, router, serve_options, std::future::pending())
            .await
            .expect("test server runs")
    });
    TestServer {
        addr,
        base,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        state,
    }
}

async fn send(
    server: &TestServer,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, HeaderMap, String) {
    let mut request = server.client.request(method.clone(), server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map(|value| value.to_str().unwrap())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

fn varies_by_origin(headers: &HeaderMap) -> bool {
    headers
        .get_all("vary")
        .iter()
        .any(|value| value.to_str().unwrap().contains("Origin"))
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn a_listed_origin_gets_cors_headers_and_vary() {
    let server = server(false).await;
    let (status, headers, body) = send(
        &server,
        Method::GET,
        "/v1/config",
        &[("origin", STOREFRONT)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "access-control-allow-origin"), STOREFRONT);
    assert!(varies_by_origin(&headers), "{headers:?}");
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "nothing uses cookies"
    );

    let response = server
        .client
        .post(server.url("/v1/tryons"))
        .header(ORIGIN, STOREFRONT)
        .header("Idempotency-Key", "cors-create-1")
        .multipart(unique_form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let headers = response.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), STOREFRONT);
    assert!(
        header(headers, "access-control-expose-headers").contains("Location"),
        "{headers:?}"
    );
}

#[tokio::test]
async fn a_listed_origins_preflight_is_answered_with_the_widgets_headers() {
    let server = server(false).await;
    let (status, headers, body) = send(
        &server,
        Method::OPTIONS,
        "/v1/tryons",
        &[
            ("origin", STOREFRONT),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "idempotency-key,content-type",
            ),
        ],
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(header(&headers, "access-control-allow-origin"), STOREFRONT);
    assert!(header(&headers, "access-control-allow-methods").contains("POST"));
    assert!(header(&headers, "access-control-allow-methods").contains("DELETE"));
    let allowed = header(&headers, "access-control-allow-headers").to_ascii_lowercase();
    for needed in ["idempotency-key", "last-event-id", "content-type"] {
        assert!(allowed.contains(needed), "{needed} not in {allowed}");
    }
    assert!(varies_by_origin(&headers), "{headers:?}");

    let (status, headers, _) = send(
        &server,
        Method::OPTIONS,
        "/v1/tryons/some-id/events",
        &[
            ("origin", STOREFRONT),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "last-event-id"),
        ],
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(header(&headers, "access-control-allow-origin"), STOREFRONT);
}

#[tokio::test]
async fn an_unlisted_origin_gets_a_403_problem_on_the_api() {
    let server = server(false).await;
    for (method, path) in [
        (Method::GET, "/v1/config"),
        (Method::GET, "/v1/tryons/some-id"),
        (Method::DELETE, "/v1/tryons/some-id"),
    ] {
        let (status, response_headers, body) =
            send(&server, method.clone(), path, &[("origin", FOREIGN)]).await;
        assert_problem(status, &json(&body), 403, "origin_not_allowed");
        assert_eq!(
            header(&response_headers, "content-type"),
            "application/problem+json"
        );
        assert!(varies_by_origin(&response_headers));
    }

    let refused = server
        .client
        .post(server.url("/v1/tryons"))
        .header(ORIGIN, FOREIGN)
        .header("Idempotency-Key", "cors-foreign-1")
        .multipart(unique_form())
        .send()
        .await
        .unwrap();
    let status = refused.status().as_u16();
    assert_problem(
        status,
        &refused.json().await.unwrap(),
        403,
        "origin_not_allowed",
    );
}

/// Issue 13: the refused page must be able to read its refusal, or the widget takes it for a
/// network failure; and reading it must be all the page gets.
#[tokio::test]
async fn the_refusal_is_readable_by_the_refused_page_and_grants_nothing_else() {
    let provider = SteppedProvider::new();
    let server = server_with(provider.clone(), false, &[]).await;
    // What a browser checks before it lets the page read an answer.
    let readable_by_foreign = |headers: &HeaderMap| {
        assert_eq!(header(headers, "access-control-allow-origin"), FOREIGN);
        assert!(varies_by_origin(headers), "{headers:?}");
        for granted in [
            "access-control-allow-credentials",
            "access-control-expose-headers",
            "set-cookie",
        ] {
            assert!(headers.get(granted).is_none(), "{granted}: {headers:?}");
        }
    };

    let (status, headers, body) =
        send(&server, Method::GET, "/v1/config", &[("origin", FOREIGN)]).await;
    assert_problem(status, &json(&body), 403, "origin_not_allowed");
    readable_by_foreign(&headers);
    assert!(
        json(&body).get("limits").is_none() && !body.contains("provider\""),
        "the refusal reveals nothing of the configuration: {body}"
    );

    // The upload's preflight is answered, so the browser sends the upload and lets the widget
    // read its 403 instead of reporting a network error...
    let (status, headers, _) = send(
        &server,
        Method::OPTIONS,
        "/v1/tryons",
        &[
            ("origin", FOREIGN),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "idempotency-key"),
        ],
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(header(&headers, "access-control-allow-origin"), FOREIGN);
    assert!(headers.get("access-control-allow-credentials").is_none());

    // ...and the upload itself is refused before it reaches anything that counts or spends.
    for attempt in 0..3 {
        let refused = server
            .client
            .post(server.url("/v1/tryons"))
            .header(ORIGIN, FOREIGN)
            .header("Idempotency-Key", format!("cors-foreign-{attempt}"))
            .multipart(unique_form())
            .send()
            .await
            .unwrap();
        let status = refused.status().as_u16();
        readable_by_foreign(refused.headers());
        assert_problem(
            status,
            &refused.json().await.unwrap(),
            403,
            "origin_not_allowed",
        );
    }
    assert_eq!(provider.runs(), 0, "no try-on was run for the refused page");
    // The refused origin's attempts spent none of the listed storefront's allowance either.
    let created = server
        .client
        .post(server.url("/v1/tryons"))
        .header(ORIGIN, STOREFRONT)
        .header("Idempotency-Key", "cors-foreign-0")
        .multipart(unique_form())
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.status(),
        202,
        "the refused request's Idempotency-Key was never recorded"
    );
    assert_eq!(
        header(created.headers(), "access-control-allow-origin"),
        STOREFRONT
    );
}

#[tokio::test]
async fn same_origin_pages_need_no_listing() {
    let server = server(false).await;
    let own_origin = server.base.clone();
    let (status, headers, body) = send(
        &server,
        Method::GET,
        "/v1/config",
        &[("origin", &own_origin)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.get("access-control-allow-origin").is_none());
    let (status, _, body) = send(&server, Method::GET, "/v1/config", &[]).await;
    assert_eq!(status, 200, "no Origin at all: {body}");
}

#[tokio::test]
async fn the_widgets_files_stay_open_to_every_origin() {
    let server = server(false).await;
    // The same answer for every page, listed or not, so a CDN may cache it for all of them.
    for origin in [FOREIGN, STOREFRONT] {
        let (status, headers, body) =
            send(&server, Method::GET, "/widget.js", &[("origin", origin)]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            "*",
            "{origin}"
        );
        assert_eq!(body, "/* loader */");
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `path` under `/shopify` with the query Shopify's App Proxy appends, signed now.
pub(crate) fn signed(server: &TestServer, path: &str) -> String {
    signed_for_customer(server, path, "")
}

fn signed_for_customer(server: &TestServer, path: &str, customer: &str) -> String {
    let timestamp = now().to_string();
    let params = [
        ("shop", SHOP),
        ("logged_in_customer_id", customer),
        ("path_prefix", "/apps/tryon"),
        ("timestamp", timestamp.as_str()),
    ];
    let config = server.state.shopify.as_ref().expect("Shopify configured");
    let signature = sign_app_proxy_params(config, &params);
    server.url(&format!(
        "/shopify{path}?shop={SHOP}&logged_in_customer_id={customer}&path_prefix=%2Fapps%2Ftryon&timestamp={timestamp}&signature={signature}"
    ))
}

#[tokio::test]
async fn app_proxy_requests_are_not_subject_to_the_list_and_get_a_direct_stream() {
    let server = server(true).await;
    // Through the App Proxy the page is on the shop's origin, which is not on the list.
    let config = server
        .client
        .get(signed(&server, "/v1/config"))
        .header(ORIGIN, SHOP_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(config.status(), 200);

    let created = server
        .client
        .post(signed(&server, "/v1/tryons"))
        .header(ORIGIN, SHOP_ORIGIN)
        .header("Idempotency-Key", "cors-shopify-1")
        .multipart(unique_form())
        .send()
        .await
        .unwrap();
    let status = created.status().as_u16();
    let created: Value = created.json().await.unwrap();
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().expect("task id");
    let stream_url = created["stream"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("a relayed create offers a direct stream: {created}"));
    assert!(
        stream_url.starts_with(&server.url(&format!("/v1/tryons/{id}/events?stream_token="))),
        "{stream_url}"
    );
    assert!(created["stream"]["expires_at"].as_u64().unwrap() > now());

    // The direct stream is read from the shop's origin with CORS for that origin only.
    let events = server
        .client
        .get(stream_url)
        .header(ORIGIN, SHOP_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert_eq!(
        header(events.headers(), "access-control-allow-origin"),
        SHOP_ORIGIN
    );
    drop(events);
    let foreign = server
        .client
        .get(stream_url)
        .header(ORIGIN, FOREIGN)
        .send()
        .await
        .unwrap();
    let status = foreign.status().as_u16();
    assert_problem(
        status,
        &foreign.json().await.unwrap(),
        403,
        "origin_not_allowed",
    );

    // The same shop origin on the plain API, without a signature or token, is just unlisted.
    let (status, _, body) = send(
        &server,
        Method::GET,
        "/v1/config",
        &[("origin", SHOP_ORIGIN)],
    )
    .await;
    assert_problem(status, &json(&body), 403, "origin_not_allowed");

    // A create on the plain API offers no direct stream.
    let (status, plain) = server.create(unique_form(), None).await;
    assert_eq!(status, 202, "{plain}");
    assert!(plain.get("stream").is_none(), "{plain}");
}

#[tokio::test]
async fn request_logs_name_the_path_never_the_query() {
    let logs = LogCapture::global();
    let server = server(true).await;
    let customer = "9081726354";
    let response = server
        .client
        .get(signed_for_customer(&server, "/v1/config", customer))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stream = server
        .client
        .get(server.url("/v1/tryons/no-such-task/events?stream_token=not.a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 401);

    let lines: Vec<String> = logs.lines().iter().map(Value::to_string).collect();
    assert!(
        lines.iter().any(|line| line.contains("/shopify/v1/config")),
        "no log line names the request's path: {lines:#?}"
    );
    for secret in [customer, "signature=", "stream_token", "not.a-token"] {
        assert!(
            !lines.iter().any(|line| line.contains(secret)),
            "a log line carries `{secret}`: {lines:#?}"
        );
    }
}

#[tokio::test]
async fn a_rebound_host_is_not_same_origin_but_the_public_url_is() {
    let server = server(false).await;
    // DNS rebinding: the attacker's name resolves to the proxy, so the browser sends a `Host`
    // that matches the page's `Origin`.
    let head = format!(
        "GET /v1/config HTTP/1.1\r\nHost: rebind.evil.example:{port}\r\nOrigin: http://rebind.evil.example:{port}\r\nConnection: close\r\n\r\n",
        port = server.addr.port()
    );
    let response = crate::util::raw_exchange(server.addr, &head, b"").await;
    assert_eq!(response.status, 403, "{response:?}");
    assert_eq!(response.json()["code"], "origin_not_allowed");

    let public = server_with(
        Arc::new(LocalProvider::new(std::time::Duration::from_millis(100))),
        false,
        &["--public-url", "https://tryon.example.com"],
    )
    .await;
    let (status, headers, body) = send(
        &public,
        Method::GET,
        "/v1/config",
        &[("origin", "https://tryon.example.com")],
    )
    .await;
    assert_eq!(
        status, 200,
        "the public URL's pages are same-origin: {body}"
    );
    assert!(headers.get("access-control-allow-origin").is_none());
}
