//! A flood of requests for ids no task can have (`/v1/tryons/<junk>`, its result, events and
//! delete) against a proxy on Redis (a loopback `redis-server`, Debian's package): every one
//! used to cost a Redis round trip on the runtime's threads. Prints the Redis commands the
//! flood caused and what honest clients (`GET /v1/config`) saw meanwhile.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tryon_proxy::app::{AppState, app};
use tryon_proxy::config::{Cli, Settings};
use tryon_proxy::providers::local::LocalProvider;
use tryon_proxy::store::{RedisStore, Store};

const ATTACKERS: usize = 16;
const MAX_REQUESTS: u64 = 40_000;
const LENGTH: Duration = Duration::from_secs(8);

struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (Debian's package)");
        let redis = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.commands().is_none() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    /// `total_commands_processed` from `INFO stats`.
    fn commands(&self) -> Option<u64> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .write_all(b"*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")
            .ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut text = String::new();
        let mut buf = [0u8; 8192];
        while !text.contains("total_commands_processed:") || !text.ends_with("\r\n") {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        text.lines()
            .find_map(|line| line.strip_prefix("total_commands_processed:"))
            .and_then(|n| n.trim().parse().ok())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn run() {
    println!(
        "ids_flood: {ATTACKERS} clients asking for malformed task ids for {LENGTH:?} (at most {MAX_REQUESTS} requests), proxy on Redis"
    );
    let redis = Redis::start();
    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    let cli = Cli::try_parse_from(["tryon-proxy", "--store", &url]).expect("flags");
    let settings = Settings::from_cli(cli).expect("settings");
    let store: Arc<dyn Store> =
        Arc::new(RedisStore::open(&url, settings.result_retention).expect("Redis store"));
    let provider = Arc::new(LocalProvider::new(Duration::from_millis(200)));
    let state = AppState::with_store(settings, provider, store).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let options = state.settings.serve.clone();
    tokio::spawn(tryon_proxy::serving::serve(
        listener,
        app(state),
        options,
        std::future::pending(),
    ));

    let quiet = Instant::now() + Duration::from_secs(2);
    super::Honest::measure(format!("{base}/v1/config"), Duration::from_millis(5), quiet)
        .await
        .report("without attack");

    let before_commands = redis.commands().unwrap_or_default();
    let before_rss = super::rss_kib();
    let sent = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + LENGTH;
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|a| {
            let (base, sent) = (base.clone(), sent.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder().no_proxy().build().unwrap();
                let mut n = 0u64;
                while Instant::now() < until && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS
                {
                    n += 1;
                    let junk = format!("x{a}-{n}");
                    let request = match n % 4 {
                        0 => client.get(format!("{base}/v1/tryons/{junk}")),
                        1 => client.get(format!("{base}/v1/tryons/{junk}/result")),
                        2 => client.get(format!("{base}/v1/tryons/{junk}/events")),
                        _ => client.delete(format!("{base}/v1/tryons/{junk}")),
                    };
                    if let Ok(response) = request.send().await {
                        let _ = response.bytes().await;
                    }
                }
            })
        })
        .collect();
    let honest =
        super::Honest::measure(format!("{base}/v1/config"), Duration::from_millis(5), until).await;
    for attacker in attackers {
        let _ = attacker.await;
    }
    let requests = sent.load(Ordering::Relaxed).min(MAX_REQUESTS);
    let commands = redis
        .commands()
        .unwrap_or_default()
        .saturating_sub(before_commands);
    honest.report("during the flood");
    println!(
        "  {requests} malformed-id requests; Redis commands meanwhile: {commands}; RSS {} KiB → {} KiB",
        before_rss,
        super::rss_kib()
    );
}
