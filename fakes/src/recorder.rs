//! What a fake remembers and enforces on every call, whatever the vendor: the call log, the
//! rate limit, queued faults, the vendor's way of carrying the key, and the deviations.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::time::Instant;

/// The panic message a fake uses to drop a connection; the panic hook keeps it quiet.
pub const DROP_CONNECTION: &str = "fake vendor: dropping the connection on purpose";

/// What goes wrong with the next request to an endpoint.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and the vendor's error body; `Retry-After` seconds if given.
    Status(u16, Option<u64>),
    /// Answer with this status and the vendor's error body carrying this message (a vendor's
    /// own words, which must never reach a browser).
    Saying(u16, &'static str),
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

/// How a vendor expects its key.
#[derive(Debug, Clone, Copy)]
pub enum Credential {
    /// In this header, as is (e.g. `x-api-key`).
    Header(&'static str),
    /// `Authorization: Bearer <key>`.
    Bearer,
}

/// The vendor-specific words of a fake: its name, its key header, its error bodies.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    pub vendor: &'static str,
    pub credential: Credential,
    /// The vendor's error body for an error class (only TryItOn names them) and a message.
    pub error_body: fn(class: &str, message: &str) -> Value,
}

/// Violations, calls, the rate limit, queued faults and the accepted key of one fake.
pub struct Recorder {
    dialect: Dialect,
    key: String,
    violations: Mutex<Vec<String>>,
    calls: Mutex<Vec<Call>>,
    rate: Mutex<(u32, Duration)>,
    faults: Mutex<HashMap<&'static str, VecDeque<Fault>>>,
    auth_failures: AtomicU32,
    /// The error body in use: the dialect's, unless a fake switched it (TryItOn's 2026 form).
    error_body: Mutex<fn(class: &str, message: &str) -> Value>,
    /// Whether the fake's own rate-limit 429 says when to come back. No vendor documents a
    /// `Retry-After` but FitInView, so by default it does not.
    limit_retry_after: Mutex<bool>,
}

impl Recorder {
    pub fn new(dialect: Dialect, key: &str, rate_limit: u32, rate_window: Duration) -> Self {
        quiet_dropped_connections();
        Self {
            dialect,
            key: key.to_owned(),
            violations: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            rate: Mutex::new((rate_limit, rate_window)),
            faults: Mutex::new(HashMap::new()),
            auth_failures: AtomicU32::new(0),
            error_body: Mutex::new(dialect.error_body),
            limit_retry_after: Mutex::new(false),
        }
    }

    /// Answers errors with `body` from now on (a vendor that changed its error shape).
    pub fn set_error_body(&self, body: fn(class: &str, message: &str) -> Value) {
        *lock(&self.error_body) = body;
    }

    /// Whether the fake's own rate-limit refusals carry `Retry-After` (FitInView's do).
    pub fn set_limit_retry_after(&self, on: bool) {
        *lock(&self.limit_retry_after) = on;
    }

    /// Every call so far, in order of arrival.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    /// Counts `n` calls made just now by another client of the same key: they spend the
    /// window without reaching this test's adapter (endpoint `others`).
    pub fn count_foreign_calls(&self, n: usize) {
        let now = Instant::now();
        let mut calls = lock(&self.calls);
        calls.extend((0..n).map(|_| Call {
            at: now,
            endpoint: "others",
        }));
    }

    /// The window as the vendor sees it now: its limit, the calls in it, and how long until
    /// the oldest of them leaves it (`None` when it is empty).
    pub fn window_usage(&self) -> (u32, u32, Option<Duration>) {
        let now = Instant::now();
        let (limit, window) = *lock(&self.rate);
        let calls = lock(&self.calls);
        let in_window: Vec<Instant> = calls
            .iter()
            .map(|c| c.at)
            .filter(|at| now.duration_since(*at) < window)
            .collect();
        let oldest = in_window.iter().min().map(|at| *at + window - now);
        (limit, in_window.len() as u32, oldest)
    }

    pub fn violation(&self, what: impl Into<String>) {
        lock(&self.violations).push(what.into());
    }

    pub fn violations(&self) -> Vec<String> {
        lock(&self.violations).clone()
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

    /// Calls that carried a well-formed but wrong key (not a deviation: a merchant's typo).
    pub fn auth_failures(&self) -> u32 {
        self.auth_failures.load(Ordering::SeqCst)
    }

    pub fn rate_window(&self) -> Duration {
        lock(&self.rate).1
    }

    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        *lock(&self.rate) = (limit, window);
    }

    /// Queues `fault` for the next request(s) to `endpoint`, in order.
    pub fn fault(&self, endpoint: &'static str, fault: Fault) {
        lock(&self.faults)
            .entry(endpoint)
            .or_default()
            .push_back(fault);
    }

    fn next_fault(&self, endpoint: &'static str) -> Option<Fault> {
        lock(&self.faults)
            .get_mut(endpoint)
            .and_then(VecDeque::pop_front)
    }

    /// Calls to `endpoint` so far.
    pub fn count(&self, endpoint: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .count()
    }

    /// Calls so far, per endpoint.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for call in lock(&self.calls).iter() {
            *counts.entry(call.endpoint).or_default() += 1;
        }
        counts
    }

    /// Every API call so far.
    pub fn calls_total(&self) -> usize {
        lock(&self.calls).len()
    }

    /// The most calls that arrived within any `window`.
    pub fn max_in_window(&self, window: Duration) -> usize {
        let calls = lock(&self.calls);
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

    /// The preamble of every vendor endpoint: counts the call against the rate limit, applies
    /// any queued fault, then checks the key the vendor's way. `Err` is the response to send
    /// instead of the normal one; `Ok(true)` means: drop the connection once the request has
    /// been read and acted on.
    pub async fn admit(
        &self,
        endpoint: &'static str,
        headers: &HeaderMap,
    ) -> Result<bool, Response> {
        if self.over_limit(endpoint) {
            self.violation(format!("rate limit exceeded at {endpoint}"));
            let retry_after = (*lock(&self.limit_retry_after)).then(|| {
                let (_, _, oldest) = self.window_usage();
                oldest.map_or(1, |d| d.as_secs_f64().ceil() as u64).max(1)
            });
            return Err(self.error(
                StatusCode::TOO_MANY_REQUESTS,
                retry_after,
                "HttpError",
                "Too Many Requests",
            ));
        }
        let drop_after = match self.next_fault(endpoint) {
            None => false,
            Some(Fault::Status(status, retry_after)) => {
                let status = StatusCode::from_u16(status).expect("a valid HTTP status");
                let reason = status.canonical_reason().unwrap_or("error");
                return Err(self.error(status, retry_after, "HttpError", reason));
            }
            Some(Fault::Saying(status, message)) => {
                let status = StatusCode::from_u16(status).expect("a valid HTTP status");
                return Err(self.error(status, None, "HttpError", message));
            }
            Some(Fault::DropAfterReading) => true,
            Some(Fault::Delay(pause)) => {
                tokio::time::sleep(pause).await;
                false
            }
        };
        self.check_key(endpoint, headers)?;
        Ok(drop_after)
    }

    fn over_limit(&self, endpoint: &'static str) -> bool {
        let now = Instant::now();
        let mut calls = lock(&self.calls);
        calls.push(Call { at: now, endpoint });
        let (limit, window) = *lock(&self.rate);
        let recent = calls
            .iter()
            .filter(|c| now.duration_since(c.at) < window)
            .count();
        recent as u32 > limit
    }

    #[expect(
        clippy::result_large_err,
        reason = "the error is the HTTP answer the handler returns as is"
    )]
    fn check_key(&self, endpoint: &str, headers: &HeaderMap) -> Result<(), Response> {
        let vendor = self.dialect.vendor;
        let (expected, other, other_name) = match self.dialect.credential {
            Credential::Header(name) => (name, "authorization", "Authorization"),
            Credential::Bearer => ("authorization", "x-api-key", "X-API-KEY"),
        };
        if headers.contains_key(other) {
            self.violation(format!(
                "{endpoint}: {vendor} takes its key in {expected}, not {other_name}"
            ));
        }
        let Some(value) = headers.get(expected).and_then(|v| v.to_str().ok()) else {
            self.violation(format!("{endpoint}: no {expected} header"));
            return Err(self.unauthorized());
        };
        let key = match self.dialect.credential {
            Credential::Header(_) => Some(value),
            Credential::Bearer => value.strip_prefix("Bearer "),
        };
        let Some(key) = key else {
            self.violation(format!("{endpoint}: Authorization is not a Bearer token"));
            return Err(self.unauthorized());
        };
        if key != self.key {
            self.auth_failures.fetch_add(1, Ordering::SeqCst);
            return Err(self.unauthorized());
        }
        Ok(())
    }

    /// The vendor's error answer.
    pub fn error(
        &self,
        status: StatusCode,
        retry_after: Option<u64>,
        class: &str,
        message: &str,
    ) -> Response {
        let mut response =
            (status, Json((*lock(&self.error_body))(class, message))).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                "retry-after",
                seconds
                    .to_string()
                    .parse()
                    .expect("digits are a valid header"),
            );
        }
        response
    }

    fn unauthorized(&self) -> Response {
        self.error(
            StatusCode::UNAUTHORIZED,
            None,
            "AuthenticationError",
            "Invalid API key",
        )
    }

    /// Records a deviation and answers 400 the vendor's way.
    pub fn bad_request(&self, what: impl Into<String>) -> Response {
        self.violation(what);
        self.error(
            StatusCode::BAD_REQUEST,
            None,
            "ValidationError",
            "Bad request",
        )
    }

    /// Records a deviation (an unknown path or id) and answers 404 the vendor's way.
    pub fn not_found(&self, what: impl Into<String>) -> Response {
        self.violation(what);
        self.error(StatusCode::NOT_FOUND, None, "NotFound", "Not found")
    }

    /// 402, the vendor's answer when the merchant's credit has run out.
    pub fn out_of_credit(&self) -> Response {
        self.error(
            StatusCode::PAYMENT_REQUIRED,
            None,
            "InsufficientCredits",
            "Insufficient credits",
        )
    }

    /// The JSON object of a request body, or a recorded deviation.
    #[expect(
        clippy::result_large_err,
        reason = "the error is the HTTP answer the handler returns as is"
    )]
    pub fn json_object(
        &self,
        endpoint: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<serde_json::Map<String, Value>, Response> {
        let is_json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        if !is_json {
            return Err(
                self.bad_request(format!("{endpoint}: Content-Type is not application/json"))
            );
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(fields)) => Ok(fields),
            _ => Err(self.bad_request(format!("{endpoint}: body is not a JSON object"))),
        }
    }
}

