//! A strict Vtryon, per `vtryon-api.md`.
//!
//! `x-api-key` only; every path ends with `/` (a path without it is undocumented and
//! recorded); uploads are multipart with a file `image` (and optionally `image_name`);
//! validations and tasks are JSON naming ids the fake actually holds; tasks go
//! `queued → processing → completed | failed` by the clock. The fake keeps the person images
//! it holds, so a test can assert that the shopper's photo was deleted after every task.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Recorder, Storage, check_form, drop_connection, error, has, read_multipart, serve};
use crate::util::{KEY, png};

pub const UPLOAD_PERSON: &str = "upload_person";
pub const UPLOAD_GARMENT: &str = "upload_garment";
pub const DELETE_PERSON: &str = "delete_person";
pub const VALIDATE: &str = "validate";
pub const CREATE: &str = "create";
pub const STATUS: &str = "status";

#[derive(Debug, Clone)]
pub struct Behaviour {
    pub processing_for: Duration,
    pub fail_with: Option<String>,
    pub out_of_credit: bool,
    pub validation: Value,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            processing_for: Duration::from_millis(300),
            fail_with: None,
            out_of_credit: false,
            validation: json!({"is_valid": true, "issues": []}),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub person_image_id: u64,
    pub garment_image_ids: Vec<u64>,
    created: Instant,
    behaviour: Behaviour,
    result_path: Option<String>,
    pub result: bytes::Bytes,
}

pub struct VtryonFake {
    pub recorder: Recorder,
    pub storage: Storage,
    pub behaviour: Mutex<Behaviour>,
    /// Person images held now (id → bytes): must be empty after every try-on.
    pub person_images: Mutex<HashMap<u64, bytes::Bytes>>,
    pub garment_images: Mutex<HashMap<u64, bytes::Bytes>>,
    pub tasks: Mutex<BTreeMap<u64, Task>>,
    next_id: AtomicU64,
    pub auth_failures: AtomicU32,
    base: Mutex<String>,
}

impl VtryonFake {
    pub async fn start() -> Arc<Self> {
        let fake = Arc::new(Self {
            recorder: Recorder::new(60, Duration::from_secs(60)),
            storage: Storage::default(),
            behaviour: Mutex::new(Behaviour::default()),
            person_images: Mutex::new(HashMap::new()),
            garment_images: Mutex::new(HashMap::new()),
            tasks: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(181),
            auth_failures: AtomicU32::new(0),
            base: Mutex::new(String::new()),
        });
        let router = Router::new()
            .route("/v2/tryon/person-images/", post(upload_person))
            .route("/v2/tryon/person-images/{id}/", delete(delete_person))
            .route("/v2/tryon/garment-images/", post(upload_garment))
            .route("/v2/tryon/person-validations/", post(validate))
            .route("/v2/tryon/tasks/", post(create))
            .route("/v2/tryon/tasks/{id}/", get(status))
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

    pub fn tasks(&self) -> Vec<Task> {
        self.tasks.lock().unwrap().values().cloned().collect()
    }

    pub fn only_task(&self) -> Task {
        let tasks = self.tasks();
        assert_eq!(
            tasks.len(),
            1,
            "expected exactly one task upstream, found {}",
            tasks.len()
        );
        tasks.into_iter().next().unwrap()
    }

    /// Waits briefly for background deletions, then asserts no shopper photo is left.
    pub async fn assert_no_person_images_left(&self) {
        for _ in 0..50 {
            if self.person_images.lock().unwrap().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left: Vec<u64> = self.person_images.lock().unwrap().keys().copied().collect();
        panic!("person images still stored at the vendor: {left:?}");
    }

    async fn gate(&self, endpoint: &'static str, headers: &HeaderMap) -> Result<bool, Response> {
        let drop_after = self
            .recorder
            .admit(endpoint, |m| json!({"detail": m}))
            .await?;
        if headers.contains_key("authorization") {
            self.recorder.violation(format!(
                "{endpoint}: Vtryon takes x-api-key, not Authorization"
            ));
        }
        match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
            None => {
                self.recorder
                    .violation(format!("{endpoint}: no x-api-key header"));
                Err(error(
                    StatusCode::UNAUTHORIZED,
                    None,
                    json!({"detail": "Authentication credentials were not provided."}),
                ))
            }
            Some(key) if key != KEY => {
                self.auth_failures.fetch_add(1, Ordering::SeqCst);
                Err(error(
                    StatusCode::UNAUTHORIZED,
                    None,
                    json!({"detail": "Invalid API key."}),
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
            json!({"detail": "Bad request"}),
        )
    }

    #[expect(
        clippy::result_large_err,
        reason = "the error is the HTTP answer the handler returns as is"
    )]
    fn json_body(
        &self,
        endpoint: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<serde_json::Map<String, Value>, Response> {
        if !headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"))
        {
            return Err(
                self.bad_request(format!("{endpoint}: Content-Type is not application/json"))
            );
        }
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .ok_or_else(|| self.bad_request(format!("{endpoint}: body is not a JSON object")))
    }

    async fn upload(
        &self,
        endpoint: &'static str,
        headers: HeaderMap,
        form: Result<Multipart, MultipartRejection>,
    ) -> Result<(u64, bytes::Bytes, bool), Response> {
        let drop_after = self.gate(endpoint, &headers).await?;
        let fields = read_multipart(&self.recorder, endpoint, form)
            .await
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    None,
                    json!({"detail": "Bad request"}),
                )
            })?;
        if !check_form(
            &self.recorder,
            endpoint,
            &fields,
            &["image"],
            &["image_name"],
        ) || !has(&fields, "image")
        {
            return Err(self.bad_request(format!("{endpoint}: needs a file field named image")));
        }
        let image = fields
            .into_iter()
            .find(|f| f.name == "image")
            .unwrap()
            .bytes;
        Ok((
            self.next_id.fetch_add(1, Ordering::SeqCst),
            image,
            drop_after,
        ))
    }
}

