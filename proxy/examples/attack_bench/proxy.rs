//! The proxy under attack: the real binary as a child process, so its memory is its own.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpStream;

pub struct Proxy {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    data: PathBuf,
}

/// `TRYON_PROXY_BIN`, or `tryon-proxy` in the target folder this example was built into.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TRYON_PROXY_BIN") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .expect("own path")
        .parent()
        .and_then(|examples| examples.parent())
        .expect("target/<profile>")
        .join("tryon-proxy")
}

impl Proxy {
    /// Starts the proxy with `args` and `envs` on a free loopback port and a fresh data folder.
    pub async fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let binary = binary();
        assert!(
            binary.exists(),
            "{} is missing: build it with `cargo build -p tryon-proxy --bin tryon-proxy`",
            binary.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let data = std::env::temp_dir().join(format!("tryon-attack-{port}"));
        let child = Command::new(binary)
            .args(["--listen", &addr, "--data-dir"])
            .arg(&data)
            .args(["--local-duration-ms", "300"])
            .args(args)
            .envs(envs.iter().copied())
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tryon-proxy");
        let proxy = Self { child, addr, data };
        for _ in 0..400 {
            if TcpStream::connect(&proxy.addr).await.is_ok() {
                return proxy;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("tryon-proxy did not start");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Resident set now, MiB.
    pub fn rss_mib(&self) -> f64 {
        self.status_kib("VmRSS:") as f64 / 1024.0
    }

    /// Peak resident set since start, MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        self.status_kib("VmHWM:") as f64 / 1024.0
    }

    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
