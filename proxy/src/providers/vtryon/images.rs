//! Vtryon's image library: uploads that can be found again, and the shopper's photo, which
//! leaves Vtryon as soon as it is no longer needed.
//!
//! Every upload carries a fresh random `image_name` (`tryon-<32 hex>`, nothing about the
//! shopper). An upload whose answer is lost (timeout, connection reset after the vendor may
//! have stored it) is not sent again blindly: the documented list filter
//! (`GET …/person-images/?image_name=…`) finds the copy Vtryon kept, which is then used and
//! deleted like any other, so no photo is left behind. If the list shows none, nothing was
//! stored and the upload is sent once more.
//!
//! A person check uploads the photo too. The try-on that usually follows uses that same
//! upload ([`CheckedPhotos`], by content hash): it is kept for a bounded time and deleted by
//! whichever comes first, the try-on's end or the end of that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde::Deserialize;

use crate::providers::upstream::client::vendor_id;
use crate::providers::upstream::{ContentHash, Priority, Replay, Upstream, UpstreamError};
use crate::providers::{PreparedImage, ProgressSink, ProviderError};

pub(super) const PERSON_IMAGES_PATH: &str = "/v2/tryon/person-images/";
pub(super) const GARMENT_IMAGES_PATH: &str = "/v2/tryon/garment-images/";
/// Checked photos kept at once for the try-on that follows; past this, a check deletes its
/// upload at once.
const CHECKED_PHOTOS_AT_MOST: usize = 256;

/// Uploads `image` to the library at `path`; its Vtryon id.
pub(super) async fn upload(
    api: &Upstream,
    path: &str,
    image: &PreparedImage,
    waiting: Option<&dyn ProgressSink>,
) -> Result<String, ProviderError> {
    let name = format!("tryon-{:032x}", rand::random::<u128>());
    let mut sent_before = false;
    loop {
        let sent = api
            .call(Replay::CreateOnce, Priority::Create, waiting, |http| {
                let part = Part::stream_with_length(
                    reqwest::Body::from(image.bytes.clone()),
                    image.bytes.len() as u64,
                )
                .file_name("image.jpg")
                .mime_str(image.content_type)
                .expect("prepared images carry a valid media type");
                http.post(api.url(path)).multipart(
                    Form::new()
                        .part("image", part)
                        .text("image_name", name.clone()),
                )
            })
            .await;
        match sent {
            Ok(reply) => {
                let uploaded: Uploaded =
                    reply.json().map_err(UpstreamError::into_provider_error)?;
                return vendor_id(uploaded.id);
            }
            Err(UpstreamError::Unanswered(_)) => {
                if let Some(id) = find_by_name(api, path, &name).await? {
                    return Ok(id);
                }
                if sent_before {
                    return Err(ProviderError::Timeout(Duration::ZERO));
                }
                sent_before = true;
                tracing::info!(
                    "an upload's answer was lost and Vtryon kept no copy; sending it again"
                );
            }
            Err(error) => return Err(error.into_provider_error()),
        }
    }
}

/// The id of the image named `name` in the library at `path`, if Vtryon stored it.
async fn find_by_name(
    api: &Upstream,
    path: &str,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    let reply = api
        .call(Replay::Safe, Priority::Create, None, |http| {
            // The name is `tryon-` and hex: nothing to escape.
            http.get(format!("{}?image_name={name}", api.url(path)))
        })
        .await
        .map_err(UpstreamError::into_provider_error)?;
    let listed: Listed = reply.json().map_err(UpstreamError::into_provider_error)?;
    listed
        .results
        .into_iter()
        .find(|item| item.image_name.as_deref() == Some(name))
        .map(|item| vendor_id(item.id))
        .transpose()
}

/// A shopper's photo stored at Vtryon. Deleted by [`PersonImage::delete_now`], or, if the
/// task is abandoned first (its future dropped), by a background task.
pub(super) struct PersonImage {
    api: Arc<Upstream>,
    id: Option<String>,
}

impl PersonImage {
    pub(super) fn new(api: Arc<Upstream>, id: String) -> Self {
        Self { api, id: Some(id) }
    }

    pub(super) fn id(&self) -> &str {
        self.id.as_deref().expect("present until deleted")
    }

    pub(super) async fn delete_now(mut self) {
        if let Some(id) = self.id.take() {
            delete_person_image(&self.api, &id).await;
        }
    }
}

impl Drop for PersonImage {
    fn drop(&mut self) {
        if let (Some(id), Ok(runtime)) = (self.id.take(), tokio::runtime::Handle::try_current()) {
            let api = self.api.clone();
            runtime.spawn(async move { delete_person_image(&api, &id).await });
        }
    }
}

async fn delete_person_image(api: &Upstream, id: &str) {
    let outcome = api
        .call(Replay::Safe, Priority::Poll, None, |http| {
            http.delete(api.url(&format!("{PERSON_IMAGES_PATH}{id}/")))
        })
        .await;
    if let Err(error) = outcome {
        // Logged without the id's owner: nothing here identifies the shopper.
        tracing::warn!(%error, "could not delete a person image at Vtryon");
    }
}

/// Photos uploaded for a person check, kept by content hash for the try-on that follows.
pub(super) struct CheckedPhotos {
    kept_for: Duration,
    photos: Arc<Mutex<HashMap<ContentHash, PersonImage>>>,
}

impl CheckedPhotos {
    pub(super) fn new(kept_for: Duration) -> Self {
        Self {
            kept_for,
            photos: Arc::default(),
        }
    }

    /// The upload of this photo, if a check kept one; from now on the caller owns it.
    pub(super) fn take(&self, hash: &ContentHash) -> Option<PersonImage> {
        lock(&self.photos).remove(hash)
    }

    /// Keeps a checked photo for the try-on; deleted unused after the keeping time.
    pub(super) fn keep(&self, hash: ContentHash, photo: PersonImage) {
        let id = photo.id().to_owned();
        {
            let mut photos = lock(&self.photos);
            if photos.len() >= CHECKED_PHOTOS_AT_MOST && !photos.contains_key(&hash) {
                // Dropped here: deleted at once.
                return;
            }
            // A photo kept before under this hash is replaced, and so deleted.
            photos.insert(hash, photo);
        }
        let (photos, kept_for) = (Arc::downgrade(&self.photos), self.kept_for);
        tokio::spawn(async move {
            tokio::time::sleep(kept_for).await;
            let Some(photos) = photos.upgrade() else {
                return;
            };
            let mut photos = lock(&photos);
            if photos.get(&hash).is_some_and(|kept| kept.id() == id) {
                // Dropped: deleted in the background.
                photos.remove(&hash);
            }
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Deserialize)]
struct Uploaded {
    id: serde_json::Value,
}

/// A page of `GET …-images/`.
#[derive(Deserialize)]
struct Listed {
    results: Vec<ListedImage>,
}

#[derive(Deserialize)]
struct ListedImage {
    id: serde_json::Value,
    image_name: Option<String>,
}
