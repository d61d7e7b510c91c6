//! The scenarios that attack the proxy's parts in this process (the garment fetcher, a
//! Redis-backed app), where counting what the attack left behind (map entries, Redis
//! commands) needs the proxy's internals; memory is this process's RSS, before and after.

pub mod garment_cancel;
pub mod ids_flood;

use std::time::{Duration, Instant};

/// The in-process scenarios' names, in the order they run.
pub const SCENARIOS: [&str; 2] = ["garment_cancel", "ids_flood"];

/// Runs the in-process scenario called `name`.
pub async fn run(name: &str) {
    match name {
        "garment_cancel" => garment_cancel::run().await,
        "ids_flood" => ids_flood::run().await,
        other => unreachable!("no in-process scenario {other}"),
    }
}

/// Latencies of honest requests, in arrival order.
#[derive(Default)]
pub struct Honest(Vec<Duration>);

impl Honest {
    /// `GET url` every `every` until `until`, recording each answer's time (a failed answer
    /// counts as the time it took, and is reported).
    pub async fn measure(url: String, every: Duration, until: Instant) -> Self {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut seen = Honest::default();
        let mut failures = 0;
        while Instant::now() < until {
            let started = Instant::now();
            match client.get(&url).send().await {
                Ok(response) if response.status().is_success() => {
                    let _ = response.bytes().await;
                }
                _ => failures += 1,
            }
            seen.0.push(started.elapsed());
            tokio::time::sleep(every).await;
        }
        if failures > 0 {
            println!("  honest requests that failed: {failures}");
        }
        seen
    }

    pub fn report(mut self, label: &str) {
        self.0.sort();
        let at = |q: f64| {
            self.0
                .get(((self.0.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        println!(
            "  {label}: {} honest requests, p50 {:.2} ms, p99 {:.2} ms",
            self.0.len(),
            at(0.50).as_secs_f64() * 1000.0,
            at(0.99).as_secs_f64() * 1000.0
        );
    }
}

/// This process's resident memory, in KiB (`VmRSS` of /proc/self/status).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix("VmRSS:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .expect("VmRSS in /proc/self/status")
}
