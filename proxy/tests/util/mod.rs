//! Helpers for the proxy's integration tests: a real server on a loopback port, a provider
//! the test steps by hand, generated images, multipart bodies, raw HTTP and an SSE reader.
//! Every helper that can time out says what it was waiting for and what it saw instead.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use clap::Parser;
use futures::StreamExt;
use image::{ImageFormat, Rgb, RgbImage};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tryon_proxy::app::{AppState, app};
use tryon_proxy::config::{Cli, Settings};
use tryon_proxy::providers::local::LocalProvider;
use tryon_proxy::providers::{
    ProgressSink, ProgressUpdate, Provider, ProviderError, ProviderInfo, TryOnJob, TryOnOutput,
};
use tryon_proxy::store::{MemoryStore, Store};
use tryon_proxy::wire::{Category, ChecksAvailable, ProgressKind, TaskStatus, TryOnView};

/// How long any single wait in a test may take before it fails with an explanation.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A proxy serving on 127.0.0.1 for the duration of one test.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
}

impl TestServer {
    /// Starts the proxy around `provider` with extra command-line `args`.
    pub async fn start(provider: Arc<dyn Provider>, args: &[&str]) -> Self {
        Self::start_on(provider, args, Arc::new(MemoryStore::default())).await
    }

    /// Like [`TestServer::start`] on `store` (SQLite, Redis) rather than in memory.
    pub async fn start_on(
        provider: Arc<dyn Provider>,
        args: &[&str],
        store: Arc<dyn Store>,
    ) -> Self {
        // Tests create many tasks from 127.0.0.1; the per-client limit has its own tests, which
        // pass `--create-burst` themselves.
        let unlimited: &[&str] = if args.contains(&"--create-burst") {
            &[]
        } else {
            &["--create-burst", "1000000"]
        };
        let cli = Cli::try_parse_from(
            std::iter::once("tryon-proxy")
                .chain(unlimited.iter().copied())
                .chain(args.iter().copied()),
        )
        .unwrap_or_else(|e| panic!("test flags {args:?} do not parse: {e}"));
        let settings = Settings::from_cli(cli).expect("test settings are valid");
        let state = AppState::with_store(settings, provider, store).expect("app state builds");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let router = app(state.clone());
        // Served like the binary serves (issue 6: header timeout, connection cap, peer address).
        let serve_options = state.settings.serve;
        tokio::spawn(async move {
            tryon_proxy::serving::serve(listener, router, serve_options, std::future::pending())
                .await
                .expect("test server runs")
        });
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Self {
            addr,
            base: format!("http://{addr}"),
            client,
            state,
        }
    }

    /// The proxy with the real local compositor, taking `duration_ms` per try-on.
    pub async fn with_local(duration_ms: u64, args: &[&str]) -> Self {
        Self::start(
            Arc::new(LocalProvider::new(Duration::from_millis(duration_ms))),
            args,
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {path} answered {status} non-JSON {text:?}: {e}"));
        (status, json)
    }

    /// `POST /v1/tryons` with `form` and an optional Idempotency-Key; returns status and JSON.
    pub async fn create(&self, form: reqwest::multipart::Form, key: Option<&str>) -> (u16, Value) {
        let mut request = self.client.post(self.url("/v1/tryons")).multipart(form);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.expect("POST /v1/tryons");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("create answered {status} non-JSON {text:?}: {e}"));
        (status, json)
    }

    /// Creates a task from a standard valid form and returns its id (asserting 202).
    pub async fn create_ok(&self) -> String {
        let (status, json) = self.create(unique_form(), None).await;
        assert_eq!(status, 202, "creating a valid try-on: {json}");
        json["id"]
            .as_str()
            .expect("created task has an id")
            .to_owned()
    }

    pub async fn view(&self, id: &str) -> TryOnView {
        let (status, json) = self.get_json(&format!("/v1/tryons/{id}")).await;
        assert_eq!(status, 200, "GET task {id}: {json}");
        serde_json::from_value(json).expect("task JSON matches TryOnView")
    }

