//! Issue 7's capacity benchmark: one real `tryon-proxy` process (the release binary next to
//! this example) on a loopback port and a fresh data directory, measured from outside.
//!
//! ```text
//! cargo build --release -p tryon-proxy
//! cargo run --release -p tryon-proxy --example bench_proxy [-- watchers=1000,5000,10000 reads=1000,5000 creates=10 store=redis]
//! ```
//!
//! An empty list (`watchers=`, `reads=`) or `creates=0` skips that phase.
//!
//! `store=redis` measures the same figures with two instances on one Redis (a loopback
//! `redis-server`, Debian's package, started per phase and stopped after it): tasks are
//! created on the first instance and watched and read on the second, so what is measured
//! includes the fan-out across instances; creates alternate between the two. RSS and CPU
//! figures are then the two proxies' sums, and a line per phase gives each process's share,
//! Redis's included.
//!
//! 1. Watchers: N event streams spread over local-provider tasks, twice: with the tasks started
//!    together (every task ends in the same second: the worst burst) and started evenly over
//!    one task's length (as shoppers arriving over time); each run prints the proxy's peak RSS
//!    (VmHWM) and the delay from each status change (`updated_at`, stamped when the event is
//!    published) to its arrival at each watcher, p50/p99. Arrival is the kernel's receive
//!    timestamp of the bytes (`SO_TIMESTAMPNS`), so the benchmark client's own scheduling on
//!    the shared cores does not count against the proxy; the delay until the client read the
//!    event is printed beside it. The CPU seconds of the proxy and of the client and the load
//!    average tell how contended the run was.
//!
//! The client runs on one thread so that it cannot take both cores from the proxy.
//! 2. Status reads: `GET /v1/tryons/{id}` open-loop at fixed rates over 128 keep-alive
//!    connections (each request is due at its scheduled instant, kept by a thread of its own,
//!    so a slow server cannot slow the load down), p50/p99 from the due instant to the
//!    answer's arrival (kernel receive timestamp), less the time the client itself wrote a
//!    request late while a connection was free; a request waiting for a free connection still
//!    counts from its due instant. The figure counting the client's lateness too, CPU per read
//!    and the proxy's wait for a CPU are printed beside it.
//! 3. Creates: sustained creates per second with a 2048 px person photo through the whole
//!    path (multipart, decode, re-encode, store), and the proxy's CPU time per create.
//!
//! Bounded: every phase has a fixed length; loopback only.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use image::{ImageFormat, Rgb, RgbImage};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

struct Options {
    watchers: Vec<usize>,
    reads: Vec<u64>,
    create_seconds: u64,
    store: StoreMode,
}

/// Where the proxies keep their state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreMode {
    /// One instance with the embedded store in a fresh data directory.
    Embedded,
    /// Two instances on one loopback `redis-server`.
    Redis,
}

