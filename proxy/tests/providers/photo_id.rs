//! A try-on from an uploaded photo (issue 14) on each vendor's fake, behind the real proxy:
//! `POST /v1/photos` once, then `POST /v1/tryons` with `photo_id`. The vendor receives the
//! photo exactly once: in its person upload where it has one (Vtryon), else in the create.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use secrecy::SecretString;
use serde_json::Value;
use tokio::net::TcpListener;
use tryon_fakes::{Fake, fitinview, fitroom, tryiton, vtryon};
use tryon_proxy::app::{AppState, app};
use tryon_proxy::config::{Cli, Settings};
use tryon_proxy::providers::fitinview::FitInView;
use tryon_proxy::providers::fitroom::Fitroom;
use tryon_proxy::providers::tryiton::TryItOn;
use tryon_proxy::providers::vtryon::Vtryon;
use tryon_proxy::providers::{
    FitInViewSettings, FitroomSettings, Provider, TryItOnSettings, VtryonSettings,
};

use crate::util::{KEY, fast_tuning, garment, person};

const PATIENCE: Duration = Duration::from_secs(15);

/// One vendor's adapter on its fake, and the fake's endpoint that receives the person photo.
struct Vendor {
    name: &'static str,
    provider: Arc<dyn Provider>,
    seen: Seen,
    photo_endpoint: &'static str,
}

/// What a fake's recorder saw, whichever fake it is.
struct Seen {
    count: Box<dyn Fn(&str) -> usize>,
    total: Box<dyn Fn() -> usize>,
    clean: Box<dyn Fn()>,
}

impl Seen {
    fn of<F: Fake>(fake: Arc<F>) -> Self {
        let (a, b) = (fake.clone(), fake.clone());
        Self {
            count: Box::new(move |endpoint| a.recorder().count(endpoint)),
            total: Box::new(move || b.recorder().calls_total()),
            clean: Box::new(move || fake.recorder().assert_clean()),
        }
    }
}

async fn vendors() -> Vec<Vendor> {
    let fitroom = fitroom::FitroomFake::start().await;
    let tryiton = tryiton::TryItOnFake::start(tryiton::DEFAULT_STATUS_PATH).await;
    let fitinview = fitinview::FitInViewFake::start(Duration::from_secs(60)).await;
    let vtryon = vtryon::VtryonFake::start().await;
    let tuning = || fast_tuning(60, Duration::from_secs(60));
    vec![
        Vendor {
            name: "fitroom",
            provider: Arc::new(
                Fitroom::new(FitroomSettings {
                    api_key: SecretString::from(KEY),
                    base_url: fitroom.base_url().parse().unwrap(),
                    tuning: tuning(),
                })
                .unwrap(),
            ),
            seen: Seen::of(fitroom.clone()),
            photo_endpoint: fitroom::CREATE,
        },
        Vendor {
            name: "tryiton",
            provider: Arc::new(
                TryItOn::new(TryItOnSettings {
                    api_key: SecretString::from(KEY),
                    base_url: tryiton.base_url().parse().unwrap(),
                    status_path: tryiton::DEFAULT_STATUS_PATH.into(),
                    style: Default::default(),
                    tuning: tuning(),
                })
                .unwrap(),
            ),
            seen: Seen::of(tryiton.clone()),
            photo_endpoint: tryiton::CREATE,
        },
        Vendor {
            name: "fitinview",
            provider: Arc::new(
                FitInView::new(FitInViewSettings {
                    api_key: SecretString::from(KEY),
                    base_url: fitinview.base_url().parse().unwrap(),
                    webhook_secret: None,
                    public_url: None,
                    tuning: fast_tuning(20, Duration::from_secs(60)),
                })
                .unwrap(),
            ),
            seen: Seen::of(fitinview.clone()),
            photo_endpoint: fitinview::CREATE,
        },
        Vendor {
            name: "vtryon",
            provider: Arc::new(
                Vtryon::new(VtryonSettings {
                    api_key: SecretString::from(KEY),
                    base_url: vtryon.base_url().parse().unwrap(),
                    webhook_secret: None,
                    checked_photo_kept_for: tryon_proxy::providers::VTRYON_CHECKED_PHOTO_KEPT_FOR,
                    tuning: tuning(),
                })
                .unwrap(),
            ),
            seen: Seen::of(vtryon.clone()),
            photo_endpoint: vtryon::UPLOAD_PERSON,
        },
    ]
}

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

fn file(bytes: &[u8], name: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name(name.to_owned())
        .mime_str("image/jpeg")
        .unwrap()
}

#[tokio::test]
async fn a_try_on_from_a_photo_id_on_every_vendor_sends_the_photo_upstream_once() {
    let http = reqwest::Client::new();
    for vendor in vendors().await {
        let name = vendor.name;
        let base = proxy(vendor.provider).await;
        let form = reqwest::multipart::Form::new().part("person", file(&person().bytes, "me.jpg"));
        let uploaded: Value = http
            .post(format!("{base}/v1/photos"))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let photo_id = uploaded["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {uploaded}"));
        let seen = &vendor.seen;
        assert_eq!(
            (seen.total)(),
            0,
            "{name}: an upload alone reaches no vendor"
        );
        let form = reqwest::multipart::Form::new()
            .text("photo_id", photo_id.to_owned())
            .part("garment", file(&garment().bytes, "shirt.jpg"))
            .text("category", "upper")
            .text("quality", "fast");
        let created: Value = http
            .post(format!("{base}/v1/tryons"))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {created}"));
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let view = loop {
            let view: Value = http
                .get(format!("{base}/v1/tryons/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if view["status"] == "succeeded" || view["status"] == "failed" {
                break view;
            }
            assert!(tokio::time::Instant::now() < deadline, "{name}: {view}");
            tokio::time::sleep(Duration::from_millis(40)).await;
        };
        assert_eq!(view["status"], "succeeded", "{name}: {view}");
        assert_eq!(
            (seen.count)(vendor.photo_endpoint),
            1,
            "{name}: the photo reaches the vendor exactly once"
        );
        (seen.clean)();
    }
}
