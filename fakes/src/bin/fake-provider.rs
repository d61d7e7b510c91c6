//! Runs one strict vendor fake as a process, for tests that cannot link it (the browser
//! end-to-end tests): `fake-provider --provider fitroom --port 0 [--key KEY]`.
//!
//! Prints `listening on http://127.0.0.1:<port>` once it accepts connections, then serves
//! until killed. `GET /__deviations` lists every deviation from the vendor's document the fake
//! saw (the test asserts it is empty) and `GET /__calls` counts the calls per endpoint.

use std::process::ExitCode;

use tokio::net::TcpListener;
use tryon_fakes::fitinview::FitInViewFake;
use tryon_fakes::fitroom::FitroomFake;
use tryon_fakes::tryiton::{DEFAULT_STATUS_PATH, TryItOnFake};
use tryon_fakes::vtryon::VtryonFake;
use tryon_fakes::{Fake, KEY};

const USAGE: &str =
    "usage: fake-provider --provider fitroom|tryiton|vtryon|fitinview [--port N] [--key KEY]";

struct Options {
    provider: String,
    port: u16,
    key: String,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        provider: String::new(),
        port: 0,
        key: KEY.to_owned(),
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--provider" => options.provider = value,
            "--port" => options.port = value.parse().map_err(|_| format!("bad port {value:?}"))?,
            "--key" => options.key = value,
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
    let base_url = match options.provider.as_str() {
        "fitroom" => FitroomFake::start_on(listener, key).base_url(),
        "tryiton" => TryItOnFake::start_on(listener, key, DEFAULT_STATUS_PATH).base_url(),
        "vtryon" => VtryonFake::start_on(listener, key).base_url(),
        "fitinview" => FitInViewFake::start_on(listener, key).base_url(),
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
