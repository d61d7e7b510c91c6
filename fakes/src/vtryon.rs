//! A strict Vtryon, per `vtryon-api.md`.
//!
//! `x-api-key` only; every path ends with `/` (a path without it is undocumented and
//! recorded); uploads are multipart with a file `image` (and optionally `image_name`); the
//! lists take only their documented filters; validations and tasks are JSON naming ids the
//! fake actually holds; tasks go `pending → queued → processing → completed | failed` by the
//! clock (the document's "queued/pending" are both used). The fake keeps the person images it
//! holds, so a test can assert that the shopper's photo was deleted after every task.
//!
//! The awkward cases: an answer lost after the upload or task was stored
//! ([`Fault::DropAfterReading`](crate::Fault)); garment images Vtryon no longer holds
//! ([`VtryonFake::forget_garment_images`]: a create naming one is answered 404, which is
//! the vendor's right, not a deviation; an id never issued still is one); and the dashboard's
//! webhook, signed with [`webhook_secret`] in `x-vtryon-signature` (`v1,` and the base64
//! HMAC-SHA256 of the raw body, keyed with the base64-decoded part after `whsec_`), delivered
//! as asked, to another instance, or not at all ([`Delivery`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::{
    Credential, Delivery, Dialect, Fake, KEY, Recorder, Storage, drop_connection, has, png,
    post_webhook, read_form, text,
};

pub const UPLOAD_PERSON: &str = "upload_person";
pub const UPLOAD_GARMENT: &str = "upload_garment";
pub const DELETE_PERSON: &str = "delete_person";
pub const VALIDATE: &str = "validate";
pub const LIST_PERSON: &str = "list_person";
pub const LIST_GARMENT: &str = "list_garment";
pub const CREATE: &str = "create";
pub const LIST_TASKS: &str = "list_tasks";
pub const STATUS: &str = "status";
/// The signing key behind the fake's webhook secret: plainly a test value, never a real one.
const WEBHOOK_KEY: &[u8] = b"vtryon-fake-webhook-signing-key";

/// The secret the dashboard shows for the fake's webhook (`whsec_` and the base64 key).
pub fn webhook_secret() -> String {
    format!("whsec_{}", BASE64.encode(WEBHOOK_KEY))
}

#[derive(Debug, Clone)]
pub struct Behaviour {
    pub processing_for: Duration,
    pub fail_with: Option<String>,
    pub out_of_credit: bool,
    pub validation: Value,
    /// The webhook URL set in the dashboard, if any.
    pub webhook_url: Option<String>,
    pub webhook_delivery: Delivery,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            processing_for: Duration::from_millis(300),
            fail_with: None,
            out_of_credit: false,
            validation: json!({"is_valid": true, "issues": []}),
            webhook_url: None,
            webhook_delivery: Delivery::AsAsked,
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
    /// Garment images Vtryon no longer holds (see [`VtryonFake::forget_garment_images`]).
    forgotten: Mutex<HashSet<u64>>,
    /// The `image_name` of every image uploaded with one.
    image_names: Mutex<HashMap<u64, String>>,
    pub tasks: Mutex<BTreeMap<u64, Task>>,
    /// What the proxy answered to each webhook delivery (0: no answer).
    pub webhook_statuses: Mutex<Vec<u16>>,
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
            forgotten: Mutex::new(HashSet::new()),
            image_names: Mutex::new(HashMap::new()),
            tasks: Mutex::new(BTreeMap::new()),
            webhook_statuses: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(181),
        }
    }

    fn api() -> Router<Arc<Self>> {
        Router::new()
            .route(
                "/v2/tryon/person-images/",
                post(upload_person).get(list_person),
            )
            .route("/v2/tryon/person-images/{id}/", delete(delete_person))
            .route(
                "/v2/tryon/garment-images/",
                post(upload_garment).get(list_garment),
            )
            .route("/v2/tryon/person-validations/", post(validate))
            .route("/v2/tryon/tasks/", post(create).get(list_tasks))
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

    /// Vtryon no longer holds the garment images uploaded so far (its library was cleaned):
    /// their ids are now unknown to it.
    pub fn forget_garment_images(&self) {
        let forgotten: Vec<u64> = self
            .garment_images
            .lock()
            .unwrap()
            .drain()
            .map(|(id, _)| id)
            .collect();
        self.forgotten.lock().unwrap().extend(forgotten);
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
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        if let Some(name) = text(&fields, "image_name") {
            self.image_names.lock().unwrap().insert(id, name.to_owned());
        }
        let image = fields
            .into_iter()
            .find(|f| f.name == "image")
            .unwrap()
            .bytes;
        Ok((id, image, drop_after))
    }

    /// `GET …-images/`: one page of the images in `held`, filtered by `image_name`.
    fn list_images(
        &self,
        endpoint: &'static str,
        params: &[(String, String)],
        held: &HashMap<u64, bytes::Bytes>,
        path: &str,
    ) -> Response {
        if let Err(response) =
            self.recorder
                .query(endpoint, params, &["image_name", "page", "page_size"])
        {
            return response;
        }
        let wanted = params
            .iter()
            .find(|(k, _)| k == "image_name")
            .map(|(_, v)| v.as_str());
        let names = self.image_names.lock().unwrap();
        let mut ids: Vec<u64> = held
            .keys()
            .copied()
            .filter(|id| wanted.is_none() || names.get(id).map(String::as_str) == wanted)
            .collect();
        ids.sort_unstable();
        let results: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "image_url": format!("https://cdn.vtryon.com/img/{path}{id}"), "image_name": names.get(id)}))
            .collect();
        page(params, results)
    }
}

