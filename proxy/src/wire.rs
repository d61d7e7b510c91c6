//! The v1 contract between the widget and the proxy: every JSON shape, form field, header and path.
//!
//! This module is the single definition both sides compile. It depends on `serde` only, so the
//! widget can use it from WebAssembly with `tryon-proxy = { default-features = false }`.
//! With the `server` feature the types also derive `utoipa::ToSchema`, and `GET /v1/openapi.json`
//! is generated from them, so the published document cannot drift from the code.
//!
//! Changing a type here changes the public API: keep it backwards compatible (add optional
//! fields, never rename) or bump the version prefix.

use serde::{Deserialize, Serialize};

/// Route paths, relative to the proxy's base URL. `{id}` is a task id (a photo id under
/// `/v1/photos`).
pub mod paths {
    pub const CONFIG: &str = "/v1/config";
    pub const TRYONS: &str = "/v1/tryons";
    pub const TRYON: &str = "/v1/tryons/{id}";
    pub const TRYON_EVENTS: &str = "/v1/tryons/{id}/events";
    pub const TRYON_RESULT: &str = "/v1/tryons/{id}/result";
    pub const OPENAPI: &str = "/v1/openapi.json";
    pub const HEALTHZ: &str = "/healthz";
    pub const CHECK_PERSON: &str = "/v1/checks/person";
    pub const CHECK_GARMENT: &str = "/v1/checks/garment";
    pub const PHOTOS: &str = "/v1/photos";
    pub const PHOTO: &str = "/v1/photos/{id}";

    /// `/v1/photos/{id}` for a concrete id.
    pub fn photo(id: &str) -> String {
        format!("{PHOTOS}/{id}")
    }

    /// `/v1/tryons/{id}` for a concrete id.
    pub fn tryon(id: &str) -> String {
        format!("{TRYONS}/{id}")
    }
    /// `/v1/tryons/{id}/events` for a concrete id.
    pub fn tryon_events(id: &str) -> String {
        format!("{TRYONS}/{id}/events")
    }
    /// `/v1/tryons/{id}/result` for a concrete id.
    pub fn tryon_result(id: &str) -> String {
        format!("{TRYONS}/{id}/result")
    }
}

/// Multipart field names of `POST /v1/tryons`, `POST /v1/photos` and the checks.
pub mod fields {
    pub const PERSON: &str = "person";
    /// Instead of `person`: the id `POST /v1/photos` answered, so the photo is not sent again.
    pub const PHOTO_ID: &str = "photo_id";
    pub const GARMENT: &str = "garment";
    pub const GARMENT_URL: &str = "garment_url";
    pub const LOWER_GARMENT: &str = "lower_garment";
    pub const LOWER_GARMENT_URL: &str = "lower_garment_url";
    pub const CATEGORY: &str = "category";
    pub const QUALITY: &str = "quality";
}

/// Query parameters of the contract.
pub mod query {
    /// On the result link (`?width=N`): the result no wider than `N` pixels, as a JPEG, for a
    /// client that shows it at that size (its display width × `devicePixelRatio`); without it,
    /// or with `N` at least the result's width, the full result.
    pub const RESULT_WIDTH: &str = "width";
}

/// Header names the contract relies on.
pub mod headers {
    pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
    pub const LAST_EVENT_ID: &str = "Last-Event-ID";
    pub const RETRY_AFTER: &str = "Retry-After";
}

/// Media types the contract names.
pub mod media {
    pub const PROBLEM_JSON: &str = "application/problem+json";
    pub const EVENT_STREAM: &str = "text/event-stream";
    pub const JPEG: &str = "image/jpeg";
    pub const PNG: &str = "image/png";
    pub const WEBP: &str = "image/webp";
}

/// The SSE event name carrying a [`TryOnView`].
pub const STATUS_EVENT: &str = "status";

/// Which part of the body the garment is worn on. `Auto` lets the provider (or the proxy) decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Upper,
    Lower,
    Full,
    /// An upper and a lower garment at once (`garment` + `lower_garment`).
    Combo,
    #[default]
    Auto,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Self::Upper,
        Self::Lower,
        Self::Full,
        Self::Combo,
        Self::Auto,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upper => "upper",
            Self::Lower => "lower",
            Self::Full => "full",
            Self::Combo => "combo",
            Self::Auto => "auto",
        }
    }

    /// Parses the wire spelling; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// Speed/quality trade-off; each provider maps it onto its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    Fast,
    #[default]
    Balanced,
    Best,
}

impl Quality {
    pub const ALL: [Quality; 3] = [Self::Fast, Self::Balanced, Self::Best];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fast => "fast",
            Self::Balanced => "balanced",
            Self::Best => "best",
        }
    }

    /// Parses the wire spelling; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.as_str() == text)
    }
}

