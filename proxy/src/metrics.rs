//! What an operator graphs and alerts on, counted where it happens and rendered in the
//! Prometheus text format (`metrics_endpoint.rs` serves it as `GET /metrics`).
//!
//! Hand-rolled rather than `prometheus-client`: a dozen series with fixed names, written in
//! one place, need no registry types threaded through every module, and the text format is
//! stable and simple. The counters are process-wide (a static), because the places that count
//! (the registry's drivers, the upstream client, the event streams) share no handle; each
//! series only ever grows within the process, so tests read differences.
//!
//! Labels never carry a key, a photo, a garment URL or a task id: only provider names,
//! outcome codes, normalised endpoint paths and HTTP statuses.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the upstream latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS`].
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, Labels), u64>>,
    latency: Mutex<BTreeMap<Labels, Histogram>>,
    watchers: AtomicI64,
    /// The credit balance each vendor last reported, by provider name.
    credits: Mutex<BTreeMap<String, f64>>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

/// The counters' names and help lines, in the order they are written.
const COUNTERS: [(&str, &str); 4] = [
    (
        "tryon_tryons_total",
        "Finished try-ons by provider and outcome (succeeded or the error code).",
    ),
    (
        "tryon_upstream_requests_total",
        "Calls to the vendor API by endpoint and HTTP status (or error).",
    ),
    (
        "tryon_credits_spent_total",
        "Try-ons the provider accepted, which the vendor bills.",
    ),
    (
        "tryon_rate_limit_refusals_total",
        "Requests refused with 429 (rate limit or quota).",
    ),
];

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn add(name: &'static str, labels: &[(&'static str, &str)]) {
    let labels = labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    *lock(&METRICS.counters).entry((name, labels)).or_default() += 1;
}

/// A try-on ended: `outcome` is `succeeded` or its error code.
pub fn tryon_finished(provider: &str, outcome: &str) {
    add(
        "tryon_tryons_total",
        &[("provider", provider), ("outcome", outcome)],
    );
}

/// The provider accepted a task: one credit spent.
pub fn credit_spent(provider: &str) {
    add("tryon_credits_spent_total", &[("provider", provider)]);
}

/// A request was refused with 429.
pub fn rate_limit_refused(route: &str) {
    add("tryon_rate_limit_refusals_total", &[("route", route)]);
}

/// One call to a vendor: its path (ids replaced, see [`endpoint_of`]), status and latency.
pub fn upstream_call(path: &str, status: &str, elapsed: Duration) {
    let endpoint = endpoint_of(path);
    add(
        "tryon_upstream_requests_total",
        &[("endpoint", &endpoint), ("status", status)],
    );
    let seconds = elapsed.as_secs_f64();
    let mut latency = lock(&METRICS.latency);
    let histogram = latency.entry(vec![("endpoint", endpoint)]).or_default();
    for (bucket, bound) in histogram.buckets.iter_mut().zip(LATENCY_BUCKETS) {
        if seconds <= bound {
            *bucket += 1;
        }
    }
    histogram.count += 1;
    histogram.sum += seconds;
}

/// The balance a vendor reported for the merchant's account (a gauge per provider; never
/// labelled with anything that names the key).
pub fn provider_credits(provider: &str, credits: f64) {
    lock(&METRICS.credits).insert(provider.to_owned(), credits);
}

