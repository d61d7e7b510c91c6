//! Strict fakes of the vendors' APIs and the machinery they share.
//!
//! A fake is only useful if it is stricter than the vendor: every deviation from the document
//! is answered with a 4xx *and* recorded as a violation, and [`Recorder::assert_clean`] at the
//! end of each test fails it. Faults (429, 5xx, dropped connections, slow answers) are queued
//! per endpoint and consumed one request at a time, so a test says exactly what goes wrong
//! when. Result images live under `/files/…` on the same server with an expiry, like signed
//! storage URLs, and must be fetched without any credentials.

pub mod fitinview;
pub mod fitroom;
pub mod tryiton;
pub mod vtryon;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Mutex, Once};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

/// The panic message a fake uses to drop a connection; the panic hook keeps it quiet.
pub const DROP_CONNECTION: &str = "fake vendor: dropping the connection on purpose";

/// What goes wrong with the next request to an endpoint.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and the vendor's error body; `Retry-After` seconds if given.
    Status(u16, Option<u64>),
    /// Read the whole request, act on it (a create creates), then drop the connection
    /// without a response: the client cannot know whether it worked.
    DropAfterReading,
    /// Answer normally, but only after this long.
    Delay(Duration),
}

/// One API call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: Instant,
    pub endpoint: &'static str,
}

/// Violations, calls, the rate limit and queued faults of one fake.
pub struct Recorder {
    violations: Mutex<Vec<String>>,
    calls: Mutex<Vec<Call>>,
    rate: Mutex<(u32, Duration)>,
    faults: Mutex<HashMap<&'static str, VecDeque<Fault>>>,
}

impl Recorder {
    pub fn new(rate_limit: u32, rate_window: Duration) -> Self {
        quiet_dropped_connections();
        Self {
            violations: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            rate: Mutex::new((rate_limit, rate_window)),
            faults: Mutex::new(HashMap::new()),
        }
    }

    pub fn violation(&self, what: impl Into<String>) {
        self.violations.lock().unwrap().push(what.into());
    }

    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    /// Fails the test if the client deviated from the vendor's document anywhere.
    pub fn assert_clean(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "the client broke the vendor's contract:\n  {}",
            violations.join("\n  ")
        );
    }

    pub fn rate_window(&self) -> Duration {
        self.rate.lock().unwrap().1
    }

    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        *self.rate.lock().unwrap() = (limit, window);
    }

    /// Queues `fault` for the next request(s) to `endpoint`, in order.
    pub fn fault(&self, endpoint: &'static str, fault: Fault) {
        self.faults
            .lock()
            .unwrap()
            .entry(endpoint)
            .or_default()
            .push_back(fault);
    }

    fn next_fault(&self, endpoint: &'static str) -> Option<Fault> {
        self.faults
            .lock()
            .unwrap()
            .get_mut(endpoint)
            .and_then(VecDeque::pop_front)
    }

    /// Calls to `endpoint` so far.
    pub fn count(&self, endpoint: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .count()
    }

    /// Every API call so far.
    pub fn calls_total(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// The most calls that arrived within any `window`.
    pub fn max_in_window(&self, window: Duration) -> usize {
        let calls = self.calls.lock().unwrap();
        let times: Vec<Instant> = calls.iter().map(|c| c.at).collect();
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| t.duration_since(times[i]) < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Counts the call against the rate limit, then applies any queued fault. `Err` is the
    /// response to send instead of the normal one; `Ok(true)` means: drop the connection
    /// once the request has been read and acted on.
    pub async fn admit(
        &self,
        endpoint: &'static str,
        error_body: impl Fn(&str) -> serde_json::Value,
    ) -> Result<bool, Response> {
        let now = Instant::now();
        let over_limit = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(Call { at: now, endpoint });
            let (limit, window) = *self.rate.lock().unwrap();
            let recent = calls
                .iter()
                .filter(|c| now.duration_since(c.at) < window)
                .count();
            recent as u32 > limit
        };
        if over_limit {
            self.violation(format!("rate limit exceeded at {endpoint}"));
            return Err(error(
                StatusCode::TOO_MANY_REQUESTS,
                Some(1),
                error_body("Too Many Requests"),
            ));
        }
        match self.next_fault(endpoint) {
            None => Ok(false),
            Some(Fault::Status(status, retry_after)) => {
                let status = StatusCode::from_u16(status).unwrap();
                Err(error(
                    status,
                    retry_after,
                    error_body(status.canonical_reason().unwrap_or("error")),
                ))
            }
            Some(Fault::DropAfterReading) => Ok(true),
            Some(Fault::Delay(pause)) => {
                tokio::time::sleep(pause).await;
                Ok(false)
            }
        }
    }
}