/// `GET /v1/config`: what the widget must know before it prepares a photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ConfigResponse {
    /// The active provider: `local`, or the name of a vendor (`TRYON_PROVIDER`).
    pub provider: String,
    pub categories: Vec<Category>,
    pub qualities: Vec<Quality>,
    pub checks: ChecksAvailable,
    pub limits: Limits,
    /// Who answers each check that `checks` offers: the vendor's own check (which may cost
    /// the merchant a fraction of a credit, once per image) or the proxy's free local checks
    /// (resolution, aspect). Absent from proxies that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_sources: Option<CheckSources>,
    /// Seconds an uploaded photo (`POST /v1/photos`) is kept before it is deleted, for the
    /// shopper to be told. Absent from proxies that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_ttl_s: Option<u64>,
}

/// [`ConfigResponse::check_sources`]: who runs the person and the garment check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CheckSources {
    pub person: CheckSource,
    pub garment: CheckSource,
}

/// Which pre-flight checks the proxy offers (`POST /v1/checks/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ChecksAvailable {
    pub person: bool,
    pub garment: bool,
}

/// Upload limits the widget prepares photos for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Limits {
    /// Largest accepted image file, in bytes.
    pub max_upload_bytes: u64,
    /// Longest edge, in pixels, the person photo is resized to: the largest the provider
    /// processes (with failover, the most demanding provider of the list), within the
    /// operator's `--person-max-edge`.
    pub person_max_edge: u32,
    /// Longest edge, in pixels, a shopper-supplied garment photo is resized to, chosen as
    /// `person_max_edge` is (`--garment-max-edge`).
    pub garment_max_edge: u32,
    /// Accepted media types.
    pub accept: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 10_000_000,
            person_max_edge: 2048,
            garment_max_edge: 1024,
            accept: vec![media::JPEG.into(), media::PNG.into(), media::WEBP.into()],
        }
    }
}

/// `201` answer of `POST /v1/photos`, and `GET /v1/photos/{id}`: the photo the check and
/// every try-on may name with `photo_id` until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct UploadedPhoto {
    pub id: String,
    /// RFC 3339; the photo is deleted then (or earlier with `DELETE /v1/photos/{id}`).
    pub expires_at: String,
}

/// `202` answer of `POST /v1/tryons`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CreatedTryOn {
    pub id: String,
    pub status: TaskStatus,
    pub links: TryOnLinks,
    /// Only on a create relayed by Shopify's App Proxy (which may not pass event streams
    /// through): where the browser can open this task's event stream directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<DirectStream>,
}

/// A short-lived, signed link to one task's event stream on the proxy's own origin, answered
/// with CORS for the shop's storefront only; poll `links.self` if it cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct DirectStream {
    /// Absolute URL of `GET /v1/tryons/{id}/events?stream_token=…`.
    pub url: String,
    /// Seconds since the Unix epoch after which the URL no longer opens a stream.
    pub expires_at: u64,
}

/// Paths relative to the proxy's base URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TryOnLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub events: String,
    pub result: String,
}

impl TryOnLinks {
    pub fn for_task(id: &str) -> Self {
        Self {
            self_: paths::tryon(id),
            events: paths::tryon_events(id),
            result: paths::tryon_result(id),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl TaskStatus {
    /// Succeeded and failed tasks never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// Whether `progress` comes from the provider or is the proxy's estimate from durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProgressKind {
    Reported,
    Estimated,
}

/// `GET /v1/tryons/{id}`, and the `data` of every `status` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TryOnView {
    pub id: String,
    pub status: TaskStatus,
    /// 0..=100; never decreases over a task's life.
    pub progress: u8,
    pub progress_kind: ProgressKind,
    /// A short machine-readable name of what is happening now, e.g. `fitting_garment`.
    pub stage: Option<String>,
    /// Tasks ahead of this one while it waits for a slot; `None` once it runs.
    pub queue_position: Option<u32>,
    pub result: Option<ResultInfo>,
    pub error: Option<TaskError>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Where the finished image is and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ResultInfo {
    /// Path relative to the proxy's base URL.
    pub url: String,
    pub width: u32,
    pub height: u32,
    pub content_type: String,
}

/// Why a task failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TaskError {
    pub code: ErrorCode,
    /// For logs and developers; the widget shows its own sentence for `code`.
    pub message: String,
    /// Whether the same request may succeed if tried again.
    pub retryable: bool,
}

/// `POST /v1/checks/person`: is this photo usable before a credit is spent?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct PersonCheck {
    /// False when any issue has severity `error`: the widget stops before creating a task.
    pub ok: bool,
    pub issues: Vec<CheckIssue>,
    /// Which garments this photo suits, when the provider says.
    pub garment_kinds: Option<Vec<GarmentKind>>,
    pub source: CheckSource,
}

/// One finding of a check. `code` is stable (e.g. `multiple_people`); the widget words it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CheckIssue {
    pub code: String,
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The try-on would fail or be wasted: stop.
    Error,
    /// The result may be worse: the shopper may go on.
    Warning,
}

/// Who ran a check: the vendor's own API, or the proxy's local checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckSource {
    Provider,
    Local,
}

/// `POST /v1/checks/garment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct GarmentCheck {
    pub ok: bool,
    pub kind: Option<GarmentKind>,
    pub source: CheckSource,
}

/// The kind of a single garment, as checks report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GarmentKind {
    Upper,
    Lower,
    Full,
}

