//! Installing what the commands need when it is absent, so a fresh clone (and CI, with no stdin)
//! gets there with one command. Each step checks first and does nothing when all is in place.

use std::path::Path;
use std::process::Command;

use crate::error::{Error, IoContext, Result};
use crate::process::{self, repo_root};
use crate::samples;

pub const CHROMIUM: &str = "/usr/bin/chromium";
const REDIS_SERVER: &str = "/usr/bin/redis-server";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The demo storefront's sample pictures, which its page links and the local provider uses.
const DEMO_SAMPLES: [&str; 3] = ["garment.png", "trousers.png", "person.jpg"];

/// Draws the demo storefront's sample pictures into `www/demo/`, replacing any there.
pub fn write_demo_samples() -> Result<()> {
    let dir = repo_root().join("www/demo");
    let written = samples::write_samples(&dir).io("writing sample pictures into", &dir)?;
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Draws the sample pictures when any of them is missing (a fresh clone).
pub fn ensure_demo_samples() -> Result<()> {
    let dir = repo_root().join("www/demo");
    if DEMO_SAMPLES.iter().all(|name| dir.join(name).is_file()) {
        return Ok(());
    }
    write_demo_samples()
}

/// Adds the wasm32 target and the std sources through rustup when the active toolchain lacks them.
pub fn ensure_wasm_target() -> Result<()> {
    let installed =
        process::probe(process::in_repo("rustup").args(["target", "list", "--installed"]));
    match installed {
        Some(list) if list.lines().any(|line| line.trim() == WASM_TARGET) => {}
        Some(_) => process::run(process::in_repo("rustup").args(["target", "add", WASM_TARGET]))?,
        None => {
            eprintln!(
                "note: rustup not found; assuming the toolchain has {WASM_TARGET} and rust-src"
            );
            return Ok(());
        }
    }
    ensure_std_sources()
}

/// `cargo xtask dist` rebuilds std for the wasm modules (`-Z build-std`) from the toolchain's
/// `rust-src` component. rust-toolchain.toml lists it, but a toolchain installed before it was
/// listed lacks it.
fn ensure_std_sources() -> Result<()> {
    let installed =
        process::probe(process::in_repo("rustup").args(["component", "list", "--installed"]));
    match installed {
        Some(list) if list.lines().any(|line| line.trim() == "rust-src") => Ok(()),
        _ => process::run(process::in_repo("rustup").args(["component", "add", "rust-src"])),
    }
}

/// Installs Debian's Chromium (and its WebDriver) when `/usr/bin/chromium` is missing.
pub fn ensure_chromium() -> Result<()> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    apt_install(&["chromium", "chromium-driver"])
}

/// Installs Debian's Redis when `/usr/bin/redis-server` is missing: the proxy's Redis store
/// tests start their own server on a loopback port (issue 7).
pub fn ensure_redis() -> Result<()> {
    if Path::new(REDIS_SERVER).exists() {
        return Ok(());
    }
    apt_install(&["redis-server"])
}

/// Installs Node.js and npm from Debian when `node` or `npm` is missing.
pub fn ensure_node() -> Result<()> {
    if process::available("node") && process::available("npm") {
        return Ok(());
    }
    apt_install(&["nodejs", "npm"])
}

/// Whether `node_modules` holds what the committed lockfile describes; runs `npm ci` when it is
/// missing or older than the lockfile. Returns false when npm itself is missing.
pub fn ensure_npm_packages() -> Result<bool> {
    if !process::available("npm") {
        return Ok(false);
    }
    let root = repo_root();
    let installed = modified(&root.join("node_modules/.package-lock.json"));
    let locked = modified(&root.join("package-lock.json"));
    let fresh =
        matches!((installed, locked), (Some(installed), Some(locked)) if installed >= locked);
    if !fresh {
        process::run(process::in_repo("npm").args(["ci", "--no-audit", "--no-fund"]))?;
    }
    Ok(true)
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    path.metadata().and_then(|meta| meta.modified()).ok()
}

/// `apt-get update && apt-get install -y …`, through `sudo -n` unless we are root.
fn apt_install(packages: &[&str]) -> Result<()> {
    if !process::available("apt-get") {
        return Err(Error::Setup(format!(
            "{} are needed but this system has no apt-get; install them by hand",
            packages.join(", ")
        )));
    }
    let mut update = apt_command();
    update.arg("update");
    process::run(&mut update)?;
    let mut install = apt_command();
    install.args(["install", "-y"]).args(packages);
    process::run(&mut install)
}

fn apt_command() -> Command {
    let is_root = process::probe(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0");
    let mut command = if is_root {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        sudo
    };
    command.env("DEBIAN_FRONTEND", "noninteractive");
    command
}