    /// Polls the task until `done` holds, failing with the last view seen.
    pub async fn wait_for(
        &self,
        id: &str,
        what: &str,
        done: impl Fn(&TryOnView) -> bool,
    ) -> TryOnView {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let view = self.view(id).await;
            if done(&view) {
                return view;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task {id} never reached: {what}; last seen {view:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn wait_terminal(&self, id: &str) -> TryOnView {
        self.wait_for(id, "a terminal status", |v| v.status.is_terminal())
            .await
    }

    /// Opens the task's event stream, optionally resuming after `last_event_id`.
    pub async fn events(&self, id: &str, last_event_id: Option<u64>) -> reqwest::Response {
        let mut request = self
            .client
            .get(self.url(&format!("/v1/tryons/{id}/events")));
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last.to_string());
        }
        request.send().await.expect("GET events")
    }
}

/// What the stepped provider does next.
#[derive(Debug, Clone)]
pub enum Step {
    Progress(u8),
    Succeed,
    Fail,
}

/// A provider the test drives step by step; it counts its `run` calls.
pub struct SteppedProvider {
    runs: AtomicUsize,
    started: Notify,
    steps_tx: mpsc::UnboundedSender<Step>,
    steps: tokio::sync::Mutex<mpsc::UnboundedReceiver<Step>>,
}

impl SteppedProvider {
    pub fn new() -> Arc<Self> {
        let (steps_tx, steps) = mpsc::unbounded_channel();
        Arc::new(Self {
            runs: AtomicUsize::new(0),
            started: Notify::new(),
            steps_tx,
            steps: tokio::sync::Mutex::new(steps),
        })
    }

    pub fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    /// Queues the next step for whichever run is in progress (runs take steps in turn).
    pub fn step(&self, step: Step) {
        self.steps_tx
            .send(step)
            .expect("the provider keeps its receiver");
    }

    /// Waits until `run` has been called at least `n` times.
    pub async fn wait_runs(&self, n: usize) {
        let waiting = async {
            loop {
                let notified = self.started.notified();
                if self.runs() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(PATIENCE, waiting)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "provider run was called {} times, expected {n}",
                    self.runs()
                )
            });
    }
}

#[async_trait]
impl Provider for SteppedProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "stepped",
            categories: vec![
                Category::Upper,
                Category::Lower,
                Category::Full,
                Category::Combo,
            ],
            checks: ChecksAvailable::default(),
        }
    }

    async fn run(
        &self,
        job: TryOnJob,
        sink: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.started.notify_waiters();
        let mut steps = self.steps.lock().await;
        while let Some(step) = steps.recv().await {
            match step {
                Step::Progress(progress) => sink.report(ProgressUpdate {
                    progress,
                    kind: ProgressKind::Reported,
                    stage: Some("stepping".into()),
                }),
                Step::Succeed => {
                    return Ok(TryOnOutput {
                        bytes: job.person.bytes.clone(),
                        width: job.person.width,
                        height: job.person.height,
                        content_type: "image/jpeg".into(),
                    });
                }
                Step::Fail => return Err(ProviderError::Failed("the test said so".into())),
            }
        }
        Err(ProviderError::Failed(
            "the test dropped the provider".into(),
        ))
    }
}

/// An RGB picture with a gradient (so it survives JPEG re-encoding recognisably).
pub fn picture(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            128,
        ])
    })
}

pub fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, format)
        .expect("encoding a generated image");
    out.into_inner()
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), ImageFormat::Jpeg)
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), ImageFormat::Png)
}

fn fill(image: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, colour: [u8; 3]) {
    for yy in y..y + h {
        for xx in x..x + w {
            image.put_pixel(xx, yy, Rgb(colour));
        }
    }
}

/// A standing figure on a light backdrop (240×400 JPEG): what the local compositor needs to
/// find a body (head, torso, arms apart, parted legs).
pub fn figure_photo() -> Vec<u8> {
    let mut image = RgbImage::from_pixel(240, 400, Rgb([236, 236, 232]));
    let skin = [190, 140, 110];
    fill(&mut image, 100, 20, 40, 44, skin); // head
    fill(&mut image, 110, 64, 20, 10, skin); // neck
    fill(&mut image, 72, 74, 96, 130, skin); // torso
    fill(&mut image, 50, 74, 22, 8, skin); // shoulders
    fill(&mut image, 168, 74, 22, 8, skin);
    fill(&mut image, 50, 82, 16, 106, skin); // arms, apart from the torso
    fill(&mut image, 174, 82, 16, 106, skin);
    fill(&mut image, 76, 204, 36, 176, skin); // legs
    fill(&mut image, 128, 204, 36, 176, skin);
    encode(&image, ImageFormat::Jpeg)
}

