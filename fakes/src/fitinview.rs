//! A strict FitInView, per `fitinview-api.md`.
//!
//! `Authorization: Bearer <key>` only; `POST /api/v1/tryon` must be `application/json` with
//! the canonical field names (no aliases), raw base64 without a data-URL prefix, 1-3 garments,
//! `output_size` of `1K|2K|4K` and `wait: false` (a sync call would hold the connection 90 s);
//! `Idempotency-Key` is honoured: a repeated key returns the first job and creates nothing.
//! `GET /api/v1/tryon/{job_id}` goes `running → succeeded|failed` by the clock;
//! `GET /api/v1/account` reports the rate limit. Errors are `{"detail": ...}`. When a job has
//! a `webhook_url`, the fake posts the signed `tryon.completed` event there (optionally twice,
//! as FitInView's retries do), or, as behind a load balancer, to another instance of the
//! proxy, or not at all ([`Delivery`]).
//!
//! As its public docs now say (issue 13), every answer carries `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the oldest call leaves the
//! sliding window), and its own rate-limit 429 carries `Retry-After`. An ineligible account
//! (revoked, fraud-flagged) is refused with 403 on every endpoint; `content_blocked` failures
//! are billed (`fail_with`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::{
    Credential, Delivery, Dialect, Fake, KEY, Recorder, Storage, drop_connection, is_jpeg, png,
    post_webhook,
};

pub const CREATE: &str = "create";
pub const STATUS: &str = "status";
pub const ACCOUNT: &str = "account";
pub const WEBHOOK_SECRET: &str = "whsec_fake_secret";

#[derive(Debug, Clone)]
pub struct Behaviour {
    pub processing_for: Duration,
    /// `Some((error_code, error_message))`: jobs end `failed`.
    pub fail_with: Option<(String, String)>,
    pub out_of_credit: bool,
    pub rate_limit_per_min: u32,
    /// Deliver each webhook this many times.
    pub webhook_deliveries: u32,
    /// The account is revoked or fraud-flagged: every call answers 403.
    pub ineligible: bool,
    pub webhook_delivery: Delivery,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            processing_for: Duration::from_millis(400),
            fail_with: None,
            out_of_credit: false,
            rate_limit_per_min: 20,
            webhook_deliveries: 1,
            ineligible: false,
            webhook_delivery: Delivery::AsAsked,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub garments: usize,
    pub output_size: String,
    pub idempotency_key: String,
    pub webhook_url: Option<String>,
    created: Instant,
    behaviour: Behaviour,
    result_url: Option<String>,
    webhook_sent: bool,
    pub result: bytes::Bytes,
}

pub struct FitInViewFake {
    pub recorder: Recorder,
    pub storage: Storage,
    pub behaviour: Mutex<Behaviour>,
    pub jobs: Mutex<HashMap<String, Job>>,
    next_id: AtomicU64,
    pub webhook_statuses: Mutex<Vec<u16>>,
}

const DIALECT: Dialect = Dialect {
    vendor: "FitInView",
    credential: Credential::Bearer,
    error_body,
};

fn error_body(_class: &str, message: &str) -> Value {
    json!({ "detail": message })
}

impl Fake for FitInViewFake {
    fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn storage(&self) -> &Storage {
        &self.storage
    }
}

impl FitInViewFake {
    /// Rate window: FitInView's minute, or shorter for tests that count calls.
    pub async fn start(rate_window: Duration) -> Arc<Self> {
        crate::start(Self::new(KEY, rate_window), Self::api()).await
    }

    /// Serves a fake that accepts `key` on `listener` (for a fake run as a process).
    pub fn start_on(listener: TcpListener, key: &str) -> Arc<Self> {
        crate::start_on(
            Self::new(key, Duration::from_secs(60)),
            Self::api(),
            listener,
        )
    }

    fn new(key: &str, rate_window: Duration) -> Self {
        let behaviour = Behaviour::default();
        let recorder = Recorder::new(DIALECT, key, behaviour.rate_limit_per_min, rate_window);
        recorder.set_limit_retry_after(true);
        Self {
            recorder,
            storage: Storage::default(),
            behaviour: Mutex::new(behaviour),
            jobs: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            webhook_statuses: Mutex::new(Vec::new()),
        }
    }

