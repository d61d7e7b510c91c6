//! `cargo xtask demo`: the product on this machine in one command — the widget built for
//! release, the proxy with the local provider and the demo storefront, and the URL to open.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::process::{self, repo_root};
use crate::{dist, setup};

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

pub fn demo(proxy_args: &[String]) -> Result<()> {
    setup::ensure_wasm_target()?;
    if !setup::ensure_npm_packages()? {
        eprintln!("note: npm not found; building without wasm-opt (the widget is larger)");
    }
    setup::ensure_demo_samples()?;
    dist::dist()?;
    process::run(process::cargo().args(["build", "--release", "-p", "tryon-proxy"]))?;

    let binary = repo_root().join("target/release/tryon-proxy");
    let mut command = process::in_repo(&binary);
    command.arg("--demo").args(proxy_args);
    eprintln!("$ {}", process::describe(&command));
    let mut child = command.spawn().map_err(|source| Error::Spawn {
        command: binary.display().to_string(),
        source,
    })?;

    let listen = listen_address(proxy_args);
    if wait_until_listening(&listen, Duration::from_secs(15)) {
        println!("\nDemo storefront: http://{listen}/   (Ctrl-C stops it)\n");
    }
    let status = child.wait().map_err(|source| Error::Spawn {
        command: binary.display().to_string(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::CommandFailed {
            command: process::describe(&command),
            status,
        })
    }
}

/// The address the proxy will listen on: `--listen` among the arguments, else `TRYON_LISTEN`,
/// else the proxy's default.
fn listen_address(proxy_args: &[String]) -> String {
    let mut args = proxy_args.iter();
    while let Some(arg) = args.next() {
        if let Some(value) = arg.strip_prefix("--listen=") {
            return value.to_string();
        }
        if arg == "--listen"
            && let Some(value) = args.next()
        {
            return value.clone();
        }
    }
    std::env::var("TRYON_LISTEN").unwrap_or_else(|_| DEFAULT_LISTEN.to_string())
}

fn wait_until_listening(listen: &str, timeout: Duration) -> bool {
    let Some(address) = listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
    else {
        return false;
    };
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if connectable(address) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn connectable(address: SocketAddr) -> bool {
    TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn listen_flag_in_either_spelling_wins() {
        assert_eq!(
            listen_address(&args(&["--listen", "127.0.0.1:9000"])),
            "127.0.0.1:9000"
        );
        assert_eq!(
            listen_address(&args(&["-v", "--listen=0.0.0.0:81"])),
            "0.0.0.0:81"
        );
    }
}