/// A red T-shirt on a white backdrop (200×200 PNG).
pub fn shirt_photo() -> Vec<u8> {
    let mut image = RgbImage::from_pixel(200, 200, Rgb([248, 248, 248]));
    let red = [200, 24, 32];
    fill(&mut image, 60, 30, 80, 150, red);
    fill(&mut image, 25, 30, 35, 50, red);
    fill(&mut image, 140, 30, 35, 50, red);
    encode(&image, ImageFormat::Png)
}

pub fn file_part(bytes: Vec<u8>, name: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned())
}

/// A person JPEG and a garment PNG, category `upper`.
pub fn valid_form() -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .part("person", file_part(jpeg(60, 90), "person.jpg"))
        .part("garment", file_part(png(40, 40), "garment.png"))
        .text("category", "upper")
}

/// Like [`valid_form`] with a person photo no other call in this process produces, so the
/// ten-minute identical-submission rule (issue 6) does not fold it into an earlier task.
pub fn unique_form() -> reqwest::multipart::Form {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, Ordering::SeqCst);
    let mut person = picture(60, 90);
    // The call number in binary as black and white 8×8 blocks down the left edge: differences
    // that large survive JPEG quantisation.
    for bit in 0..11 {
        let value = if n >> bit & 1 == 1 { 255 } else { 0 };
        for y in bit * 8..bit * 8 + 8 {
            for x in 0..8 {
                person.put_pixel(x, y as u32, Rgb([value, value, value]));
            }
        }
    }
    reqwest::multipart::Form::new()
        .part(
            "person",
            file_part(encode(&person, ImageFormat::Jpeg), "person.jpg"),
        )
        .part("garment", file_part(png(40, 40), "garment.png"))
        .text("category", "upper")
}

/// Asserts a problem+json answer with `status` and `code`.
pub fn assert_problem(status: u16, json: &Value, expected_status: u16, code: &str) {
    assert_eq!(
        (status, json["code"].as_str()),
        (expected_status, Some(code)),
        "expected {expected_status} {code}, got {status} {json}"
    );
    assert_eq!(
        json["status"], expected_status,
        "problem status field: {json}"
    );
    assert_eq!(
        json["type"],
        format!("https://tryon.dev/problems/{code}"),
        "problem type: {json}"
    );
}

/// A raw HTTP/1.1 exchange, for what reqwest will not send (or would hide): writes `head`
/// and `body` (ignoring a reset if the server answers early) and reads the answer.
pub async fn raw_exchange(addr: SocketAddr, head: &str, body: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connect to the test server");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("write request head");
    let _ = stream.write_all(body).await;
    let mut received = Vec::new();
    let reading = async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
            if RawResponse::complete(&received) {
                break;
            }
        }
    };
    tokio::time::timeout(PATIENCE, reading)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no complete response within {PATIENCE:?}; got {:?}",
                String::from_utf8_lossy(&received)
            )
        });
    RawResponse::parse(&received)
}

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawResponse {
    fn split(bytes: &[u8]) -> Option<(String, &[u8])> {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        Some((
            String::from_utf8_lossy(&bytes[..end]).into_owned(),
            &bytes[end + 4..],
        ))
    }

    fn content_length(head: &str) -> Option<usize> {
        head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
    }

    fn complete(bytes: &[u8]) -> bool {
        Self::split(bytes).is_some_and(|(head, body)| {
            Self::content_length(&head).is_some_and(|length| body.len() >= length)
        })
    }

    fn parse(bytes: &[u8]) -> Self {
        let (head, body) = Self::split(bytes).unwrap_or_else(|| {
            panic!("not an HTTP response: {:?}", String::from_utf8_lossy(bytes))
        });
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("status code");
        Self {
            status,
            body: String::from_utf8_lossy(body).into_owned(),
            head,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {self:?}"))
    }
}

/// One parsed Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<u64>,
    pub event: Option<String>,
    pub data: String,
    pub retry: Option<u64>,
}

