//! `POST /v1/photos` and `photo_id` (issue 14): the shopper's photo is uploaded once, then the
//! person check and every try-on name it; it passes a create's gates, has its own bucket, is
//! deleted on request and never outlives its TTL, on every store and across instances.

use std::sync::Arc;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tryon_proxy::providers::Provider;
use tryon_proxy::store::{MemoryStore, RedisStore, SqliteStore, Store, now_ms};
use tryon_proxy::wire::TaskStatus;

use crate::util::{
    Step, SteppedProvider, TestServer, assert_problem, figure_photo, file_part, jpeg, png,
    shirt_photo, valid_form,
};

#[path = "../durability/redis_server.rs"]
#[allow(dead_code)] // pausing the server is for the durability tests
mod redis_server;

/// The multipart body of an upload.
pub(crate) fn photo_form(bytes: Vec<u8>) -> Form {
    Form::new().part("person", file_part(bytes, "me.jpg"))
}

/// A create naming photo `id`, with `garment` as an upload.
pub(crate) fn id_form(id: &str, garment: Vec<u8>) -> Form {
    Form::new()
        .text("photo_id", id.to_owned())
        .part("garment", file_part(garment, "garment.png"))
        .text("category", "upper")
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

/// `POST /v1/photos`; status and JSON.
pub(crate) async fn upload(server: &TestServer, form: Form, key: Option<&str>) -> (u16, Value) {
    let mut request = server.client.post(server.url("/v1/photos")).multipart(form);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    answer(request.send().await.expect("POST /v1/photos")).await
}

/// Uploads `bytes` and returns the photo's id (asserting 201).
async fn upload_ok(server: &TestServer, bytes: Vec<u8>) -> String {
    let (status, json) = upload(server, photo_form(bytes), None).await;
    assert_eq!(status, 201, "uploading a photo: {json}");
    json["id"].as_str().expect("an id").to_owned()
}

async fn check(server: &TestServer, id: &str) -> (u16, Value) {
    let form = Form::new().text("photo_id", id.to_owned());
    let request = server.client.post(server.url("/v1/checks/person"));
    answer(request.multipart(form).send().await.unwrap()).await
}

async fn delete(server: &TestServer, path: &str) -> (u16, Value) {
    answer(server.client.delete(server.url(path)).send().await.unwrap()).await
}

async fn result_of(server: &TestServer, id: &str) -> Vec<u8> {
    let view = server.wait_terminal(id).await;
    assert_eq!(view.status, TaskStatus::Succeeded, "{view:?}");
    let response = server.get(&format!("/v1/tryons/{id}/result")).await;
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_photo_uploaded_once_serves_the_check_and_several_try_ons() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let response = server
        .client
        .post(server.url("/v1/photos"))
        .multipart(photo_form(figure_photo()))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (status, photo) = answer(response).await;
    assert_eq!(status, 201, "{photo}");
    let id = photo["id"].as_str().unwrap();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "an unguessable id: {id}"
    );
    assert_eq!(location, format!("/v1/photos/{id}"));
    let expires = OffsetDateTime::parse(photo["expires_at"].as_str().unwrap(), &Rfc3339)
        .expect("expires_at is RFC 3339");
    let lives = expires - OffsetDateTime::now_utc();
    assert!(
        (1790..=1800).contains(&lives.whole_seconds()),
        "TRYON_PHOTO_TTL defaults to 30 minutes: {lives}"
    );
    assert_eq!(server.get_json(&location).await, (200, photo.clone()));

    let (status, verdict) = check(&server, id).await;
    assert_eq!(status, 200, "{verdict}");
    assert!(
        verdict["issues"].to_string().contains("240x400"),
        "the check judged the proxy's copy of the 240×400 photo: {verdict}"
    );

    let (first, second) = (
        server.create(id_form(id, shirt_photo()), None).await,
        server.create(id_form(id, png(40, 40)), None).await,
    );
    assert_eq!((first.0, second.0), (202, 202), "{first:?} {second:?}");
    assert_ne!(first.1["id"], second.1["id"], "two garments, two try-ons");
    // The same photo sent as a `person` part, as script-tag integrations still do.
    let direct = Form::new()
        .part("person", file_part(figure_photo(), "me.jpg"))
        .part("garment", file_part(png(30, 30), "garment.png"))
        .text("category", "upper");
    let (status, third) = server.create(direct, None).await;
    assert_eq!(status, 202, "{third}");
    for _ in 0..3 {
        provider.step(Step::Succeed);
    }
    // The stepped provider answers with the person image it was given.
    let given: Vec<Vec<u8>> = futures::future::join_all(
        [&first.1, &second.1, &third]
            .map(|created| result_of(&server, created["id"].as_str().unwrap())),
    )
    .await;
    assert_eq!(given[0], given[1], "both try-ons got the kept photo");
    assert_eq!(
        given[0], given[2],
        "the kept photo is the proxy's re-encoding, as for a person part"
    );
    assert!(image::load_from_memory(&given[0]).is_ok());
}

