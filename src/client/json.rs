//! The proxy's JSON answers read into the `wire` types with the browser's own parser
//! (`JSON.parse`, `Response.json()`) and `Reflect`, not serde_json.
//!
//! The browser already ships a JSON parser; serde_json's deserialiser, instantiated once per
//! wire type, was about a fifth of the widget's wasm. The reading is as strict as serde's
//! derive was: a required field that is missing or of the wrong type, a number out of its
//! type's range or a word outside an enum makes the whole answer unreadable; unknown fields
//! are ignored; an `Option` field may be absent or `null`.

use js_sys::{Array, Reflect};
use tryon_proxy::wire::{
    Category, CheckIssue, CheckSource, CheckSources, ChecksAvailable, ConfigResponse, CreatedTryOn,
    DirectStream, ErrorCode, GarmentKind, Limits, PersonCheck, ProgressKind, Quality, ResultInfo,
    Severity, TaskError, TaskStatus, TryOnLinks, TryOnView, UploadedPhoto,
};
use wasm_bindgen::{JsCast, JsValue};

/// The answer does not have the contract's shape.
#[derive(Debug)]
pub struct Malformed;

type Read<T> = Result<T, Malformed>;

/// A value of the contract that can be read from a parsed JSON value.
pub trait FromJson: Sized {
    fn read(value: &JsValue) -> Read<Self>;
}

/// Parses `text` and reads it as `T`.
pub fn parse<T: FromJson>(text: &str) -> Read<T> {
    T::read(&js_sys::JSON::parse(text).map_err(|_| Malformed)?)
}

/// The problem+json `code` of an error answer's body, if it has a known one.
pub fn problem_code(body: &str) -> Option<ErrorCode> {
    let problem = js_sys::JSON::parse(body).ok()?;
    required(&problem, "code").ok()
}

fn field(object: &JsValue, name: &str) -> Read<JsValue> {
    if !object.is_object() {
        return Err(Malformed);
    }
    Reflect::get(object, &JsValue::from_str(name)).map_err(|_| Malformed)
}

fn required<T: FromJson>(object: &JsValue, name: &str) -> Read<T> {
    T::read(&field(object, name)?)
}

fn optional<T: FromJson>(object: &JsValue, name: &str) -> Read<Option<T>> {
    let value = field(object, name)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    T::read(&value).map(Some)
}

/// A whole number from 0 to `max` (JSON numbers are f64 in the browser).
#[inline(never)]
fn whole(value: &JsValue, max: f64) -> Read<f64> {
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && (0.0..=max).contains(&n) => Ok(n),
        _ => Err(Malformed),
    }
}

/// One of an enum's variants by its wire spelling.
fn named<T: Copy>(value: &JsValue, variants: &[T], spelling: fn(T) -> &'static str) -> Read<T> {
    let word = value.as_string().ok_or(Malformed)?;
    variants
        .iter()
        .copied()
        .find(|v| spelling(*v) == word)
        .ok_or(Malformed)
}

impl FromJson for String {
    fn read(value: &JsValue) -> Read<Self> {
        value.as_string().ok_or(Malformed)
    }
}

impl FromJson for bool {
    fn read(value: &JsValue) -> Read<Self> {
        value.as_bool().ok_or(Malformed)
    }
}

impl FromJson for u8 {
    fn read(value: &JsValue) -> Read<Self> {
        whole(value, u8::MAX.into()).map(|n| n as u8)
    }
}

impl FromJson for u32 {
    fn read(value: &JsValue) -> Read<Self> {
        whole(value, u32::MAX.into()).map(|n| n as u32)
    }
}