async fn upload_person(
    State(fake): State<Arc<VtryonFake>>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    match fake.upload(UPLOAD_PERSON, headers, form).await {
        Ok((id, image, drop_after)) => {
            fake.person_images.lock().unwrap().insert(id, image);
            if drop_after {
                drop_connection();
            }
            Json(json!({"id": id, "image_url": format!("https://cdn.vtryon.com/img/{id}")}))
                .into_response()
        }
        Err(response) => response,
    }
}

async fn upload_garment(
    State(fake): State<Arc<VtryonFake>>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    match fake.upload(UPLOAD_GARMENT, headers, form).await {
        Ok((id, image, _)) => {
            fake.garment_images.lock().unwrap().insert(id, image);
            Json(
                json!({"id": id, "image_url": format!("https://cdn.vtryon.com/img/garments/{id}")}),
            )
            .into_response()
        }
        Err(response) => response,
    }
}

async fn delete_person(
    State(fake): State<Arc<VtryonFake>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = fake.gate(DELETE_PERSON, &headers).await {
        return response;
    }
    let removed = id
        .parse::<u64>()
        .ok()
        .and_then(|id| fake.person_images.lock().unwrap().remove(&id));
    if removed.is_none() {
        fake.recorder
            .violation(format!("delete_person: no person image {id:?}"));
        return error(StatusCode::NOT_FOUND, None, json!({"detail": "Not found."}));
    }
    Json(json!({"detail": "Deleted successfully"})).into_response()
}

async fn validate(
    State(fake): State<Arc<VtryonFake>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = fake.gate(VALIDATE, &headers).await {
        return response;
    }
    let fields = match fake.json_body(VALIDATE, &headers, &body) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let id = fields.get("tryon_person_image_id").and_then(Value::as_u64);
    if fields.len() != 1
        || !id.is_some_and(|id| fake.person_images.lock().unwrap().contains_key(&id))
    {
        return fake.bad_request(format!(
            "validate: needs exactly a known tryon_person_image_id, got {fields:?}"
        ));
    }
    let mut verdict = fake.behaviour.lock().unwrap().validation.clone();
    verdict["tryon_person_image_id"] = json!(id);
    Json(verdict).into_response()
}

