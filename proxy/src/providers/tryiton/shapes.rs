//! TryItOn's words on the wire, in both forms it speaks (issue 13).
//!
//! Our document: a create answers `{"id", "error"}`, a status `{"id", "status", "output",
//! "error": {"name", "message"}}`, and HTTP errors carry the same error object. Its 2026
//! public docs and SDKs: a create answers `{"ok": true, "jobId"}`, a status `{ok, status,
//! output, error}` (WebP outputs kept 72 h), HTTP errors `{"error": "<Name>", "message"}`,
//! and an empty balance may come back as 429 `OutOfCredits`. Every answer is read in either
//! form whatever form the request had, so a job the vendor accepted (and billed) is never lost
//! to a parse error. Requests are built in the form [`TryItOnStyle`] names.

use serde_json::{Value, json};

use crate::providers::ProviderError;
use crate::providers::settings::TryItOnStyle;
use crate::providers::upstream::client::{sanitize, vendor_id};
use crate::providers::upstream::{Polled, UpstreamError};
use crate::wire::{ErrorCode, Quality};

/// What one vendor task puts on what, in our words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Garment {
    Tops,
    Bottoms,
    /// A dress or jumpsuit: `one-pieces` in the document, `dresses` in the SDKs.
    Full,
    /// Let the vendor classify it.
    Auto,
}

/// The create's path and JSON body in `style`'s form. `seed` goes only where the form has
/// one (the document's defaults to a fixed 42, so a retry would be a paid copy).
pub fn create_request(
    style: TryItOnStyle,
    model: String,
    garment_image: String,
    garment: Garment,
    quality: Quality,
    seed: u32,
) -> (&'static str, Value) {
    // JPEG is smaller and faster, and a chained step sends it back as its model image.
    let mut body = json!({
        "model_image": model,
        "garment_image": garment_image,
        "mode": mode(quality),
        "output_format": "jpeg",
    });
    match style {
        TryItOnStyle::Documented => {
            body["category"] = json!(match garment {
                Garment::Tops => "tops",
                Garment::Bottoms => "bottoms",
                Garment::Full => "one-pieces",
                Garment::Auto => "auto",
            });
            body["seed"] = json!(seed);
            ("/api/v1/tryon/clothes", body)
        }
        TryItOnStyle::Sdk2026 => {
            let subcategory = match garment {
                Garment::Tops => Some("tops"),
                Garment::Bottoms => Some("bottoms"),
                Garment::Full => Some("dresses"),
                Garment::Auto => None,
            };
            match subcategory {
                Some(subcategory) => {
                    body["category"] = json!("clothing");
                    body["subcategory"] = json!(subcategory);
                }
                None => body["category"] = json!("auto"),
            }
            ("/api/v1/tryon/fashion", body)
        }
    }
}

/// fast → performance, balanced → balanced, best → quality.
fn mode(quality: Quality) -> &'static str {
    match quality {
        Quality::Fast => "performance",
        Quality::Balanced => "balanced",
        Quality::Best => "quality",
    }
}

/// A vendor error in either form: `{"error": {"name", "message"}}` or
/// `{"error": "<Name>", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorError {
    pub name: String,
    pub message: Option<String>,
}

impl VendorError {
    /// The error an answer carries, if any (`null` and absent are none).
    pub fn of(answer: &Value) -> Option<Self> {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        match &answer["error"] {
            Value::Object(fields) => Some(Self {
                name: fields
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("UnknownError")
                    .to_owned(),
                message: fields.get("message").and_then(text),
            }),
            Value::String(name) => Some(Self {
                name: name.clone(),
                message: text(&answer["message"]),
            }),
            _ => None,
        }
    }

    fn is_out_of_credits(&self) -> bool {
        matches!(
            self.name.as_str(),
            "OutOfCredits" | "InsufficientCredits" | "InsufficientCreditsError"
        )
    }

    /// The named runtime errors of the document; an empty balance in any answer.
    pub fn to_provider_error(&self) -> ProviderError {
        let message = sanitize(&format!(
            "{}: {}",
            self.name,
            self.message.as_deref().unwrap_or("no detail")
        ));
        let rejected = |code| ProviderError::InputRejected {
            code,
            message: message.clone(),
        };
        if self.is_out_of_credits() {
            return ProviderError::OutOfCredit(message);
        }
        match self.name.as_str() {
            "ContentModerationError" => rejected(ErrorCode::ContentRejected),
            "PoseError" => rejected(ErrorCode::PoseNotDetected),
            "ImageLoadError" => rejected(ErrorCode::InvalidImage),
            // PipelineError ("retry the request"), ThirdPartyError and anything new.
            _ => ProviderError::Failed(message),
        }
    }
}

fn parse(body: &[u8]) -> Result<Value, ProviderError> {
    serde_json::from_slice(body)
        .map_err(|e| UpstreamError::Malformed(e.to_string()).into_provider_error())
}

/// The job id of a create's answer: `jobId` (2026) or `id` (document).
pub fn created(body: &[u8]) -> Result<String, ProviderError> {
    let answer = parse(body)?;
    let id = ["jobId", "id", "job_id"]
        .iter()
        .map(|field| &answer[field])
        .find(|v| !v.is_null())
        .cloned();
    match (id, VendorError::of(&answer)) {
        (Some(id), _) => vendor_id(id),
        (None, Some(error)) => Err(error.to_provider_error()),
        (None, None) => Err(ProviderError::Failed(
            "the create's answer carries no job id".into(),
        )),
    }
}

