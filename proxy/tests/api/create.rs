//! `POST /v1/tryons`: the happy path and every way a create is refused before a task exists.

use reqwest::multipart::Form;
use tryon_proxy::wire::TaskStatus;

use crate::util::{
    LogCapture, SteppedProvider, TestServer, assert_problem, file_part, jpeg, png, raw_exchange,
    valid_form,
};

#[tokio::test]
async fn a_valid_upload_is_queued_with_links() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let response = server
        .client
        .post(server.url("/v1/tryons"))
        .multipart(valid_form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let json: serde_json::Value = response.json().await.unwrap();
    let id = json["id"].as_str().unwrap();
    assert_eq!(id.len(), 32, "128-bit hex id: {id}");
    assert_eq!(json["status"], "queued");
    assert_eq!(json["links"]["self"], format!("/v1/tryons/{id}"));
    assert_eq!(json["links"]["events"], format!("/v1/tryons/{id}/events"));
    assert_eq!(json["links"]["result"], format!("/v1/tryons/{id}/result"));
    assert_eq!(location, format!("/v1/tryons/{id}"));
    provider.wait_runs(1).await;
}

#[tokio::test]
async fn each_accepted_image_is_logged_as_sent_without_its_bytes() {
    let logs = LogCapture::global();
    let server = TestServer::start(SteppedProvider::new(), &["--person-max-edge", "64"]).await;
    // Sizes no other test uses, so this test finds its own lines in the shared log.
    let person = jpeg(317, 211);
    let person_len = person.len();
    let form = Form::new()
        .part("person", file_part(person, "p.jpg"))
        .part("garment", file_part(png(43, 31), "g.png"))
        .text("category", "upper");
    let (status, json) = server.create(form, None).await;
    assert_eq!(status, 202, "{json}");
    let lines = logs.lines();
    let uploads: Vec<_> = lines
        .iter()
        .filter(|line| line["message"] == "upload received")
        .collect();
    let find = |field: &str, width: u64| {
        uploads
            .iter()
            .find(|l| l["field"] == field && l["width"] == width)
            .unwrap_or_else(|| panic!("no {field} line of width {width} in {uploads:#?}"))
    };
    let person_line = find("person", 317);
    assert_eq!(person_line["format"], "jpeg");
    assert_eq!(
        person_line["height"], 211,
        "the source size, not the resized one"
    );
    assert_eq!(person_line["bytes"].as_u64(), Some(person_len as u64));
    let garment_line = find("garment", 43);
    assert_eq!(
        (
            garment_line["format"].as_str(),
            garment_line["height"].as_u64()
        ),
        (Some("png"), Some(31))
    );
    assert!(
        lines.iter().all(|l| l.to_string().len() < 2000),
        "log lines never carry image bytes"
    );
}

#[tokio::test]
async fn missing_fields_are_named() {
    let server = TestServer::start(SteppedProvider::new(), &[]).await;
    let no_person = Form::new().part("garment", file_part(png(10, 10), "g.png"));
    let (status, json) = server.create(no_person, None).await;
    assert_problem(status, &json, 400, "missing_field");
    assert!(
        json["detail"].as_str().unwrap().contains("person"),
        "{json}"
    );

    let no_garment = Form::new().part("person", file_part(jpeg(10, 10), "p.jpg"));
    let (status, json) = server.create(no_garment, None).await;
    assert_problem(status, &json, 400, "missing_field");
    assert!(
        json["detail"].as_str().unwrap().contains("garment"),
        "{json}"
    );

    let combo_without_lower = valid_form().text("category", "combo");
    let (status, json) = server.create(combo_without_lower, None).await;
    // `valid_form` already sets category=upper, so the duplicate is what is refused here.
    assert_problem(status, &json, 400, "invalid_field");
    let combo_without_lower = Form::new()
        .part("person", file_part(jpeg(10, 10), "p.jpg"))
        .part("garment", file_part(png(10, 10), "g.png"))
        .text("category", "combo");
    let (status, json) = server.create(combo_without_lower, None).await;
    assert_problem(status, &json, 400, "missing_field");
    assert!(
        json["detail"].as_str().unwrap().contains("lower_garment"),
        "{json}"
    );
}