pub fn error(status: StatusCode, retry_after: Option<u64>, body: serde_json::Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", seconds.to_string().parse().unwrap());
    }
    response
}

/// Ends the handler without a response; the connection closes under the client.
pub fn drop_connection() -> ! {
    std::panic::panic_any(DROP_CONNECTION)
}

fn quiet_dropped_connections() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&DROP_CONNECTION) {
                default(info);
            }
        }));
    });
}

/// Serves `router` on an ephemeral loopback port; returns its base URL (no trailing slash).
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

/// One multipart field as the fake received it.
#[derive(Debug)]
pub struct Field {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: bytes::Bytes,
}

/// Reads a whole multipart body, recording a violation if it is not one.
pub async fn read_multipart(
    recorder: &Recorder,
    endpoint: &str,
    form: Result<Multipart, MultipartRejection>,
) -> Option<Vec<Field>> {
    let mut form = match form {
        Ok(form) => form,
        Err(rejection) => {
            recorder.violation(format!("{endpoint}: not multipart/form-data: {rejection}"));
            return None;
        }
    };
    let mut fields = Vec::new();
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let file_name = field.file_name().map(str::to_owned);
                let content_type = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.unwrap_or_default();
                fields.push(Field {
                    name,
                    file_name,
                    content_type,
                    bytes,
                });
            }
            Ok(None) => return Some(fields),
            Err(e) => {
                recorder.violation(format!("{endpoint}: broken multipart body: {e}"));
                return None;
            }
        }
    }
}

/// Checks that a form has exactly the allowed fields, each at most once, files where files
/// belong (JPEG bytes with an image media type) and text elsewhere.
pub fn check_form(
    recorder: &Recorder,
    endpoint: &str,
    fields: &[Field],
    files: &[&str],
    texts: &[&str],
) -> bool {
    let before = recorder.violations().len();
    for (i, field) in fields.iter().enumerate() {
        if fields[..i].iter().any(|f| f.name == field.name) {
            recorder.violation(format!("{endpoint}: field {:?} sent twice", field.name));
        }
        if files.contains(&field.name.as_str()) {
            if field.file_name.is_none() {
                recorder.violation(format!("{endpoint}: {:?} must be a file part", field.name));
            }
            if !field
                .content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("image/"))
            {
                recorder.violation(format!(
                    "{endpoint}: {:?} has media type {:?}",
                    field.name, field.content_type
                ));
            }
            if !is_jpeg(&field.bytes) {
                recorder.violation(format!("{endpoint}: {:?} is not a JPEG", field.name));
            }
        } else if texts.contains(&field.name.as_str()) {
            if field.file_name.is_some() {
                recorder.violation(format!("{endpoint}: {:?} must be a text field", field.name));
            }
        } else {
            recorder.violation(format!("{endpoint}: undocumented field {:?}", field.name));
        }
    }
    recorder.violations().len() == before
}

pub fn text<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| std::str::from_utf8(&f.bytes).ok())
}

pub fn has(fields: &[Field], name: &str) -> bool {
    fields.iter().any(|f| f.name == name)
}

pub fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Signed-URL storage shared by the fakes: results expire, and credentials must not be sent.
pub struct Storage {
    files: Mutex<HashMap<String, (bytes::Bytes, Instant)>>,
    pub ttl: Mutex<Duration>,
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            files: Mutex::new(HashMap::new()),
            ttl: Mutex::new(Duration::from_secs(3600)),
        }
    }
}

impl Storage {
    /// Stores `bytes` and returns the signed URL's path, valid for the current ttl.
    pub fn put(&self, token: &str, bytes: bytes::Bytes) -> String {
        let expires = Instant::now() + *self.ttl.lock().unwrap();
        self.files
            .lock()
            .unwrap()
            .insert(token.to_owned(), (bytes, expires));
        format!("/files/{token}.png?X-Amz-Signature=fake")
    }

    /// `GET /files/{token}.png`: 403 once expired, like object storage.
    pub fn get(&self, recorder: &Recorder, token: &str, headers: &HeaderMap) -> Response {
        for credential in ["authorization", "x-api-key"] {
            if headers.contains_key(credential) {
                recorder.violation(format!("the result download carried a {credential} header: keys must not go to the storage host"));
            }
        }
        let token = token.trim_end_matches(".png");
        match self.files.lock().unwrap().get(token) {
            Some((bytes, expires)) if Instant::now() < *expires => {
                ([("content-type", "image/png")], bytes.clone()).into_response()
            }
            Some(_) => (
                StatusCode::FORBIDDEN,
                "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
            )
                .into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
}
