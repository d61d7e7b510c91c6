//! Every hostile input through `POST /v1/tryons` and `POST /v1/checks/person` on the real app:
//! the status, the error code, and that nothing reached the provider. Bombs must be refused
//! from their headers: a refusal
//! with `image_too_large` can only come from the dimension check, which runs before any pixel
//! buffer exists (an allocation of the declared size would abort the test process instead).

use crate::corpus::*;
use crate::support::{Create, Server, assert_problem, jpeg, png};

async fn refused(
    server: &Server,
    name: &str,
    person: Vec<u8>,
    content_type: &str,
    status: u16,
    code: &str,
) {
    let (got, _, json) = server
        .create(Create::person(person.clone(), content_type))
        .await;
    assert_eq!(
        (got, json["code"].as_str()),
        (status, Some(code)),
        "{name}: {json}"
    );
    assert_problem(got, &json, status, code);
    assert!(
        server.provider.jobs().is_empty(),
        "{name}: something reached the provider"
    );
    let (got, json) = server.check_person(person, content_type).await;
    assert_problem(got, &json, status, code);
    assert_eq!(
        server.provider.checks(),
        0,
        "{name}: a check reached the provider"
    );
}

fn server_args() -> &'static [&'static str] {
    &["--create-burst", "1000", "--check-burst", "1000"]
}

#[tokio::test]
async fn malformed_and_oversized_files_are_refused_before_the_provider() {
    let server = Server::start(server_args()).await;
    let mut oversize = vec![0xFF, 0xD8, 0xFF, 0xE0];
    oversize.resize(10_000_001, 0);
    let valid = jpeg(200, 150);
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        (
            "oversize (10 MB + 1)",
            oversize,
            "image/jpeg",
            413,
            "image_too_large",
        ),
        (
            "empty",
            Vec::new(),
            "application/octet-stream",
            415,
            "unsupported_type",
        ),
        (
            "truncated JPEG",
            valid[..valid.len() / 2].to_vec(),
            "image/jpeg",
            422,
            "invalid_image",
        ),
        (
            "0×0 PNG",
            png_header_bomb(0, 0),
            "image/png",
            422,
            "invalid_image",
        ),
    ];
    for (name, bytes, content_type, status, code) in cases {
        refused(&server, name, bytes, content_type, status, code).await;
    }
}

#[tokio::test]
async fn decompression_bombs_are_refused_from_their_headers() {
    let server = Server::start(server_args()).await;
    let cases = vec![
        (
            "PNG IHDR 65535×65535",
            png_header_bomb(65535, 65535),
            "image/png",
        ),
        (
            "JPEG SOF 65500×65500",
            jpeg_sof_bomb(&jpeg(16, 16), 65500, 65500),
            "image/jpeg",
        ),
        ("20k×20k all-zero PNG", zero_png(20_000), "image/png"),
    ];
    for (name, bytes, content_type) in cases {
        assert!(
            bytes.len() < 200_000,
            "{name} is a small file ({} B)",
            bytes.len()
        );
        refused(&server, name, bytes, content_type, 413, "image_too_large").await;
    }
}

#[tokio::test]
async fn types_other_than_jpeg_png_webp_are_refused_by_their_bytes() {
    let server = Server::start(server_args()).await;
    let mut html_first = HTML_PAYLOAD.to_vec();
    html_first.extend(jpeg(20, 20));
    let mut zip_first = b"PK\x03\x04".to_vec();
    zip_first.extend(jpeg(20, 20));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("1000-frame GIF", animated_gif(1000), "image/gif"),
        ("SVG with script", SVG_SCRIPT.to_vec(), "image/svg+xml"),
        (
            "SVG with entity expansion",
            SVG_ENTITY_EXPANSION.to_vec(),
            "image/svg+xml",
        ),
        ("SVG declared as JPEG", SVG_SCRIPT.to_vec(), "image/jpeg"),
        ("HTML then JPEG", html_first, "image/jpeg"),
        ("ZIP then JPEG", zip_first, "image/jpeg"),
        ("PNG declared as image/jpeg", png(30, 30), "image/jpeg"),
        ("JPEG declared as image/png", jpeg(30, 30), "image/png"),
    ];
    for (name, bytes, content_type) in cases {
        refused(&server, name, bytes, content_type, 415, "unsupported_type").await;
    }
}

#[tokio::test]
async fn polyglots_that_are_real_jpegs_travel_on_re_encoded_without_their_payload() {
    let server = Server::start(server_args()).await;
    let base = jpeg(64, 48);
    let mut jpeg_html = base.clone();
    jpeg_html.extend_from_slice(HTML_PAYLOAD);
    for (n, polyglot) in [jpeg_zip_polyglot(&base), jpeg_html]
        .into_iter()
        .enumerate()
    {
        let (status, _, json) = server.create(Create::person(polyglot, "image/jpeg")).await;
        assert_eq!(status, 202, "polyglot {n}: {json}");
        let sent = server.provider.wait_jobs(n + 1).await.pop().unwrap();
        for needle in [&b"PK\x03\x04"[..], b"PK\x05\x06", b"<html", b"<script"] {
            let found = sent.bytes.windows(needle.len()).any(|w| w == needle);
            assert!(
                !found,
                "polyglot {n}: {:?} reached the provider",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

#[tokio::test]
async fn every_exif_orientation_arrives_upright_and_without_exif() {
    let server = Server::start(server_args()).await;
    let base = jpeg(60, 90);
    for orientation in 1..=8u16 {
        let (status, _, json) = server
            .create(Create::person(
                jpeg_with_orientation(&base, orientation),
                "image/jpeg",
            ))
            .await;
        assert_eq!(status, 202, "orientation {orientation}: {json}");
        let sent = server
            .provider
            .wait_jobs(usize::from(orientation))
            .await
            .pop()
            .unwrap();
        let upright = if orientation >= 5 { (90, 60) } else { (60, 90) };
        assert_eq!(
            (sent.width, sent.height),
            upright,
            "orientation {orientation}"
        );
        assert!(
            !sent.bytes.windows(4).any(|w| w == b"Exif"),
            "orientation {orientation}: EXIF travelled on"
        );
    }
}

#[tokio::test]
async fn garment_urls_outside_the_policy_are_refused_without_any_fetch() {
    let server = Server::start(&[
        "--create-burst",
        "1000",
        "--garment-hosts",
        "https://cdn.example/",
    ])
    .await;
    for url in [
        "http://cdn.example/shirt.png",
        "https://cdn.example@evil.example/shirt.png",
        "https://user:pw@cdn.example/shirt.png",
        "https://2130706433/shirt.png",
        "https://0x7f.0.0.1/shirt.png",
        "https://0177.0.0.1/shirt.png",
        "https://127.1/shirt.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:127.0.0.1]/shirt.png",
        "https://cdn.example.evil.example/shirt.png",
        "file:///etc/passwd",
    ] {
        let (status, _, json) = server.create(Create::garment_url(url)).await;
        assert_problem(status, &json, 400, "garment_url_not_allowed");
        assert!(
            server.provider.jobs().is_empty(),
            "{url}: something reached the provider"
        );
    }
}
