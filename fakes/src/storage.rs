//! Signed-URL storage shared by the fakes: results expire like presigned object-storage URLs,
//! and a download that carries a vendor credential is a deviation.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::time::Instant;

use crate::Recorder;

pub struct Storage {
    base_url: OnceLock<String>,
    files: Mutex<HashMap<String, (Bytes, Instant)>>,
    /// How long a URL handed out from now on stays valid.
    pub ttl: Mutex<Duration>,
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            base_url: OnceLock::new(),
            files: Mutex::new(HashMap::new()),
            ttl: Mutex::new(Duration::from_secs(3600)),
        }
    }
}

impl Storage {
    pub(crate) fn set_base_url(&self, url: String) {
        self.base_url.set(url).expect("a fake is served only once");
    }

    /// The server's base URL, no trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url
            .get()
            .cloned()
            .expect("the fake is being served")
    }

    /// Stores `bytes` and returns their signed URL (`…/files/{token}.{extension}?…`), valid
    /// for the current ttl.
    pub fn put(&self, token: &str, extension: &str, bytes: Bytes) -> String {
        let expires = Instant::now() + *lock(&self.ttl);
        lock(&self.files).insert(token.to_owned(), (bytes, expires));
        format!(
            "{}/files/{token}.{extension}?X-Amz-Signature=fake",
            self.base_url()
        )
    }

    /// `GET /files/{token}.{extension}`: 403 once expired, like object storage.
    pub fn get(&self, recorder: &Recorder, file: &str, headers: &HeaderMap) -> Response {
        for credential in ["authorization", "x-api-key"] {
            if headers.contains_key(credential) {
                recorder.violation(format!("the result download carried a {credential} header: keys must not go to the storage host"));
            }
        }
        let (token, extension) = file.rsplit_once('.').unwrap_or((file, "png"));
        let media_type = match extension {
            "png" => "image/png",
            "webp" => "image/webp",
            _ => "image/jpeg",
        };
        match lock(&self.files).get(token) {
            Some((bytes, expires)) if Instant::now() < *expires => {
                ([("content-type", media_type)], bytes.clone()).into_response()
            }
            Some(_) => (
                StatusCode::FORBIDDEN,
                "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
            )
                .into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
