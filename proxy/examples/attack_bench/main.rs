//! Issue 13's bounded loopback attacks: each scenario starts a real `tryon-proxy` process (the
//! binary next to this example, or `TRYON_PROXY_BIN`) on a loopback port, attacks it for a
//! bounded count and time from one loopback address while an honest client on another address
//! measures its latency, and prints the proxy's peak RSS (and its RSS before the attack) and the
//! honest client's p50/p99.
//!
//! ```text
//! cargo build -p tryon-proxy --bin tryon-proxy --example attack_bench
//! target/debug/examples/attack_bench [replay_uploads connection_hog relay_flood]
//! ```
//!
//! Naming scenarios runs only those. Adding one: a new file in this folder with
//! `pub async fn run() -> Report` and its name in the `scenarios!` line below. The scenarios in
//! `in_process/` (garment_cancel, ids_flood) attack the proxy's parts inside this process, since
//! what they count (in-flight map entries, Redis commands) is internal.
//!
//! Addresses: the whole of 127.0.0.0/8 is loopback on Linux, so the attacker, the honest
//! client and (for the App Proxy) Shopify's relay each get an address of their own and the
//! proxy's per-address limits see them apart, as it would see real clients.

mod honest;
mod in_process;
mod proxy;

use std::future::Future;
use std::pin::Pin;

/// What one scenario measured.
pub struct Report {
    /// The proxy's resident set before the attack started, MiB.
    pub idle_rss_mib: f64,
    /// The proxy's peak resident set (VmHWM) over its whole life, MiB.
    pub peak_rss_mib: f64,
    pub honest: honest::Latencies,
    /// What the attack achieved, in the scenario's own words.
    pub attack: String,
}

type Run = fn() -> Pin<Box<dyn Future<Output = Report>>>;

struct Scenario {
    name: &'static str,
    run: Run,
}

/// Declares each scenario's module and lists it, in this order.
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(mod $name;)*
        const SCENARIOS: &[Scenario] = &[$(Scenario {
            name: stringify!($name),
            run: || Box::pin($name::run()),
        }),*];
    };
}

scenarios!(replay_uploads, connection_hog, relay_flood);

#[tokio::main]
async fn main() {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    println!(
        "tryon-proxy attack benchmark (loopback, {} CPUs, proxy {})",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        proxy::binary().display()
    );
    for scenario in SCENARIOS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == scenario.name) {
            continue;
        }
        println!("\n== {}", scenario.name);
        let report = (scenario.run)().await;
        println!("   attack: {}", report.attack);
        println!(
            "   proxy RSS: {:.1} MiB before the attack, peak {:.1} MiB (growth {:.1} MiB)",
            report.idle_rss_mib,
            report.peak_rss_mib,
            report.peak_rss_mib - report.idle_rss_mib
        );
        println!("   honest client: {}", report.honest);
    }
    for name in in_process::SCENARIOS {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            println!("\n== {name} (in process)");
            in_process::run(name).await;
        }
    }
}