/// Where a fake sends a webhook it owes: as the vendor would, to another instance behind the
/// proxy's load balancer, or nowhere (a delivery that failed for good).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Delivery {
    /// To the URL the proxy gave (or the dashboard holds).
    #[default]
    AsAsked,
    /// To the same path on this base URL: another instance of the proxy.
    ElsewhereAt(String),
    /// Never.
    Lost,
}

impl Delivery {
    /// Where a webhook meant for `url` goes, if anywhere.
    pub fn target(&self, url: &str) -> Option<String> {
        match self {
            Self::AsAsked => Some(url.to_owned()),
            Self::ElsewhereAt(base) => {
                let path_start = url
                    .find("://")
                    .and_then(|scheme| url[scheme + 3..].find('/').map(|p| scheme + 3 + p))
                    .unwrap_or(url.len());
                Some(format!(
                    "{}{}",
                    base.trim_end_matches('/'),
                    &url[path_start..]
                ))
            }
            Self::Lost => None,
        }
    }
}

/// Posts a webhook's JSON `body` with `headers`; the status the receiver answered (0 if
/// none).
pub async fn post_webhook(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> u16 {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

impl Recorder {
    /// Checks a request's query parameters against the documented ones; an undocumented one
    /// (or one sent twice) is a recorded deviation answered with 400.
    #[expect(
        clippy::result_large_err,
        reason = "the error is the HTTP answer the handler returns as is"
    )]
    pub fn query(
        &self,
        endpoint: &str,
        params: &[(String, String)],
        documented: &[&str],
    ) -> Result<(), Response> {
        for (i, (name, _)) in params.iter().enumerate() {
            if !documented.contains(&name.as_str()) {
                return Err(
                    self.bad_request(format!("{endpoint}: undocumented query parameter {name:?}"))
                );
            }
            if params[..i].iter().any(|(other, _)| other == name) {
                return Err(self.bad_request(format!("{endpoint}: {name:?} sent twice")));
            }
        }
        Ok(())
    }
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
