//! A strict TryItOn, per `tryiton-api.md`.
//!
//! `Authorization: Bearer <key>` only; `POST /api/v1/tryon/clothes` must be JSON with
//! `model_image` and `garment_image` as base64 data URLs *with* their `data:image/...;base64,`
//! prefix, and only documented optional fields with documented values. The status path is not
//! documented, so the fake serves it where the test says (default `/api/v1/status/{id}`).
//! Jobs go `starting → processing → completed | failed` by the clock; a failed job carries
//! `{"name", "message"}`. Results are JPEG or PNG as `output_format` asks, and the fake notes
//! when a job's model image is the result of an earlier job (a chained combo).
//!
//! TryItOn has moved on from that document (issue 13), and the fake speaks both forms: it
//! enforces the request form of its configured [`Style`] (`POST /api/v1/tryon/clothes` with
//! the document's fields, or the 2026 SDKs' `POST /api/v1/tryon/fashion` with
//! `category: "clothing"` and a `subcategory`), and answers in the shape `answers` names
//! (`{"id"}` or `{"ok": true, "jobId"}`; errors `{"error": {"name", "message"}}` or
//! `{"error": "<Name>", "message"}`; an empty balance 402, or 429 `OutOfCredits` without
//! `Retry-After`). Results may be WebP, and `GET /api/v1/credits` reports the balance.

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
    Credential, Dialect, Fake, KEY, Recorder, Storage, drop_connection, is_jpeg, jpeg, png, webp,
};

pub const CREATE: &str = "create";
pub const STATUS: &str = "status";
pub const CREDITS: &str = "credits";
pub const DEFAULT_STATUS_PATH: &str = "/api/v1/status/{id}";
pub const DOCUMENTED_PATH: &str = "/api/v1/tryon/clothes";
pub const SDK_2026_PATH: &str = "/api/v1/tryon/fashion";

/// TryItOn's two forms: our document's, and its 2026 docs' and SDKs'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Documented,
    Sdk2026,
}

/// The balance as `GET /api/v1/credits` reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Credits {
    pub on_demand: u32,
    pub subscription: u32,
    pub purchased: u32,
    pub reserved: u32,
}

