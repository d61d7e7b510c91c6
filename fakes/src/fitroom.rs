//! A strict Fitroom, per `fitroom-api.md`.
//!
//! `X-API-KEY` only; `POST /api/tryon/v2/tasks` with exactly the documented multipart fields
//! (`lower_cloth_image` if and only if `cloth_type=combo`); `GET /api/tryon/v2/tasks/:id`
//! walking `CREATED → PROCESSING (rising progress) → COMPLETED | FAILED` by the clock; the two
//! input checks with `input_image`; 60 calls per minute per key (configurable); 402 when out of
//! credit. No trailing slashes anywhere.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::{
    Credential, Dialect, Fake, KEY, Recorder, Storage, drop_connection, has, png, read_form, text,
};

pub const CREATE: &str = "create";
pub const STATUS: &str = "status";
pub const CHECK_MODEL: &str = "check_model";
pub const CHECK_CLOTHES: &str = "check_clothes";

/// How the fake's tasks and checks turn out; tests change it between runs.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub queued_for: Duration,
    pub processing_for: Duration,
    /// `Some(message)`: tasks end `FAILED` with this `error`.
    pub fail_with: Option<String>,
    pub out_of_credit: bool,
    pub model_verdict: Value,
    pub clothes_verdict: Value,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            queued_for: Duration::from_millis(60),
            processing_for: Duration::from_millis(400),
            fail_with: None,
            out_of_credit: false,
            model_verdict: json!({"is_good": true, "good_clothes_types": ["upper", "lower", "full"]}),
            clothes_verdict: json!({"clothes_type": "upper", "is_clothes": true}),
        }
    }
}

/// A task as the fake stores it.
#[derive(Debug, Clone)]
pub struct Task {
    pub cloth_type: String,
    pub hd_mode: Option<String>,
    pub has_lower: bool,
    created: Instant,
    behaviour: Behaviour,
    result_url: Option<String>,
    pub result: bytes::Bytes,
}

pub struct FitroomFake {
    pub recorder: Recorder,
    pub storage: Storage,
    pub behaviour: Mutex<Behaviour>,
    pub tasks: Mutex<HashMap<String, Task>>,
    next_id: AtomicU64,
}

const DIALECT: Dialect = Dialect {
    vendor: "Fitroom",
    credential: Credential::Header("X-API-KEY"),
    error_body,
};

fn error_body(_class: &str, message: &str) -> Value {
    json!({ "message": message })
}

impl Fake for FitroomFake {
    fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn storage(&self) -> &Storage {
        &self.storage
    }
}

impl FitroomFake {
    /// Starts a fake on a loopback port with Fitroom's documented limit of 60 calls per minute.
    pub async fn start() -> Arc<Self> {
        crate::start(Self::new(KEY), Self::api()).await
    }

    /// Serves a fake that accepts `key` on `listener` (for a fake run as a process).
    pub fn start_on(listener: TcpListener, key: &str) -> Arc<Self> {
        crate::start_on(Self::new(key), Self::api(), listener)
    }

    fn new(key: &str) -> Self {
        Self {
            recorder: Recorder::new(DIALECT, key, 60, Duration::from_secs(60)),
            storage: Storage::default(),
            behaviour: Mutex::new(Behaviour::default()),
            tasks: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(123456),
        }
    }

    fn api() -> Router<Arc<Self>> {
        Router::new()
            .route("/api/tryon/v2/tasks", post(create))
            .route("/api/tryon/v2/tasks/{id}", get(status))
            .route("/api/tryon/input_check/v1/model", post(check_model))
            .route("/api/tryon/input_check/v1/clothes", post(check_clothes))
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }

    /// Tasks created so far (each one a credit spent).
    pub fn created(&self) -> Vec<Task> {
        let tasks = self.tasks.lock().unwrap();
        let mut ids: Vec<&String> = tasks.keys().collect();
        ids.sort();
        ids.into_iter().map(|id| tasks[id].clone()).collect()
    }

    /// The one task a test created.
    pub fn only_task(&self) -> Task {
        crate::only(self.created(), "task")
    }
}

