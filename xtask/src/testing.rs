//! `cargo xtask test`: installs what the tests need, then runs every test — the workspace's unit
//! and integration tests natively, then the end-to-end tests in headless Chromium against the
//! real proxy binary and the release build of the widget — and prints one summary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::process::{self, repo_root};
use crate::{dist, setup};

/// Environment variables the end-to-end tests read (see tests/e2e/util.mjs, fake-provider.mjs).
pub fn e2e_environment(command: &mut Command) {
    let root = repo_root();
    command
        .env("TRYON_PROXY_BIN", root.join("target/debug/tryon-proxy"))
        .env(
            "TRYON_FAKE_PROVIDER_BIN",
            root.join("target/debug/fake-provider"),
        )
        .env("TRYON_DIST_DIR", dist::dist_dir())
        .env("TRYON_ARTIFACTS_DIR", root.join("target/e2e-artifacts"))
        .env("TRYON_CHROMIUM", setup::CHROMIUM);
}

/// The binaries the end-to-end tests start (debug builds: the browser does the heavy image work):
/// the ones `cargo test --workspace` already built for its integration tests (`tryon-proxy` for the
/// proxy's, `fake-provider` for the fakes'). Asking the same command again builds nothing new,
/// whereas `cargo build --bins` resolves features without the dev-dependencies (no tokio
/// `test-util`, other `image` codecs, ...) and so rebuilt every dependency a second time.
pub fn build_proxy() -> Result<()> {
    process::run(process::cargo().args(["test", "--workspace", "--no-run"]))
}

pub fn test() -> Result<()> {
    let started = Instant::now();
    let mut summary = Summary::default();

    summary.run(
        "install: wasm32 target, std sources",
        setup::ensure_wasm_target,
    );
    summary.run("install: chromium", setup::ensure_chromium);
    summary.run("install: redis-server", setup::ensure_redis);
    summary.run("install: node and npm", setup::ensure_node);
    summary.run("install: npm ci", || {
        setup::ensure_npm_packages()?
            .then_some(())
            .ok_or_else(|| Error::Setup("npm is still missing after installing it".into()))
    });
    summary.run("demo sample pictures", setup::ensure_demo_samples);
    if summary.failed() == 0 {
        // --no-fail-fast: one failing suite must not hide the results of the others.
        summary.run("cargo test --workspace", || {
            process::run(process::cargo().args(["test", "--workspace", "--no-fail-fast"]))
        });
        let mut assets = Vec::new();
        let dist = summary.run("cargo xtask dist", || {
            assets = dist::dist_with(dist::LocaleBuild::ReuseTestBuild)?;
            Ok(())
        });
        if dist {
            summary.run("widget size budgets (issue 4)", || {
                dist::check_budgets(&assets)
            });
        }
        let proxy = summary.run("binaries from the test build (proxy, fakes)", build_proxy);
        if dist && proxy {
            summary.run("end-to-end tests (node --test)", run_e2e);
        } else {
            summary.skip(
                "end-to-end tests (node --test)",
                "the widget or proxy did not build",
            );
        }
    }
    summary.print(started.elapsed());
    match summary.failed() {
        0 => Ok(()),
        failed => Err(Error::TestsFailed {
            failed,
            total: summary.steps.len(),
        }),
    }
}

fn run_e2e() -> Result<()> {
    let tests = e2e_test_files(&repo_root().join("tests/e2e"))?;
    if tests.is_empty() {
        return Err(Error::Setup("tests/e2e holds no *.test.mjs file".into()));
    }
    let mut command = process::in_repo("node");
    command.arg("--test");
    if node_major().is_some_and(|major| major >= 20) {
        // Each file starts its own proxy and browser; on two cores, one file at a time.
        command.arg("--test-concurrency=1");
    }
    command.args(tests);
    e2e_environment(&mut command);
    process::run(&mut command)
}

/// Every `*.test.mjs` below `dir`, sorted, so helpers and benchmarks beside them never run as tests.
fn e2e_test_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).io("listing", &dir)? {
            let path = entry.io("listing", &dir)?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with(".test.mjs") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn node_major() -> Option<u32> {
    let version = process::probe(Command::new("node").arg("--version"))?;
    version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

enum Outcome {
    Passed,
    Failed(String),
    Skipped(&'static str),
}

/// The steps of a test run, in order, with their outcome and duration.
#[derive(Default)]
struct Summary {
    steps: Vec<(&'static str, Outcome, Duration)>,
}

impl Summary {
    /// Runs one step, records how it went, and returns whether it passed.
    fn run(&mut self, name: &'static str, step: impl FnOnce() -> Result<()>) -> bool {
        eprintln!("\n==> {name}");
        let started = Instant::now();
        let outcome = match step() {
            Ok(()) => Outcome::Passed,
            Err(error) => {
                eprintln!("error: {error}");
                Outcome::Failed(error.to_string())
            }
        };
        let passed = matches!(outcome, Outcome::Passed);
        self.steps.push((name, outcome, started.elapsed()));
        passed
    }

    fn skip(&mut self, name: &'static str, reason: &'static str) {
        self.steps
            .push((name, Outcome::Skipped(reason), Duration::ZERO));
    }

    fn failed(&self) -> usize {
        self.steps
            .iter()
            .filter(|(_, outcome, _)| !matches!(outcome, Outcome::Passed))
            .count()
    }

    fn print(&self, total: Duration) {
        println!("\n=== cargo xtask test: summary ===");
        for (name, outcome, elapsed) in &self.steps {
            let (mark, detail) = match outcome {
                Outcome::Passed => ("ok  ", String::new()),
                Outcome::Failed(error) => ("FAIL", format!("  ({error})")),
                Outcome::Skipped(reason) => ("skip", format!("  ({reason})")),
            };
            println!(
                "{mark}  {name:<34} {:>7.1} s{detail}",
                elapsed.as_secs_f64()
            );
        }
        let verdict = if self.failed() == 0 {
            "all steps passed"
        } else {
            "FAILED"
        };
        println!("{verdict} in {:.1} s", total.as_secs_f64());
    }
}
