//! Every way an HTTP request can fail, and the one place where that becomes a response.
//!
//! Handlers return `Result<_, ApiError>`; [`ApiError`]'s `IntoResponse` turns it into RFC 9457
//! `application/problem+json` ([`wire::Problem`]) with the contract's error code. Internal
//! failures are logged here, once, with their details, and the client gets a generic sentence:
//! nothing about the server's insides (paths, upstream messages, keys) leaks into a response.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::wire::{self, ErrorCode, Problem};

/// Why a request failed, as the handlers see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A file, a fetched garment or the whole body is over its byte limit.
    #[error("{0}")]
    ImageTooLarge(String),
    /// The bytes of `field` are not JPEG, PNG or WebP.
    #[error("`{field}` is not a JPEG, PNG or WebP image")]
    UnsupportedType { field: &'static str },
    /// The bytes of `field` look like an accepted type but cannot be used.
    #[error("`{field}` cannot be decoded: {reason}")]
    InvalidImage { field: &'static str, reason: String },
    #[error("the field `{0}` is required")]
    MissingField(&'static str),
    /// A field is present but its value is outside the contract.
    #[error("{0}")]
    InvalidField(String),
    #[error("garment URL not allowed: {0}")]
    GarmentUrlNotAllowed(String),
    #[error("no such try-on")]
    NotFound,
    /// A path (and method) nothing serves; says what was asked for, e.g. `GET /admin`.
    #[error("no route {0}")]
    NoRoute(String),
    /// A `photo_id` that names no photo: never uploaded, expired or deleted.
    #[error("no such photo; it may have expired: upload it again")]
    PhotoNotFound,
    #[error("the try-on has no result yet")]
    NotReady,
    #[error("too many requests; retry in {} s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    /// A request with the same key is still being processed (IETF idempotency draft: 409).
    #[error(
        "a request with this Idempotency-Key is still being processed; retry when it has finished"
    )]
    IdempotencyKeyInUse,
    /// A per-shop or proxy-wide daily quota is used up.
    #[error("the daily try-on quota is used up; retry in {} s", retry_after.as_secs())]
    QuotaExhausted { retry_after: Duration },
    /// A route for operators only, asked without its credential.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The client sent its request (head or body) too slowly.
    #[error("the request was not received in time")]
    RequestTimeout,
    /// The page's origin is not on the list (or a stream token's shop is another); the
    /// detail says which list.
    #[error("{0}")]
    OriginNotAllowed(&'static str),
    /// A signed request (App Proxy signature, stream token) whose signature does not hold;
    /// unlike [`ApiError::Unauthorized`] no bearer token would help.
    #[error("{0}")]
    BadSignature(String),
    /// The provider answered a check, or refuses the merchant's account: `code` and the
    /// code's fixed sentence (`detail`) are all a browser learns, never the vendor's words.
    #[error("{detail}")]
    Provider {
        code: ErrorCode,
        detail: &'static str,
        kind: ProviderFailure,
    },
    /// The limit store is unreachable; nothing was charged.
    #[error("the proxy cannot check its limits right now; nothing was charged")]
    StoreUnavailable,
    /// A bug or an environment failure; the message is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

/// How a provider's failure answers over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderFailure {
    /// It refused the image: 422.
    RefusedImage,
    /// It cannot be asked now (outage, timeout, the merchant's account): 503.
    Unavailable,
    /// It failed the call: 502.
    Failed,
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::ImageTooLarge(_) => ErrorCode::ImageTooLarge,
            Self::UnsupportedType { .. } => ErrorCode::UnsupportedType,
            Self::InvalidImage { .. } => ErrorCode::InvalidImage,
            Self::MissingField(_) => ErrorCode::MissingField,
            Self::InvalidField(_) => ErrorCode::InvalidField,
            Self::GarmentUrlNotAllowed(_) => ErrorCode::GarmentUrlNotAllowed,
            Self::NotFound | Self::NoRoute(_) => ErrorCode::NotFound,
            Self::PhotoNotFound => ErrorCode::PhotoNotFound,
            Self::NotReady => ErrorCode::NotReady,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::IdempotencyKeyInUse => ErrorCode::IdempotencyKeyInUse,
            Self::QuotaExhausted { .. } => ErrorCode::QuotaExhausted,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::RequestTimeout => ErrorCode::RequestTimeout,
            Self::StoreUnavailable => ErrorCode::StoreUnavailable,
            Self::OriginNotAllowed(_) => ErrorCode::OriginNotAllowed,
            Self::BadSignature(_) => ErrorCode::Unauthorized,
            Self::Provider { code, .. } => *code,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::ImageTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidImage { .. } | Self::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::MissingField(_) | Self::InvalidField(_) | Self::GarmentUrlNotAllowed(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::NotFound | Self::NoRoute(_) | Self::NotReady | Self::PhotoNotFound => {
                StatusCode::NOT_FOUND
            }
            Self::RateLimited { .. } | Self::QuotaExhausted { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::IdempotencyKeyInUse => StatusCode::CONFLICT,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            Self::BadSignature(_) => StatusCode::UNAUTHORIZED,
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Provider { kind, .. } => match kind {
                ProviderFailure::RefusedImage => StatusCode::UNPROCESSABLE_ENTITY,
                ProviderFailure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                ProviderFailure::Failed => StatusCode::BAD_GATEWAY,
            },
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body a client receives. Internal details stay out of it.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let code = self.code();
        let detail = match self {
            Self::Internal(_) => {
                "Something went wrong inside the try-on proxy; it has been logged.".to_owned()
            }
            other => other.to_string(),
        };
        Problem {
            type_: format!("{}{}", wire::PROBLEM_TYPE_BASE, code.as_str()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(details) = &self {
            tracing::error!(error = %details, "internal error");
        }
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).expect("a Problem always serialises");
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(wire::media::PROBLEM_JSON),
        );
        if let Self::Unauthorized(_) = self {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::RateLimited { retry_after } | Self::QuotaExhausted { retry_after } = self {
            // Retry-After in whole seconds, rounded up so a client never retries too early.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(response: Response) -> serde_json::Value {
        let bytes =
            futures::executor::block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
                .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn problems_carry_type_code_and_status() {
        let response = ApiError::MissingField("person").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let json = body_json(response);
        assert_eq!(json["type"], "https://tryon.dev/problems/missing_field");
        assert_eq!(json["code"], "missing_field");
        assert_eq!(json["status"], 400);
        assert_eq!(json["title"], "Bad Request");
        assert!(json["detail"].as_str().unwrap().contains("person"));
    }

    #[test]
    fn rate_limits_say_when_to_retry_rounded_up() {
        let response = ApiError::RateLimited {
            retry_after: Duration::from_millis(2500),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        assert_eq!(body_json(response)["code"], "rate_limited");
    }

    #[test]
    fn internal_details_never_reach_the_client() {
        let response =
            ApiError::Internal("open /secret/path: permission denied".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let json = body_json(response);
        assert_eq!(json["code"], "internal");
        assert!(
            !json["detail"].as_str().unwrap().contains("secret"),
            "{json}"
        );
    }

    #[test]
    fn each_variant_has_the_contract_status() {
        let cases = [
            (ApiError::ImageTooLarge("x".into()), 413),
            (ApiError::UnsupportedType { field: "person" }, 415),
            (
                ApiError::InvalidImage {
                    field: "person",
                    reason: "truncated".into(),
                },
                422,
            ),
            (ApiError::IdempotencyKeyReused, 422),
            (ApiError::GarmentUrlNotAllowed("http".into()), 400),
            (ApiError::NotFound, 404),
            (ApiError::NoRoute("GET /x".into()), 404),
            (ApiError::NotReady, 404),
            (ApiError::PhotoNotFound, 404),
            (ApiError::IdempotencyKeyInUse, 409),
            (
                ApiError::QuotaExhausted {
                    retry_after: Duration::from_secs(5),
                },
                429,
            ),
            (ApiError::RequestTimeout, 408),
            (ApiError::Unauthorized("token"), 401),
            (ApiError::StoreUnavailable, 503),
        ];
        for (error, status) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.problem().code, error.code());
        }
    }
}
