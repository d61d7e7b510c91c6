//! Arbitrary bytes as the body of `POST /v1/tryons`: the proxy's streaming multipart reader
//! (`upload::read_form`), then every image field through sniff → decode within tight limits →
//! orient → re-encode. Nothing may panic, and no decode may exceed the limits it was given.
#![no_main]

use std::sync::LazyLock;

use axum::extract::{FromRequest, Multipart};
use libfuzzer_sys::fuzz_target;
use tryon_photo::{Limits, PrepareOptions};
use tryon_proxy::upload::{GarmentInput, read_form};

const BOUNDARY: &str = "fuzzboundary";
/// Small enough that every decode the fuzzer reaches is fast; big images must be refused.
const LIMITS: Limits = Limits {
    max_pixels: 1 << 20,
    max_alloc: 16 << 20,
};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
});

fuzz_target!(|body: &[u8]| {
    let request = axum::http::Request::builder()
        .method("POST")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(axum::body::Body::from(body.to_vec()))
        .expect("request");
    RUNTIME.block_on(async {
        let Ok(multipart) = Multipart::from_request(request, &()).await else {
            return;
        };
        let Ok(form) = read_form(multipart, 1 << 20).await else {
            return;
        };
        let mut images = vec![form.person];
        if let GarmentInput::Upload(bytes) = form.garment {
            images.push(bytes);
        }
        for bytes in images {
            prepare_within_limits(&bytes);
        }
    });
});

fn prepare_within_limits(bytes: &[u8]) {
    let options = PrepareOptions::person(256).with_limits(LIMITS);
    if let Ok(prepared) = tryon_photo::prepare(bytes, &options) {
        let source = prepared.source;
        assert!(
            u64::from(source.width) * u64::from(source.height) <= LIMITS.max_pixels,
            "{prepared:?}"
        );
        assert!(prepared.width.max(prepared.height) <= 256, "{prepared:?}");
        assert_eq!(
            tryon_photo::sniff(&prepared.jpeg),
            Some(tryon_photo::SourceFormat::Jpeg)
        );
    }
}
