//! A strict Fitroom, per `fitroom-api.md`.
//!
//! `X-API-KEY` only; `POST /api/tryon/v2/tasks` with exactly the documented multipart fields
//! (`lower_cloth_image` if and only if `cloth_type=combo`); `GET /api/tryon/v2/tasks/:id`
//! walking `CREATED → PROCESSING (rising progress) → COMPLETED | FAILED` by the clock; the two
//! input checks with `input_image`; 60 calls per minute per key (configurable); 402 when out of
//! credit. No trailing slashes anywhere.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{
    Fault, Recorder, Storage, check_form, drop_connection, error, has, read_multipart, serve, text,
};
use crate::util::{KEY, png};

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
    result_path: Option<String>,
    pub result: bytes::Bytes,
}

pub struct FitroomFake {
    pub recorder: Recorder,
    pub storage: Storage,
    pub behaviour: Mutex<Behaviour>,
    pub tasks: Mutex<HashMap<String, Task>>,
    next_id: AtomicU64,
    pub auth_failures: AtomicU32,
    base: Mutex<String>,
}

impl FitroomFake {
    /// Starts a fake with Fitroom's documented limit of 60 calls per minute.
    pub async fn start() -> Arc<Self> {
        let fake = Arc::new(Self {
            recorder: Recorder::new(60, Duration::from_secs(60)),
            storage: Storage::default(),
            behaviour: Mutex::new(Behaviour::default()),
            tasks: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(123456),
            auth_failures: AtomicU32::new(0),
            base: Mutex::new(String::new()),
        });
        let router = Router::new()
            .route("/api/tryon/v2/tasks", post(create))
            .route("/api/tryon/v2/tasks/{id}", get(status))
            .route("/api/tryon/input_check/v1/model", post(check_model))
            .route("/api/tryon/input_check/v1/clothes", post(check_clothes))
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

    pub fn fault(&self, endpoint: &'static str, fault: Fault) {
        self.recorder.fault(endpoint, fault);
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
        let tasks = self.created();
        assert_eq!(
            tasks.len(),
            1,
            "expected exactly one task upstream, found {}",
            tasks.len()
        );
        tasks.into_iter().next().unwrap()
    }

    /// Counts the call, checks the key, applies faults; `Ok(drop_after)` to proceed.
    async fn gate(&self, endpoint: &'static str, headers: &HeaderMap) -> Result<bool, Response> {
        let drop_after = self
            .recorder
            .admit(endpoint, |m| json!({"message": m}))
            .await?;
        if headers.contains_key("authorization") {
            self.recorder.violation(format!(
                "{endpoint}: Fitroom takes X-API-KEY, not Authorization"
            ));
        }
        match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
            None => {
                self.recorder
                    .violation(format!("{endpoint}: no X-API-KEY header"));
                Err(error(
                    StatusCode::UNAUTHORIZED,
                    None,
                    json!({"message": "Unauthorized"}),
                ))
            }
            Some(key) if key != KEY => {
                self.auth_failures.fetch_add(1, Ordering::SeqCst);
                Err(error(
                    StatusCode::UNAUTHORIZED,
                    None,
                    json!({"message": "Unauthorized"}),
                ))
            }
            Some(_) => Ok(drop_after),
        }
    }

    fn bad_request(&self, what: String) -> Response {
        self.recorder.violation(what);
        error(
            StatusCode::BAD_REQUEST,
            None,
            json!({"message": "Bad Request"}),
        )
    }
}