#[derive(Debug, Clone)]
pub struct Behaviour {
    pub processing_for: Duration,
    /// `Some((name, message))`: jobs end `failed` with this error.
    pub fail_with: Option<(String, String)>,
    pub out_of_credit: bool,
    /// The request form creates must have.
    pub style: Style,
    /// The shape of every answer.
    pub answers: Style,
    /// Results are WebP whatever `output_format` asked (the 2026 outputs).
    pub webp_results: bool,
    pub credits: Credits,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            processing_for: Duration::from_millis(300),
            fail_with: None,
            out_of_credit: false,
            style: Style::Documented,
            answers: Style::Documented,
            webp_results: false,
            credits: Credits {
                on_demand: 40,
                subscription: 0,
                purchased: 0,
                reserved: 0,
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub category: String,
    pub mode: String,
    pub output_format: String,
    /// `Some` only in the 2026 form, with `category: "clothing"`.
    pub subcategory: Option<String>,
    /// The `seed` the create carried, if any.
    pub seed: Option<u64>,
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

/// The 2026 shape of an HTTP error.
fn sdk_error_body(class: &str, message: &str) -> Value {
    json!({"error": class, "message": message})
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
            .route(DOCUMENTED_PATH, post(create_documented))
            .route(SDK_2026_PATH, post(create_sdk_2026))
            .route(status_path, get(status))
            .route("/api/v1/credits", get(credits))
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        let mut behaviour = self.behaviour.lock().unwrap();
        change(&mut behaviour);
        self.recorder.set_error_body(match behaviour.answers {
            Style::Documented => error_body,
            Style::Sdk2026 => sdk_error_body,
        });
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

async fn create_documented(
    State(fake): State<Arc<TryItOnFake>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(fake, Style::Documented, headers, body).await
}

async fn create_sdk_2026(
    State(fake): State<Arc<TryItOnFake>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(fake, Style::Sdk2026, headers, body).await
}

/// The fields of a create in `form`, or what is wrong with them.
struct Request {
    model_image: Vec<u8>,
    garment_image: Vec<u8>,
    category: String,
    subcategory: Option<String>,
    mode: String,
    output_format: String,
    seed: Option<u64>,
}

fn request(form: Style, fields: &serde_json::Map<String, Value>) -> Result<Request, String> {
    let mut known = vec![
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
    if form == Style::Sdk2026 {
        known.push("subcategory");
    }
    if let Some(name) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("create: undocumented field {name:?}"));
    }
    let seed = match fields.get("seed") {
        None => None,
        Some(value) => Some(
            value
                .as_u64()
                .filter(|s| *s <= u64::from(u32::MAX))
                .ok_or(format!("create: seed {value} is not an int in 0..2^32-1"))?,
        ),
    };
    let (category, subcategory) = match form {
        Style::Documented => (
            one_of(
                fields,
                "category",
                &["auto", "tops", "bottoms", "one-pieces"],
                "auto",
            )?,
            None,
        ),
        Style::Sdk2026 => {
            let category = one_of(
                fields,
                "category",
                &[
                    "auto",
                    "clothing",
                    "eyewear",
                    "footwear",
                    "headwear",
                    "jewelry",
                    "accessories",
                    "others",
                ],
                "auto",
            )?;
            let subcategory = match (category.as_str(), fields.get("subcategory")) {
                ("clothing", None) => return Err("create: clothing needs a subcategory".into()),
                ("clothing", Some(_)) => Some(one_of(
                    fields,
                    "subcategory",
                    &["tops", "bottoms", "dresses"],
                    "",
                )?),
                (_, Some(_)) => {
                    return Err(format!("create: a subcategory with category {category:?}"));
                }
                (_, None) => None,
            };
            (category, subcategory)
        }
    };
    Ok(Request {
        model_image: data_url("model_image", fields.get("model_image"))?,
        garment_image: data_url("garment_image", fields.get("garment_image"))?,
        category,
        subcategory,
        mode: one_of(
            fields,
            "mode",
            &["performance", "balanced", "quality"],
            "balanced",
        )?,
        output_format: one_of(fields, "output_format", &["png", "jpeg"], "png")?,
        seed,
    })
}

async fn create(fake: Arc<TryItOnFake>, form: Style, headers: HeaderMap, body: Bytes) -> Response {
    let drop_after = match fake.recorder.admit(CREATE, &headers).await {
        Ok(drop_after) => drop_after,
        Err(response) => return response,
    };
    let style = fake.behaviour.lock().unwrap().style;
    if form != style {
        return fake.recorder.not_found(format!(
            "create: the {form:?} form was sent to a TryItOn configured for the {style:?} form"
        ));
    }
    let fields = match fake.recorder.json_object(CREATE, &headers, &body) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let Request {
        model_image,
        garment_image,
        category,
        subcategory,
        mode,
        output_format,
        seed,
    } = match request(form, &fields) {
        Ok(request) => request,
        Err(what) => return fake.recorder.bad_request(what),
    };
    if !is_jpeg(&garment_image) {
        return fake
            .recorder
            .bad_request("create: garment_image does not hold a JPEG");
    }
    let behaviour = fake.behaviour.lock().unwrap().clone();
    if behaviour.out_of_credit {
        return match behaviour.answers {
            Style::Documented => fake.recorder.out_of_credit(),
            // The 2026 API says so with a 429, and no Retry-After: waiting will not help.
            Style::Sdk2026 => fake.recorder.error(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                None,
                "OutOfCredits",
                "You have no credits left",
            ),
        };
    }
    let answers = behaviour.answers;
    let mut jobs = fake.jobs.lock().unwrap();
    let model_is_result_of = jobs
        .iter()
        .find(|j| j.result == model_image)
        .map(|j| j.id.clone());
    let id = format!("{:024x}", fake.next_id.fetch_add(1, Ordering::SeqCst));
    let shade = (jobs.len() * 60 % 250) as u8;
    let result = if behaviour.webp_results {
        webp(96, 144, [shade, 30, 160])
    } else if output_format == "jpeg" {
        jpeg(96, 144, [shade, 30, 160])
    } else {
        png(96, 144, [shade, 30, 160])
    };
    jobs.push(Job {
        id: id.clone(),
        category,
        mode,
        output_format,
        subcategory,
        seed,
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
    match answers {
        Style::Documented => Json(json!({"id": id, "error": null})).into_response(),
        Style::Sdk2026 => Json(json!({"ok": true, "jobId": id})).into_response(),
    }
}

/// `GET /api/v1/credits`, in the SDKs' shape.
async fn credits(State(fake): State<Arc<TryItOnFake>>, headers: HeaderMap) -> Response {
    if let Err(response) = fake.recorder.admit(CREDITS, &headers).await {
        return response;
    }
    let Credits {
        on_demand,
        subscription,
        purchased,
        reserved,
    } = fake.behaviour.lock().unwrap().credits;
    Json(json!({"ok": true, "credits": {
        "on_demand": on_demand, "subscription": subscription,
        "purchased": purchased, "reserved": reserved,
    }}))
    .into_response()
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
    // The shape answers have now, not when the job was created.
    let answers = fake.behaviour.lock().unwrap().answers;
    let answer = |status: &str, output: Value, error: Value| {
        let body = match answers {
            Style::Documented => {
                json!({"id": id, "status": status, "output": output, "error": error})
            }
            Style::Sdk2026 => {
                json!({"ok": true, "status": status, "output": output, "error": error})
            }
        };
        Json(body).into_response()
    };
    let elapsed = job.created.elapsed();
    if elapsed < job.behaviour.processing_for / 3 && answers == Style::Documented {
        return answer("starting", Value::Null, Value::Null);
    }
    if elapsed < job.behaviour.processing_for {
        return answer("processing", Value::Null, Value::Null);
    }
    if let Some((name, message)) = &job.behaviour.fail_with {
        return answer(
            "failed",
            Value::Null,
            json!({"name": name, "message": message}),
        );
    }
    let extension = if job.behaviour.webp_results {
        "webp"
    } else if job.output_format == "jpeg" {
        "jpg"
    } else {
        "png"
    };
    let url = job
        .result_url
        .get_or_insert_with(|| fake.storage.put(&id, extension, job.result.clone()))
        .clone();
    answer("completed", json!([url]), Value::Null)
}