impl SseEvent {
    pub fn view(&self) -> TryOnView {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not a TryOnView ({e}): {self:?}"))
    }
}

/// Reads events from a `text/event-stream` response, skipping comments.
pub struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    buffer: String,
    pub seen: Vec<SseEvent>,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200, "event stream status");
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
            seen: Vec::new(),
        }
    }

    /// The next event, or `None` when the server ended the stream.
    pub async fn next(&mut self) -> Option<SseEvent> {
        let reading = async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let frame: String = self.buffer.drain(..end + 2).collect();
                    if let Some(event) = parse_frame(&frame) {
                        return Some(event);
                    }
                    continue;
                }
                match self.body.next().await {
                    Some(Ok(chunk)) => self
                        .buffer
                        .push_str(std::str::from_utf8(&chunk).expect("UTF-8 events")),
                    Some(Err(e)) => panic!("event stream broke: {e}"),
                    None => return None,
                }
            }
        };
        let event = tokio::time::timeout(PATIENCE, reading)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no event within {PATIENCE:?}; events so far: {:#?}",
                    self.seen
                )
            });
        if let Some(event) = &event {
            self.seen.push(event.clone());
        }
        event
    }

    /// Reads events until the stream ends; returns all of them.
    pub async fn collect(mut self) -> Vec<SseEvent> {
        while self.next().await.is_some() {}
        self.seen
    }

    /// Reads until an event satisfies `done`, returning it.
    pub async fn until(&mut self, what: &str, done: impl Fn(&TryOnView) -> bool) -> SseEvent {
        loop {
            let event = self
                .next()
                .await
                .unwrap_or_else(|| panic!("stream ended before {what}; saw {:#?}", self.seen));
            if done(&event.view()) {
                return event;
            }
        }
    }
}

fn parse_frame(frame: &str) -> Option<SseEvent> {
    let mut event = SseEvent {
        id: None,
        event: None,
        data: String::new(),
        retry: None,
    };
    let mut any = false;
    for line in frame.lines() {
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "" => {} // comment (keep-alive)
            "id" => (event.id, any) = (Some(value.parse().expect("numeric event id")), true),
            "event" => (event.event, any) = (Some(value.to_owned()), true),
            "retry" => (event.retry, any) = (Some(value.parse().expect("numeric retry")), true),
            "data" => {
                if !event.data.is_empty() {
                    event.data.push('\n');
                }
                event.data.push_str(value);
                any = true;
            }
            other => panic!("unexpected SSE field {other:?} in {frame:?}"),
        }
    }
    any.then_some(event)
}

/// Checks that events have ids 1.., or `first`.., each one more than the last.
pub fn assert_consecutive(events: &[SseEvent], first: u64) {
    let ids: Vec<_> = events
        .iter()
        .map(|e| e.id.expect("every event has an id"))
        .collect();
    let expected: Vec<_> = (first..first + ids.len() as u64).collect();
    assert_eq!(
        ids, expected,
        "event ids must be consecutive without gaps or repeats"
    );
}

/// Progress values of a list of events, asserting they never go backwards.
pub fn assert_progress_monotonic(events: &[SseEvent]) {
    let progress: Vec<u8> = events.iter().map(|e| e.view().progress).collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress went backwards: {progress:?}"
    );
}

pub fn status_of(events: &[SseEvent]) -> Vec<TaskStatus> {
    events.iter().map(|e| e.view().status).collect()
}

/// The JSON log lines of the whole test binary. Installed as the global subscriber on first
/// use: a per-thread subscriber misses events whose callsite another test thread registered
/// first, so tests find their own lines by content instead.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn global() -> &'static LogCapture {
        static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
        CAPTURE.get_or_init(|| {
            let capture = LogCapture::default();
            let writer = capture.clone();
            let subscriber = tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_writer(move || writer.clone())
                .with_max_level(tracing::Level::INFO)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in tests");
            capture
        })
    }

    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"))
            })
            .collect()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
