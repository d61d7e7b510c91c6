//! The proxy client: every call the widget makes to the v1 contract.
//!
//! Plain `fetch` (through gloo-net) for small JSON and the result image; `XMLHttpRequest` for the
//! photo upload, because only XHR reports upload progress ([`upload`]); `EventSource` with a
//! polling fallback to follow a task ([`watch`]). Every failure becomes a [`Failure`] here, once,
//! so the UI only ever maps failures to sentences.

pub mod upload;
pub mod watch;

use gloo_net::http::Request;
use tryon_proxy::wire::{ConfigResponse, PersonCheck, fields, paths};
use web_sys::{Blob, FormData};

use crate::state::Failure;

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
        let response = Request::get(&self.url(paths::CONFIG))
            .send()
            .await
            .map_err(|_| Failure::Network)?;
        if !response.ok() {
            return Err(failure_of(&response).await);
        }
        response.json().await.map_err(|_| Failure::UnexpectedAnswer)
    }

    /// `POST /v1/checks/person` with the prepared photo (multipart `person`): is it worth a
    /// try-on? Small enough for `fetch`; no upload progress is shown for a check.
    pub async fn check_person(&self, photo: &Blob) -> Result<PersonCheck, Failure> {
        let form = FormData::new().map_err(|_| Failure::UploadFailed)?;
        form.append_with_blob_and_filename(fields::PERSON, photo, "person.jpg")
            .map_err(|_| Failure::UploadFailed)?;
        let response = Request::post(&self.url(paths::CHECK_PERSON))
            .body(form)
            .map_err(|_| Failure::UploadFailed)?
            .send()
            .await
            .map_err(|_| Failure::Network)?;
        if !response.ok() {
            return Err(failure_of(&response).await);
        }
        response.json().await.map_err(|_| Failure::UnexpectedAnswer)
    }

    /// `GET` of the result link: the finished image as a `Blob`, ready for an object URL.
    pub async fn result(&self, path: &str, content_type: &str) -> Result<Blob, Failure> {
        let response = Request::get(&self.url(path))
            .send()
            .await
            .map_err(|_| Failure::ResultUnavailable)?;
        if !response.ok() {
            return Err(Failure::ResultUnavailable);
        }
        let bytes = response
            .binary()
            .await
            .map_err(|_| Failure::ResultUnavailable)?;
        let array = js_sys::Uint8Array::from(bytes.as_slice());
        let options = web_sys::BlobPropertyBag::new();
        options.set_type(content_type);
        Blob::new_with_u8_array_sequence_and_options(&js_sys::Array::of1(&array), &options)
            .map_err(|_| Failure::ResultUnavailable)
    }

    /// `GET /v1/tryons/{id}` (the `self` link), for polling.
    pub async fn status(&self, path: &str) -> Result<tryon_proxy::wire::TryOnView, Failure> {
        let response = Request::get(&self.url(path))
            .send()
            .await
            .map_err(|_| Failure::Network)?;
        if !response.ok() {
            return Err(failure_of(&response).await);
        }
        response.json().await.map_err(|_| Failure::UnexpectedAnswer)
    }
}

impl ProxyClient {
    /// `DELETE /v1/tryons/{id}`: the proxy forgets the photo and the result at once. A task the
    /// proxy no longer knows is as gone as the shopper wants it.
    pub async fn delete(&self, task_id: &str) -> Result<(), Failure> {
        let response = Request::delete(&self.url(&paths::tryon(task_id)))
            .send()
            .await
            .map_err(|_| Failure::Network)?;
        if response.ok() || response.status() == 404 {
            Ok(())
        } else {
            Err(failure_of(&response).await)
        }
    }
}

async fn failure_of(response: &gloo_net::http::Response) -> Failure {
    let body = response.text().await.unwrap_or_default();
    Failure::from_response(response.status(), &body)
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