#[tokio::test]
async fn unknown_deleted_and_expired_ids_are_photo_not_found_and_running_tasks_go_on() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &["--photo-ttl", "1"]).await;
    for bogus in ["0123456789abcdef0123456789abcdef", "not-an-id"] {
        let (status, json) = server.create(id_form(bogus, png(40, 40)), None).await;
        assert_problem(status, &json, 404, "photo_not_found");
        let (status, json) = check(&server, bogus).await;
        assert_problem(status, &json, 404, "photo_not_found");
        let (status, json) = server.get_json(&format!("/v1/photos/{bogus}")).await;
        assert_problem(status, &json, 404, "photo_not_found");
        let (status, json) = delete(&server, &format!("/v1/photos/{bogus}")).await;
        assert_problem(status, &json, 404, "photo_not_found");
    }

    let id = upload_ok(&server, jpeg(60, 90)).await;
    let (status, task) = server.create(id_form(&id, png(40, 40)), None).await;
    assert_eq!(status, 202, "{task}");
    let path = format!("/v1/photos/{id}");
    let (status, body) = delete(&server, &path).await;
    assert_eq!(status, 204, "{body}");
    let (status, json) = server.get_json(&path).await;
    assert_problem(status, &json, 404, "photo_not_found");
    let (status, json) = delete(&server, &path).await;
    assert_problem(status, &json, 404, "photo_not_found");
    let (status, json) = server.create(id_form(&id, shirt_photo()), None).await;
    assert_problem(status, &json, 404, "photo_not_found");
    let (status, json) = check(&server, &id).await;
    assert_problem(status, &json, 404, "photo_not_found");
    provider.step(Step::Succeed);
    let kept = result_of(&server, task["id"].as_str().unwrap()).await;
    assert!(
        image::load_from_memory(&kept).is_ok(),
        "a try-on created before the photo was deleted keeps its own copy"
    );

    let id = upload_ok(&server, jpeg(61, 90)).await;
    assert_eq!(server.get_json(&format!("/v1/photos/{id}")).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, json) = server.get_json(&format!("/v1/photos/{id}")).await;
    assert_problem(status, &json, 404, "photo_not_found");
    let (status, json) = server.create(id_form(&id, png(40, 40)), None).await;
    assert_problem(status, &json, 404, "photo_not_found");
}

#[tokio::test]
async fn the_person_part_still_works_and_one_person_is_required() {
    let server = TestServer::with_local(50, &[]).await;
    let (status, json) = server.create(valid_form(), None).await;
    assert_eq!(status, 202, "{json}");
    let id = upload_ok(&server, jpeg(60, 90)).await;
    let both = id_form(&id, png(40, 40)).part("person", file_part(jpeg(60, 90), "me.jpg"));
    let (status, json) = server.create(both, None).await;
    assert_problem(status, &json, 400, "invalid_field");
    let neither = Form::new()
        .part("garment", file_part(png(40, 40), "g.png"))
        .text("category", "upper");
    let (status, json) = server.create(neither, None).await;
    assert_problem(status, &json, 400, "missing_field");
}

