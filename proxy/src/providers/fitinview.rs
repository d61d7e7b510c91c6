//! FitInView (`api.fitinview.com`), per `fitinview-api.md`.
//!
//! `Authorization: Bearer fiv_…`; `POST /api/v1/tryon` with JSON carrying raw base64 (no
//! data-URL prefix), `wait: false`, `output_size` and an `Idempotency-Key`, so a create whose
//! answer was lost may safely be sent again; then `GET /api/v1/tryon/{job_id}` until
//! `succeeded|failed`. The key's rate limit is whatever `GET /api/v1/account` reports
//! (`rate_limit_per_min`), read once before the first create. With a webhook secret and the
//! proxy's public URL configured, each create asks for a signed webhook, which ends the wait
//! early, on whichever instance drives the task ([`WebhookInbox`]); polls keep the plan they
//! have without webhooks, so a lost webhook costs no time. Quality maps to output size (fast and
//! balanced 1K, best 2K); several garments (combo) go in one request. FitInView reports no
//! progress, so it is estimated. The idempotency key is recorded before the create and the
//! job id after it, so a restart ([`Provider::resume`]) polls the job, or re-sends the create
//! with the same key (FitInView answers with the first job), never paying twice.
//!
//! Issue 13: FitInView's rate headers (`X-RateLimit-*`, `Retry-After` on a 429) are followed
//! by the shared client and limiter. Its 403 means the account is ineligible (revoked,
//! fraud-flagged): a refused key that will not heal by itself, so the adapter stops sending
//! for [`INELIGIBLE_HOLD`] and every task fails over at once. `content_blocked` is billed
//! ("credits are not refunded"): [`ProviderError::RejectedBilled`]. The balance
//! (`credits_remaining` of `GET /api/v1/account`) is shown on `/metrics`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::settings::{FitInViewSettings, SettingsError};
use super::upstream::client::{sanitize, vendor_id};
use super::upstream::webhooks::Waiter;
use super::upstream::{
    Balance, Downloader, DurationBook, KeyHeader, PollPlan, Polled, Priority, Progress, Replay,
    Upstream, UpstreamError, WebhookInbox, read_in_flight, record_in_flight, until_done,
};
use super::{
    ProcessedSizes, ProgressSink, Provider, ProviderError, ProviderInfo, TryOnJob, TryOnOutput,
    WebhookError,
};
use crate::wire::{Category, ChecksAvailable, ErrorCode, ProgressKind, Quality};

const TRYON_PATH: &str = "/api/v1/tryon";
const ACCOUNT_PATH: &str = "/api/v1/account";
/// Where the proxy receives FitInView's webhooks, relative to its public URL.
pub const WEBHOOK_PATH: &str = "/v1/webhooks/fitinview";
/// How long nothing is sent after a 403 (account ineligible): it takes a person to fix.
pub const INELIGIBLE_HOLD: Duration = Duration::from_secs(3600);

pub struct FitInView {
    api: Arc<Upstream>,
    results: Downloader,
    durations: DurationBook,
    account_read: OnceCell<()>,
    webhooks: Option<Webhooks>,
    balance: Balance,
    /// When FitInView last said the account is ineligible (403).
    ineligible_at: Mutex<Option<Instant>>,
}

/// Webhook state: the secret, and the jobs waiting for their event.
struct Webhooks {
    secret: SecretString,
    url: String,
    inbox: WebhookInbox,
}