/// RFC 9457 problem details, `application/problem+json`, the body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A URI naming the problem type, e.g. `https://tryon.dev/problems/image_too_large`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: ErrorCode,
}

/// Base of every problem `type` URI; the code is appended.
pub const PROBLEM_TYPE_BASE: &str = "https://tryon.dev/problems/";

/// Every error code of the contract, in task errors and problem responses alike.
/// The widget has one sentence per code (see the widget's i18n tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The bytes are an image type we accept but cannot be decoded (corrupt, truncated, 0×0).
    InvalidImage,
    /// Not a JPEG, PNG or WebP by its bytes.
    UnsupportedType,
    /// A file or the whole request is over the limit (413).
    ImageTooLarge,
    /// A required field is absent.
    MissingField,
    /// A field has a value outside the contract (e.g. `category=hat`).
    InvalidField,
    /// `garment_url` is not on an allowed host.
    GarmentUrlNotAllowed,
    NotFound,
    /// The result was asked for before the task succeeded.
    NotReady,
    /// Too many requests; see `Retry-After` (429).
    RateLimited,
    /// The try-on service cannot take work now (503); retryable.
    ProviderUnavailable,
    /// The try-on service failed this task.
    ProviderFailed,
    /// The same `Idempotency-Key` came with a different body (422).
    IdempotencyKeyReused,
    /// A request with the same `Idempotency-Key` is still being processed (409).
    IdempotencyKeyInUse,
    /// The merchant's account at the try-on service has no credit left (shopper: "unavailable").
    ProviderOutOfCredit,
    /// The try-on service refused the merchant's key: a configuration error, never the shopper's fault.
    ProviderAuth,
    /// The try-on service refused the content of an image (moderation).
    ContentRejected,
    /// No usable body pose was found in the person photo.
    PoseNotDetected,
    /// A per-shop or proxy-wide daily quota is used up; see `Retry-After` (429).
    QuotaExhausted,
    /// The request's `Origin` is not an allowed storefront (403).
    OriginNotAllowed,
    /// A signed request (e.g. Shopify App Proxy) had a missing, wrong or stale signature (401).
    Unauthorized,
    /// The client sent its request too slowly (408).
    RequestTimeout,
    /// The proxy's state store is unreachable; nothing was charged (503).
    StoreUnavailable,
    /// Something broke inside the proxy; details are in its log only.
    Internal,
    /// A `photo_id` names no photo (never uploaded, expired or deleted): upload it again (404).
    PhotoNotFound,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 24] = [
        Self::InvalidImage,
        Self::UnsupportedType,
        Self::ImageTooLarge,
        Self::MissingField,
        Self::InvalidField,
        Self::GarmentUrlNotAllowed,
        Self::NotFound,
        Self::NotReady,
        Self::RateLimited,
        Self::ProviderUnavailable,
        Self::ProviderFailed,
        Self::IdempotencyKeyReused,
        Self::IdempotencyKeyInUse,
        Self::ProviderOutOfCredit,
        Self::ProviderAuth,
        Self::ContentRejected,
        Self::PoseNotDetected,
        Self::QuotaExhausted,
        Self::OriginNotAllowed,
        Self::Unauthorized,
        Self::RequestTimeout,
        Self::StoreUnavailable,
        Self::Internal,
        Self::PhotoNotFound,
    ];

    /// The wire spelling, e.g. `image_too_large`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidImage => "invalid_image",
            Self::UnsupportedType => "unsupported_type",
            Self::ImageTooLarge => "image_too_large",
            Self::MissingField => "missing_field",
            Self::InvalidField => "invalid_field",
            Self::GarmentUrlNotAllowed => "garment_url_not_allowed",
            Self::NotFound => "not_found",
            Self::NotReady => "not_ready",
            Self::RateLimited => "rate_limited",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::ProviderFailed => "provider_failed",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInUse => "idempotency_key_in_use",
            Self::ProviderOutOfCredit => "provider_out_of_credit",
            Self::ProviderAuth => "provider_auth",
            Self::ContentRejected => "content_rejected",
            Self::PoseNotDetected => "pose_not_detected",
            Self::QuotaExhausted => "quota_exhausted",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::Unauthorized => "unauthorized",
            Self::RequestTimeout => "request_timeout",
            Self::StoreUnavailable => "store_unavailable",
            Self::Internal => "internal",
            Self::PhotoNotFound => "photo_not_found",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialise_as_their_wire_spelling() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                code.as_str(),
                "{code:?}"
            );
        }
    }

    #[test]
    fn categories_and_qualities_round_trip_through_their_spelling() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for q in Quality::ALL {
            assert_eq!(Quality::parse(q.as_str()), Some(q));
        }
        assert_eq!(Category::parse("hat"), None);
    }

    #[test]
    fn links_use_the_self_key() {
        let json = serde_json::to_value(TryOnLinks::for_task("abc")).unwrap();
        assert_eq!(json["self"], "/v1/tryons/abc");
        assert_eq!(json["events"], "/v1/tryons/abc/events");
        assert_eq!(json["result"], "/v1/tryons/abc/result");
    }
}