#[tokio::test]
async fn an_upload_passes_the_same_gates_as_a_create() {
    let server = TestServer::with_local(50, &["--max-image-bytes", "20000"]).await;
    let cases: [(Form, u16, &str); 5] = [
        (
            photo_form(b"GIF89a not an accepted image".to_vec()),
            415,
            "unsupported_type",
        ),
        (
            Form::new().part(
                "person",
                Part::bytes(png(20, 20))
                    .file_name("me.jpg")
                    .mime_str("image/jpeg")
                    .unwrap(),
            ),
            415,
            "unsupported_type",
        ),
        (
            photo_form(jpeg(60, 90)[..200].to_vec()),
            422,
            "invalid_image",
        ),
        (
            photo_form([jpeg(60, 90), vec![0; 30_000]].concat()),
            413,
            "image_too_large",
        ),
        (Form::new().text("photo_id", "x"), 400, "missing_field"),
    ];
    for (form, status_wanted, code) in cases {
        let (status, json) = upload(&server, form, None).await;
        assert_problem(status, &json, status_wanted, code);
    }
    // Browsers must send a key with every upload, as with every create.
    let response = server
        .client
        .post(server.url("/v1/photos"))
        .header("Origin", server.base.clone())
        .multipart(photo_form(jpeg(60, 90)))
        .send()
        .await
        .unwrap();
    let (status, json) = answer(response).await;
    assert_problem(status, &json, 400, "missing_field");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_photo_and_is_not_a_create_key() {
    let server = TestServer::with_local(50, &[]).await;
    let (status, first) = upload(&server, photo_form(jpeg(60, 90)), Some("k-1")).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = upload(&server, photo_form(jpeg(60, 90)), Some("k-1")).await;
    assert_eq!(
        (status, &again),
        (201, &first),
        "a retried upload is the same photo"
    );
    let (status, json) = upload(&server, photo_form(jpeg(70, 90)), Some("k-1")).await;
    assert_problem(status, &json, 422, "idempotency_key_reused");
    let (status, json) = server.create(valid_form(), Some("k-1")).await;
    assert_eq!(
        status, 202,
        "uploads and creates keep their keys apart: {json}"
    );
}

#[tokio::test]
async fn photo_uploads_have_their_own_modest_bucket() {
    let server = TestServer::with_local(
        50,
        &[
            "--photo-burst",
            "2",
            "--photo-period-s",
            "600",
            "--check-burst",
            "100",
        ],
    )
    .await;
    let (status, kept) = upload(&server, photo_form(jpeg(60, 90)), Some("first")).await;
    assert_eq!(status, 201, "{kept}");
    upload_ok(&server, jpeg(61, 90)).await;
    let response = server
        .client
        .post(server.url("/v1/photos"))
        .multipart(photo_form(jpeg(62, 90)))
        .send()
        .await
        .unwrap();
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=600).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    let (status, json) = answer(response).await;
    assert_problem(status, &json, 429, "rate_limited");
    // A replay of a finished upload costs nothing; creates and checks have their own buckets.
    let (status, again) = upload(&server, photo_form(jpeg(60, 90)), Some("first")).await;
    assert_eq!((status, &again), (201, &kept));
    assert_eq!(server.create(valid_form(), None).await.0, 202);
    let id = kept["id"].as_str().unwrap();
    assert_eq!(check(&server, id).await.0, 200);
    assert_eq!(server.create(id_form(id, png(40, 40)), None).await.0, 202);
}

