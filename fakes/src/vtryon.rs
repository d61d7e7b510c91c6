//! A strict Vtryon, per `vtryon-api.md`.
//!
//! `x-api-key` only; every path ends with `/` (a path without it is undocumented and
//! recorded); uploads are multipart with a file `image` (and optionally `image_name`);
//! validations and tasks are JSON naming ids the fake actually holds; tasks go
//! `queued → processing → completed | failed` by the clock. The fake keeps the person images
//! it holds, so a test can assert that the shopper's photo was deleted after every task.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::{
    Credential, Dialect, Fake, KEY, Recorder, Storage, drop_connection, has, png, read_form,
};

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
    result_url: Option<String>,
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
}

const DIALECT: Dialect = Dialect {
    vendor: "Vtryon",
    credential: Credential::Header("x-api-key"),
    error_body,
};

fn error_body(_class: &str, message: &str) -> Value {
    json!({ "detail": message })
}

impl Fake for VtryonFake {
    fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn storage(&self) -> &Storage {
        &self.storage
    }
}

impl VtryonFake {
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
            person_images: Mutex::new(HashMap::new()),
            garment_images: Mutex::new(HashMap::new()),
            tasks: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(181),
        }
    }

    fn api() -> Router<Arc<Self>> {
        Router::new()
            .route("/v2/tryon/person-images/", post(upload_person))
            .route("/v2/tryon/person-images/{id}/", delete(delete_person))
            .route("/v2/tryon/garment-images/", post(upload_garment))
            .route("/v2/tryon/person-validations/", post(validate))
            .route("/v2/tryon/tasks/", post(create))
            .route("/v2/tryon/tasks/{id}/", get(status))
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }

    pub fn tasks(&self) -> Vec<Task> {
        self.tasks.lock().unwrap().values().cloned().collect()
    }

    pub fn only_task(&self) -> Task {
        crate::only(self.tasks(), "task")
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

    async fn upload(
        &self,
        endpoint: &'static str,
        headers: HeaderMap,
        form: Result<Multipart, MultipartRejection>,
    ) -> Result<(u64, bytes::Bytes, bool), Response> {
        let drop_after = self.recorder.admit(endpoint, &headers).await?;
        let fields = read_form(&self.recorder, endpoint, form, &["image"], &["image_name"]).await?;
        if !has(&fields, "image") {
            return Err(self
                .recorder
                .bad_request(format!("{endpoint}: needs a file field named image")));
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
    if let Err(response) = fake.recorder.admit(DELETE_PERSON, &headers).await {
        return response;
    }
    let removed = id
        .parse::<u64>()
        .ok()
        .and_then(|id| fake.person_images.lock().unwrap().remove(&id));
    if removed.is_none() {
        return fake
            .recorder
            .not_found(format!("delete_person: no person image {id:?}"));
    }
    Json(json!({"detail": "Deleted successfully"})).into_response()
}

async fn validate(
    State(fake): State<Arc<VtryonFake>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = fake.recorder.admit(VALIDATE, &headers).await {
        return response;
    }
    let fields = match fake.recorder.json_object(VALIDATE, &headers, &body) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let id = fields.get("tryon_person_image_id").and_then(Value::as_u64);
    if fields.len() != 1
        || !id.is_some_and(|id| fake.person_images.lock().unwrap().contains_key(&id))
    {
        return fake.recorder.bad_request(format!(
            "validate: needs exactly a known tryon_person_image_id, got {fields:?}"
        ));
    }
    let mut verdict = fake.behaviour.lock().unwrap().validation.clone();
    verdict["tryon_person_image_id"] = json!(id);
    Json(verdict).into_response()
}

async fn create(State(fake): State<Arc<VtryonFake>>, headers: HeaderMap, body: Bytes) -> Response {
    let drop_after = match fake.recorder.admit(CREATE, &headers).await {
        Ok(drop_after) => drop_after,
        Err(response) => return response,
    };
    let fields = match fake.recorder.json_object(CREATE, &headers, &body) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    if let Some(name) = fields
        .keys()
        .find(|k| !["tryon_person_image_id", "garment_image_ids"].contains(&k.as_str()))
    {
        return fake
            .recorder
            .bad_request(format!("create: undocumented field {name:?}"));
    }
    let person = fields.get("tryon_person_image_id").and_then(Value::as_u64);
    let Some(person) = person.filter(|id| fake.person_images.lock().unwrap().contains_key(id))
    else {
        return fake.recorder.bad_request(format!(
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
        return fake.recorder.bad_request(format!(
            "create: garment_image_ids {garments:?} must name stored garment images"
        ));
    }
    drop(known);
    let behaviour = fake.behaviour.lock().unwrap().clone();
    if behaviour.out_of_credit {
        return fake.recorder.out_of_credit();
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
            result_url: None,
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
    if let Err(response) = fake.recorder.admit(STATUS, &headers).await {
        return response;
    }
    let mut tasks = fake.tasks.lock().unwrap();
    let Some(task) = id.parse::<u64>().ok().and_then(|id| tasks.get_mut(&id)) else {
        return fake
            .recorder
            .not_found(format!("status: polled unknown task {id:?}"));
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
    let url = task
        .result_url
        .get_or_insert_with(|| {
            fake.storage
                .put(&format!("res-{id}"), "png", task.result.clone())
        })
        .clone();
    Json(json!({"id": id.parse::<u64>().unwrap(), "status": "completed", "result_url": url}))
        .into_response()
}