    fn api() -> Router<Arc<Self>> {
        Router::new()
            .route("/api/v1/tryon", post(create))
            .route("/api/v1/tryon/{job_id}", get(status))
            .route("/api/v1/account", get(account))
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        let mut behaviour = self.behaviour.lock().unwrap();
        change(&mut behaviour);
        self.recorder
            .set_rate_limit(behaviour.rate_limit_per_min, self.recorder.rate_window());
    }

    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().unwrap().values().cloned().collect()
    }

    /// Every answer's rate headers, from the window as it is after counting this call.
    fn with_rate_headers(&self, mut response: Response) -> Response {
        let (limit, used, oldest_leaves) = self.recorder.window_usage();
        let reset = oldest_leaves.map_or(0, |d| d.as_secs_f64().ceil() as u64);
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", u64::from(limit)),
            (
                "x-ratelimit-remaining",
                u64::from(limit.saturating_sub(used)),
            ),
            ("x-ratelimit-reset", reset),
        ] {
            headers.insert(name, value.into());
        }
        response
    }

    /// 403 for an ineligible account, after the call was counted.
    #[expect(
        clippy::result_large_err,
        reason = "the error is the HTTP answer the handler returns as is"
    )]
    fn eligible(&self) -> Result<(), Response> {
        if self.behaviour.lock().unwrap().ineligible {
            return Err(self.recorder.error(
                StatusCode::FORBIDDEN,
                None,
                "Forbidden",
                "Key disabled",
            ));
        }
        Ok(())
    }

    pub fn only_job(&self) -> Job {
        crate::only(self.jobs(), "job")
    }

    fn job_json(&self, id: &str, job: &mut Job) -> Value {
        let elapsed = job.created.elapsed();
        let base = json!({
            "job_id": id, "status": "running", "result_url": null, "error_code": null, "error_message": null,
            "cost_credits": 8, "duration_ms": null, "created_at": "2026-04-29T16:44:52Z", "completed_at": null
        });
        if elapsed < job.behaviour.processing_for {
            return base;
        }
        let mut done = base;
        done["duration_ms"] = json!(elapsed.as_millis() as u64);
        done["completed_at"] = json!("2026-04-29T16:45:11Z");
        if let Some((code, message)) = &job.behaviour.fail_with {
            done["status"] = json!("failed");
            done["error_code"] = json!(code);
            done["error_message"] = json!(message);
            return done;
        }
        let url = job
            .result_url
            .get_or_insert_with(|| self.storage.put(id, "png", job.result.clone()))
            .clone();
        done["status"] = json!("succeeded");
        done["result_url"] = json!(url);
        done
    }
}

async fn create(
    State(fake): State<Arc<FitInViewFake>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = create_job(&fake, &headers, &body).await;
    fake.with_rate_headers(response)
}

async fn create_job(fake: &Arc<FitInViewFake>, headers: &HeaderMap, body: &Bytes) -> Response {
    let drop_after = match fake.recorder.admit(CREATE, headers).await {
        Ok(drop_after) => drop_after,
        Err(response) => return response,
    };
    if let Err(response) = fake.eligible() {
        return response;
    }
    let fields = match fake.recorder.json_object(CREATE, headers, body) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let known = [
        "person_url",
        "person_image_b64",
        "garment_urls",
        "garment_images_b64",
        "output_size",
        "prompt",
        "style_hint",
        "wait",
        "metadata",
        "seed",
        "negative_prompt",
        "webhook_url",
    ];
    for name in fields.keys() {
        if !known.contains(&name.as_str()) {
            return fake
                .recorder
                .bad_request(format!("create: {name:?} is not a canonical field"));
        }
    }
    let Some(person) = fields.get("person_image_b64").and_then(Value::as_str) else {
        return fake
            .recorder
            .bad_request("create: person_image_b64 missing");
    };
    if !raw_base64_jpeg(person) {
        return fake
            .recorder
            .bad_request("create: person_image_b64 is not raw base64 of a JPEG (no data: prefix)");
    }
    let garments: Vec<&str> = fields
        .get("garment_images_b64")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if garments.is_empty() || garments.len() > 3 || !garments.iter().all(|g| raw_base64_jpeg(g)) {
        return fake
            .recorder
            .bad_request("create: garment_images_b64 must hold 1-3 raw base64 JPEGs");
    }
    if fields.get("wait") != Some(&json!(false)) {
        return fake
            .recorder
            .bad_request("create: wait must be false (sync mode blocks up to 90 s)");
    }
    let output_size = fields
        .get("output_size")
        .and_then(Value::as_str)
        .unwrap_or("1K")
        .to_owned();
    if !["1K", "2K", "4K"].contains(&output_size.as_str()) {
        return fake
            .recorder
            .bad_request(format!("create: output_size {output_size:?}"));
    }
    let webhook_url = fields
        .get("webhook_url")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(idempotency_key) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return fake
            .recorder
            .bad_request("create: no Idempotency-Key (the proxy relies on it to retry safely)");
    };
    if idempotency_key.is_empty() || idempotency_key.len() > 200 {
        return fake
            .recorder
            .bad_request("create: Idempotency-Key must be 1-200 characters");
    }
    let behaviour = fake.behaviour.lock().unwrap().clone();
    if behaviour.out_of_credit {
        return fake.recorder.out_of_credit();
    }
    let mut jobs = fake.jobs.lock().unwrap();
    let existing = jobs
        .iter()
        .find(|(_, j)| j.idempotency_key == idempotency_key)
        .map(|(id, _)| id.clone());
    let id = match existing {
        Some(id) => id,
        None => {
            let id = format!("job_{:06}", fake.next_id.fetch_add(1, Ordering::SeqCst));
            let shade = (jobs.len() * 40 % 250) as u8;
            jobs.insert(
                id.clone(),
                Job {
                    garments: garments.len(),
                    output_size,
                    idempotency_key,
                    webhook_url,
                    created: Instant::now(),
                    behaviour,
                    result_url: None,
                    webhook_sent: false,
                    result: png(80, 120, [shade, 200, 90]).into(),
                },
            );
            id
        }
    };
    let job = jobs.get(&id).unwrap().clone();
    drop(jobs);
    if let Some(url) = job.webhook_url.clone() {
        spawn_webhook(fake.clone(), id.clone(), url);
    }
    if drop_after {
        drop_connection();
    }
    Json(json!({"job_id": id, "status": "running"})).into_response()
}