async fn create(State(fake): State<Arc<VtryonFake>>, headers: HeaderMap, body: Bytes) -> Response {
    let drop_after = match fake.gate(CREATE, &headers).await {
        Ok(drop_after) => drop_after,
        Err(response) => return response,
    };
    let fields = match fake.json_body(CREATE, &headers, &body) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    if let Some(name) = fields
        .keys()
        .find(|k| !["tryon_person_image_id", "garment_image_ids"].contains(&k.as_str()))
    {
        return fake.bad_request(format!("create: undocumented field {name:?}"));
    }
    let person = fields.get("tryon_person_image_id").and_then(Value::as_u64);
    let Some(person) = person.filter(|id| fake.person_images.lock().unwrap().contains_key(id))
    else {
        return fake.bad_request(format!(
            "create: tryon_person_image_id {:?} is not a stored person image",
            fields.get("tryon_person_image_id")
        ));
    };
    let garments: Vec<u64> = fields
        .get("garment_image_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let known = fake.garment_images.lock().unwrap();
    if garments.is_empty() || !garments.iter().all(|id| known.contains_key(id)) {
        return fake.bad_request(format!(
            "create: garment_image_ids {garments:?} must name stored garment images"
        ));
    }
    drop(known);
    let behaviour = fake.behaviour.lock().unwrap().clone();
    if behaviour.out_of_credit {
        return error(
            StatusCode::PAYMENT_REQUIRED,
            None,
            json!({"detail": "Insufficient credits"}),
        );
    }
    let id = fake.next_id.fetch_add(1, Ordering::SeqCst);
    let result = png(72, 108, [(id % 200) as u8, 10, 220]).into();
    fake.tasks.lock().unwrap().insert(
        id,
        Task {
            person_image_id: person,
            garment_image_ids: garments,
            created: Instant::now(),
            behaviour,
            result_path: None,
            result,
        },
    );
    if drop_after {
        drop_connection();
    }
    Json(json!({"id": id, "status": "queued", "created_at": "2024-05-05T12:00:00Z"}))
        .into_response()
}

async fn status(
    State(fake): State<Arc<VtryonFake>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = fake.gate(STATUS, &headers).await {
        return response;
    }
    let mut tasks = fake.tasks.lock().unwrap();
    let Some(task) = id.parse::<u64>().ok().and_then(|id| tasks.get_mut(&id)) else {
        fake.recorder
            .violation(format!("status: polled unknown task {id:?}"));
        return error(StatusCode::NOT_FOUND, None, json!({"detail": "Not found."}));
    };
    let elapsed = task.created.elapsed();
    if elapsed < task.behaviour.processing_for / 3 {
        return Json(
            json!({"id": id.parse::<u64>().unwrap(), "status": "queued", "result_url": null}),
        )
        .into_response();
    }
    if elapsed < task.behaviour.processing_for {
        return Json(
            json!({"id": id.parse::<u64>().unwrap(), "status": "processing", "result_url": null}),
        )
        .into_response();
    }
    if let Some(message) = &task.behaviour.fail_with {
        return Json(json!({"id": id.parse::<u64>().unwrap(), "status": "failed", "result_url": null, "error": message})).into_response();
    }
    let path = task
        .result_path
        .get_or_insert_with(|| fake.storage.put(&format!("res-{id}"), task.result.clone()))
        .clone();
    Json(json!({"id": id.parse::<u64>().unwrap(), "status": "completed", "result_url": format!("{}{path}", fake.base_url())})).into_response()
}

async fn file(
    State(fake): State<Arc<VtryonFake>>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    fake.storage.get(&fake.recorder, &file, &headers)
}

async fn undocumented(State(fake): State<Arc<VtryonFake>>, method: Method, uri: Uri) -> Response {
    fake.recorder
        .violation(format!("undocumented endpoint {method} {uri}"));
    error(StatusCode::NOT_FOUND, None, json!({"detail": "Not found."}))
}