impl FromJson for u64 {
    fn read(value: &JsValue) -> Read<Self> {
        // Larger integers are not exact in a JSON number read by the browser.
        whole(value, 9_007_199_254_740_991.0).map(|n| n as u64)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn read(value: &JsValue) -> Read<Self> {
        let array = value.dyn_ref::<Array>().ok_or(Malformed)?;
        array.iter().map(|item| T::read(&item)).collect()
    }
}

impl FromJson for ErrorCode {
    fn read(value: &JsValue) -> Read<Self> {
        named(value, &ErrorCode::ALL, ErrorCode::as_str)
    }
}

impl FromJson for Category {
    fn read(value: &JsValue) -> Read<Self> {
        named(value, &Category::ALL, Category::as_str)
    }
}

impl FromJson for Quality {
    fn read(value: &JsValue) -> Read<Self> {
        named(value, &Quality::ALL, Quality::as_str)
    }
}

impl FromJson for TaskStatus {
    fn read(value: &JsValue) -> Read<Self> {
        use TaskStatus::*;
        named(value, &[Queued, Running, Succeeded, Failed], |s| match s {
            Queued => "queued",
            Running => "running",
            Succeeded => "succeeded",
            Failed => "failed",
        })
    }
}

impl FromJson for ProgressKind {
    fn read(value: &JsValue) -> Read<Self> {
        use ProgressKind::*;
        named(value, &[Reported, Estimated], |k| match k {
            Reported => "reported",
            Estimated => "estimated",
        })
    }
}

impl FromJson for Severity {
    fn read(value: &JsValue) -> Read<Self> {
        use Severity::*;
        named(value, &[Error, Warning], |s| match s {
            Error => "error",
            Warning => "warning",
        })
    }
}

impl FromJson for CheckSource {
    fn read(value: &JsValue) -> Read<Self> {
        use CheckSource::*;
        named(value, &[Provider, Local], |s| match s {
            Provider => "provider",
            Local => "local",
        })
    }
}

impl FromJson for GarmentKind {
    fn read(value: &JsValue) -> Read<Self> {
        use GarmentKind::*;
        named(value, &[Upper, Lower, Full], |k| match k {
            Upper => "upper",
            Lower => "lower",
            Full => "full",
        })
    }
}

impl FromJson for ConfigResponse {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            provider: required(value, "provider")?,
            categories: required(value, "categories")?,
            qualities: required(value, "qualities")?,
            checks: required(value, "checks")?,
            limits: required(value, "limits")?,
            check_sources: optional(value, "check_sources")?,
            photo_ttl_s: optional(value, "photo_ttl_s")?,
        })
    }
}

impl FromJson for UploadedPhoto {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            id: required(value, "id")?,
            expires_at: required(value, "expires_at")?,
        })
    }
}

impl FromJson for CheckSources {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            person: required(value, "person")?,
            garment: required(value, "garment")?,
        })
    }
}

impl FromJson for ChecksAvailable {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            person: required(value, "person")?,
            garment: required(value, "garment")?,
        })
    }
}

impl FromJson for Limits {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            max_upload_bytes: required(value, "max_upload_bytes")?,
            person_max_edge: required(value, "person_max_edge")?,
            garment_max_edge: required(value, "garment_max_edge")?,
            accept: required(value, "accept")?,
        })
    }
}

impl FromJson for CreatedTryOn {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            id: required(value, "id")?,
            status: required(value, "status")?,
            links: required(value, "links")?,
            stream: optional(value, "stream")?,
        })
    }
}

impl FromJson for DirectStream {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            url: required(value, "url")?,
            expires_at: required(value, "expires_at")?,
        })
    }
}

impl FromJson for TryOnLinks {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            self_: required(value, "self")?,
            events: required(value, "events")?,
            result: required(value, "result")?,
        })
    }
}

impl FromJson for TryOnView {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            id: required(value, "id")?,
            status: required(value, "status")?,
            progress: required(value, "progress")?,
            progress_kind: required(value, "progress_kind")?,
            stage: optional(value, "stage")?,
            queue_position: optional(value, "queue_position")?,
            result: optional(value, "result")?,
            error: optional(value, "error")?,
            created_at: required(value, "created_at")?,
            updated_at: required(value, "updated_at")?,
        })
    }
}

impl FromJson for ResultInfo {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            url: required(value, "url")?,
            width: required(value, "width")?,
            height: required(value, "height")?,
            content_type: required(value, "content_type")?,
        })
    }
}

impl FromJson for TaskError {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            code: required(value, "code")?,
            message: required(value, "message")?,
            retryable: required(value, "retryable")?,
        })
    }
}

impl FromJson for PersonCheck {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            ok: required(value, "ok")?,
            issues: required(value, "issues")?,
            garment_kinds: optional(value, "garment_kinds")?,
            source: required(value, "source")?,
        })
    }
}

impl FromJson for CheckIssue {
    fn read(value: &JsValue) -> Read<Self> {
        Ok(Self {
            code: required(value, "code")?,
            severity: required(value, "severity")?,
            message: required(value, "message")?,
        })
    }
}