#[tokio::test]
async fn a_second_upload_of_the_same_photo_is_still_the_same_submission() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider, &[]).await;
    let first = upload_ok(&server, jpeg(60, 90)).await;
    let second = upload_ok(&server, jpeg(60, 90)).await;
    assert_ne!(first, second, "each upload is a photo of its own");
    let (_, created) = server.create(id_form(&first, png(40, 40)), None).await;
    let (status, repeat) = server.create(id_form(&second, png(40, 40)), None).await;
    assert_eq!(status, 202, "{repeat}");
    assert_eq!(
        repeat["id"], created["id"],
        "the fingerprint holds the photo's content, not its id: one paid try-on"
    );
    let (_, other) = server.create(id_form(&second, shirt_photo()), None).await;
    assert_ne!(
        other["id"], created["id"],
        "another garment is another try-on"
    );
}

/// A fresh folder under the system's temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("tryon-photos-{}-{}", std::process::id(), now_ms()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deletion and expiry through the API, on each store; the sweeper (not a read) removes
/// what expired.
#[tokio::test]
async fn photos_are_deleted_and_expire_on_every_store() {
    let dir = TempDir::new();
    let redis = redis_server::RedisServer::start();
    let stores: [(&str, Arc<dyn Store>); 3] = [
        ("memory", Arc::new(MemoryStore::default())),
        ("sqlite", Arc::new(SqliteStore::open(&dir.0).unwrap())),
        (
            "redis",
            Arc::new(RedisStore::open(&redis.url(0), Duration::from_secs(60)).unwrap()),
        ),
    ];
    for (name, store) in stores {
        let provider: Arc<dyn Provider> = SteppedProvider::new();
        let server = TestServer::start_on(provider, store.clone(), &["--photo-ttl", "1"]).await;
        let id = upload_ok(&server, jpeg(60, 90)).await;
        let path = format!("/v1/photos/{id}");
        assert_eq!(server.get_json(&path).await.0, 200, "{name}");
        assert_eq!(delete(&server, &path).await.0, 204, "{name}");
        assert_eq!(server.get_json(&path).await.0, 404, "{name}: deleted");
        assert!(store.photo_get(&id).unwrap().is_none(), "{name}");

        let id = upload_ok(&server, jpeg(61, 90)).await;
        assert!(store.photo_get(&id).unwrap().is_some(), "{name}: kept");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (status, json) = server.get_json(&format!("/v1/photos/{id}")).await;
        assert_problem(status, &json, 404, "photo_not_found");
        assert_eq!(
            store.photo_sweep(now_ms()).unwrap(),
            0,
            "{name}: the sweeper (or Redis) already removed the expired photo"
        );
    }
}

/// Two instances on one Redis: a photo uploaded to one is checked, tried on and deleted
/// through the other, and expires for both.
#[tokio::test]
async fn photos_are_shared_and_expire_across_two_instances_on_redis() {
    let redis = redis_server::RedisServer::start();
    let open = || -> Arc<dyn Store> {
        Arc::new(RedisStore::open(&redis.url(0), Duration::from_secs(60)).unwrap())
    };
    let args = ["--photo-ttl", "1"];
    let a = TestServer::start_on(SteppedProvider::new(), open(), &args).await;
    let b = TestServer::start_on(SteppedProvider::new(), open(), &args).await;
    let id = upload_ok(&a, jpeg(60, 90)).await;
    let path = format!("/v1/photos/{id}");
    assert_eq!(b.get_json(&path).await.0, 200);
    assert_eq!(check(&b, &id).await.0, 200);
    let (status, json) = b.create(id_form(&id, png(40, 40)), None).await;
    assert_eq!(status, 202, "{json}");
    assert_eq!(delete(&b, &path).await.0, 204);
    let (status, json) = a.get_json(&path).await;
    assert_problem(status, &json, 404, "photo_not_found");

    let id = upload_ok(&b, jpeg(61, 90)).await;
    assert_eq!(a.get_json(&format!("/v1/photos/{id}")).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for server in [&a, &b] {
        let (status, json) = server.create(id_form(&id, png(40, 40)), None).await;
        assert_problem(status, &json, 404, "photo_not_found");
    }
}
