//! Issue 13's bounded loopback attacks: each scenario (one module file each) runs an attack
//! of fixed size and length against an in-process proxy (or the part of it under attack) and
//! prints what honest clients saw meanwhile (p50/p99) and the process's memory.
//!
//! ```text
//! cargo run --release -p tryon-proxy --example attack_bench [-- garment_cancel ids_flood]
//! ```
//!
//! With no argument every scenario runs. Loopback only; every loop is bounded in count and
//! time. Memory is this process's RSS (proxy and clients together), before and after.

mod garment_cancel;
mod ids_flood;

use std::time::{Duration, Instant};

fn main() {
    let chosen: Vec<String> = std::env::args().skip(1).collect();
    let wants = |name: &str| chosen.is_empty() || chosen.iter().any(|c| c == name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    if wants("garment_cancel") {
        runtime.block_on(garment_cancel::run());
    }
    if wants("ids_flood") {
        runtime.block_on(ids_flood::run());
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
