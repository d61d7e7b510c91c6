//! The SSRF table and real fetches against a TLS server on 127.0.0.1.
//!
//! The allowed case is fetched for real, over HTTPS: the test server has a self-signed
//! certificate (rcgen) that only these tests' fetcher trusts, and the static resolver maps its
//! name to 127.0.0.1. Loopback is forbidden for real fetches, so the tests exempt exactly that
//! address through a field that exists only in test builds; the https-only rule stays on.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::*;

const HOST: &str = "garments.test";
const SHIRT: &[u8] = b"\x89PNG\r\n\x1a\n-pretend-shirt-bytes";

/// A TLS garment server: which paths exist, and how many requests it has seen.
struct GarmentServer {
    port: u16,
    certificate: reqwest::Certificate,
    hits: Arc<AtomicUsize>,
}

impl GarmentServer {
    async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let router = Router::new()
            .route("/shirt.png", get(|| async { SHIRT }))
            .route(
                "/moved.png",
                get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/shirt.png")]) }),
            )
            .route("/missing.png", get(|| async { StatusCode::NOT_FOUND }))
            .route("/declared-huge.png", get(|| async { vec![0u8; 5000] }))
            .route("/streamed-huge.png", get(|| async { streamed(64, 1024) }))
            .route(
                "/slow.png",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    SHIRT
                }),
            )
            .layer(axum::middleware::from_fn(
                move |req, next: axum::middleware::Next| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async move { next.run(req).await }
                },
            ));
        let key = rcgen::generate_simple_self_signed(vec![HOST.to_owned()])
            .expect("self-signed certificate");
        let cert_der = key.cert.der().clone();
        let private =
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert_der.clone()], private)
            .expect("server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind test server");
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            // Ends with the test's runtime.
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = TowerToHyperService::new(router);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        let certificate =
            reqwest::Certificate::from_der(&cert_der).expect("certificate for the client");
        Self {
            port,
            certificate,
            hits,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{HOST}:{}/{path}", self.port)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// A fetcher allowed to reach this server, whose name resolves to `ips`.
    fn fetcher(&self, ips: Vec<IpAddr>, exempt_loopback: bool) -> GarmentFetcher {
        let options = FetchOptions {
            prefixes: vec![format!("https://{HOST}:{}/", self.port)],
            max_bytes: 1000,
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_millis(800),
            cache_bytes: 10_000,
            extra_roots: vec![self.certificate.clone()],
        };
        let resolver = Arc::new(StaticResolver::new([(HOST, ips)]));
        let mut fetcher = GarmentFetcher::new(options, resolver).expect("fetcher");
        if exempt_loopback {
            fetcher.exempt_for_tests = vec![IpAddr::from([127, 0, 0, 1])];
        }
        fetcher
    }
}

fn streamed(chunks: usize, chunk_len: usize) -> Response {
    let stream = futures::stream::iter(
        (0..chunks).map(move |_| Ok::<_, std::io::Error>(vec![0u8; chunk_len])),
    );
    Body::from_stream(stream).into_response()
}

fn loopback() -> Vec<IpAddr> {
    vec![IpAddr::from([127, 0, 0, 1])]
}

#[tokio::test]
async fn an_allowed_url_is_fetched_over_tls_once_and_then_served_from_the_cache() {
    let server = GarmentServer::start().await;
    let fetcher = server.fetcher(loopback(), true);
    for _ in 0..3 {
        let bytes = fetcher
            .fetch(&server.url("shirt.png"))
            .await
            .expect("allowed fetch");
        assert_eq!(&bytes[..], SHIRT);
    }
    assert_eq!(
        server.hits(),
        1,
        "the cache should answer after the first download"
    );
}