async fn create(
    State(fake): State<Arc<FitroomFake>>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let drop_after = match fake.recorder.admit(CREATE, &headers).await {
        Ok(drop_after) => drop_after,
        Err(response) => return response,
    };
    let fields = match read_form(
        &fake.recorder,
        CREATE,
        form,
        &["model_image", "cloth_image", "lower_cloth_image"],
        &["cloth_type", "hd_mode"],
    )
    .await
    {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    for required in ["model_image", "cloth_image", "cloth_type"] {
        if !has(&fields, required) {
            return fake
                .recorder
                .bad_request(format!("create: missing {required}"));
        }
    }
    let cloth_type = text(&fields, "cloth_type").unwrap_or_default().to_owned();
    if !["upper", "lower", "full_set", "combo"].contains(&cloth_type.as_str()) {
        return fake.recorder.bad_request(format!(
            "create: cloth_type {cloth_type:?} is not upper, lower, full_set or combo"
        ));
    }
    let has_lower = has(&fields, "lower_cloth_image");
    if (cloth_type == "combo") != has_lower {
        return fake.recorder.bad_request(format!(
            "create: lower_cloth_image sent={has_lower} with cloth_type={cloth_type}"
        ));
    }
    let hd_mode = text(&fields, "hd_mode").map(str::to_owned);
    if hd_mode
        .as_deref()
        .is_some_and(|v| v != "true" && v != "false")
    {
        return fake.recorder.bad_request(format!(
            "create: hd_mode {hd_mode:?} is not \"true\" or \"false\""
        ));
    }
    let behaviour = fake.behaviour.lock().unwrap().clone();
    if behaviour.out_of_credit {
        return fake.recorder.out_of_credit();
    }
    let id = fake.next_id.fetch_add(1, Ordering::SeqCst).to_string();
    let shade = (id.parse::<u64>().unwrap() % 200) as u8;
    let task = Task {
        cloth_type,
        hd_mode,
        has_lower,
        created: Instant::now(),
        behaviour,
        result_url: None,
        result: png(64, 96, [shade, 100, 50]).into(),
    };
    fake.tasks.lock().unwrap().insert(id.clone(), task);
    if drop_after {
        drop_connection();
    }
    Json(json!({"task_id": id, "status": "CREATED"})).into_response()
}

async fn status(
    State(fake): State<Arc<FitroomFake>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = fake.recorder.admit(STATUS, &headers).await {
        return response;
    }
    let mut tasks = fake.tasks.lock().unwrap();
    let Some(task) = tasks.get_mut(&id) else {
        return fake
            .recorder
            .not_found(format!("status: polled unknown task {id:?}"));
    };
    let created_at = 1744707904;
    let elapsed = task.created.elapsed();
    let b = &task.behaviour;
    if elapsed < b.queued_for {
        return Json(
            json!({"task_id": id, "status": "CREATED", "progress": 0, "created_at": created_at}),
        )
        .into_response();
    }
    let working = elapsed - b.queued_for;
    if working < b.processing_for {
        let progress = 1 + (98.0 * working.as_secs_f64() / b.processing_for.as_secs_f64()) as u32;
        return Json(json!({
            "task_id": id, "status": "PROCESSING", "progress": progress,
            "created_at": created_at, "started_at": created_at
        }))
        .into_response();
    }
    if let Some(message) = &b.fail_with {
        return Json(json!({
            "task_id": id, "status": "FAILED", "error": message,
            "created_at": created_at, "started_at": created_at, "completed_at": created_at + 8
        }))
        .into_response();
    }
    let url = task
        .result_url
        .get_or_insert_with(|| {
            fake.storage
                .put(&format!("tryon-{id}"), "png", task.result.clone())
        })
        .clone();
    Json(json!({
        "task_id": id, "status": "COMPLETED", "download_signed_url": url,
        "progress": 100, "created_at": created_at, "started_at": created_at, "completed_at": created_at + 8
    }))
    .into_response()
}

async fn check_model(
    State(fake): State<Arc<FitroomFake>>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    input_check(&fake, CHECK_MODEL, headers, form, |b| {
        b.model_verdict.clone()
    })
    .await
}

async fn check_clothes(
    State(fake): State<Arc<FitroomFake>>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    input_check(&fake, CHECK_CLOTHES, headers, form, |b| {
        b.clothes_verdict.clone()
    })
    .await
}

async fn input_check(
    fake: &FitroomFake,
    endpoint: &'static str,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
    verdict: impl Fn(&Behaviour) -> Value,
) -> Response {
    let drop_after = match fake.recorder.admit(endpoint, &headers).await {
        Ok(drop_after) => drop_after,
        Err(response) => return response,
    };
    let fields = match read_form(&fake.recorder, endpoint, form, &["input_image"], &[]).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    if !has(&fields, "input_image") {
        return fake
            .recorder
            .bad_request(format!("{endpoint}: needs exactly one input_image file"));
    }
    let behaviour = fake.behaviour.lock().unwrap().clone();
    if behaviour.out_of_credit {
        return fake.recorder.out_of_credit();
    }
    // A check is billed once read (0.5 credit); its answer may still be lost on the way.
    if drop_after {
        drop_connection();
    }
    Json(verdict(&behaviour)).into_response()
}