fn options() -> Options {
    let mut options = Options {
        watchers: vec![1_000, 5_000, 10_000],
        reads: vec![1_000, 5_000],
        create_seconds: 10,
        store: StoreMode::Embedded,
    };
    for arg in std::env::args().skip(1) {
        let (key, value) = arg.split_once('=').unwrap_or((&arg, ""));
        let list = || value.split(',').filter_map(|v| v.parse().ok());
        match key {
            "watchers" => options.watchers = list().collect(),
            "reads" => options.reads = list().map(|v: usize| v as u64).collect(),
            "creates" => options.create_seconds = value.parse().unwrap_or(10),
            "store" if value == "redis" => options.store = StoreMode::Redis,
            "store" if value == "embedded" => options.store = StoreMode::Embedded,
            _ => eprintln!("ignoring {arg}"),
        }
    }
    options
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let options = options();
    println!(
        "tryon-proxy benchmark (loopback, {} CPUs, {})",
        num_cpus(),
        match options.store {
            StoreMode::Embedded => "one instance, embedded store",
            StoreMode::Redis =>
                "two instances on one redis-server: create on A, watch and read on B",
        }
    );
    let store = options.store;
    for &n in &options.watchers {
        watchers(n, store, TaskStarts::Together).await;
        watchers(n, store, TaskStarts::Spread).await;
    }
    // An empty list or `creates=0` skips the phase without starting a proxy for it.
    if !options.reads.is_empty() {
        reads(&options.reads, store).await;
    }
    if options.create_seconds > 0 {
        creates(options.create_seconds, store).await;
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The proxy under test.
struct Proxy {
    child: Child,
    addr: String,
    _data: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Proxy {
    async fn start(args: &[&str]) -> Self {
        let binary = std::env::current_exe()
            .expect("own path")
            .parent()
            .and_then(|examples| examples.parent())
            .expect("target/<profile>")
            .join("tryon-proxy");
        assert!(
            binary.exists(),
            "{} is missing: run `cargo build --release -p tryon-proxy` first",
            binary.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let data = TempDir(std::env::temp_dir().join(format!("tryon-bench-{port}")));
        let child = Command::new(binary)
            .args(["--listen", &addr, "--data-dir"])
            .arg(&data.0)
            .args(["--create-burst", "100000000", "--max-connections", "30000"])
            // Every watcher comes from 127.0.0.1: one address may hold them all here.
            .args(["--max-connections-per-ip", "30000"])
            .args(args)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("start tryon-proxy");
        let proxy = Self {
            child,
            addr,
            _data: data,
        };
        for _ in 0..200 {
            if TcpStream::connect(&proxy.addr).await.is_ok() {
                return proxy;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("tryon-proxy did not start");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size in MiB.
    fn peak_rss_mib(&self) -> f64 {
        proc_status_kib(self.pid(), "VmHWM:") as f64 / 1024.0
    }

    /// User + system CPU seconds so far.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(&self.pid().to_string())
    }

    async fn create(&self, client: &reqwest::Client, person: &[u8], n: u64) -> String {
        let form = create_form(person, n);
        let response = client
            .post(format!("http://{}/v1/tryons", self.addr))
            .multipart(form)
            .send()
            .await
            .expect("create");
        assert_eq!(response.status(), 202, "create failed");
        let json: serde_json::Value = response.json().await.unwrap();
        json["id"].as_str().unwrap().to_owned()
    }

    /// A create that may be refused: the answer's status.
    async fn try_create(&self, client: &reqwest::Client, person: &[u8], n: u64) -> u16 {
        let form = create_form(person, n);
        match client
            .post(format!("http://{}/v1/tryons", self.addr))
            .multipart(form)
            .send()
            .await
        {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[path = "../tests/durability/redis_server.rs"]
#[allow(dead_code)] // pause and resume are the durability tests'
mod redis_server;

/// The proxies of one phase ([`StoreMode::deploy`]): one instance, or two on one
/// `redis-server` (all stopped when this is dropped). Phases use it like one proxy: tasks are created on the first instance,
/// `addr` (watched and read) is the last one's, creates alternate, RSS and CPU are the sums.
struct Deployment {
    instances: Vec<Proxy>,
    addr: String,
    /// Dropped after the instances, which are its clients.
    redis: Option<redis_server::RedisServer>,
    /// The process's CPU seconds when the phase began, for the share printed on drop.
    started_cpu: Vec<f64>,
}

impl StoreMode {
    /// Starts this mode's proxies with `args`.
    async fn deploy(self, args: &[&str]) -> Deployment {
        let (instances, redis) = match self {
            StoreMode::Embedded => (vec![Proxy::start(args).await], None),
            StoreMode::Redis => {
                let redis = redis_server::RedisServer::start();
                let url = redis.url(0);
                let mut shared = vec!["--store", url.as_str()];
                shared.extend_from_slice(args);
                let a = Proxy::start(&shared).await;
                let b = Proxy::start(&shared).await;
                (vec![a, b], Some(redis))
            }
        };
        let addr = instances
            .last()
            .expect("one instance at least")
            .addr
            .clone();
        let started_cpu = instances.iter().map(Proxy::cpu_seconds).collect();
        Deployment {
            instances,
            addr,
            redis,
            started_cpu,
        }
    }
}

impl Deployment {
    async fn create(&self, client: &reqwest::Client, person: &[u8], n: u64) -> String {
        self.instances[0].create(client, person, n).await
    }

    async fn try_create(&self, client: &reqwest::Client, person: &[u8], n: u64) -> u16 {
        let instance = &self.instances[n as usize % self.instances.len()];
        instance.try_create(client, person, n).await
    }

    /// The instances' peak RSS, summed, in MiB.
    fn peak_rss_mib(&self) -> f64 {
        self.instances.iter().map(Proxy::peak_rss_mib).sum()
    }

    /// The instances' CPU seconds so far, summed.
    fn cpu_seconds(&self) -> f64 {
        self.instances.iter().map(Proxy::cpu_seconds).sum()
    }
}

impl Drop for Deployment {
    /// With Redis, each process's share of the phase, since the phase's own line sums them.
    fn drop(&mut self) {
        let Some(redis) = &self.redis else { return };
        let instances: Vec<String> = self
            .instances
            .iter()
            .zip(&self.started_cpu)
            .zip(["A (creates)", "B (watched, read)"])
            .map(|((proxy, started), name)| {
                format!(
                    "{name} peak RSS {:.1} MiB, CPU {:.2} s",
                    proxy.peak_rss_mib(),
                    proxy.cpu_seconds() - started
                )
            })
            .collect();
        println!(
            "    per process: {}; redis-server {} (load average {})",
            instances.join("; "),
            redis_usage(redis),
            load_average()
        );
    }
}

/// What `redis-server` reports about itself: peak memory and CPU seconds since its start.
fn redis_usage(redis: &redis_server::RedisServer) -> String {
    let info = redis::Client::open(redis.url(0))
        .and_then(|client| client.get_connection())
        .and_then(|mut connection| redis::cmd("INFO").query::<String>(&mut connection))
        .unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .unwrap_or("?")
            .trim()
            .to_owned()
    };
    let cpu = ["used_cpu_user", "used_cpu_sys"]
        .iter()
        .filter_map(|name| field(name).parse::<f64>().ok())
        .sum::<f64>();
    format!(
        "peak memory {}, RSS {:.1} MiB, CPU {cpu:.2} s",
        field("used_memory_peak_human"),
        field("used_memory_rss").parse::<f64>().unwrap_or(0.0) / 1_048_576.0
    )
}

/// A create's multipart body: `person`, the `n`th garment, category upper.
fn create_form(person: &[u8], n: u64) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .part(
            "person",
            reqwest::multipart::Part::bytes(person.to_vec()).file_name("person.jpg"),
        )
        .part(
            "garment",
            reqwest::multipart::Part::bytes(garment(n)).file_name("garment.png"),
        )
        .text("category", "upper")
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Delays in milliseconds from each status change to its arrival (kernel receive timestamp)
/// and to the moment the benchmark client read it.
/// Only changes published after the proxy answered the stream count: the events a stream
/// replays at its start (published while it was being opened) measure how long opening took,
/// which `opening` keeps apart, with those replays' delays in `replayed`.
#[derive(Default)]
struct Delays {
    arrived: Vec<f64>,
    read: Vec<f64>,
    /// From sending the request to the arrival of the answer's first bytes.
    opening: Vec<f64>,
    replayed: Vec<f64>,
    /// When each counted event was published, beside its arrival delay, to tell the delays
    /// while streams were still being opened from those once all were open.
    published: Vec<(OffsetDateTime, f64)>,
    /// When the last stream's answer arrived.
    all_open: Option<OffsetDateTime>,
    /// The terminal event's delay, the one a shopper waits for.
    terminal: Vec<f64>,
}

/// Phase 1: `n` watchers over tasks of the local provider.
/// When the watched tasks start: all at once (the worst case: every task reaches each stage,
/// and its end, in the same second, so all N terminal frames and stream ends come in one
/// burst), or spread evenly over one task's length, as shoppers arriving over time would.
#[derive(Clone, Copy)]
enum TaskStarts {
    Together,
    Spread,
}

async fn watchers(n: usize, store: StoreMode, starts: TaskStarts) {
    let tasks = (n / 500).clamp(4, 20);
    let proxy = store
        .deploy(&[
            "--local-duration-ms",
            "12000",
            "--max-running-tasks",
            &tasks.to_string(),
        ])
        .await;
    let client = reqwest::Client::new();
    let person = figure(0);
    let idle_rss = proxy.peak_rss_mib();
    let delays = Arc::new(std::sync::Mutex::new(Delays::default()));
    let connected = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::with_capacity(n);
    let load_before = load_average();
    let (proxy_cpu, client_cpu) = (proxy.cpu_seconds(), own_cpu_seconds());
    let proxy_waited = waited_for_cpu(&proxy);
    let opened = Instant::now();
    let spacing = match starts {
        TaskStarts::Together => Duration::ZERO,
        TaskStarts::Spread => Duration::from_millis(12_000 / tasks as u64),
    };
    // Together: every create first, then the streams, so the tasks are at most a few
    // milliseconds apart; spread: each task's streams open right after its create.
    let mut created = Vec::new();
    if let TaskStarts::Together = starts {
        for t in 0..tasks {
            created.push(proxy.create(&client, &person, t as u64).await);
        }
    }
    let mut created = created.into_iter();
    for t in 0..tasks {
        let id = match created.next() {
            Some(id) => id,
            None => proxy.create(&client, &person, t as u64).await,
        };
        for w in (0..n).filter(|w| w % tasks == t) {
            let (id, addr) = (id.clone(), proxy.addr.clone());
            let delays = delays.clone();
            let connected = connected.clone();
            handles.push(tokio::spawn(async move {
                watch(&addr, &id, &delays, &connected).await
            }));
            if w % 200 == 199 {
                tokio::task::yield_now().await;
            }
        }
        tokio::time::sleep(spacing).await;
    }
    let mut completed = 0;
    for handle in handles {
        if handle.await.unwrap_or(false) {
            completed += 1;
        }
    }
    let seconds = opened.elapsed().as_secs_f64();
    let proxy_cpu = proxy.cpu_seconds() - proxy_cpu;
    let client_cpu = own_cpu_seconds() - client_cpu;
    let mut delays = std::mem::take(&mut *delays.lock().unwrap());
    for list in [
        &mut delays.arrived,
        &mut delays.read,
        &mut delays.opening,
        &mut delays.replayed,
        &mut delays.terminal,
    ] {
        list.sort_by(f64::total_cmp);
    }
    let all_open = delays.all_open.unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut steady: Vec<f64> = delays
        .published
        .iter()
        .filter(|(published, _)| *published > all_open)
        .map(|(_, delay)| *delay)
        .collect();
    steady.sort_by(f64::total_cmp);
    let proxy_waited = waited_for_cpu(&proxy) - proxy_waited;
    let frames = delays.arrived.len() + delays.replayed.len();
    println!(
        "watchers N={n:>6}, {}: {completed} streams to the end ({} connected, all ended {seconds:.1} s after the first opened, {tasks} tasks); \
         peak RSS {:.1} MiB (idle {idle_rss:.1} MiB); delivery delay p50 {:.1} ms, p99 {:.1} ms over {} events \
         (read by the client: p50 {:.1} ms, p99 {:.1} ms); CPU: proxy {:.0}% ({:.1} µs per event), client {:.0}% of one core; \
         load average {load_before} -> {}",
        match starts {
            TaskStarts::Together => "tasks started together".to_owned(),
            TaskStarts::Spread => format!("tasks started {} ms apart", spacing.as_millis()),
        },
        connected.load(Ordering::Relaxed),
        proxy.peak_rss_mib(),
        percentile(&delays.arrived, 0.5),
        percentile(&delays.arrived, 0.99),
        delays.arrived.len(),
        percentile(&delays.read, 0.5),
        percentile(&delays.read, 0.99),
        proxy_cpu * 100.0 / seconds,
        proxy_cpu * 1e6 / frames as f64,
        client_cpu * 100.0 / seconds,
        load_average(),
    );
    println!(
        "    opening a stream (request sent to answer arrived): p50 {:.1} ms, p99 {:.1} ms; \
         {} events published meanwhile, replayed at the stream's start (not counted above): p99 {:.1} ms; \
         delivery once all streams were open: p50 {:.1} ms, p99 {:.1} ms over {} events; the proxy's threads waited {proxy_waited:.2} s for a CPU while runnable (ran {proxy_cpu:.2} s)",
        percentile(&delays.opening, 0.5),
        percentile(&delays.opening, 0.99),
        delays.replayed.len(),
        percentile(&delays.replayed, 0.99),
        percentile(&steady, 0.5),
        percentile(&steady, 0.99),
        steady.len(),
    );
    println!(
        "    p99 by second of publication: {}; the terminal event: p50 {:.1} ms, p99 {:.1} ms",
        p99_by_second(&delays.published),
        percentile(&delays.terminal, 0.5),
        percentile(&delays.terminal, 0.99),
    );
}

/// The p99 delay of the events published in each second of the run, which tells a backlog
/// that builds up (rising) from one moment's stall (a spike) and from the streams' opening.
fn p99_by_second(published: &[(OffsetDateTime, f64)]) -> String {
    let Some(first) = published.iter().map(|(at, _)| *at).min() else {
        return String::new();
    };
    let mut seconds: Vec<Vec<f64>> = Vec::new();
    for (at, delay) in published {
        let second = (*at - first).whole_seconds() as usize;
        if seconds.len() <= second {
            seconds.resize_with(second + 1, Vec::new);
        }
        seconds[second].push(*delay);
    }
    seconds
        .iter_mut()
        .map(|delays| {
            delays.sort_by(f64::total_cmp);
            format!("{:.0}", percentile(delays, 0.99))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Seconds the proxy's threads spent runnable but waiting for a CPU (the scheduler's own
/// count, summed over live threads): on shared cores, how much of the delay is contention.
fn waited_for_cpu(proxy: &Deployment) -> f64 {
    proxy
        .instances
        .iter()
        .map(|instance| thread_wait_seconds(instance.pid()))
        .sum()
}

fn thread_wait_seconds(pid: u32) -> f64 {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    threads
        .filter_map(|thread| std::fs::read_to_string(thread.ok()?.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum::<u64>() as f64
        / 1e9
}

/// The 1-minute load average.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned()
}

fn own_cpu_seconds() -> f64 {
    cpu_seconds_of("self")
}

/// User + system CPU seconds of a process so far.
fn cpu_seconds_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // After the command name: state is field 3, utime 14, stime 15 (1-based).
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Follows one task's events over a raw connection; records the delays of every event
/// published after the stream opened. True if the stream reached the terminal status.
async fn watch(
    addr: &str,
    id: &str,
    delays: &std::sync::Mutex<Delays>,
    connected: &AtomicU64,
) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    receive_timestamps(&stream);
    let request = format!(
        "GET /v1/tryons/{id}/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    connected.fetch_add(1, Ordering::Relaxed);
    let opened = OffsetDateTime::now_utc();
    let mut answered = None;
    let mut mine = Delays::default();
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let mut done = false;
    while !done {
        let Some((read, arrived)) = receive(&stream, &mut chunk).await else {
            break;
        };
        let now = OffsetDateTime::now_utc();
        let arrived = arrived.unwrap_or(now);
        let answered = *answered.get_or_insert_with(|| {
            mine.opening.push(millis(arrived - opened));
            arrived
        });
        pending.extend_from_slice(&chunk[..read]);
        let mut consumed = 0;
        while let Some(end) = pending[consumed..].iter().position(|&b| b == b'\n') {
            let line = &pending[consumed..consumed + end];
            consumed += end + 1;
            let Some(updated) = updated_at(line) else {
                continue;
            };
            if updated > answered {
                mine.arrived.push(millis(arrived - updated));
                mine.published.push((updated, millis(arrived - updated)));
                mine.read.push(millis(now - updated));
            } else if updated > opened {
                mine.replayed.push(millis(arrived - updated));
            }
            if contains(line, b"\"status\":\"succeeded\"")
                || contains(line, b"\"status\":\"failed\"")
            {
                if updated > answered {
                    mine.terminal.push(millis(arrived - updated));
                }
                done = true;
                break;
            }
        }
        pending.drain(..consumed);
    }
    let mut delays = delays.lock().unwrap();
    delays.arrived.extend(mine.arrived);
    delays.read.extend(mine.read);
    delays.opening.extend(mine.opening);
    delays.replayed.extend(mine.replayed);
    delays.published.extend(mine.published);
    delays.terminal.extend(mine.terminal);
    delays.all_open = delays.all_open.max(answered);
    done
}

fn millis(duration: time::Duration) -> f64 {
    duration.as_seconds_f64() * 1000.0
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The `updated_at` of an SSE data line holding a task view.
fn updated_at(line: &[u8]) -> Option<OffsetDateTime> {
    const KEY: &[u8] = b"\"updated_at\":\"";
    let at = line.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &line[at..];
    let end = rest.iter().position(|&b| b == b'"')?;
    OffsetDateTime::parse(std::str::from_utf8(&rest[..end]).ok()?, &Rfc3339).ok()
}

/// Asks the kernel to stamp each received segment with the wall-clock time it arrived.
fn receive_timestamps(stream: &TcpStream) {
    use nix::sys::socket::{setsockopt, sockopt::ReceiveTimestampns};
    // Without stamps the delay is measured when the client reads: later, never earlier.
    let _ = setsockopt(stream, ReceiveTimestampns, &true);
}

/// Reads what has arrived into `buffer`: the byte count (None at the end or on an error) and
/// the kernel's receive timestamp of the newest segment read, when it gave one.
async fn receive(stream: &TcpStream, buffer: &mut [u8]) -> Option<(usize, Option<OffsetDateTime>)> {
    loop {
        stream.readable().await.ok()?;
        match stream.try_io(tokio::io::Interest::READABLE, || {
            recv_stamped(stream, buffer)
        }) {
            Ok((0, _)) => return None,
            Ok(received) => return Some(received),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return None,
        }
    }
}

fn recv_stamped(
    stream: &TcpStream,
    buffer: &mut [u8],
) -> std::io::Result<(usize, Option<OffsetDateTime>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::AsRawFd;
    let mut iov = [std::io::IoSliceMut::new(buffer)];
    // Room for one control message holding a timespec.
    let mut control = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let message = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_DONTWAIT,
    )?;
    let mut stamp = None;
    for control in message.cmsgs()? {
        if let ControlMessageOwned::ScmTimestampns(time) = control {
            let nanos = i128::from(time.tv_sec()) * 1_000_000_000 + i128::from(time.tv_nsec());
            stamp = OffsetDateTime::from_unix_timestamp_nanos(nanos).ok();
        }
    }
    Ok((message.bytes, stamp))
}

/// Phase 2: open-loop status reads at each rate.
async fn reads(rates: &[u64], store: StoreMode) {
    let proxy = store.deploy(&["--local-duration-ms", "1000"]).await;
    let client = reqwest::Client::new();
    let id = proxy.create(&client, &figure(0), 0).await;
    let path = format!("/v1/tryons/{id}");
    for &rate in rates {
        let seconds = 5;
        let load_before = load_average();
        let (proxy_cpu, client_cpu) = (proxy.cpu_seconds(), own_cpu_seconds());
        let proxy_waited = waited_for_cpu(&proxy);
        let reads = open_loop(&proxy.addr, &path, rate, seconds).await;
        let proxy_cpu = proxy.cpu_seconds() - proxy_cpu;
        let client_cpu = own_cpu_seconds() - client_cpu;
        let proxy_waited = waited_for_cpu(&proxy) - proxy_waited;
        let answered = reads.answered.len() as f64;
        println!(
            "status reads {rate:>5}/s for {seconds} s (open loop, {} requests, {READ_CONNECTIONS} connections): \
             p50 {:.2} ms, p99 {:.2} ms, {} errors; load average {load_before} -> {}",
            reads.total,
            percentile(&reads.answered, 0.5),
            percentile(&reads.answered, 0.99),
            reads.errors,
            load_average(),
        );
        println!(
            "    latency: from the request's due instant to its answer's arrival (kernel receive timestamp), \
             less any time the client itself wrote it late while a connection was free; \
             the client was late p50 {:.2} ms, p99 {:.2} ms (counting that too: p50 {:.2} ms, p99 {:.2} ms); \
             CPU per read: proxy {:.1} µs, client {:.1} µs; the proxy's threads waited {proxy_waited:.2} s \
             for a CPU while runnable (ran {proxy_cpu:.2} s)",
            percentile(&reads.client_late, 0.5),
            percentile(&reads.client_late, 0.99),
            percentile(&reads.from_due, 0.5),
            percentile(&reads.from_due, 0.99),
            proxy_cpu * 1e6 / answered,
            client_cpu * 1e6 / answered,
        );
    }
}

/// Keep-alive connections the read phase spreads its requests over: enough that only a
/// stalled proxy (every one of them awaiting an answer) makes a request wait for one, which
/// then counts against the proxy.
const READ_CONNECTIONS: usize = 128;

/// Latencies of one open-loop run, in milliseconds, sorted.
#[derive(Default)]
struct ReadLatencies {
    /// What the proxy is answerable for: from the due instant to the answer's arrival, less
    /// the client's own lateness.
    answered: Vec<f64>,
    /// Due instant to the answer's arrival, whatever made the request late.
    from_due: Vec<f64>,
    /// Time between the due instant and the request's write while a connection was free:
    /// the client's timer or thread, not the proxy.
    client_late: Vec<f64>,
    errors: u64,
    total: u64,
}

/// One answered request, in milliseconds since the run's start.
#[derive(Debug, Clone, Copy)]
struct Exchange {
    due: f64,
    written: f64,
    arrived: f64,
}

/// Sends GET `path` at `rate` per second for `seconds` over [`READ_CONNECTIONS`] keep-alive
/// connections, open loop: each request is due at its scheduled instant whatever happened
/// before, so a slow proxy cannot slow the load down. The schedule is kept by a thread of its
/// own sleeping with a 1 ns timer slack (Tokio's timer ticks in milliseconds, which alone made
/// requests up to 1 ms late), and answers are timed by the kernel's receive timestamp, so the
/// client reading late does not count. A request written late counts from its due instant
/// for as long as every connection was awaiting an answer (the proxy's doing), and from its
/// write otherwise (the client's); both figures are kept.
async fn open_loop(addr: &str, path: &str, rate: u64, seconds: u64) -> ReadLatencies {
    let total = rate * seconds;
    let request: Arc<[u8]> = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")
        .into_bytes()
        .into();
    let mut connections = Vec::with_capacity(READ_CONNECTIONS);
    for _ in 0..READ_CONNECTIONS {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the proxy");
        receive_timestamps(&stream);
        connections.push(stream);
    }
    let start = (Instant::now(), OffsetDateTime::now_utc());
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let (due_tx, due_rx) = tokio::sync::mpsc::unbounded_channel();
    let scheduler = std::thread::spawn(move || {
        // A timer slack of 1 ns for this thread only, so its sleeps end on time.
        let _ = nix::sys::prctl::set_timerslack(1);
        for i in 0..total {
            let due = interval * i as u32;
            let wait = (start.0 + due).saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            if due_tx.send(due.as_secs_f64() * 1000.0).is_err() {
                return;
            }
        }
    });
    let since_start = move |at: OffsetDateTime| (at - start.1).as_seconds_f64() * 1000.0;
    let due_rx = Arc::new(tokio::sync::Mutex::new(due_rx));
    let exchanges = Arc::new(std::sync::Mutex::new(Vec::with_capacity(total as usize)));
    let errors = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for stream in connections {
        let (due_rx, exchanges, errors) = (due_rx.clone(), exchanges.clone(), errors.clone());
        let (request, addr) = (request.clone(), addr.to_owned());
        workers.push(tokio::spawn(async move {
            let mut connection = Some(stream);
            let mut response = Vec::with_capacity(4096);
            loop {
                let Some(due) = due_rx.lock().await.recv().await else {
                    return;
                };
                if connection.is_none() {
                    connection = TcpStream::connect(&addr).await.ok();
                    connection.as_ref().map(receive_timestamps);
                }
                let written = since_start(OffsetDateTime::now_utc());
                let arrived = match connection.as_mut() {
                    Some(stream) => exchange(stream, &request, &mut response).await,
                    None => None,
                };
                let Some(arrived) = arrived else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    connection = None;
                    continue;
                };
                exchanges.lock().unwrap().push(Exchange {
                    due,
                    written,
                    arrived: since_start(arrived),
                });
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    scheduler.join().expect("the read scheduler does not panic");
    let exchanges = std::mem::take(&mut *exchanges.lock().unwrap());
    let mut latencies = attribute(&exchanges);
    latencies.errors = errors.load(Ordering::Relaxed);
    latencies.total = total;
    latencies
}

/// Splits each request's lateness into the proxy's part (while every connection awaited an
/// answer, so none was free to send it on) and the client's (the rest), and gives the
/// latencies sorted.
fn attribute(exchanges: &[Exchange]) -> ReadLatencies {
    let saturated = all_connections_busy(exchanges);
    let mut latencies = ReadLatencies::default();
    for exchange in exchanges {
        let late = (exchange.written - exchange.due).max(0.0);
        let proxys_part = overlap(&saturated, exchange.due, exchange.written);
        let from_due = exchange.arrived - exchange.due;
        latencies.from_due.push(from_due);
        latencies.client_late.push(late - proxys_part);
        latencies.answered.push(from_due - (late - proxys_part));
    }
    for list in [
        &mut latencies.answered,
        &mut latencies.from_due,
        &mut latencies.client_late,
    ] {
        list.sort_by(f64::total_cmp);
    }
    latencies
}

/// The sorted, disjoint periods during which all [`READ_CONNECTIONS`] connections had a
/// request written and its answer not yet arrived.
fn all_connections_busy(exchanges: &[Exchange]) -> Vec<(f64, f64)> {
    let mut edges: Vec<(f64, i32)> = exchanges
        .iter()
        .flat_map(|e| [(e.written, 1), (e.arrived, -1)])
        .collect();
    // At equal instants an arrival frees its connection before a write takes it again.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut busy, mut since, mut periods) = (0usize, 0.0, Vec::new());
    for (at, change) in edges {
        if change > 0 {
            busy += 1;
            if busy == READ_CONNECTIONS {
                since = at;
            }
        } else {
            if busy == READ_CONNECTIONS {
                periods.push((since, at));
            }
            busy = busy.saturating_sub(1);
        }
    }
    periods
}

/// How much of `from..to` the sorted, disjoint `periods` cover.
fn overlap(periods: &[(f64, f64)], from: f64, to: f64) -> f64 {
    let first = periods.partition_point(|&(_, end)| end <= from);
    periods[first..]
        .iter()
        .take_while(|&&(start, _)| start < to)
        .map(|&(start, end)| end.min(to) - start.max(from))
        .sum()
}

/// One request/response on a keep-alive connection: the kernel's receive timestamp of the
/// answer's last bytes (the time they were read where the kernel gave none), or None on any
/// error or non-200.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    response: &mut Vec<u8>,
) -> Option<OffsetDateTime> {
    stream.write_all(request).await.ok()?;
    response.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let (read, stamp) = receive(stream, &mut chunk).await?;
        let arrived = stamp.unwrap_or_else(OffsetDateTime::now_utc);
        response.extend_from_slice(&chunk[..read]);
        let Some(head_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = &response[..head_end];
        let length = content_length(head).unwrap_or(0);
        if response.len() >= head_end + 4 + length {
            return head.starts_with(b"HTTP/1.1 200").then_some(arrived);
        }
    }
}

/// The Content-Length of a response head.
fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let (name, value) = line.split_at(line.iter().position(|&b| b == b':')?);
        if !name.eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok()
    })
}

/// Phase 3: sustained creates with a 2048 px photo from 4 concurrent clients.
async fn creates(seconds: u64, store: StoreMode) {
    // One slot and a long duration: the provider's own work stays out of the figure.
    let proxy = store
        .deploy(&["--local-duration-ms", "3600000", "--max-running-tasks", "1"])
        .await;
    let person = Arc::new(photo_2048());
    let client = reqwest::Client::new();
    let counter = Arc::new(AtomicU64::new(1));
    let cpu_before = proxy.cpu_seconds();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let proxy = Arc::new(proxy);
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (proxy, client, person, counter) = (
            proxy.clone(),
            client.clone(),
            person.clone(),
            counter.clone(),
        );
        clients.push(tokio::spawn(async move {
            let (mut made, mut refused) = (0u64, Vec::new());
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                match proxy.try_create(&client, &person, n).await {
                    202 => made += 1,
                    status => refused.push(status),
                }
            }
            (made, refused)
        }));
    }
    let (mut made, mut refused) = (0, Vec::new());
    for client in clients {
        let (m, r) = client.await.unwrap();
        made += m;
        refused.extend(r);
    }
    if !refused.is_empty() {
        refused.sort_unstable();
        refused.dedup();
        println!(
            "creates: some refused, statuses {refused:?} (0 = no answer); those are not counted"
        );
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = proxy.cpu_seconds() - cpu_before;
    println!(
        "creates (2048x1536 JPEG of {} KiB, 4 clients, {seconds} s): {made} created, {:.1}/s sustained; proxy CPU {:.1} ms per create",
        person.len() / 1024,
        made as f64 / elapsed,
        cpu * 1000.0 / made as f64
    );
}

/// A 2048×1536 photo with texture, so decoding and re-encoding do real work.
fn photo_2048() -> Vec<u8> {
    let image = RgbImage::from_fn(2048, 1536, |x, y| {
        let noise = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) % 32;
        Rgb([
            (x / 8 % 256) as u8 ^ noise as u8,
            (y / 6 % 256) as u8,
            ((x + y) / 16 % 256) as u8,
        ])
    });
    encode(&image, ImageFormat::Jpeg)
}

/// A standing figure on a light backdrop, which the local compositor can dress.
fn figure(n: u8) -> Vec<u8> {
    let mut image = RgbImage::from_pixel(240, 400, Rgb([236, 236, 232]));
    let skin = Rgb([190, 140, 110]);
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
        for yy in y..y + h {
            for xx in x..x + w {
                image.put_pixel(xx, yy, skin);
            }
        }
    }
    image.put_pixel(0, 0, Rgb([n, n, n]));
    encode(&image, ImageFormat::Jpeg)
}

/// A red shirt whose corner pixel encodes `n`, so every create is a distinct submission.
fn garment(n: u64) -> Vec<u8> {
    let mut image = RgbImage::from_pixel(64, 64, Rgb([248, 248, 248]));
    for y in 10..54 {
        for x in 16..48 {
            image.put_pixel(x, y, Rgb([200, 24, 32]));
        }
    }
    let bytes = n.to_le_bytes();
    for (i, byte) in bytes.iter().enumerate() {
        image.put_pixel(i as u32, 0, Rgb([*byte, 0, 0]));
    }
    encode(&image, ImageFormat::Png)
}

fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}