#[tokio::test]
async fn concurrent_first_requests_for_one_url_download_it_once() {
    let server = GarmentServer::start().await;
    let fetcher = Arc::new(server.fetcher(loopback(), true));
    let url = server.url("shirt.png");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (fetcher, url) = (fetcher.clone(), url.clone());
            tokio::spawn(async move { fetcher.fetch(&url).await.map(|b| b.len()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().expect("fetch"), SHIRT.len());
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn cancelled_fetches_leave_no_entry_in_the_in_flight_map() {
    let server = GarmentServer::start().await;
    let fetcher = Arc::new(server.fetcher(loopback(), true));
    // Unique URLs, each dropped while the server is still sleeping on it: the attack that
    // used to leave one map entry per URL for ever.
    for n in 0..20 {
        let url = server.url(&format!("slow.png?n={n}"));
        let cancelled = tokio::time::timeout(Duration::from_millis(50), fetcher.fetch(&url)).await;
        assert!(cancelled.is_err(), "the slow fetch should still be running");
    }
    assert_eq!(fetcher.in_flight_len(), 0);

    // Several waiters on one URL: the first going away keeps the entry for the others, and
    // the last one leaving removes it.
    let url = server.url("slow.png?shared");
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let (fetcher, url) = (fetcher.clone(), url.clone());
            tokio::spawn(async move { fetcher.fetch(&url).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fetcher.in_flight_len(), 1);
    waiters[0].abort();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(fetcher.in_flight_len(), 1, "two callers still wait on it");
    for waiter in &waiters {
        waiter.abort();
    }
    for waiter in waiters {
        let _ = waiter.await;
    }
    assert_eq!(fetcher.in_flight_len(), 0);
}

#[tokio::test]
async fn a_host_resolving_to_loopback_is_refused_before_connecting() {
    let server = GarmentServer::start().await;
    let fetcher = server.fetcher(loopback(), false);
    let err = fetcher
        .fetch(&server.url("shirt.png"))
        .await
        .expect_err("loopback must be refused");
    assert!(
        matches!(
            err,
            GarmentFetchError::ForbiddenAddress {
                why: ForbiddenAddress::Loopback,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), ErrorCode::GarmentUrlNotAllowed);
    assert_eq!(server.hits(), 0, "no connection may reach the server");
}

#[tokio::test]
async fn redirects_are_refused_not_followed() {
    let server = GarmentServer::start().await;
    let fetcher = server.fetcher(loopback(), true);
    let err = fetcher
        .fetch(&server.url("moved.png"))
        .await
        .expect_err("redirect");
    assert!(matches!(err, GarmentFetchError::Redirect), "{err:?}");
    assert_eq!(
        (err.code(), err.http_status()),
        (ErrorCode::GarmentUrlNotAllowed, 400)
    );
    assert_eq!(
        server.hits(),
        1,
        "the redirect target must not be requested"
    );
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_whether_declared_or_streamed() {
    let server = GarmentServer::start().await;
    let fetcher = server.fetcher(loopback(), true);
    for path in ["declared-huge.png", "streamed-huge.png"] {
        let err = fetcher.fetch(&server.url(path)).await.expect_err(path);
        assert!(
            matches!(err, GarmentFetchError::TooLarge { limit: 1000 }),
            "{path}: {err:?}"
        );
        assert_eq!(err.http_status(), 413);
    }
}

#[tokio::test]
async fn slow_servers_and_error_statuses_fail_with_their_own_reason() {
    let server = GarmentServer::start().await;
    let fetcher = server.fetcher(loopback(), true);
    let slow = fetcher
        .fetch(&server.url("slow.png"))
        .await
        .expect_err("slow");
    assert!(matches!(slow, GarmentFetchError::Timeout), "{slow:?}");
    let missing = fetcher
        .fetch(&server.url("missing.png"))
        .await
        .expect_err("404");
    assert!(
        matches!(missing, GarmentFetchError::Status(404)),
        "{missing:?}"
    );
}

#[tokio::test]
async fn every_forbidden_address_class_in_dns_is_refused() {
    let table: &[(&str, ForbiddenAddress)] = &[
        ("127.0.0.1", ForbiddenAddress::Loopback),
        ("::1", ForbiddenAddress::Loopback),
        ("10.0.0.5", ForbiddenAddress::Private),
        ("172.20.0.1", ForbiddenAddress::Private),
        ("192.168.0.10", ForbiddenAddress::Private),
        ("fd00::1", ForbiddenAddress::Private),
        ("169.254.169.254", ForbiddenAddress::LinkLocal),
        ("fe80::1", ForbiddenAddress::LinkLocal),
        ("100.64.1.1", ForbiddenAddress::SharedCgnat),
        ("224.0.0.251", ForbiddenAddress::Multicast),
        ("ff02::fb", ForbiddenAddress::Multicast),
        ("0.0.0.0", ForbiddenAddress::Unspecified),
        ("::", ForbiddenAddress::Unspecified),
        ("255.255.255.255", ForbiddenAddress::Broadcast),
        ("192.0.2.10", ForbiddenAddress::Documentation),
        ("2001:db8::10", ForbiddenAddress::Documentation),
        ("198.18.0.10", ForbiddenAddress::Benchmarking),
        ("::ffff:127.0.0.1", ForbiddenAddress::Loopback),
        ("::ffff:169.254.169.254", ForbiddenAddress::LinkLocal),
        ("::10.0.0.1", ForbiddenAddress::Private),
        ("64:ff9b::a9fe:a9fe", ForbiddenAddress::LinkLocal),
    ];
    for &(ip, why) in table {
        let ip: IpAddr = ip.parse().unwrap();
        let fetcher = fetcher_resolving("cdn.example", vec![ip]);
        let err = fetcher
            .fetch("https://cdn.example/shirt.png")
            .await
            .expect_err("forbidden address");
        match err {
            GarmentFetchError::ForbiddenAddress {
                ip: got,
                why: got_why,
                ..
            } => {
                assert_eq!((got, got_why), (ip, why), "{ip}")
            }
            other => panic!("{ip}: expected a forbidden-address refusal, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn one_internal_address_among_public_ones_refuses_the_host() {
    let ips = vec![
        "93.184.216.34".parse().unwrap(),
        "10.0.0.1".parse().unwrap(),
    ];
    let err = fetcher_resolving("cdn.example", ips)
        .fetch("https://cdn.example/x.png")
        .await
        .expect_err("mixed");
    assert!(
        matches!(
            err,
            GarmentFetchError::ForbiddenAddress {
                why: ForbiddenAddress::Private,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn unresolvable_hosts_are_refused() {
    let fetcher = fetcher_resolving("cdn.example", vec![]);
    let err = fetcher
        .fetch("https://cdn.example/x.png")
        .await
        .expect_err("no addresses");
    assert!(
        matches!(err, GarmentFetchError::Unresolvable { .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), ErrorCode::GarmentUrlNotAllowed);
}

#[tokio::test]
async fn url_refusals_happen_before_any_lookup() {
    // The resolver would answer with a public address, so only the URL rules can refuse these.
    let fetcher = fetcher_resolving("cdn.example", vec!["93.184.216.34".parse().unwrap()]);
    for (url, why) in [
        ("http://cdn.example/x.png", UrlRefusal::NotHttps),
        (
            "https://cdn.example@evil.example/x.png",
            UrlRefusal::Userinfo,
        ),
        ("https://2130706433/x.png", UrlRefusal::IpLiteral),
        ("https://0177.0.0.1/x.png", UrlRefusal::IpLiteral),
        ("https://0x7f.0.0.1/x.png", UrlRefusal::IpLiteral),
        ("https://127.1/x.png", UrlRefusal::IpLiteral),
        (
            "https://[::ffff:169.254.169.254]/x.png",
            UrlRefusal::IpLiteral,
        ),
        (
            "https://cdn.example.evil.example/x.png",
            UrlRefusal::PrefixNotAllowed,
        ),
    ] {
        let err = fetcher.fetch(url).await.expect_err(url);
        assert!(
            matches!(&err, GarmentFetchError::Url(got) if *got == why),
            "{url}: {err:?}"
        );
        assert_eq!(
            (err.code(), err.http_status()),
            (ErrorCode::GarmentUrlNotAllowed, 400),
            "{url}"
        );
    }
}

fn fetcher_resolving(host: &str, ips: Vec<IpAddr>) -> GarmentFetcher {
    let options = FetchOptions {
        prefixes: vec![format!("https://{host}/")],
        ..FetchOptions::default()
    };
    GarmentFetcher::new(options, Arc::new(StaticResolver::new([(host, ips)]))).expect("fetcher")
}

#[tokio::test]
async fn a_per_request_prefix_admits_a_url_with_every_other_check_still_on() {
    // Issue 5: a verified shop's own image CDN is allowed for that shop's requests only.
    let server = GarmentServer::start().await;
    let options = FetchOptions {
        prefixes: Vec::new(),
        extra_roots: vec![server.certificate.clone()],
        ..FetchOptions::default()
    };
    let resolver = Arc::new(StaticResolver::new([(HOST, loopback())]));
    let mut fetcher = GarmentFetcher::new(options, resolver).expect("fetcher");
    let url = server.url("shirt.png");
    let shop = UrlPolicy::new(&[server.url("")]).expect("prefix");

    let err = fetcher.fetch(&url).await.expect_err("no configured prefix");
    assert!(
        matches!(err, GarmentFetchError::Url(UrlRefusal::PrefixNotAllowed)),
        "{err:?}"
    );
    let err = fetcher
        .fetch_also_under(&url, Some(&shop))
        .await
        .expect_err("loopback stays forbidden under a per-request prefix");
    assert!(
        matches!(err, GarmentFetchError::ForbiddenAddress { .. }),
        "{err:?}"
    );
    assert_eq!(server.hits(), 0);

    fetcher.exempt_for_tests = loopback();
    let bytes = fetcher
        .fetch_also_under(&url, Some(&shop))
        .await
        .expect("allowed by the request's prefix");
    assert_eq!(&bytes[..], SHIRT);
    let other = UrlPolicy::new(&["https://cdn.shopify.com/"]).unwrap();
    let err = fetcher
        .fetch_also_under(&server.url("missing.png"), Some(&other))
        .await
        .expect_err("another prefix does not admit it");
    assert!(
        matches!(err, GarmentFetchError::Url(UrlRefusal::PrefixNotAllowed)),
        "{err:?}"
    );
}
