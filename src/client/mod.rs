//! The proxy client: every call the widget makes to the v1 contract.
//!
//! Plain `fetch` for small JSON and the result image; `XMLHttpRequest` for the photo upload,
//! because only XHR reports upload progress ([`upload`]); `EventSource` with a polling fallback
//! to follow a task ([`watch`]). Answers are read by [`json`] with the browser's JSON parser.
//! Every failure becomes a [`Failure`] here, once, so the UI only ever maps failures to
//! sentences.

pub mod json;
pub mod upload;
pub mod watch;

use js_sys::{Array, Uint8Array};
use tryon_proxy::wire::{ConfigResponse, PersonCheck, TryOnView, fields, paths};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, FormData, RequestInit, Response};

use crate::state::Failure;
use json::FromJson;

/// The proxy at `base` (an absolute URL without a trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyClient {
    base: String,
}

impl ProxyClient {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// An absolute URL for a path of the contract (links in answers are relative to the base).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_owned();
        }
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// `GET /v1/config`.
    pub async fn config(&self) -> Result<ConfigResponse, Failure> {
        let response = fetch("GET", &self.url(paths::CONFIG), None)
            .await
            .ok_or(Failure::Network)?;
        read_json(&response).await
    }

    /// `POST /v1/checks/person` naming the uploaded photo (`photo_id`): is it worth a try-on?
    pub async fn check_person(&self, photo_id: &str) -> Result<PersonCheck, Failure> {
        let form = FormData::new().map_err(|_| Failure::UploadFailed)?;
        form.append_with_str(fields::PHOTO_ID, photo_id)
            .map_err(|_| Failure::UploadFailed)?;
        let response = fetch("POST", &self.url(paths::CHECK_PERSON), Some(&form))
            .await
            .ok_or(Failure::Network)?;
        read_json(&response).await
    }

    /// `GET` of the result link: the finished image as a `Blob`, ready for an object URL.
    pub async fn result(&self, path: &str, content_type: &str) -> Result<Blob, Failure> {
        let response = fetch("GET", &self.url(path), None)
            .await
            .filter(Response::ok)
            .ok_or(Failure::ResultUnavailable)?;
        let bytes = settle(response.array_buffer())
            .await
            .ok_or(Failure::ResultUnavailable)?;
        let options = BlobPropertyBag::new();
        options.set_type(content_type);
        Blob::new_with_u8_array_sequence_and_options(
            &Array::of1(&Uint8Array::new(&bytes)),
            &options,
        )
        .map_err(|_| Failure::ResultUnavailable)
    }

    /// `GET /v1/tryons/{id}` (the `self` link), for polling.
    pub async fn status(&self, path: &str) -> Result<TryOnView, Failure> {
        let response = fetch("GET", &self.url(path), None)
            .await
            .ok_or(Failure::Network)?;
        read_json(&response).await
    }

    /// `DELETE` of a task (the proxy forgets its photo and result at once) or of an uploaded
    /// photo. What the proxy no longer knows is as gone as the shopper wants it.
    pub async fn delete(&self, path: &str) -> Result<(), Failure> {
        let response = fetch("DELETE", &self.url(path), None)
            .await
            .ok_or(Failure::Network)?;
        if response.ok() || response.status() == 404 {
            Ok(())
        } else {
            Err(failure_of(&response).await)
        }
    }
}

/// `fetch(url, {method, body})`; `None` when no answer came (network error, blocked, aborted).
async fn fetch(method: &str, url: &str, body: Option<&FormData>) -> Option<Response> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(body);
    }
    let window = web_sys::window()?;
    settle(Ok(window.fetch_with_str_and_init(url, &init)))
        .await?
        .dyn_into()
        .ok()
}

/// A successful answer's JSON body as `T`, or the failure a non-2xx answer stands for.
async fn read_json<T: FromJson>(response: &Response) -> Result<T, Failure> {
    if !response.ok() {
        return Err(failure_of(response).await);
    }
    settle(response.json())
        .await
        .and_then(|value| T::read(&value).ok())
        .ok_or(Failure::UnexpectedAnswer)
}

async fn failure_of(response: &Response) -> Failure {
    let body = settle(response.text())
        .await
        .and_then(|text| text.as_string());
    failure_of_answer(response.status(), &body.unwrap_or_default())
}

/// A failed answer's status and body (problem+json when the proxy wrote it) as a [`Failure`].
fn failure_of_answer(status: u16, body: &str) -> Failure {
    Failure::from_response(status, json::problem_code(body))
}

/// Awaits a promise (or a method that may throw before returning one); `None` if it rejects.
async fn settle(promise: Result<js_sys::Promise, JsValue>) -> Option<JsValue> {
    JsFuture::from(promise.ok()?).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_against_the_base_with_exactly_one_slash() {
        let client = ProxyClient::new("https://proxy.example/");
        assert_eq!(client.url("/v1/config"), "https://proxy.example/v1/config");
        assert_eq!(
            client.url("v1/tryons/a/events"),
            "https://proxy.example/v1/tryons/a/events"
        );
        let shopify = ProxyClient::new("https://shop.example/apps/tryon");
        assert_eq!(
            shopify.url("/v1/tryons/a"),
            "https://shop.example/apps/tryon/v1/tryons/a"
        );
        assert_eq!(
            shopify.url("https://cdn.example/x.jpg"),
            "https://cdn.example/x.jpg"
        );
    }
}