/// One status answer, in either form.
pub fn polled(body: &[u8]) -> Result<Polled, ProviderError> {
    let answer = parse(body)?;
    let error = VendorError::of(&answer);
    let output = match &answer["output"] {
        Value::Array(urls) => urls.iter().find_map(Value::as_str).map(str::to_owned),
        Value::String(url) => Some(url.clone()),
        _ => None,
    };
    let failed = |error: Option<VendorError>| {
        Polled::Failed(error.map_or_else(
            || ProviderError::Failed("the task failed without an error object".into()),
            |e| e.to_provider_error(),
        ))
    };
    Ok(match answer["status"].as_str() {
        Some("completed" | "succeeded") => match output {
            Some(url) => Polled::Succeeded(url),
            None => Polled::Failed(ProviderError::Failed(
                "completed without an output URL".into(),
            )),
        },
        Some("failed") => failed(error),
        // `{"ok": false, "error": …}` without a status is a failed job too.
        None if answer["ok"] == json!(false) && error.is_some() => failed(error),
        _ => Polled::Pending { reported: None },
    })
}

/// An HTTP error answer: the vendor's error name decides where the generic status mapping
/// would mislead (429 `OutOfCredits` is no rate limit).
pub fn http_error(error: UpstreamError) -> ProviderError {
    if let UpstreamError::Status { body, .. } = &error {
        let named = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|answer| VendorError::of(&answer));
        if let Some(named) = named.filter(VendorError::is_out_of_credits) {
            return named.to_provider_error();
        }
    }
    error.into_provider_error()
}

/// For [`Upstream::with_final_answers`](crate::providers::upstream::Upstream::with_final_answers):
/// an empty balance is final, whatever status it came with.
pub fn is_final(_status: reqwest::StatusCode, body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|answer| VendorError::of(&answer))
        .is_some_and(|e| e.is_out_of_credits())
}

/// `GET /api/v1/credits`: `{"credits": {"on_demand", "subscription", "purchased",
/// "reserved"}}` (the SDKs' shape). What can be spent: the three pools less what running
/// jobs hold. A bare number is read as the balance.
pub fn credits(body: &[u8]) -> Option<f64> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    match &answer["credits"] {
        Value::Number(n) => n.as_f64(),
        Value::Object(pools) => {
            let pool = |name: &str| pools.get(name).and_then(Value::as_f64).unwrap_or(0.0);
            let total = pool("on_demand") + pool("subscription") + pool("purchased");
            Some((total - pool("reserved")).max(0.0))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_create_answers_give_the_job_id() {
        assert_eq!(
            created(br#"{"id":"64b7f1a9","error":null}"#).unwrap(),
            "64b7f1a9"
        );
        assert_eq!(created(br#"{"ok":true,"jobId":"job-1"}"#).unwrap(), "job-1");
        let refused = created(br#"{"ok":false,"error":"OutOfCredits","message":"m"}"#);
        assert!(
            matches!(refused, Err(ProviderError::OutOfCredit(_))),
            "{refused:?}"
        );
    }

    #[test]
    fn both_status_answers_are_read() {
        let done = polled(
            br#"{"ok":true,"status":"completed","output":["https://c/x.webp"],"error":null}"#,
        );
        assert!(matches!(done, Ok(Polled::Succeeded(url)) if url == "https://c/x.webp"));
        let failed = polled(br#"{"ok":true,"status":"failed","output":null,"error":{"name":"PoseError","message":"m"}}"#);
        assert!(matches!(
            failed,
            Ok(Polled::Failed(ProviderError::InputRejected {
                code: ErrorCode::PoseNotDetected,
                ..
            }))
        ));
        let running = polled(br#"{"id":"1","status":"processing","output":null,"error":null}"#);
        assert!(matches!(running, Ok(Polled::Pending { .. })));
    }

    #[test]
    fn named_runtime_errors_map_onto_the_contract() {
        let map = |name: &str| {
            VendorError {
                name: name.into(),
                message: Some("m".into()),
            }
            .to_provider_error()
            .to_task_error()
        };
        assert_eq!(
            map("ContentModerationError").code,
            ErrorCode::ContentRejected
        );
        assert_eq!(map("PoseError").code, ErrorCode::PoseNotDetected);
        assert_eq!(map("ImageLoadError").code, ErrorCode::InvalidImage);
        assert!(!map("PoseError").retryable);
        assert_eq!(map("PipelineError").code, ErrorCode::ProviderFailed);
        assert!(map("PipelineError").retryable);
        assert_eq!(map("OutOfCredits").code, ErrorCode::ProviderOutOfCredit);
    }

    #[test]
    fn credits_are_what_can_be_spent() {
        let body = br#"{"ok":true,"credits":{"on_demand":30,"subscription":10,"purchased":2,"reserved":2}}"#;
        assert_eq!(credits(body), Some(40.0));
        assert_eq!(credits(br#"{"credits":7}"#), Some(7.0));
        assert_eq!(credits(b"<html>"), None);
    }
}
