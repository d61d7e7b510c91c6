//! A strict TryItOn, per `tryiton-api.md`.
//!
//! `Authorization: Bearer <key>` only; `POST /api/v1/tryon/clothes` must be JSON with
//! `model_image` and `garment_image` as base64 data URLs *with* their `data:image/...;base64,`
//! prefix, and only documented optional fields with documented values. The status path is not
//! documented, so the fake serves it where the test says (default `/api/v1/status/{id}`).
//! Jobs go `starting → processing → completed | failed` by the clock; a failed job carries
//! `{"name", "message"}`. Results are JPEG or PNG as `output_format` asks, and the fake notes
//! when a job's model image is the result of an earlier job (a chained combo).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Recorder, Storage, drop_connection, error, is_jpeg, serve};
use crate::util::{KEY, png};

pub const CREATE: &str = "create";
pub const STATUS: &str = "status";
pub const DEFAULT_STATUS_PATH: &str = "/api/v1/status/{id}";

#[derive(Debug, Clone)]
pub struct Behaviour {
    pub processing_for: Duration,
    /// `Some((name, message))`: jobs end `failed` with this error.
    pub fail_with: Option<(String, String)>,
    pub out_of_credit: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            processing_for: Duration::from_millis(300),
            fail_with: None,
            out_of_credit: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub category: String,
    pub mode: String,
    pub output_format: String,
    pub model_image: Vec<u8>,
    pub garment_image: Vec<u8>,
    /// The id of the job whose result this job's model image is.
    pub model_is_result_of: Option<String>,
    created: Instant,
    behaviour: Behaviour,
    result_path: Option<String>,
    pub result: bytes::Bytes,
}

pub struct TryItOnFake {
    pub recorder: Recorder,
    pub storage: Storage,
    pub behaviour: Mutex<Behaviour>,
    pub jobs: Mutex<Vec<Job>>,
    next_id: AtomicU64,
    pub auth_failures: AtomicU32,
    base: Mutex<String>,
}

impl TryItOnFake {
    pub async fn start(status_path: &str) -> Arc<Self> {
        let fake = Arc::new(Self {
            recorder: Recorder::new(60, Duration::from_secs(60)),
            storage: Storage::default(),
            behaviour: Mutex::new(Behaviour::default()),
            jobs: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0x64b7f1a9),
            auth_failures: AtomicU32::new(0),
            base: Mutex::new(String::new()),
        });
        let router = Router::new()
            .route("/api/v1/tryon/clothes", post(create))
            .route(status_path, get(status))
            .route("/files/{file}", get(file))
            .fallback(undocumented)
            .method_not_allowed_fallback(undocumented)
            .with_state(fake.clone());
        *fake.base.lock().unwrap() = serve(router).await;
        fake
    }

    pub fn base_url(&self) -> String {
        self.base.lock().unwrap().clone()
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }

    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().unwrap().clone()
    }

    pub fn only_job(&self) -> Job {
        let jobs = self.jobs();
        assert_eq!(
            jobs.len(),
            1,
            "expected exactly one job upstream, found {}",
            jobs.len()
        );
        jobs.into_iter().next().unwrap()
    }

    async fn gate(&self, endpoint: &'static str, headers: &HeaderMap) -> Result<bool, Response> {
        let drop_after = self
            .recorder
            .admit(
                endpoint,
                |m| json!({"error": {"name": "HttpError", "message": m}}),
            )
            .await?;
        if headers.contains_key("x-api-key") {
            self.recorder.violation(format!(
                "{endpoint}: TryItOn takes a bearer token, not X-API-KEY"
            ));
        }
        match headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer "))
        {
            None => {
                self.recorder
                    .violation(format!("{endpoint}: no Authorization header"));
                Err(unauthorized())
            }
            Some(None) => {
                self.recorder
                    .violation(format!("{endpoint}: Authorization is not a Bearer token"));
                Err(unauthorized())
            }
            Some(Some(token)) if token != KEY => {
                self.auth_failures.fetch_add(1, Ordering::SeqCst);
                Err(unauthorized())
            }
            Some(Some(_)) => Ok(drop_after),
        }
    }

    fn bad_request(&self, what: String) -> Response {
        self.recorder.violation(what);
        error(
            StatusCode::BAD_REQUEST,
            None,
            json!({"error": {"name": "ValidationError", "message": "invalid request"}}),
        )
    }
}

fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        None,
        json!({"error": {"name": "AuthenticationError", "message": "Invalid API key"}}),
    )
}

/// The bytes of a `data:image/<jpeg|jpg|png>;base64,` URL, or why it is not one.
fn data_url(field: &str, value: Option<&Value>) -> Result<Vec<u8>, String> {
    let text = value
        .and_then(Value::as_str)
        .ok_or(format!("create: {field} missing"))?;
    let rest = [
        "data:image/jpeg;base64,",
        "data:image/jpg;base64,",
        "data:image/png;base64,",
    ]
    .iter()
    .find_map(|prefix| text.strip_prefix(prefix))
    .ok_or(format!(
        "create: {field} is not a data URL with its data:image/...;base64, prefix"
    ))?;
    BASE64
        .decode(rest)
        .map_err(|_| format!("create: {field} is not valid base64"))
}

