//! The `fake-provider` process the browser tests start: its command line and its two
//! inspection routes are a contract with `tests/e2e/fake-provider.mjs`.
//!
//! Being an integration test of this crate also makes `cargo test --workspace` build the
//! binary, so `cargo xtask test` hands the browser tests the test build's own executable
//! instead of building every dependency a second time with other features.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The spawned fake, killed when the test ends however it ends.
struct FakeProcess(Child);

impl Drop for FakeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `fake-provider --provider <provider> --port 0` and returns it with the base URL it
/// printed on its first line.
fn start(provider: &str) -> (FakeProcess, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-provider"))
        .args(["--provider", provider, "--port", "0", "--task-ms", "50"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("fake-provider starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let process = FakeProcess(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("fake-provider prints its address");
    let base_url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{provider}: first line was {line:?}, not `listening on <url>`"))
        .to_owned();
    (process, base_url)
}

#[tokio::test]
async fn every_vendor_fake_serves_its_inspection_routes_on_the_printed_address() {
    let client = reqwest::Client::new();
    for provider in ["fitroom", "tryiton", "vtryon", "fitinview"] {
        let (_process, base_url) = start(provider);
        assert!(
            base_url.starts_with("http://127.0.0.1:"),
            "{provider} listens on loopback only, printed {base_url}"
        );
        let deviations: serde_json::Value = client
            .get(format!("{base_url}/__deviations"))
            .send()
            .await
            .unwrap_or_else(|error| panic!("{provider}: GET /__deviations: {error}"))
            .json()
            .await
            .expect("deviations are JSON");
        assert_eq!(
            deviations,
            serde_json::json!([]),
            "{provider}: a fresh fake has seen no deviation"
        );
        let calls = client
            .get(format!("{base_url}/__calls"))
            .send()
            .await
            .unwrap_or_else(|error| panic!("{provider}: GET /__calls: {error}"));
        assert!(
            calls.status().is_success(),
            "{provider}: /__calls answered {}",
            calls.status()
        );
        let calls: serde_json::Value = calls.json().await.expect("calls are JSON");
        assert_eq!(
            calls,
            serde_json::json!({}),
            "{provider}: inspection routes are not counted as vendor calls"
        );
    }
}

#[test]
fn an_unknown_vendor_is_a_usage_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_fake-provider"))
        .args(["--provider", "acme", "--port", "0"])
        .output()
        .expect("fake-provider runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown provider \"acme\"") && stderr.contains("usage:"),
        "stderr: {stderr}"
    );
}