/// The documented pagination: `page` (from 1) of `page_size` items (10 by default).
fn page(params: &[(String, String)], results: Vec<Value>) -> Response {
    let number = |name: &str, default: usize| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    let (page, size) = (number("page", 1), number("page_size", 10));
    let count = results.len();
    let items: Vec<Value> = results
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    let next = (page * size < count).then(|| format!("?page={}", page + 1));
    let previous = (page > 1).then(|| format!("?page={}", page - 1));
    Json(json!({"count": count, "next": next, "previous": previous, "results": items}))
        .into_response()
}

async fn list_person(
    State(fake): State<Arc<VtryonFake>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(response) = fake.recorder.admit(LIST_PERSON, &headers).await {
        return response;
    }
    let held = fake.person_images.lock().unwrap().clone();
    fake.list_images(LIST_PERSON, &params, &held, "")
}

async fn list_garment(
    State(fake): State<Arc<VtryonFake>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(response) = fake.recorder.admit(LIST_GARMENT, &headers).await {
        return response;
    }
    let held = fake.garment_images.lock().unwrap().clone();
    fake.list_images(LIST_GARMENT, &params, &held, "garments/")
}

async fn list_tasks(
    State(fake): State<Arc<VtryonFake>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(response) = fake.recorder.admit(LIST_TASKS, &headers).await {
        return response;
    }
    if let Err(response) = fake.recorder.query(
        LIST_TASKS,
        &params,
        &["garment_images", "tryon_person_image", "page", "page_size"],
    ) {
        return response;
    }
    let filter = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.parse::<u64>().ok())
    };
    let (garment, person) = (filter("garment_images"), filter("tryon_person_image"));
    if garment == Some(None) || person == Some(None) {
        return fake
            .recorder
            .bad_request("list_tasks: an id filter is not a number");
    }
    let ids: Vec<u64> = fake.tasks.lock().unwrap().keys().copied().collect();
    let results: Vec<Value> = ids
        .into_iter()
        .filter_map(|id| {
            let mut tasks = fake.tasks.lock().unwrap();
            let task = tasks.get_mut(&id)?;
            let matches = person.flatten().is_none_or(|p| task.person_image_id == p)
                && garment
                    .flatten()
                    .is_none_or(|g| task.garment_image_ids.contains(&g));
            matches.then(|| {
                let mut item = fake.task_json(id, task);
                item["tryon_person_image"] = json!(task.person_image_id);
                item["garment_image_ids"] = json!(task.garment_image_ids);
                item["created_at"] = json!("2024-05-05T12:05:00Z");
                item
            })
        })
        .collect();
    page(&params, results)
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
        Ok((id, image, drop_after)) => {
            fake.garment_images.lock().unwrap().insert(id, image);
            if drop_after {
                drop_connection();
            }
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
    let forgotten = fake.forgotten.lock().unwrap().clone();
    if garments.iter().any(|id| forgotten.contains(id)) {
        // Vtryon's right: the id was valid once, the image is gone now.
        return fake.recorder.error(
            StatusCode::NOT_FOUND,
            None,
            "NotFound",
            "Garment image not found.",
        );
    }
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
    if let Some(url) = fake.behaviour.lock().unwrap().webhook_url.clone() {
        spawn_webhook(fake.clone(), id, url);
    }
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
    let Some((id, task)) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| tasks.get_mut(&id).map(|task| (id, task)))
    else {
        return fake
            .recorder
            .not_found(format!("status: polled unknown task {id:?}"));
    };
    Json(fake.task_json(id, task)).into_response()
}

impl VtryonFake {
    /// The task object as the status, the list and the webhook show it, by the clock.
    fn task_json(&self, id: u64, task: &mut Task) -> Value {
        let elapsed = task.created.elapsed();
        let processing_for = task.behaviour.processing_for;
        let waiting = |status: &str| json!({"id": id, "status": status, "result_url": null});
        if elapsed < processing_for / 6 {
            return waiting("pending");
        }
        if elapsed < processing_for / 3 {
            return waiting("queued");
        }
        if elapsed < processing_for {
            return waiting("processing");
        }
        if let Some(message) = &task.behaviour.fail_with {
            return json!({"id": id, "status": "failed", "result_url": null, "error": message});
        }
        let url = task
            .result_url
            .get_or_insert_with(|| {
                self.storage
                    .put(&format!("res-{id}"), "png", task.result.clone())
            })
            .clone();
        json!({"id": id, "status": "completed", "result_url": url})
    }
}

/// Posts the signed `task.completed` event to the dashboard's URL once the task is done.
fn spawn_webhook(fake: Arc<VtryonFake>, id: u64, url: String) {
    tokio::spawn(async move {
        let (pause, delivery) = {
            let tasks = fake.tasks.lock().unwrap();
            let behaviour = &tasks[&id].behaviour;
            (behaviour.processing_for, behaviour.webhook_delivery.clone())
        };
        tokio::time::sleep(pause).await;
        let Some(target) = delivery.target(&url) else {
            return;
        };
        let body = {
            let mut tasks = fake.tasks.lock().unwrap();
            let task = tasks.get_mut(&id).unwrap();
            let data = fake.task_json(id, task);
            serde_json::to_vec(&json!({"event": "task.completed", "data": data})).unwrap()
        };
        let signature = format!("v1,{}", sign(&body));
        let status =
            post_webhook(&target, &[("x-vtryon-signature", signature.as_str())], body).await;
        fake.webhook_statuses.lock().unwrap().push(status);
    });
}

/// The base64 HMAC-SHA256 of `body` keyed with [`webhook_secret`]'s decoded bytes.
pub fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_KEY).expect("any key length");
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}