/// A URL path with its id-like segments (anything with a digit, longer than 6 characters)
/// replaced by `{id}`, so vendor task ids do not become one series each.
pub fn endpoint_of(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.len() > 6 && segment.chars().any(|c| c.is_ascii_digit()) {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Counts one open event stream until dropped.
pub struct WatcherGuard(());

pub fn watcher_connected() -> WatcherGuard {
    METRICS.watchers.fetch_add(1, Ordering::Relaxed);
    WatcherGuard(())
}

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        METRICS.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Label values are escaped as the text format requires.
fn write_labels(out: &mut String, labels: &[(&'static str, String)], extra: Option<(&str, &str)>) {
    let mut all: Vec<(&str, String)> = labels.iter().map(|(k, v)| (*k, v.clone())).collect();
    if let Some((k, v)) = extra {
        all.push((k, v.to_owned()));
    }
    if all.is_empty() {
        return;
    }
    out.push('{');
    for (index, (key, value)) in all.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let value = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(out, "{key}=\"{value}\"");
    }
    out.push('}');
}

/// The whole exposition, with the gauges read now.
pub fn render(queue_depth: usize) -> String {
    let mut out = String::new();
    let counters = lock(&METRICS.counters);
    for (name, help) in COUNTERS {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for ((series, labels), value) in counters.iter().filter(|((n, _), _)| *n == name) {
            out.push_str(series);
            write_labels(&mut out, labels, None);
            let _ = writeln!(out, " {value}");
        }
    }
    drop(counters);
    let name = "tryon_upstream_request_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Latency of calls to the vendor API.\n# TYPE {name} histogram"
    );
    for (labels, histogram) in lock(&METRICS.latency).iter() {
        for (count, bound) in histogram.buckets.iter().zip(LATENCY_BUCKETS) {
            out.push_str(name);
            out.push_str("_bucket");
            write_labels(&mut out, labels, Some(("le", &bound.to_string())));
            let _ = writeln!(out, " {count}");
        }
        let _ = write!(out, "{name}_bucket");
        write_labels(&mut out, labels, Some(("le", "+Inf")));
        let _ = writeln!(out, " {}", histogram.count);
        let _ = write!(out, "{name}_sum");
        write_labels(&mut out, labels, None);
        let _ = writeln!(out, " {}", histogram.sum);
        let _ = write!(out, "{name}_count");
        write_labels(&mut out, labels, None);
        let _ = writeln!(out, " {}", histogram.count);
    }
    let name = "tryon_provider_credits";
    let _ = writeln!(
        out,
        "# HELP {name} Credit balance the vendor last reported for the account.\n# TYPE {name} gauge"
    );
    for (provider, credits) in lock(&METRICS.credits).iter() {
        out.push_str(name);
        write_labels(&mut out, &[("provider", provider.clone())], None);
        let _ = writeln!(out, " {credits}");
    }
    let watchers = METRICS.watchers.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# HELP tryon_queue_depth Try-ons waiting for a running slot.\n# TYPE tryon_queue_depth gauge\ntryon_queue_depth {queue_depth}\n\
         # HELP tryon_watchers Open event streams.\n# TYPE tryon_watchers gauge\ntryon_watchers {watchers}"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_ids_in_paths_collapse_into_one_endpoint() {
        assert_eq!(endpoint_of("/api/tasks/8f3a91c2d4"), "/api/tasks/{id}");
        assert_eq!(endpoint_of("/v2/tryon"), "/v2/tryon");
    }

    #[test]
    fn the_exposition_has_every_series_with_types_and_cumulative_buckets() {
        upstream_call(
            "/unit-test/tasks/abc123456",
            "200",
            Duration::from_millis(300),
        );
        tryon_finished("unit-test", "provider_failed");
        provider_credits("unit-test-vendor", 41.5);
        let text = render(3);
        for line in [
            "# TYPE tryon_tryons_total counter",
            "tryon_tryons_total{provider=\"unit-test\",outcome=\"provider_failed\"}",
            "tryon_upstream_requests_total{endpoint=\"/unit-test/tasks/{id}\",status=\"200\"}",
            "tryon_upstream_request_duration_seconds_bucket{endpoint=\"/unit-test/tasks/{id}\",le=\"0.25\"} 0",
            "tryon_upstream_request_duration_seconds_bucket{endpoint=\"/unit-test/tasks/{id}\",le=\"0.5\"} 1",
            "tryon_upstream_request_duration_seconds_bucket{endpoint=\"/unit-test/tasks/{id}\",le=\"+Inf\"} 1",
            "# TYPE tryon_queue_depth gauge",
            "tryon_queue_depth 3",
            "tryon_watchers ",
            "# TYPE tryon_rate_limit_refusals_total counter",
            "# TYPE tryon_provider_credits gauge",
            "tryon_provider_credits{provider=\"unit-test-vendor\"} 41.5",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