impl FitInView {
    pub fn new(settings: FitInViewSettings) -> Result<Self, SettingsError> {
        let key = KeyHeader::new("authorization", "Bearer ", &settings.api_key)?;
        let webhooks = match (settings.webhook_secret, settings.public_url) {
            (Some(secret), Some(public)) => Some(Webhooks {
                secret,
                url: format!("{}{WEBHOOK_PATH}", public.as_str().trim_end_matches('/')),
                inbox: WebhookInbox::new("fitinview"),
            }),
            _ => None,
        };
        Ok(Self {
            api: Arc::new(Upstream::new(
                &settings.base_url,
                key,
                settings.tuning.clone(),
            )?),
            results: Downloader::new(&settings.base_url, settings.tuning)?,
            durations: DurationBook::default(),
            account_read: OnceCell::new(),
            webhooks,
            balance: Balance::new("fitinview", ACCOUNT_PATH, credits_remaining),
            ineligible_at: Mutex::new(None),
        })
    }

    /// Every call's HTTP error. A 403 latches: nothing more is sent for [`INELIGIBLE_HOLD`].
    fn refused(&self, error: UpstreamError) -> ProviderError {
        if matches!(error, UpstreamError::Status { status: 403, .. }) {
            *lock(&self.ineligible_at) = Some(Instant::now());
            tracing::error!(
                "FitInView answered 403: the account is ineligible (revoked or fraud-flagged); \
                 no calls for an hour, tasks fail over"
            );
            return ProviderError::Auth(format!("account ineligible: {error}"));
        }
        error.into_provider_error()
    }

