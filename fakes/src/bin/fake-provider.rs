//! Runs one strict vendor fake as a process, for tests that cannot link it (the browser
//! end-to-end tests): `fake-provider --provider fitroom --port 0 [--key KEY] [--task-ms N]
//! [--style documented|sdk-2026]` (`--style`: TryItOn's form; `sdk-2026` also answers in the
//! 2026 shape with WebP results).
//!
//! Prints `listening on http://127.0.0.1:<port>` once it accepts connections, then serves
//! until killed. `GET /__deviations` lists every deviation from the vendor's document the fake
//! saw (the test asserts it is empty) and `GET /__calls` counts the calls per endpoint.

use std::process::ExitCode;
use std::time::Duration;

use tokio::net::TcpListener;
use tryon_fakes::fitinview::FitInViewFake;
use tryon_fakes::fitroom::FitroomFake;
use tryon_fakes::tryiton::{DEFAULT_STATUS_PATH, Style, TryItOnFake};
use tryon_fakes::vtryon::VtryonFake;
use tryon_fakes::{Fake, KEY};

const USAGE: &str = "usage: fake-provider --provider fitroom|tryiton|vtryon|fitinview [--port N] [--key KEY] [--task-ms N] [--style documented|sdk-2026]";

struct Options {
    provider: String,
    port: u16,
    key: String,
    /// How long a task takes from create to done; the fakes' own default if unset.
    task: Option<Duration>,
    /// TryItOn's form.
    style: Style,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        provider: String::new(),
        port: 0,
        key: KEY.to_owned(),
        task: None,
        style: Style::Documented,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--provider" => options.provider = value,
            "--port" => options.port = value.parse().map_err(|_| format!("bad port {value:?}"))?,
            "--key" => options.key = value,
            "--task-ms" => {
                let ms = value
                    .parse()
                    .map_err(|_| format!("bad --task-ms {value:?}"))?;
                options.task = Some(Duration::from_millis(ms));
            }
            "--style" => {
                options.style = match value.as_str() {
                    "documented" => Style::Documented,
                    "sdk-2026" => Style::Sdk2026,
                    _ => return Err(format!("bad --style {value:?}")),
                }
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("fake-provider: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", options.port)).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "fake-provider: cannot listen on port {}: {error}",
                options.port
            );
            return ExitCode::FAILURE;
        }
    };
    let key = options.key.as_str();
    let task = options.task;
    let base_url = match options.provider.as_str() {
        "fitroom" => {
            let fake = FitroomFake::start_on(listener, key);
            if let Some(task) = task {
                // Fitroom reports CREATED first, then a rising PROCESSING progress.
                fake.set(|b| (b.queued_for, b.processing_for) = (task / 10, task * 9 / 10));
            }
            fake.base_url()
        }
        "tryiton" => {
            let fake = TryItOnFake::start_on(listener, key, DEFAULT_STATUS_PATH);
            if let Some(task) = task {
                fake.set(|b| b.processing_for = task);
            }
            let style = options.style;
            fake.set(|b| {
                b.style = style;
                b.answers = style;
                b.webp_results = style == Style::Sdk2026;
            });
            fake.base_url()
        }
        "vtryon" => {
            let fake = VtryonFake::start_on(listener, key);
            if let Some(task) = task {
                fake.set(|b| b.processing_for = task);
            }
            fake.base_url()
        }
        "fitinview" => {
            let fake = FitInViewFake::start_on(listener, key);
            if let Some(task) = task {
                fake.set(|b| b.processing_for = task);
            }
            fake.base_url()
        }
        other => {
            eprintln!("fake-provider: unknown provider {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    println!("listening on {base_url}");
    // Served by the spawned task until the test kills the process.
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
