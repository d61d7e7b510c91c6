//! The real `tryon-proxy` binary as a child process on a loopback port, its data directory,
//! and an SSE reader that survives the server dying under it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use image::{ImageFormat, Rgb, RgbImage};
use serde_json::Value;

/// How long any single wait may take before the test fails with an explanation.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The bearer token of `/metrics` on every [`Proxy`] (issue 13: never public by default).
pub const METRICS_TOKEN: &str = "durability-metrics-token";

/// A data directory removed when the test ends.
pub struct DataDir(pub PathBuf);

impl DataDir {
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "tryon-durability-{label}-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&path).expect("create the data dir");
        Self(path)
    }

    /// Whether any file in the directory contains `needle` (the database and its journal).
    pub fn contains(&self, needle: &[u8]) -> bool {
        std::fs::read_dir(&self.0).unwrap().any(|entry| {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
            bytes.windows(needle.len()).any(|window| window == needle)
        })
    }

    /// Photo rows the store holds, read straight from the database file.
    pub fn stored_photos(&self) -> i64 {
        let db = rusqlite::Connection::open(self.0.join("tryon.db")).expect("open tryon.db");
        db.query_row("SELECT count(*) FROM photos", [], |row| row.get(0))
            .expect("count photos")
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One running `tryon-proxy` process.
pub struct Proxy {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Proxy {
    /// Starts the binary on `data_dir` with `args` and waits until `/healthz` answers.
    pub async fn start(data_dir: &Path, args: &[&str]) -> Self {
        Self::start_with_env(data_dir, args, &[]).await
    }

    /// Like [`Proxy::start`] with extra environment variables (a vendor's key and base URL).
    pub async fn start_with_env(data_dir: &Path, args: &[&str], env: &[(&str, String)]) -> Self {
        let listen = format!("127.0.0.1:{}", free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_tryon-proxy"))
            .args(["--listen", &listen, "--data-dir"])
            .arg(data_dir)
            // Tests of other things must not meet the per-IP bucket; a test of it sets its own.
            .args(if args.contains(&"--create-burst") {
                &[][..]
            } else {
                &["--create-burst", "1000000"][..]
            })
            .args(args)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .env("TRYON_METRICS_TOKEN", METRICS_TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the tryon-proxy binary");
        let proxy = Self {
            child,
            base: format!("http://{listen}"),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        };
        proxy.wait_healthy().await;
        proxy
    }

    /// Starts the binary on `data_dir` expecting it to refuse: its exit success and its
    /// stderr, or `None` (after killing it) if it still ran after `limit`.
    pub fn refused_start(data_dir: &Path, limit: Duration) -> Option<(bool, String)> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tryon-proxy"))
            .args([
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
                "--data-dir",
            ])
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the tryon-proxy binary");
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(exit) = child.try_wait().expect("poll the proxy") {
                let mut stderr = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
                    .expect("read its stderr");
                return Some((exit.success(), stderr));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    async fn wait_healthy(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(response) = self.client.get(self.url("/healthz")).send().await
                && response.status() == 200
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "tryon-proxy at {} never answered /healthz",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then waits for the exit: how long it took and whether it was a clean one.
    pub fn terminate(mut self) -> (Duration, bool) {
        let sent = std::time::Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        let deadline = sent + PATIENCE;
        loop {
            if let Some(exit) = self.child.try_wait().expect("poll the proxy") {
                return (sent.elapsed(), exit.success());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the proxy did not exit within {PATIENCE:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET path` (with the metrics token, which other routes ignore).
    pub async fn text(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// SIGKILL: no handler runs, nothing is flushed.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the proxy");
        self.child.wait().expect("reap the proxy");
    }

    /// Creates a try-on of a distinct figure (`n` marks it) with an optional key.
    pub async fn create(&self, n: u8, key: Option<&str>) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .part(
                "person",
                reqwest::multipart::Part::bytes(figure_photo(n)).file_name("person.jpg"),
            )
            .part(
                "garment",
                reqwest::multipart::Part::bytes(shirt_photo()).file_name("shirt.png"),
            )
            .text("category", "upper");
        let mut request = self.client.post(self.url("/v1/tryons")).multipart(form);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.expect("POST /v1/tryons");
        let status = response.status().as_u16();
        let json = response.json().await.expect("create answers JSON");
        (status, json)
    }

    /// `POST /v1/checks/person` with figure `n`'s photo.
    pub async fn check_person(&self, n: u8) -> (u16, Value) {
        let form = reqwest::multipart::Form::new().part(
            "person",
            reqwest::multipart::Part::bytes(figure_photo(n)).file_name("person.jpg"),
        );
        let response = self
            .client
            .post(self.url("/v1/checks/person"))
            .multipart(form)
            .send()
            .await
            .expect("POST /v1/checks/person");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn view(&self, id: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(&format!("/v1/tryons/{id}")))
            .send()
            .await
            .expect("GET task");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Polls until the task's view satisfies `done`.
    pub async fn wait_for(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let (status, view) = self.view(id).await;
            if status == 200 && done(&view) {
                return view;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task {id} never reached {what}; last {status} {view}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Follows the task's events from `after` in the background until the stream ends or
    /// the connection dies.
    pub fn watch(&self, id: &str, after: u64) -> tokio::task::JoinHandle<Vec<(u64, Value)>> {
        let request = self
            .client
            .get(self.url(&format!("/v1/tryons/{id}/events")))
            .header("Last-Event-ID", after.to_string());
        tokio::spawn(async move {
            let Ok(response) = request.send().await else {
                return Vec::new();
            };
            read_events(response).await
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(id, data)` of every complete `status` event, until the stream ends or breaks.
async fn read_events(response: reqwest::Response) -> Vec<(u64, Value)> {
    let mut events = Vec::new();
    let mut buffer = String::new();
    let mut body = response.bytes_stream();
    while let Some(Ok(chunk)) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|line| line.strip_prefix(name).map(str::trim).map(str::to_owned))
            };
            if let (Some(id), Some(data)) = (field("id:"), field("data:")) {
                events.push((
                    id.parse().expect("numeric event id"),
                    serde_json::from_str(&data).expect("event data is JSON"),
                ));
            }
        }
    }
    events
}

/// A standing figure on a light backdrop, with `n` marked in its corner so each create is a
/// distinct submission.
fn figure_photo(n: u8) -> Vec<u8> {
    let mut image = RgbImage::from_pixel(240, 400, Rgb([236, 236, 232]));
    let skin = [190, 140, 110];
    for (x, y, w, h) in [
        (100, 20, 40, 44),
        (110, 64, 20, 10),
        (72, 74, 96, 130),
        (50, 74, 22, 8),
        (168, 74, 22, 8),
        (50, 82, 16, 106),
        (174, 82, 16, 106),
        (76, 204, 36, 176),
        (128, 204, 36, 176),
    ] {
        fill(&mut image, x, y, w, h, skin);
    }
    for bit in 0..8 {
        let value = if n >> bit & 1 == 1 { 0 } else { 120 };
        fill(&mut image, 4 + bit * 6, 4, 6, 6, [value, value, value]);
    }
    encode(&image, ImageFormat::Jpeg)
}

/// A red T-shirt on a white backdrop.
fn shirt_photo() -> Vec<u8> {
    let mut image = RgbImage::from_pixel(200, 200, Rgb([248, 248, 248]));
    let red = [200, 24, 32];
    fill(&mut image, 60, 30, 80, 150, red);
    fill(&mut image, 25, 30, 35, 50, red);
    fill(&mut image, 140, 30, 35, 50, red);
    encode(&image, ImageFormat::Png)
}

fn fill(image: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, colour: [u8; 3]) {
    for yy in y..y + h {
        for xx in x..x + w {
            image.put_pixel(xx, yy, Rgb(colour));
        }
    }
}

fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}