    /// Refuses locally, without a call, while a 403 holds.
    fn still_eligible(&self) -> Result<(), ProviderError> {
        match *lock(&self.ineligible_at) {
            Some(at) if at.elapsed() < INELIGIBLE_HOLD => Err(ProviderError::Auth(
                "the FitInView account was found ineligible (403); nothing is sent until the \
                 hold ends"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// Adopts the key's own rate limit once; a failure other than a refused key is tolerated
    /// (the configured limit stays) and tried again before the next create.
    async fn read_account(&self) -> Result<(), ProviderError> {
        self.account_read
            .get_or_try_init(|| async {
                let reply = self
                    .api
                    .call(Replay::Safe, Priority::Create, None, |http| {
                        http.get(self.api.url(ACCOUNT_PATH))
                    })
                    .await
                    .map_err(|e| self.refused(e))?;
                let account: Account = reply.json().map_err(UpstreamError::into_provider_error)?;
                if let Some(credits) = account.credits_remaining {
                    self.balance.record(credits as f64);
                }
                if let Some(limit) = account.rate_limit_per_min.filter(|l| *l > 0) {
                    self.api
                        .limiter()
                        .set_limit(limit, self.api.tuning().rate_window);
                }
                if account.credits_remaining == Some(0) {
                    tracing::warn!("FitInView reports no credit left on this key");
                }
                Ok(())
            })
            .await
            .map(|_| ())
            .or_else(|error| match error {
                ProviderError::Auth(_) => Err(error),
                _ => Ok(()),
            })
    }

    async fn create(
        &self,
        job: &TryOnJob,
        idempotency_key: &str,
        waiting: &dyn ProgressSink,
    ) -> Result<JobStatus, ProviderError> {
        let mut garments = vec![BASE64.encode(&job.garment.bytes)];
        if job.category == Category::Combo {
            let lower = job
                .lower_garment
                .as_ref()
                .ok_or_else(|| ProviderError::InputRejected {
                    code: ErrorCode::MissingField,
                    message: "combo needs a lower garment".into(),
                })?;
            garments.push(BASE64.encode(&lower.bytes));
        }
        let mut body = json!({
            "person_image_b64": BASE64.encode(&job.person.bytes),
            "garment_images_b64": garments,
            "output_size": output_size(job.quality),
            "wait": false,
        });
        if let Some(webhooks) = &self.webhooks {
            body["webhook_url"] = json!(webhooks.url);
        }
        let reply = self
            .api
            .call(
                Replay::IdempotentCreate,
                Priority::Create,
                Some(waiting),
                |http| {
                    http.post(self.api.url(TRYON_PATH))
                        .header("idempotency-key", idempotency_key)
                        .json(&body)
                },
            )
            .await
            .map_err(|e| self.refused(e))?;
        reply.json().map_err(UpstreamError::into_provider_error)
    }

    async fn poll(&self, job_id: &str, waiter: Option<&Waiter>) -> Result<Polled, ProviderError> {
        // The event was parsed when it was received (here or at another instance).
        if let Some(event) = waiter
            .and_then(Waiter::take)
            .and_then(|body| serde_json::from_slice::<WebhookEvent>(&body).ok())
        {
            return Ok(event.status.into_polled());
        }
        let reply = self
            .api
            .call(Replay::Safe, Priority::Poll, None, |http| {
                http.get(self.api.url(&format!("{TRYON_PATH}/{job_id}")))
            })
            .await
            .map_err(|e| self.refused(e))?;
        let status: JobStatus = reply.json().map_err(UpstreamError::into_provider_error)?;
        Ok(status.into_polled())
    }

    /// Creates the job (or, with a key already sent before a restart, finds it again),
    /// records it for a restart, and follows it to the downloaded result. `first_attempt` is
    /// false after a restart, when the job's age is unknown.
    async fn submit_and_follow(
        &self,
        job: &TryOnJob,
        idempotency_key: String,
        progress: &Progress<'_>,
        sink: &dyn ProgressSink,
        first_attempt: bool,
    ) -> Result<TryOnOutput, ProviderError> {
        self.still_eligible()?;
        self.read_account().await?;
        self.balance.refresh(&self.api);
        let status = self.create(job, &idempotency_key, sink).await?;
        // The task timeout and the learned durations count from the vendor's acceptance: a
        // create that waited for the key's budget must not eat into the time of a paid task.
        let created = first_attempt.then(Instant::now);
        let job_id = vendor_id(serde_json::Value::String(status.job_id.clone()))?;
        record_in_flight(
            sink,
            &InFlight {
                idempotency_key,
                job_id: Some(job_id.clone()),
            },
        );
        progress.span(0.0, 100.0).report(0.05, "queued_at_provider");
        let url = match status.into_polled() {
            Polled::Pending { .. } => self.follow(&job_id, job, progress, created).await?,
            Polled::Succeeded(url) => url,
            Polled::Failed(error) => return Err(error),
        };
        self.download(url, job, progress, created).await
    }

    async fn download(
        &self,
        url: String,
        job: &TryOnJob,
        progress: &Progress<'_>,
        created: Option<Instant>,
    ) -> Result<TryOnOutput, ProviderError> {
        if let Some(created) = created {
            self.durations.record(job.quality, created.elapsed());
        }
        progress.span(0.0, 100.0).report(0.95, "downloading_result");
        self.results.fetch(&url).await
    }

    /// Follows a created job to its result URL. `created` is when this process created it;
    /// `None` after a restart, when the job may be done already (so it is polled at once).
    async fn follow(
        &self,
        job_id: &str,
        job: &TryOnJob,
        progress: &Progress<'_>,
        created: Option<Instant>,
    ) -> Result<String, ProviderError> {
        let tuning = self.api.tuning();
        let documented = tuning
            .expected_duration
            .unwrap_or_else(|| documented_duration(job.quality));
        let expected = self.durations.expected(job.quality, documented);
        // The same plan as without webhooks: one that never arrives (lost, or sent to an
        // instance that is gone) must not make the try-on slower.
        let plan =
            PollPlan::estimated(tuning.poll_interval, expected, tuning.task_timeout, created);
        let registration = match &self.webhooks {
            Some(webhooks) => Some(webhooks.inbox.register(job_id).await),
            None => None,
        };
        let waiter = registration.as_ref().map(|r| r.waiter());
        let span = progress.span(5.0, 95.0);
        until_done(
            &plan,
            span,
            ProgressKind::Estimated,
            waiter.map(|w| &w.wake),
            || self.poll(job_id, waiter),
        )
        .await
    }
}

#[async_trait]
impl Provider for FitInView {
    fn share_through(&self, store: &std::sync::Arc<dyn crate::store::Store>) {
        self.api.share_rate_limit(store);
        if let Some(webhooks) = &self.webhooks {
            webhooks.inbox.share_through(store);
        }
    }

    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "fitinview",
            categories: vec![
                Category::Upper,
                Category::Lower,
                Category::Full,
                Category::Combo,
            ],
            checks: ChecksAvailable {
                person: false,
                garment: false,
            },
        }
    }

    /// FitInView's document sizes only the output (1K ~1024 px, 2K ~2048 px for our best
    /// quality), not the inputs: the sizes we have always sent, which cover 2K.
    fn processed_sizes(&self) -> ProcessedSizes {
        ProcessedSizes::UNDOCUMENTED
    }

    async fn run(
        &self,
        job: TryOnJob,
        sink: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let progress = Progress::new(sink, ProgressKind::Estimated);
        progress.span(0.0, 100.0).report(0.0, "submitting");
        // One key per task, the same on every attempt, recorded before the first one: however
        // often the create is sent, before or after a restart, FitInView creates one job.
        let idempotency_key = format!("tryon-{:032x}", rand::random::<u128>());
        record_in_flight(
            sink,
            &InFlight {
                idempotency_key: idempotency_key.clone(),
                job_id: None,
            },
        );
        self.submit_and_follow(&job, idempotency_key, &progress, sink, true)
            .await
    }

    /// Issue 7: the job an earlier process created is polled again; a create whose answer
    /// the restart lost is sent again with its idempotency key, which creates nothing new.
    async fn resume(
        &self,
        job: TryOnJob,
        state: serde_json::Value,
        sink: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let in_flight: InFlight = read_in_flight(state, "FitInView")?;
        let progress = Progress::new(sink, ProgressKind::Estimated);
        match in_flight.job_id {
            Some(job_id) => {
                self.still_eligible()?;
                self.read_account().await?;
                let url = self.follow(&job_id, &job, &progress, None).await?;
                self.download(url, &job, &progress, None).await
            }
            None => {
                self.submit_and_follow(&job, in_flight.idempotency_key, &progress, sink, false)
                    .await
            }
        }
    }

    fn accepts_webhooks(&self) -> bool {
        self.webhooks.is_some()
    }

    async fn webhook(
        &self,
        vendor: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        let webhooks = self
            .webhooks
            .as_ref()
            .filter(|_| vendor == "fitinview")
            .ok_or(WebhookError::NotConfigured)?;
        verify_signature(&webhooks.secret, signature, body)?;
        let event: WebhookEvent =
            serde_json::from_slice(body).map_err(|_| WebhookError::Malformed)?;
        if event.event != "tryon.completed" {
            return Ok(());
        }
        // The job id goes into a store key when the job is driven elsewhere.
        let job_id = vendor_id(serde_json::Value::String(event.status.job_id))
            .map_err(|_| WebhookError::Malformed)?;
        // Unknown jobs (finished already, or from before a restart) and repeats are ignored:
        // FitInView retries deliveries, so duplicates are normal.
        webhooks.inbox.deliver(&job_id, body).await;
        Ok(())
    }
}

/// What a restart needs, persisted as `{"idempotency_key": "tryon-…", "job_id": "job_…"}`
/// (`job_id` null while the create's answer is awaited).
#[derive(Debug, Serialize, Deserialize)]
struct InFlight {
    idempotency_key: String,
    job_id: Option<String>,
}

/// `X-FitInView-Signature: sha256=<hex>`: HMAC-SHA256 of the raw body with the `whsec_`
/// secret, compared in constant time.
pub fn verify_signature(
    secret: &SecretString,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), WebhookError> {
    let hex_signature = header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .ok_or(WebhookError::BadSignature)?;
    let claimed = hex::decode(hex_signature).map_err(|_| WebhookError::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .map_err(|_| WebhookError::BadSignature)?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&claimed)
        .map_err(|_| WebhookError::BadSignature)
}

/// fast and balanced → 1K (8 credits); best → 2K (12 credits).
fn output_size(quality: Quality) -> &'static str {
    match quality {
        Quality::Fast | Quality::Balanced => "1K",
        Quality::Best => "2K",
    }
}

/// The document's example job took 18.45 s at 1K; 2K is assumed a third longer.
fn documented_duration(quality: Quality) -> Duration {
    match quality {
        Quality::Fast | Quality::Balanced => Duration::from_millis(18_452),
        Quality::Best => Duration::from_secs(24),
    }
}

/// The ineligibility latch's lock; a poisoned one still holds a usable instant.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Clone, Deserialize)]
struct JobStatus {
    job_id: String,
    status: String,
    result_url: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
}

impl JobStatus {
    fn into_polled(self) -> Polled {
        match self.status.as_str() {
            "succeeded" => match self.result_url {
                Some(url) => Polled::Succeeded(url),
                None => Polled::Failed(ProviderError::Failed(
                    "succeeded without a result_url".into(),
                )),
            },
            "failed" => Polled::Failed(failure(
                self.error_code.as_deref(),
                self.error_message.as_deref(),
            )),
            _ => Polled::Pending { reported: None },
        }
    }
}

/// `generation_failed` + `content_blocked` is moderation, and billed ("credits are not
/// refunded"); anything else is the vendor's failure.
fn failure(code: Option<&str>, message: Option<&str>) -> ProviderError {
    let text = sanitize(&format!(
        "{}: {}",
        code.unwrap_or("failed"),
        message.unwrap_or("no detail")
    ));
    if message == Some("content_blocked") {
        ProviderError::RejectedBilled {
            code: ErrorCode::ContentRejected,
            message: text,
        }
    } else {
        ProviderError::Failed(text)
    }
}

/// The balance in `GET /api/v1/account`'s answer.
fn credits_remaining(body: &[u8]) -> Option<f64> {
    serde_json::from_slice::<Account>(body)
        .ok()?
        .credits_remaining
        .map(|c| c as f64)
}

#[derive(Deserialize)]
struct Account {
    credits_remaining: Option<i64>,
    rate_limit_per_min: Option<u32>,
}

#[derive(Deserialize)]
struct WebhookEvent {
    event: String,
    #[serde(flatten)]
    status: JobStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures_are_checked_against_the_raw_body() {
        let secret = SecretString::from("whsec_test");
        let body = br#"{"event":"tryon.completed","job_id":"job_1","status":"succeeded"}"#;
        assert!(verify_signature(&secret, Some(&sign("whsec_test", body)), body).is_ok());
        assert!(verify_signature(&secret, Some(&sign("whsec_other", body)), body).is_err());
        assert!(verify_signature(&secret, Some(&sign("whsec_test", b"{}")), body).is_err());
        assert!(verify_signature(&secret, None, body).is_err());
        assert!(verify_signature(&secret, Some("sha256=zz"), body).is_err());
    }

    #[test]
    fn content_blocked_is_a_billed_content_rejection_and_other_failures_are_the_vendors() {
        let blocked = failure(Some("generation_failed"), Some("content_blocked"));
        assert!(
            matches!(blocked, ProviderError::RejectedBilled { .. }),
            "{blocked:?}"
        );
        assert_eq!(blocked.to_task_error().code, ErrorCode::ContentRejected);
        assert!(!blocked.to_task_error().retryable);
        let other = failure(Some("generation_failed"), Some("storage failed"));
        assert_eq!(other.to_task_error().code, ErrorCode::ProviderFailed);
    }

    #[test]
    fn qualities_map_to_output_sizes() {
        assert_eq!(
            [Quality::Fast, Quality::Balanced, Quality::Best].map(output_size),
            ["1K", "1K", "2K"]
        );
    }
}