fn one_of(
    fields: &serde_json::Map<String, Value>,
    name: &str,
    allowed: &[&str],
    default: &str,
) -> Result<String, String> {
    match fields.get(name) {
        None => Ok(default.to_owned()),
        Some(Value::String(v)) if allowed.contains(&v.as_str()) => Ok(v.clone()),
        Some(other) => Err(format!("create: {name} {other} is not one of {allowed:?}")),
    }
}

async fn create(State(fake): State<Arc<TryItOnFake>>, headers: HeaderMap, body: Bytes) -> Response {
    let drop_after = match fake.gate(CREATE, &headers).await {
        Ok(drop_after) => drop_after,
        Err(response) => return response,
    };
    if !headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"))
    {
        return fake.bad_request("create: Content-Type is not application/json".into());
    }
    let Some(fields) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.as_object().cloned())
    else {
        return fake.bad_request("create: body is not a JSON object".into());
    };
    let documented = [
        "model_image",
        "garment_image",
        "category",
        "segmentation_free",
        "moderation_level",
        "garment_photo_type",
        "mode",
        "seed",
        "num_samples",
        "output_format",
    ];
    if let Some(name) = fields.keys().find(|k| !documented.contains(&k.as_str())) {
        return fake.bad_request(format!("create: undocumented field {name:?}"));
    }
    let parsed = (|| {
        let model_image = data_url("model_image", fields.get("model_image"))?;
        let garment_image = data_url("garment_image", fields.get("garment_image"))?;
        let category = one_of(
            &fields,
            "category",
            &["auto", "tops", "bottoms", "one-pieces"],
            "auto",
        )?;
        let mode = one_of(
            &fields,
            "mode",
            &["performance", "balanced", "quality"],
            "balanced",
        )?;
        let output_format = one_of(&fields, "output_format", &["png", "jpeg"], "png")?;
        Ok::<_, String>((model_image, garment_image, category, mode, output_format))
    })();
    let (model_image, garment_image, category, mode, output_format) = match parsed {
        Ok(parsed) => parsed,
        Err(what) => return fake.bad_request(what),
    };
    if !is_jpeg(&garment_image) {
        return fake.bad_request("create: garment_image does not hold a JPEG".into());
    }
    let behaviour = fake.behaviour.lock().unwrap().clone();
    if behaviour.out_of_credit {
        return error(
            StatusCode::PAYMENT_REQUIRED,
            None,
            json!({"error": {"name": "InsufficientCredits", "message": "Not enough credits"}}),
        );
    }
    let mut jobs = fake.jobs.lock().unwrap();
    let model_is_result_of = jobs
        .iter()
        .find(|j| j.result == model_image)
        .map(|j| j.id.clone());
    let id = format!("{:024x}", fake.next_id.fetch_add(1, Ordering::SeqCst));
    let shade = (jobs.len() * 60 % 250) as u8;
    let result = if output_format == "jpeg" {
        jpeg_bytes(96, 144, [shade, 30, 160])
    } else {
        png(96, 144, [shade, 30, 160])
    };
    jobs.push(Job {
        id: id.clone(),
        category,
        mode,
        output_format,
        model_image,
        garment_image,
        model_is_result_of,
        created: Instant::now(),
        behaviour,
        result_path: None,
        result: result.into(),
    });
    drop(jobs);
    if drop_after {
        drop_connection();
    }
    Json(json!({"id": id, "error": null})).into_response()
}

fn jpeg_bytes(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    crate::util::jpeg(width, height, colour).bytes.to_vec()
}

async fn status(
    State(fake): State<Arc<TryItOnFake>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = fake.gate(STATUS, &headers).await {
        return response;
    }
    let mut jobs = fake.jobs.lock().unwrap();
    let Some(job) = jobs.iter_mut().find(|j| j.id == id) else {
        fake.recorder
            .violation(format!("status: polled unknown job {id:?}"));
        return error(
            StatusCode::NOT_FOUND,
            None,
            json!({"error": {"name": "NotFound", "message": "no such job"}}),
        );
    };
    let elapsed = job.created.elapsed();
    if elapsed < job.behaviour.processing_for / 3 {
        return Json(json!({"id": id, "status": "starting", "output": null, "error": null}))
            .into_response();
    }
    if elapsed < job.behaviour.processing_for {
        return Json(json!({"id": id, "status": "processing", "output": null, "error": null}))
            .into_response();
    }
    if let Some((name, message)) = &job.behaviour.fail_with {
        return Json(
            json!({"id": id, "status": "failed", "error": {"name": name, "message": message}}),
        )
        .into_response();
    }
    let extension = if job.output_format == "jpeg" {
        "jpg"
    } else {
        "png"
    };
    let path = job
        .result_path
        .get_or_insert_with(|| fake.storage.put(&id, job.result.clone()))
        .clone();
    let path = path.replace(".png", &format!(".{extension}"));
    Json(json!({"id": id, "status": "completed", "output": [format!("{}{path}", fake.base_url())], "error": null})).into_response()
}

async fn file(
    State(fake): State<Arc<TryItOnFake>>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    let token = file.trim_end_matches(".jpg").to_owned();
    fake.storage.get(&fake.recorder, &token, &headers)
}

async fn undocumented(State(fake): State<Arc<TryItOnFake>>, method: Method, uri: Uri) -> Response {
    fake.recorder
        .violation(format!("undocumented endpoint {method} {uri}"));
    error(
        StatusCode::NOT_FOUND,
        None,
        json!({"error": {"name": "NotFound", "message": "Not Found"}}),
    )
}
