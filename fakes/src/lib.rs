//! Strict fakes of the four try-on vendors' documented APIs, and the harness they share.
//!
//! A fake is only useful if it is stricter than the vendor: every deviation from the document
//! is answered with a 4xx *and* recorded, and the test fails on any recorded deviation
//! ([`Recorder::assert_clean`] in Rust, `GET /__deviations` from another process). Faults
//! (429, 5xx, dropped connections, slow answers) are queued per endpoint and consumed one
//! request at a time, so a test says exactly what goes wrong when. Result images live under
//! `/files/…` on the same server with an expiry, like signed storage URLs, and must be fetched
//! without any credentials.
//!
//! The fakes live in their own dev-only crate so that the proxy's tests and benchmarks link
//! them as a library and the browser tests run them as a process (`fake-provider`).

pub mod fitinview;
pub mod fitroom;
mod forms;
mod images;
mod recorder;
mod storage;
pub mod tryiton;
pub mod vtryon;

pub use forms::{Field, has, is_jpeg, read_form, text};
pub use images::{jpeg, png, webp};
pub use recorder::{
    Call, Credential, DROP_CONNECTION, Delivery, Dialect, Fault, Recorder, drop_connection,
    post_webhook,
};
pub use storage::Storage;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;

/// The key every fake accepts unless told otherwise: distinctive enough that finding it
/// anywhere (a response, a log line) is certainly a leak.
pub const KEY: &str = "sk_live_DISTINCTIVE_K3Y_a9f0c1";

/// What every fake has: its recorder (contract, calls, faults, key) and its signed storage.
pub trait Fake: Send + Sync + Sized + 'static {
    fn recorder(&self) -> &Recorder;
    fn storage(&self) -> &Storage;

    /// The fake's base URL, no trailing slash.
    fn base_url(&self) -> String {
        self.storage().base_url()
    }

    /// Queues `fault` for the next request(s) to `endpoint`, in order.
    fn fault(&self, endpoint: &'static str, fault: Fault) {
        self.recorder().fault(endpoint, fault);
    }
}

/// The one item a test expected upstream (a task, a job), or a failure that says how many.
pub fn only<T>(items: Vec<T>, what: &str) -> T {
    assert_eq!(
        items.len(),
        1,
        "expected exactly one {what} upstream, found {}",
        items.len()
    );
    items.into_iter().next().expect("one item")
}

/// Serves `fake` on an ephemeral loopback port.
pub async fn start<F: Fake>(fake: F, api: Router<Arc<F>>) -> Arc<F> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port for the fake vendor");
    start_on(fake, api, listener)
}

/// Serves `fake` on `listener`: the vendor's `api`, its signed files, the deviation report,
/// and a fallback that records any undocumented endpoint.
pub fn start_on<F: Fake>(fake: F, api: Router<Arc<F>>, listener: TcpListener) -> Arc<F> {
    let address = listener
        .local_addr()
        .expect("a bound listener has an address");
    fake.storage().set_base_url(format!("http://{address}"));
    let fake = Arc::new(fake);
    let router = api
        .route("/files/{file}", get(file::<F>))
        .route("/__deviations", get(deviations::<F>))
        .route("/__calls", get(calls::<F>))
        .fallback(undocumented::<F>)
        .method_not_allowed_fallback(undocumented::<F>)
        .with_state(fake.clone());
    tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("the fake vendor's server failed")
    });
    fake
}

async fn file<F: Fake>(
    State(fake): State<Arc<F>>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    fake.storage().get(fake.recorder(), &file, &headers)
}

/// `GET /__deviations`: every recorded deviation from the vendor's document, for a test in
/// another process. Not a vendor endpoint, so neither counted nor rate-limited.
async fn deviations<F: Fake>(State(fake): State<Arc<F>>) -> Json<Vec<String>> {
    Json(fake.recorder().violations())
}

/// `GET /__calls`: how many calls each endpoint received, e.g. `{"create": 1, "status": 9}`.
async fn calls<F: Fake>(State(fake): State<Arc<F>>) -> Json<BTreeMap<&'static str, usize>> {
    Json(fake.recorder().counts())
}

async fn undocumented<F: Fake>(State(fake): State<Arc<F>>, method: Method, uri: Uri) -> Response {
    fake.recorder()
        .not_found(format!("undocumented endpoint {method} {uri}"))
}
