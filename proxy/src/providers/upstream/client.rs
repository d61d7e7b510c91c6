//! Every call to a vendor's API goes through [`Upstream::call`]: it waits for the shared rate
//! limiter, attaches the key, and decides whether a failed call may be sent again.
//!
//! The rule that matters is money. A create that reached the vendor may have been charged even
//! if no answer came back, so a create is re-sent only when the vendor certainly did not act on
//! it: a 429 or 503 answer, or a connection that never opened. FitInView honours an
//! `Idempotency-Key`, so its creates ([`Replay::IdempotentCreate`]) may be re-sent after a lost
//! answer too. Reads ([`Replay::Safe`]) are retried on any transient failure. Delays honour
//! `Retry-After` or else use full-jitter exponential backoff.
//!
//! A 429 is about the key, not the call: it pauses the key's limiter for every call, for its
//! `Retry-After` or else for the rest of the window, never a few quick retries that the
//! vendor would refuse too. An answer the adapter calls final (TryItOn's 429 `OutOfCredits`)
//! is never retried and pauses nothing. Rate headers a vendor sends on every answer
//! (`X-RateLimit-*`) are handed to the limiter as they arrive.

use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::limiter::{Priority, RateLimiter};
use crate::providers::settings::{SettingsError, UpstreamTuning};
use crate::providers::{ProgressSink, ProviderError};
use crate::wire::ErrorCode;

/// Whether a call may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Reads and deletes: repeating them changes nothing.
    Safe,
    /// A create without vendor idempotency: re-sent only when it certainly was not applied.
    CreateOnce,
    /// A create carrying an idempotency key the vendor honours.
    IdempotentCreate,
}

/// A vendor's successful answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, UpstreamError> {
        serde_json::from_slice(&self.body).map_err(|e| UpstreamError::Malformed(e.to_string()))
    }
}

/// Why a call failed after the retries it was allowed. Messages carry the vendor's own error
/// text (truncated) and never a key: keys travel in headers only, which are never formatted.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("vendor answered {status}: {detail}")]
    Status {
        status: u16,
        detail: String,
        retry_after: Option<Duration>,
        /// The vendor's whole error body, for adapters that read its error names.
        body: Bytes,
    },
    #[error(
        "the create got no answer ({0}); it was not re-sent, so the shopper is not charged twice"
    )]
    Unanswered(String),
    #[error("vendor unreachable")]
    Unreachable,
    #[error("vendor did not answer within {0:?}")]
    Timeout(Duration),
    #[error("vendor answer not understood: {0}")]
    Malformed(String),
}

impl UpstreamError {
    /// The mapping every vendor shares; adapters handle their own special cases first.
    pub fn into_provider_error(self) -> ProviderError {
        match self {
            Self::Status {
                status,
                detail,
                retry_after,
                ..
            } => match status {
                401 | 403 => ProviderError::Auth(format!("{status}: {detail}")),
                402 => ProviderError::OutOfCredit(detail),
                400 | 413 | 415 | 422 => ProviderError::InputRejected {
                    code: ErrorCode::InvalidImage,
                    message: format!("{status}: {detail}"),
                },
                429 | 500..=599 => ProviderError::Unavailable {
                    message: format!("{status}: {detail}"),
                    retry_after,
                },
                _ => ProviderError::Failed(format!("{status}: {detail}")),
            },
            Self::Unreachable => ProviderError::Unavailable {
                message: self.to_string(),
                retry_after: None,
            },
            // The create's fate is unknown, as after a timeout: it may be billed.
            Self::Unanswered(_) => ProviderError::Timeout(Duration::ZERO),
            Self::Timeout(after) => ProviderError::Timeout(after),
            Self::Malformed(_) => ProviderError::Failed(self.to_string()),
        }
    }
}

/// How the key is presented, e.g. `X-API-KEY: <key>` or `Authorization: Bearer <key>`.
pub struct KeyHeader {
    name: HeaderName,
    value: HeaderValue,
}

impl KeyHeader {
    /// `name: <prefix><key>`; the value is marked sensitive so HTTP internals never print it.
    pub fn new(
        name: &'static str,
        prefix: &str,
        key: &SecretString,
    ) -> Result<Self, SettingsError> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", key.expose_secret()))
            .map_err(|_| {
                SettingsError::Client(
                    "the API key contains characters a header cannot carry".into(),
                )
            })?;
        value.set_sensitive(true);
        Ok(Self {
            name: HeaderName::from_static(name),
            value,
        })
    }
}