#[tokio::test]
async fn combo_with_a_lower_garment_is_accepted() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let form = Form::new()
        .part("person", file_part(jpeg(30, 60), "p.jpg"))
        .part("garment", file_part(png(20, 20), "top.png"))
        .part("lower_garment", file_part(png(20, 30), "bottom.png"))
        .text("category", "combo")
        .text("quality", "best");
    let (status, json) = server.create(form, None).await;
    assert_eq!(status, 202, "{json}");
}

#[tokio::test]
async fn bad_category_and_quality_are_invalid_fields() {
    let server = TestServer::start(SteppedProvider::new(), &[]).await;
    for (field, value) in [("category", "hat"), ("quality", "ultra")] {
        let form = Form::new()
            .part("person", file_part(jpeg(10, 10), "p.jpg"))
            .part("garment", file_part(png(10, 10), "g.png"))
            .text(field, value);
        let (status, json) = server.create(form, None).await;
        assert_problem(status, &json, 400, "invalid_field");
        assert!(json["detail"].as_str().unwrap().contains(field), "{json}");
    }
}

#[tokio::test]
async fn non_image_bytes_are_unsupported_whatever_their_name_says() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let html = b"<html><script>alert(1)</script></html>".to_vec();
    let form = Form::new()
        .part(
            "person",
            file_part(html, "photo.jpg").mime_str("image/jpeg").unwrap(),
        )
        .part("garment", file_part(png(10, 10), "g.png"));
    let (status, json) = server.create(form, None).await;
    assert_problem(status, &json, 415, "unsupported_type");
    assert_eq!(provider.runs(), 0, "nothing reaches the provider");
}

#[tokio::test]
async fn a_truncated_image_is_invalid() {
    let server = TestServer::start(SteppedProvider::new(), &[]).await;
    let mut truncated = jpeg(200, 200);
    truncated.truncate(300);
    let form = Form::new()
        .part("person", file_part(truncated, "p.jpg"))
        .part("garment", file_part(png(10, 10), "g.png"));
    let (status, json) = server.create(form, None).await;
    assert_problem(status, &json, 422, "invalid_image");
}

#[tokio::test]
async fn a_body_that_is_not_multipart_is_refused_as_a_problem() {
    let server = TestServer::start(SteppedProvider::new(), &[]).await;
    let response = server
        .client
        .post(server.url("/v1/tryons"))
        .json(&serde_json::json!({"person": "x"}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_problem(
        status,
        &response.json().await.unwrap(),
        400,
        "invalid_field",
    );
}

/// The declared length alone is refused: the test sends the head and no body byte at all, so
/// an answer proves nothing was buffered.
#[tokio::test]
async fn an_oversize_declared_body_is_refused_before_it_is_sent() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(provider.clone(), &[]).await;
    let head = format!(
        "POST /v1/tryons HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 30000000\r\n\r\n",
        server.addr
    );
    let response = raw_exchange(server.addr, &head, b"").await;
    assert_eq!(response.status, 413, "{response:?}");
    assert!(
        response
            .head
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{response:?}"
    );
    let json = response.json();
    assert_eq!(json["code"], "image_too_large", "{json}");
    assert_eq!(provider.runs(), 0);
}

fn multipart_body(parts: &[(&str, usize)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, size) in parts {
        body.extend_from_slice(
            format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"x.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
                .as_bytes(),
        );
        body.extend(std::iter::repeat_n(b'x', *size));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--b--\r\n");
    body
}

/// Chunked: one chunk with everything, then the terminator.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n0\r\n\r\n");
    out
}

fn chunked_head(server: &TestServer) -> String {
    format!(
        "POST /v1/tryons HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr
    )
}

#[tokio::test]
async fn a_file_over_the_image_limit_is_refused_while_streaming() {
    let server = TestServer::start(SteppedProvider::new(), &["--max-image-bytes", "20000"]).await;
    let body = multipart_body(&[("person", 20_001)]);
    let response = raw_exchange(server.addr, &chunked_head(&server), &chunked(&body)).await;
    assert_eq!(response.status, 413, "{response:?}");
    let json = response.json();
    assert_eq!(json["code"], "image_too_large", "{json}");
    assert!(
        json["detail"].as_str().unwrap().contains("person"),
        "{json}"
    );
}

#[tokio::test]
async fn a_request_over_the_body_limit_is_refused_while_streaming() {
    let server = TestServer::start(
        SteppedProvider::new(),
        &["--max-image-bytes", "20000", "--max-request-bytes", "30000"],
    )
    .await;
    let body = multipart_body(&[("person", 15_000), ("garment", 15_000)]);
    let response = raw_exchange(server.addr, &chunked_head(&server), &chunked(&body)).await;
    assert_eq!(response.status, 413, "{response:?}");
    assert_eq!(response.json()["code"], "image_too_large");
}

#[tokio::test]
async fn garment_urls_off_the_allowed_prefixes_are_refused_without_fetching() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(
        provider.clone(),
        &["--garment-hosts", "https://cdn.example/"],
    )
    .await;
    for url in [
        "http://cdn.example/shirt.jpg",
        "https://cdn.example.evil.test/shirt.jpg",
        "https://user@cdn.example/shirt.jpg",
        "https://other.example/shirt.jpg",
        "not a url",
    ] {
        let form = Form::new()
            .part("person", file_part(jpeg(10, 10), "p.jpg"))
            .text("garment_url", url);
        let (status, json) = server.create(form, None).await;
        assert_problem(status, &json, 400, "garment_url_not_allowed");
    }
    assert_eq!(provider.runs(), 0);
}

