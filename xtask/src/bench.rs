//! `cargo xtask bench`: figures, not a test. The widget's transfer sizes, and how long preparing
//! a 12 MP phone photo takes in headless Chromium with our wasm next to the browser's own
//! decode-resize-encode path, measured in the same run (xtask/bench.mjs; loopback only).

use crate::error::Result;
use crate::process::{self, repo_root};
use crate::{dist, setup, testing};

pub fn bench() -> Result<()> {
    setup::ensure_wasm_target()?;
    setup::ensure_chromium()?;
    setup::ensure_node()?;
    setup::ensure_npm_packages()?;
    setup::ensure_demo_samples()?;
    let assets = dist::dist()?;
    testing::build_proxy()?;

    let mut command = process::in_repo("node");
    command.arg(repo_root().join("xtask/bench.mjs"));
    testing::e2e_environment(&mut command);
    process::run(&mut command)?;

    println!("Widget transfer sizes (target/dist, wasm-release + wasm-opt -Oz):");
    dist::print_size_table(&assets);
    Ok(())
}