/// A hash of the key as presented: the same key on every instance names the same budget, and
/// the store never learns the key.
fn budget_id(key: &KeyHeader) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(key.name.as_str());
    hash.update(b":");
    hash.update(key.value.as_bytes());
    hex::encode(&hash.finalize()[..12])
}

impl std::fmt::Debug for KeyHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyHeader({}: [REDACTED])", self.name)
    }
}

/// One vendor's API: base URL, key, shared limiter and retry policy.
#[derive(Debug)]
pub struct Upstream {
    http: reqwest::Client,
    base: String,
    key: KeyHeader,
    limiter: RateLimiter,
    /// Names the key's budget in a shared store: a hash, so the key never appears there.
    budget_id: String,
    tuning: UpstreamTuning,
    /// Error answers the vendor means as final: returned at once, never retried.
    is_final: fn(StatusCode, &[u8]) -> bool,
}

impl Upstream {
    pub fn new(
        base_url: &url::Url,
        key: KeyHeader,
        tuning: UpstreamTuning,
    ) -> Result<Self, SettingsError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // The API never needs a redirect; following one could carry the key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SettingsError::Client(e.to_string()))?;
        Ok(Self {
            http,
            base: base_url.as_str().trim_end_matches('/').to_owned(),
            budget_id: budget_id(&key),
            key,
            limiter: RateLimiter::new(tuning.rate_limit, tuning.rate_window),
            tuning,
            is_final: |_, _| false,
        })
    }

    /// Error answers that `is_final` picks (by status and body) are returned at once: no
    /// retry, no pause (TryItOn's 429 `OutOfCredits` is an empty balance, not a rate limit).
    pub fn with_final_answers(mut self, is_final: fn(StatusCode, &[u8]) -> bool) -> Self {
        self.is_final = is_final;
        self
    }

    /// The absolute URL of an API path (which starts with `/`), keeping any base path prefix.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn tuning(&self) -> &UpstreamTuning {
        &self.tuning
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// Spends this key's budget in `store` too, so every instance sharing it shares the
    /// vendor's rate limit (issue 7).
    pub fn share_rate_limit(&self, store: &std::sync::Arc<dyn crate::store::Store>) {
        self.limiter.share_through(store.clone(), &self.budget_id);
    }

    /// Whether the API itself is plain HTTP (a local fake or test double).
    pub fn is_plain_http(&self) -> bool {
        self.base.starts_with("http://")
    }

    /// Sends the request `build` makes (once per attempt: bodies are rebuilt, not cloned),
    /// within the rate limit, retrying as `replay` allows. A waiting caller's place in line is
    /// told to `waiting`.
    pub async fn call(
        &self,
        replay: Replay,
        priority: Priority,
        waiting: Option<&dyn ProgressSink>,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Reply, UpstreamError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let grant = self
                .limiter
                .acquire(priority, |ahead| {
                    waiting.into_iter().for_each(|s| s.queued(ahead))
                })
                .await;
            let request = build(&self.http).header(self.key.name.clone(), self.key.value.clone());
            let outcome = self.exchange(request).await;
            if let Exchange::Answered { headers, .. } = &outcome {
                // Read while this call still holds its grant, as the limiter expects.
                if let Some((limit, remaining, reset_in)) = vendor_window(headers) {
                    self.limiter
                        .observe_vendor_window(limit, remaining, reset_in);
                }
            }
            // The vendor counted the call somewhere between sending and now.
            drop(grant);
            let last = attempt >= self.tuning.max_attempts;
            let delay = match outcome {
                Exchange::Answered {
                    status,
                    headers,
                    body,
                } => {
                    if status.is_success() {
                        return Ok(Reply { status, body });
                    }
                    let mut retry_after = retry_after(&headers);
                    let is_final = (self.is_final)(status, &body);
                    let rate_limited = status == StatusCode::TOO_MANY_REQUESTS && !is_final;
                    if rate_limited {
                        let pause = retry_after.unwrap_or_else(|| self.limiter.rest_of_window());
                        self.limiter.pause_for(pause);
                        retry_after = Some(pause);
                    }
                    let refused = rate_limited || status == StatusCode::SERVICE_UNAVAILABLE;
                    let may_retry = !is_final
                        && (refused || (status.is_server_error() && replay != Replay::CreateOnce));
                    let too_long = retry_after.is_some_and(|d| d > self.tuning.max_retry_after);
                    if !may_retry || last || too_long {
                        return Err(UpstreamError::Status {
                            status: status.as_u16(),
                            detail: detail(&body),
                            retry_after,
                            body,
                        });
                    }
                    if rate_limited {
                        // The limiter holds the retry (and every other call) until the pause ends.
                        Duration::ZERO
                    } else {
                        retry_after.unwrap_or_else(|| self.backoff(attempt))
                    }
                }
                Exchange::NotConnected => {
                    if last {
                        return Err(UpstreamError::Unreachable);
                    }
                    self.backoff(attempt)
                }
                Exchange::Lost { timed_out, cause } => {
                    if replay == Replay::CreateOnce {
                        tracing::warn!(%cause, "a create got no answer; not re-sending it");
                        return Err(UpstreamError::Unanswered(cause));
                    }
                    if last {
                        return Err(if timed_out {
                            UpstreamError::Timeout(self.tuning.request_timeout)
                        } else {
                            UpstreamError::Unreachable
                        });
                    }
                    self.backoff(attempt)
                }
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt, counted for `/metrics` (issue 7) by path (ids collapsed) and outcome.
    async fn exchange(&self, request: RequestBuilder) -> Exchange {
        let request = match request.timeout(self.tuning.request_timeout).build() {
            Ok(request) => request,
            Err(e) => {
                return Exchange::Lost {
                    timed_out: false,
                    cause: cause(e),
                };
            }
        };
        let path = request.url().path().to_owned();
        let started = std::time::Instant::now();
        let exchange = self.send(request).await;
        let outcome = match &exchange {
            Exchange::Answered { status, .. } => status.as_str().to_owned(),
            Exchange::NotConnected => "unreachable".to_owned(),
            Exchange::Lost {
                timed_out: true, ..
            } => "timeout".to_owned(),
            Exchange::Lost { .. } => "lost".to_owned(),
        };
        crate::metrics::upstream_call(&path, &outcome, started.elapsed());
        exchange
    }

    async fn send(&self, request: reqwest::Request) -> Exchange {
        let response = match self.http.execute(request).await {
            Ok(response) => response,
            Err(e) if e.is_connect() => return Exchange::NotConnected,
            Err(e) => {
                return Exchange::Lost {
                    timed_out: e.is_timeout(),
                    cause: cause(e),
                };
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        match response.bytes().await {
            Ok(body) => Exchange::Answered {
                status,
                headers,
                body,
            },
            // A status line without its body: for a create, the vendor may well have acted.
            Err(e) => Exchange::Lost {
                timed_out: e.is_timeout(),
                cause: cause(e),
            },
        }
    }

    /// Full jitter: a uniformly random pause up to `min(cap, base · 2^(attempt-1))`.
    fn backoff(&self, attempt: u32) -> Duration {
        full_jitter(self.tuning.backoff_base, self.tuning.backoff_cap, attempt)
    }
}

enum Exchange {
    Answered {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    /// The connection never opened: the request was certainly not received.
    NotConnected,
    /// Sent (perhaps entirely) and no complete answer came back.
    Lost { timed_out: bool, cause: String },
}

/// A transport error's chain of causes, without the URL.
fn cause(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    sanitize(&text)
}

pub fn full_jitter(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let ceiling = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(cap);
    let millis = ceiling.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// `X-RateLimit-Limit`, `-Remaining` and `-Reset`, when the vendor sends the last two. Reset
/// is read as seconds from now, or as a Unix time when it is one (a value past 2001).
fn vendor_window(headers: &HeaderMap) -> Option<(Option<u32>, u32, Duration)> {
    let number =
        |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    let remaining = u32::try_from(number("x-ratelimit-remaining")?).unwrap_or(u32::MAX);
    let reset = number("x-ratelimit-reset")?;
    let reset_in = if reset > 1_000_000_000 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        reset.saturating_sub(now)
    } else {
        reset
    };
    let limit = number("x-ratelimit-limit").and_then(|l| u32::try_from(l).ok());
    // A vendor's reset beyond an hour is not a rate window we should stall on.
    Some((limit, remaining, Duration::from_secs(reset_in.min(3600))))
}

/// `Retry-After` in seconds; an HTTP date falls back to backoff.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The vendor's error text for logs: a `detail`/`error`/`message` field if the body is JSON
/// (FitInView: `{"detail": ...}`), else the text; single-line and at most 200 characters.
pub fn detail(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => ["detail", "error", "message"]
            .iter()
            .find_map(|field| match &json[field] {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            })
            .unwrap_or_else(|| json.to_string()),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    sanitize(&text)
}

/// Vendor ids go into a path: accept only what cannot change its meaning.
pub fn vendor_id(id: serde_json::Value) -> Result<String, ProviderError> {
    let id = match id {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let safe = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if safe {
        Ok(id)
    } else {
        Err(ProviderError::Failed(
            "the vendor returned an unusable task id".into(),
        ))
    }
}

/// One line, printable, at most 200 characters: vendor text reaches logs and SSE events.
pub fn sanitize(text: &str) -> String {
    let mut clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if clean.trim().is_empty() {
        clean = "(no detail)".to_owned();
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_ids_must_be_path_safe() {
        assert_eq!(vendor_id(serde_json::json!("123456")).unwrap(), "123456");
        assert_eq!(vendor_id(serde_json::json!(42)).unwrap(), "42");
        assert_eq!(
            vendor_id(serde_json::json!("job_abc-1")).unwrap(),
            "job_abc-1"
        );
        assert!(vendor_id(serde_json::json!("../admin")).is_err());
        assert!(vendor_id(serde_json::json!(null)).is_err());
    }

    #[test]
    fn jitter_stays_within_the_capped_exponential_ceiling() {
        let base = Duration::from_millis(200);
        let cap = Duration::from_secs(1);
        for attempt in 1..8 {
            let ceiling = (base * 2u32.pow(attempt - 1)).min(cap);
            for _ in 0..50 {
                assert!(full_jitter(base, cap, attempt) <= ceiling);
            }
        }
    }

    #[test]
    fn vendor_details_are_read_from_json_and_made_single_line() {
        assert_eq!(
            detail(br#"{"detail":"Insufficient credits"}"#),
            "Insufficient credits"
        );
        assert_eq!(
            detail(br#"{"error":{"name":"PoseError"}}"#),
            r#"{"name":"PoseError"}"#
        );
        assert_eq!(detail(b"bad\r\nthing"), "bad  thing");
        assert_eq!(detail(b""), "(no detail)");
        assert_eq!(detail(&[b'x'; 500]).len(), 200);
    }

    #[test]
    fn statuses_map_onto_the_contract() {
        let status = |status| {
            UpstreamError::Status {
                status,
                detail: "d".into(),
                retry_after: None,
                body: Bytes::new(),
            }
            .into_provider_error()
        };
        assert!(matches!(status(401), ProviderError::Auth(_)));
        assert!(matches!(status(403), ProviderError::Auth(_)));
        assert!(matches!(status(402), ProviderError::OutOfCredit(_)));
        assert!(matches!(
            status(400),
            ProviderError::InputRejected {
                code: ErrorCode::InvalidImage,
                ..
            }
        ));
        assert!(matches!(status(429), ProviderError::Unavailable { .. }));
        assert!(matches!(status(503), ProviderError::Unavailable { .. }));
        assert!(
            status(402).to_task_error().code == ErrorCode::ProviderOutOfCredit
                && !status(402).to_task_error().retryable
        );
        assert!(
            status(401).to_task_error().code == ErrorCode::ProviderAuth
                && !status(401).to_task_error().retryable
        );
        assert!(status(503).to_task_error().retryable);
    }

    #[test]
    fn the_key_header_never_prints_its_value() {
        let key = SecretString::from("sk_DISTINCTIVE_123");
        let header = KeyHeader::new("x-api-key", "", &key).unwrap();
        assert!(!format!("{header:?}").contains("DISTINCTIVE"));
        assert!(header.value.is_sensitive());
        assert!(KeyHeader::new("x-api-key", "", &SecretString::from("bad\nkey")).is_err());
    }
}