#[tokio::test]
async fn garment_urls_over_two_kilobytes_are_refused_as_invalid_fields() {
    let provider = SteppedProvider::new();
    let server = TestServer::start(
        provider.clone(),
        &["--garment-hosts", "https://cdn.example/"],
    )
    .await;
    // Under the allowed prefix, so only the length can refuse them; the longest is still
    // under the old 8 KB text cap's neighbourhood and the body limit.
    for len in [2049, 3000, 9000] {
        let url = format!("https://cdn.example/{}", "a".repeat(len - 20));
        let form = Form::new()
            .part("person", file_part(jpeg(10, 10), "p.jpg"))
            .text("garment_url", url);
        let (status, json) = server.create(form, None).await;
        assert_problem(status, &json, 400, "invalid_field");
        assert!(
            json["detail"].as_str().unwrap().contains("2048 bytes"),
            "{json}"
        );
    }
    assert_eq!(provider.runs(), 0);
}

#[tokio::test]
async fn demo_garments_are_read_from_disk_and_cannot_escape_the_folder() {
    let www = tempdir("demo-garments");
    std::fs::create_dir_all(www.join("demo")).unwrap();
    std::fs::write(www.join("demo/garment.png"), png(40, 40)).unwrap();
    std::fs::write(www.join("secret.png"), png(40, 40)).unwrap();
    let provider = SteppedProvider::new();
    let server = TestServer::start(
        provider.clone(),
        &["--demo", "--www-dir", www.to_str().unwrap()],
    )
    .await;

    let own = format!("http://{}/demo/garment.png", server.addr);
    let form = Form::new()
        .part("person", file_part(jpeg(20, 30), "p.jpg"))
        .text("garment_url", own);
    let (status, json) = server.create(form, None).await;
    assert_eq!(status, 202, "{json}");
    let view = server.view(json["id"].as_str().unwrap()).await;
    assert_ne!(view.status, TaskStatus::Failed);

    for url in [
        format!("http://{}/demo/../secret.png", server.addr),
        format!("http://{}/demo/%2e%2e/secret.png", server.addr),
        format!("http://{}/demo/missing.png", server.addr),
        "http://elsewhere.example/demo/garment.png".to_owned(),
    ] {
        let form = Form::new()
            .part("person", file_part(jpeg(20, 30), "p.jpg"))
            .text("garment_url", url.clone());
        let (status, json) = server.create(form, None).await;
        assert_problem(status, &json, 400, "garment_url_not_allowed");
    }
}

/// A fresh folder under `target/` for one test (never the system temp, so CI keeps it tidy).
pub fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
