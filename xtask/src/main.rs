//! `cargo xtask`: the project's build automation, so a fresh clone needs nothing but cargo.
//!
//! - `demo [-- proxy args]`: build the widget, run the proxy with the demo storefront.
//! - `test`: install what tests need, run every test.
//! - `dist`: the widget's release build into `target/dist/`.
//! - `bench [photo | phone]`: transfer sizes, photo-preparation timings and bytes, the phone run.
//! - `samples`: redraw the demo storefront's sample pictures into `www/demo/`.

mod bench;
mod bench_phone;
mod demo;
mod dist;
mod error;
mod process;
mod samples;
mod scene;
mod setup;
mod short_names;
mod testing;
mod wasm_features;

use std::process::ExitCode;

use error::{Error, Result};

const USAGE: &str =
    "cargo xtask <demo [-- proxy args] | test | dist | bench [photo | phone] | samples>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<()> {
    let (command, rest) = args
        .split_first()
        .ok_or_else(|| Error::Usage(USAGE.into()))?;
    let rest = match rest.split_first() {
        Some((first, after)) if first == "--" => after,
        _ => rest,
    };
    let no_arguments = || {
        if rest.is_empty() {
            Ok(())
        } else {
            Err(Error::Usage(format!(
                "`{command}` takes no arguments; {USAGE}"
            )))
        }
    };
    match command.as_str() {
        "demo" => demo::demo(rest),
        "test" => no_arguments().and_then(|()| testing::test()),
        "dist" => no_arguments().and_then(|()| dist::dist().map(drop)),
        "bench" => bench::bench(rest),
        "samples" => no_arguments().and_then(|()| setup::write_demo_samples()),
        "help" | "--help" | "-h" => {
            println!("usage: {USAGE}");
            Ok(())
        }
        other => Err(Error::Usage(format!("unknown command `{other}`; {USAGE}"))),
    }
}