async fn create(
    State(fake): State<Arc<FitroomFake>>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let drop_after = match fake.gate(CREATE, &headers).await {
        Ok(drop_after) => drop_after,
        Err(response) => return response,
    };
    let Some(fields) = read_multipart(&fake.recorder, CREATE, form).await else {
        return error(
            StatusCode::BAD_REQUEST,
            None,
            json!({"message": "Bad Request"}),
        );
    };
    if !check_form(
        &fake.recorder,
        CREATE,
        &fields,
        &["model_image", "cloth_image", "lower_cloth_image"],
        &["cloth_type", "hd_mode"],
    ) {
        return error(
            StatusCode::BAD_REQUEST,
            None,
            json!({"message": "Bad Request"}),
        );
    }
    for required in ["model_image", "cloth_image", "cloth_type"] {
        if !has(&fields, required) {
            return fake.bad_request(format!("create: missing {required}"));
        }
    }
    let cloth_type = text(&fields, "cloth_type").unwrap_or_default().to_owned();
    if !["upper", "lower", "full_set", "combo"].contains(&cloth_type.as_str()) {
        return fake.bad_request(format!(
            "create: cloth_type {cloth_type:?} is not upper, lower, full_set or combo"
        ));
    }
    let has_lower = has(&fields, "lower_cloth_image");
    if (cloth_type == "combo") != has_lower {
        return fake.bad_request(format!(
            "create: lower_cloth_image sent={has_lower} with cloth_type={cloth_type}"
        ));
    }
    let hd_mode = text(&fields, "hd_mode").map(str::to_owned);
    if hd_mode
        .as_deref()
        .is_some_and(|v| v != "true" && v != "false")
    {
        return fake.bad_request(format!(
            "create: hd_mode {hd_mode:?} is not \"true\" or \"false\""
        ));
    }
    let behaviour = fake.behaviour.lock().unwrap().clone();
    if behaviour.out_of_credit {
        return error(
            StatusCode::PAYMENT_REQUIRED,
            None,
            json!({"message": "Insufficient credit. Please upgrade your plan or purchase more credits."}),
        );
    }
    let id = fake.next_id.fetch_add(1, Ordering::SeqCst).to_string();
    let shade = (id.parse::<u64>().unwrap() % 200) as u8;
    let task = Task {
        cloth_type,
        hd_mode,
        has_lower,
        created: Instant::now(),
        behaviour,
        result_path: None,
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
    if let Err(response) = fake.gate(STATUS, &headers).await {
        return response;
    }
    let mut tasks = fake.tasks.lock().unwrap();
    let Some(task) = tasks.get_mut(&id) else {
        fake.recorder
            .violation(format!("status: polled unknown task {id:?}"));
        return error(StatusCode::NOT_FOUND, None, json!({"message": "Not Found"}));
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
    let path = match &task.result_path {
        Some(path) => path.clone(),
        None => {
            let path = fake
                .storage
                .put(&format!("tryon-{id}"), task.result.clone());
            task.result_path = Some(path.clone());
            path
        }
    };
    Json(json!({
        "task_id": id, "status": "COMPLETED", "download_signed_url": format!("{}{path}", fake.base_url()),
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
    if let Err(response) = fake.gate(endpoint, &headers).await {
        return response;
    }
    let Some(fields) = read_multipart(&fake.recorder, endpoint, form).await else {
        return error(
            StatusCode::BAD_REQUEST,
            None,
            json!({"message": "Bad Request"}),
        );
    };
    if !check_form(&fake.recorder, endpoint, &fields, &["input_image"], &[])
        || !has(&fields, "input_image")
    {
        return fake.bad_request(format!("{endpoint}: needs exactly one input_image file"));
    }
    let behaviour = fake.behaviour.lock().unwrap().clone();
    if behaviour.out_of_credit {
        return error(
            StatusCode::PAYMENT_REQUIRED,
            None,
            json!({"message": "Insufficient credit."}),
        );
    }
    Json(verdict(&behaviour)).into_response()
}

async fn file(
    State(fake): State<Arc<FitroomFake>>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    fake.storage.get(&fake.recorder, &file, &headers)
}

async fn undocumented(State(fake): State<Arc<FitroomFake>>, method: Method, uri: Uri) -> Response {
    fake.recorder
        .violation(format!("undocumented endpoint {method} {uri}"));
    error(StatusCode::NOT_FOUND, None, json!({"message": "Not Found"}))
}