/// Posts the signed terminal event once the job is done, like FitInView's delivery.
fn spawn_webhook(fake: Arc<FitInViewFake>, id: String, url: String) {
    tokio::spawn(async move {
        let (pause, delivery) = {
            let jobs = fake.jobs.lock().unwrap();
            let behaviour = &jobs[&id].behaviour;
            (behaviour.processing_for, behaviour.webhook_delivery.clone())
        };
        tokio::time::sleep(pause).await;
        let Some(url) = delivery.target(&url) else {
            return;
        };
        let (body, deliveries) = {
            let mut jobs = fake.jobs.lock().unwrap();
            let job = jobs.get_mut(&id).unwrap();
            if job.webhook_sent {
                return;
            }
            job.webhook_sent = true;
            let mut status = fake.job_json(&id, job);
            status["event"] = json!("tryon.completed");
            (
                serde_json::to_vec(&status).unwrap(),
                job.behaviour.webhook_deliveries,
            )
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(&body);
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let headers = [
            ("x-fitinview-signature", signature.as_str()),
            ("x-fitinview-event", "tryon.completed"),
            ("x-fitinview-job-id", id.as_str()),
        ];
        for _ in 0..deliveries {
            let status = post_webhook(&url, &headers, body.clone()).await;
            fake.webhook_statuses.lock().unwrap().push(status);
        }
    });
}

fn raw_base64_jpeg(text: &str) -> bool {
    !text.starts_with("data:") && BASE64.decode(text).is_ok_and(|bytes| is_jpeg(&bytes))
}

async fn status(
    State(fake): State<Arc<FitInViewFake>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let response = job_status(&fake, &headers, &id).await;
    fake.with_rate_headers(response)
}

async fn job_status(fake: &FitInViewFake, headers: &HeaderMap, id: &str) -> Response {
    if let Err(response) = fake.recorder.admit(STATUS, headers).await {
        return response;
    }
    if let Err(response) = fake.eligible() {
        return response;
    }
    let mut jobs = fake.jobs.lock().unwrap();
    let Some(job) = jobs.get_mut(id) else {
        return fake
            .recorder
            .not_found(format!("status: polled unknown job {id:?}"));
    };
    Json(fake.job_json(id, job)).into_response()
}

async fn account(State(fake): State<Arc<FitInViewFake>>, headers: HeaderMap) -> Response {
    let response = account_answer(&fake, &headers).await;
    fake.with_rate_headers(response)
}

async fn account_answer(fake: &FitInViewFake, headers: &HeaderMap) -> Response {
    if let Err(response) = fake.recorder.admit(ACCOUNT, headers).await {
        return response;
    }
    if let Err(response) = fake.eligible() {
        return response;
    }
    let behaviour = fake.behaviour.lock().unwrap().clone();
    Json(json!({
        "name": "Production",
        "credits_remaining": if behaviour.out_of_credit { 0 } else { 142 },
        "rate_limit_per_min": behaviour.rate_limit_per_min,
        "total_calls": 17,
        "tryon_cost_credits": {"1K": 8, "2K": 12, "4K": 20}
    }))
    .into_response()
}
