//! A strict TryItOn, per `tryiton-api.md`.
//!
//! `Authorization: Bearer <key>` only; `POST /api/v1/tryon/clothes` must be JSON with
//! `model_image` and `garment_image` as base64 data URLs *with* their `data:image/...;base64,`
//! prefix, and only documented optional fields with documented values. The status path is not
//! documented, so the fake serves it where the test says (default `/api/v1/status/{id}`).
//! Jobs go `starting → processing → completed | failed` by the clock; a failed job carries
//! `{"name", "message"}`. Results are JPEG or PNG as `output_format` asks, and the fake notes
//! when a job's model image is the result of an earlier job (a chained combo).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::{
    Credential, Dialect, Fake, KEY, Recorder, Storage, drop_connection, is_jpeg, jpeg, png,
};

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
    result_url: Option<String>,
    pub result: bytes::Bytes,
}

pub struct TryItOnFake {
    pub recorder: Recorder,
    pub storage: Storage,
    pub behaviour: Mutex<Behaviour>,
    pub jobs: Mutex<Vec<Job>>,
    next_id: AtomicU64,
}

const DIALECT: Dialect = Dialect {
    vendor: "TryItOn",
    credential: Credential::Bearer,
    error_body,
};

fn error_body(class: &str, message: &str) -> Value {
    json!({"error": {"name": class, "message": message}})
}

impl Fake for TryItOnFake {
    fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn storage(&self) -> &Storage {
        &self.storage
    }
}

impl TryItOnFake {
    /// Starts a fake on a loopback port, serving job status at `status_path`.
    pub async fn start(status_path: &str) -> Arc<Self> {
        crate::start(Self::new(KEY), Self::api(status_path)).await
    }

    /// Serves a fake that accepts `key` on `listener` (for a fake run as a process).
    pub fn start_on(listener: TcpListener, key: &str, status_path: &str) -> Arc<Self> {
        crate::start_on(Self::new(key), Self::api(status_path), listener)
    }

    fn new(key: &str) -> Self {
        Self {
            recorder: Recorder::new(DIALECT, key, 60, Duration::from_secs(60)),
            storage: Storage::default(),
            behaviour: Mutex::new(Behaviour::default()),
            jobs: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0x64b7f1a9),
        }
    }

    fn api(status_path: &str) -> Router<Arc<Self>> {
        Router::new()
            .route("/api/v1/tryon/clothes", post(create))
            .route(status_path, get(status))
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }

    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().unwrap().clone()
    }

    pub fn only_job(&self) -> Job {
        crate::only(self.jobs(), "job")
    }
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
    let drop_after = match fake.recorder.admit(CREATE, &headers).await {
        Ok(drop_after) => drop_after,
        Err(response) => return response,
    };
    let fields = match fake.recorder.json_object(CREATE, &headers, &body) {
        Ok(fields) => fields,
        Err(response) => return response,
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
        return fake
            .recorder
            .bad_request(format!("create: undocumented field {name:?}"));
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
        Err(what) => return fake.recorder.bad_request(what),
    };
    if !is_jpeg(&garment_image) {
        return fake
            .recorder
            .bad_request("create: garment_image does not hold a JPEG");
    }
    let behaviour = fake.behaviour.lock().unwrap().clone();
    if behaviour.out_of_credit {
        return fake.recorder.out_of_credit();
    }
    let mut jobs = fake.jobs.lock().unwrap();
    let model_is_result_of = jobs
        .iter()
        .find(|j| j.result == model_image)
        .map(|j| j.id.clone());
    let id = format!("{:024x}", fake.next_id.fetch_add(1, Ordering::SeqCst));
    let shade = (jobs.len() * 60 % 250) as u8;
    let result = if output_format == "jpeg" {
        jpeg(96, 144, [shade, 30, 160])
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
        result_url: None,
        result: result.into(),
    });
    drop(jobs);
    if drop_after {
        drop_connection();
    }
    Json(json!({"id": id, "error": null})).into_response()
}

async fn status(
    State(fake): State<Arc<TryItOnFake>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = fake.recorder.admit(STATUS, &headers).await {
        return response;
    }
    let mut jobs = fake.jobs.lock().unwrap();
    let Some(job) = jobs.iter_mut().find(|j| j.id == id) else {
        return fake
            .recorder
            .not_found(format!("status: polled unknown job {id:?}"));
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
    let url = job
        .result_url
        .get_or_insert_with(|| fake.storage.put(&id, extension, job.result.clone()))
        .clone();
    Json(json!({"id": id, "status": "completed", "output": [url], "error": null})).into_response()
}
