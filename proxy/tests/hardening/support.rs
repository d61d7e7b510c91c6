//! A real proxy on a loopback port, served exactly as the binary serves it (`serving::serve`),
//! around a provider that records every job and check that reaches it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use clap::Parser;
use image::{ImageFormat, Rgb, RgbImage};
use serde_json::Value;
use tokio::net::TcpListener;
use tryon_proxy::app::{AppState, app};
use tryon_proxy::config::{Cli, Settings};
use tryon_proxy::providers::checks::local_person_check;
use tryon_proxy::providers::{
    PreparedImage, ProgressSink, Provider, ProviderError, ProviderInfo, TryOnJob, TryOnOutput,
};
use tryon_proxy::wire::{Category, ChecksAvailable, PersonCheck};

/// What the provider received: the person photo's shape and bytes.
#[derive(Debug, Clone)]
pub struct Received {
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

/// Succeeds at once and remembers every job and person check: "nothing reached the
/// provider" is `jobs().len() == 0` and `checks() == 0`.
#[derive(Default)]
pub struct RecordingProvider {
    jobs: Mutex<Vec<Received>>,
    checks: AtomicUsize,
}

impl RecordingProvider {
    pub fn jobs(&self) -> Vec<Received> {
        self.jobs.lock().unwrap().clone()
    }

    /// Person checks that reached the provider.
    pub fn checks(&self) -> usize {
        self.checks.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `n` jobs have arrived; the registry runs them asynchronously.
    pub async fn wait_jobs(&self, n: usize) -> Vec<Received> {
        for _ in 0..500 {
            if self.jobs().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let jobs = self.jobs();
        assert!(
            jobs.len() >= n,
            "expected {n} provider runs within 5 s, saw {}",
            jobs.len()
        );
        jobs
    }
}

#[async_trait]
impl Provider for RecordingProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "recording",
            categories: vec![Category::Upper],
            checks: ChecksAvailable::default(),
        }
    }

    async fn check_person(&self, person: &PreparedImage) -> Result<PersonCheck, ProviderError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        Ok(local_person_check(person))
    }

    async fn run(&self, job: TryOnJob, _: &dyn ProgressSink) -> Result<TryOnOutput, ProviderError> {
        let person = &job.person;
        self.jobs.lock().unwrap().push(Received {
            width: person.width,
            height: person.height,
            bytes: person.bytes.to_vec(),
        });
        Ok(TryOnOutput {
            bytes: person.bytes.clone(),
            width: person.width,
            height: person.height,
            content_type: "image/jpeg".into(),
        })
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub provider: Arc<RecordingProvider>,
}

impl Server {
    pub async fn start(args: &[&str]) -> Self {
        let cli = Cli::try_parse_from(std::iter::once("tryon-proxy").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("test flags {args:?} do not parse: {e}"));
        let settings = Settings::from_cli(cli).expect("valid test settings");
        let provider = Arc::new(RecordingProvider::default());
        let state = AppState::new(settings, provider.clone()).expect("app state");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let options = state.settings.serve.clone();
        let router = app(state);
        tokio::spawn(tryon_proxy::serving::serve(
            listener,
            router,
            options,
            std::future::pending(),
        ));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Self {
            addr,
            client,
            provider,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST /v1/checks/person` with `person` declared as `content_type`; status and JSON.
    pub async fn check_person(&self, person: Vec<u8>, content_type: &str) -> (u16, Value) {
        self.check_person_with(person, content_type, &[]).await
    }

    /// [`Server::check_person`] with extra request `headers`.
    pub async fn check_person_with(
        &self,
        person: Vec<u8>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let part = reqwest::multipart::Part::bytes(person)
            .file_name("person")
            .mime_str(content_type)
            .expect("valid media type");
        let mut request = self
            .client
            .post(self.url("/v1/checks/person"))
            .multipart(reqwest::multipart::Form::new().part("person", part));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("POST /v1/checks/person");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("check answered {status} with non-JSON {text:?}: {e}"));
        (status, json)
    }

    /// `POST /v1/tryons`; returns status, the `Retry-After` header and the JSON body.
    pub async fn create(&self, request: Create) -> (u16, Option<u64>, Value) {
        let mut builder = self
            .client
            .post(self.url("/v1/tryons"))
            .multipart(request.form);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        let response = builder.send().await.expect("POST /v1/tryons");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().expect("Retry-After in seconds"));
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("create answered {status} with non-JSON {text:?}: {e}"));
        (status, retry_after, json)
    }
}

/// A create request under construction.
pub struct Create {
    form: reqwest::multipart::Form,
    headers: Vec<(String, String)>,
}

impl Create {
    /// A person photo (`person` bytes with `content_type`) and a valid garment.
    pub fn person(person: Vec<u8>, content_type: &str) -> Self {
        let part = reqwest::multipart::Part::bytes(person)
            .file_name("person")
            .mime_str(content_type)
            .expect("valid media type");
        let form = reqwest::multipart::Form::new()
            .part("person", part)
            .part("garment", file(png(40, 40)))
            .text("category", "upper");
        Self {
            form,
            headers: Vec::new(),
        }
    }

    /// A valid person photo and the garment given by URL.
    pub fn garment_url(url: &str) -> Self {
        let form = reqwest::multipart::Form::new()
            .part("person", file(jpeg(60, 90)))
            .text("garment_url", url.to_owned())
            .text("category", "upper");
        Self {
            form,
            headers: Vec::new(),
        }
    }

    /// A valid request whose person photo encodes `n`, so no two are identical submissions.
    pub fn unique(n: u32) -> Self {
        Self::person(numbered_jpeg(n), "image/jpeg")
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

fn file(bytes: Vec<u8>) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name("file")
}

pub fn picture(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
    })
}

pub fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, format)
        .expect("encode a generated image");
    out.into_inner()
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), ImageFormat::Png)
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), ImageFormat::Jpeg)
}

/// A 60×90 JPEG with `n` in binary as black/white 8×8 blocks down its left edge.
pub fn numbered_jpeg(n: u32) -> Vec<u8> {
    let mut image = picture(60, 90);
    for bit in 0..11 {
        let value = if n >> bit & 1 == 1 { 255 } else { 0 };
        for y in bit * 8..bit * 8 + 8 {
            for x in 0..8 {
                image.put_pixel(x, y, Rgb([value; 3]));
            }
        }
    }
    encode(&image, ImageFormat::Jpeg)
}

/// Asserts a problem+json body with `code` and the matching status.
pub fn assert_problem(status: u16, json: &Value, expected: u16, code: &str) {
    assert_eq!(
        (status, json["code"].as_str()),
        (expected, Some(code)),
        "expected {expected} {code}, got {status} {json}"
    );
}
