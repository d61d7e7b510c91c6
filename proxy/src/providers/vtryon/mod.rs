//! Vtryon, per `vtryon-api.md`.
//!
//! `x-api-key`; images are uploaded first (`POST /v2/tryon/person-images/` and
//! `/v2/tryon/garment-images/`, multipart `image` and a random `image_name`; every path ends
//! with `/`), then a task names them (`POST /v2/tryon/tasks/` with `tryon_person_image_id`
//! and `garment_image_ids`, several for a combo) and is polled at `GET /v2/tryon/tasks/{id}/`
//! every 3-5 s (`queued`/`pending`, `processing`, then `completed` or `failed`).
//!
//! Money and photos ([`images`]): an upload whose answer is lost is found again by its name;
//! a create whose answer is lost is found again with `GET /v2/tryon/tasks/?tryon_person_image=`
//! (the person image is this try-on's own), so a possibly billed task is followed rather than
//! failed; a garment id the vendor no longer knows (400/404 to the create) is uploaded again
//! once. A garment's uploaded id is remembered per image content, so a product image is
//! uploaded once. The shopper's photo is uploaded once per try-on (the person check's upload
//! is kept for the try-on that follows) and deleted from Vtryon
//! (`DELETE /v2/tryon/person-images/{id}/`) as soon as the task ends, whatever the outcome,
//! also when the task is abandoned mid-way. The person check asks
//! `POST /v2/tryon/person-validations/` ([`validation`]).
//!
//! With `VTRYON_WEBHOOK_SECRET` set, the webhook from Vtryon's dashboard ([`webhook`]) makes
//! a waiting task read its status at once, on whichever instance drives it; polls keep their
//! plan, so webhooks are never required. The document names no host (so `VTRYON_BASE_URL` is
//! required) and no durations; progress is estimated from an assumed 20 s until durations are
//! observed. The document has no quality setting, so every quality runs the same way
//! (durations are still learned per quality). After a restart ([`Provider::resume`]) the
//! stored person image and the task, if it was created (or can be found), are picked up again
//! (the task polled, never created twice), and the person image is still deleted at the end.

mod images;
mod validation;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use self::images::{CheckedPhotos, GARMENT_IMAGES_PATH, PERSON_IMAGES_PATH, PersonImage, upload};
use self::validation::{Validation, person_check};
use self::webhook::SigningKey;
use super::settings::{SettingsError, VtryonSettings};
use super::upstream::client::{sanitize, vendor_id};
use super::upstream::{
    ContentCache, ContentHash, Downloader, DurationBook, KeyHeader, PollPlan, Polled, Priority,
    Progress, Replay, Upstream, UpstreamError, WebhookInbox, content_hash, read_in_flight,
    record_in_flight, until_done,
};
use super::{
    PreparedImage, ProcessedSizes, ProgressSink, Provider, ProviderError, ProviderInfo, TryOnJob,
    TryOnOutput, WebhookError,
};
use crate::wire::{Category, ChecksAvailable, ErrorCode, PersonCheck, ProgressKind};

/// Where the proxy receives Vtryon's webhooks; the merchant enters `<public URL>` and this
/// path in Vtryon's dashboard.
pub const WEBHOOK_PATH: &str = "/v1/webhooks/vtryon";
const VALIDATIONS_PATH: &str = "/v2/tryon/person-validations/";
const TASKS_PATH: &str = "/v2/tryon/tasks/";
/// Distinct garment images whose Vtryon ids are remembered.
const GARMENT_CACHE_SIZE: usize = 4096;
/// Distinct person photos whose validation is remembered.
const CHECK_CACHE_SIZE: usize = 4096;
/// How long other instances reuse a check verdict (a content hash's verdict does not change).
const SHARED_CHECK_TTL: Duration = Duration::from_secs(86_400);

pub struct Vtryon {
    api: Arc<Upstream>,
    results: Downloader,
    durations: DurationBook,
    garment_ids: ContentCache<String>,
    person_checks: ContentCache<PersonCheck>,
    checked_photos: CheckedPhotos,
    webhooks: Option<(SigningKey, WebhookInbox)>,
}

impl Vtryon {
    pub fn new(settings: VtryonSettings) -> Result<Self, SettingsError> {
        let key = KeyHeader::new("x-api-key", "", &settings.api_key)?;
        let webhooks = match &settings.webhook_secret {
            Some(secret) => Some((
                SigningKey::from_secret(secret)?,
                WebhookInbox::new("vtryon"),
            )),
            None => None,
        };
        Ok(Self {
            api: Arc::new(Upstream::new(
                &settings.base_url,
                key,
                settings.tuning.clone(),
            )?),
            results: Downloader::new(&settings.base_url, settings.tuning)?,
            durations: DurationBook::default(),
            garment_ids: ContentCache::new(GARMENT_CACHE_SIZE),
            person_checks: ContentCache::new(CHECK_CACHE_SIZE),
            checked_photos: CheckedPhotos::new(settings.checked_photo_kept_for),
            webhooks,
        })
    }

    /// The shopper's photo at Vtryon: the one a check of it kept, else a new upload.
    async fn person_image(
        &self,
        person: &PreparedImage,
        waiting: Option<&dyn ProgressSink>,
    ) -> Result<PersonImage, ProviderError> {
        if let Some(kept) = self.checked_photos.take(&content_hash(&person.bytes)) {
            return Ok(kept);
        }
        let id = upload(&self.api, PERSON_IMAGES_PATH, person, waiting).await?;
        Ok(PersonImage::new(self.api.clone(), id))
    }

    /// The garment's Vtryon id, uploading it only the first time its content is seen; and
    /// whether it came from that memory (so the vendor may have forgotten it since).
    async fn garment_id(
        &self,
        garment: &PreparedImage,
        waiting: &dyn ProgressSink,
    ) -> Result<(ContentHash, String, bool), ProviderError> {
        let hash = content_hash(&garment.bytes);
        let remembered = self.garment_ids.get(&hash).is_some();
        let id = self
            .garment_ids
            .get_or_try_fetch(hash, || {
                upload(&self.api, GARMENT_IMAGES_PATH, garment, Some(waiting))
            })
            .await?;
        Ok((hash, id, remembered))
    }

    async fn garment_ids(
        &self,
        job: &TryOnJob,
        sink: &dyn ProgressSink,
    ) -> Result<Vec<(ContentHash, String, bool)>, ProviderError> {
        let mut garments = vec![self.garment_id(&job.garment, sink).await?];
        if job.category == Category::Combo {
            let lower = job
                .lower_garment
                .as_ref()
                .ok_or_else(|| ProviderError::InputRejected {
                    code: ErrorCode::MissingField,
                    message: "combo needs a lower garment".into(),
                })?;
            garments.push(self.garment_id(lower, sink).await?);
        }
        Ok(garments)
    }

    /// Everything after the person upload; the caller deletes the person image afterwards.
    /// Once the task exists it is recorded, so that a restart polls it again.
    async fn try_on(
        &self,
        job: &TryOnJob,
        person_id: &str,
        progress: &Progress<'_>,
        sink: &dyn ProgressSink,
    ) -> Result<String, ProviderError> {
        let mut garments = self.garment_ids(job, sink).await?;
        progress.span(0.0, 100.0).report(0.04, "submitting");
        let mut created = self.create(person_id, &garments, sink).await;
        // A garment id from memory that the vendor no longer knows would fail every later
        // task too, and is not the shopper's fault: upload those garments again, once.
        let stale = matches!(
            created,
            Err(UpstreamError::Status {
                status: 400 | 404,
                ..
            })
        );
        if stale && garments.iter().any(|(_, _, remembered)| *remembered) {
            garments
                .iter()
                .for_each(|(hash, _, _)| self.garment_ids.remove(hash));
            tracing::info!("Vtryon refused a remembered garment id; uploading the garment again");
            garments = self.garment_ids(job, sink).await?;
            created = self.create(person_id, &garments, sink).await;
        }
        let task_id = match created {
            Ok(task_id) => task_id,
            // The vendor may have created (and billed) it: find it rather than fail it.
            Err(UpstreamError::Unanswered(_)) => match self.find_task(person_id).await? {
                Some(task_id) => task_id,
                None => return Err(ProviderError::Timeout(Duration::ZERO)),
            },
            Err(error) => {
                if let UpstreamError::Status {
                    status: 400 | 404, ..
                } = error
                {
                    garments
                        .iter()
                        .for_each(|(hash, _, _)| self.garment_ids.remove(hash));
                }
                return Err(error.into_provider_error());
            }
        };
        // Issue 7: from here on a restart polls this task instead of paying for another.
        record_in_flight(
            sink,
            &InFlight {
                person_image_id: person_id.to_owned(),
                task_id: Some(task_id.clone()),
            },
        );
        self.follow(job, &task_id, progress, Some(Instant::now()))
            .await
    }

    /// Sends the create; the new task's id.
    async fn create(
        &self,
        person_id: &str,
        garments: &[(ContentHash, String, bool)],
        sink: &dyn ProgressSink,
    ) -> Result<String, UpstreamError> {
        let ids: Vec<serde_json::Value> = garments.iter().map(|(_, id, _)| numeric(id)).collect();
        let body = json!({"tryon_person_image_id": numeric(person_id), "garment_image_ids": ids});
        let reply = self
            .api
            .call(Replay::CreateOnce, Priority::Create, Some(sink), |http| {
                http.post(self.api.url(TASKS_PATH)).json(&body)
            })
            .await?;
        let task: Task = reply.json()?;
        vendor_id(task.id).map_err(|_| UpstreamError::Malformed("unusable task id".into()))
    }

    /// The task created for this person image, if any: each try-on uploads its own photo
    /// (or takes a check's upload over), so a task naming it is this try-on's.
    async fn find_task(&self, person_id: &str) -> Result<Option<String>, ProviderError> {
        let reply = self
            .api
            .call(Replay::Safe, Priority::Create, None, |http| {
                // A vendor id: letters, digits, `-` and `_` only, nothing to escape.
                http.get(format!(
                    "{}?tryon_person_image={person_id}",
                    self.api.url(TASKS_PATH)
                ))
            })
            .await
            .map_err(UpstreamError::into_provider_error)?;
        let listed: TaskList = reply.json().map_err(UpstreamError::into_provider_error)?;
        let ours = listed.results.into_iter().find(|task| {
            task.tryon_person_image
                .clone()
                .is_none_or(|id| vendor_id(id).is_ok_and(|id| id == person_id))
        });
        ours.map(|task| vendor_id(task.id)).transpose()
    }

    /// Polls a created task to its end; the result's URL. `created` is when this process
    /// created it; `None` after a restart, when the task may already be done and its age is
    /// unknown (so it is polled at once and its duration is not learned).
    async fn follow(
        &self,
        job: &TryOnJob,
        task_id: &str,
        progress: &Progress<'_>,
        created: Option<Instant>,
    ) -> Result<String, ProviderError> {
        let tuning = self.api.tuning();
        let documented = tuning.expected_duration.unwrap_or(ASSUMED_DURATION);
        let expected = self.durations.expected(job.quality, documented);
        let plan =
            PollPlan::estimated(tuning.poll_interval, expected, tuning.task_timeout, created);
        // A webhook only wakes the loop: the status is read from the API either way.
        let registration = match &self.webhooks {
            Some((_, inbox)) => Some(inbox.register(task_id).await),
            None => None,
        };
        let wake = registration.as_ref().map(|r| &r.waiter().wake);
        let url = until_done(
            &plan,
            progress.span(5.0, 95.0),
            ProgressKind::Estimated,
            wake,
            || self.poll(task_id),
        )
        .await?;
        if let Some(created) = created {
            self.durations.record(job.quality, created.elapsed());
        }
        Ok(url)
    }

    async fn poll(&self, task_id: &str) -> Result<Polled, ProviderError> {
        let reply = self
            .api
            .call(Replay::Safe, Priority::Poll, None, |http| {
                http.get(self.api.url(&format!("{TASKS_PATH}{task_id}/")))
            })
            .await
            .map_err(UpstreamError::into_provider_error)?;
        let task: Task = reply.json().map_err(UpstreamError::into_provider_error)?;
        Ok(match task.status.as_str() {
            "completed" => match task.result_url {
                Some(url) => Polled::Succeeded(url),
                None => Polled::Failed(ProviderError::Failed(
                    "completed without a result_url".into(),
                )),
            },
            "failed" => Polled::Failed(ProviderError::Failed(sanitize(
                &task
                    .error
                    .or(task.detail)
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "the task failed".into()),
            ))),
            // queued, pending, processing.
            _ => Polled::Pending { reported: None },
        })
    }

    /// Validates the photo; its upload is kept for the try-on that usually follows.
    async fn validate(&self, person: &PreparedImage) -> Result<PersonCheck, ProviderError> {
        let photo = self.person_image(person, None).await?;
        let body = json!({"tryon_person_image_id": numeric(photo.id())});
        let verdict = self
            .api
            .call(Replay::Safe, Priority::Create, None, |http| {
                http.post(self.api.url(VALIDATIONS_PATH)).json(&body)
            })
            .await
            .map_err(UpstreamError::into_provider_error)
            .and_then(|reply| {
                reply
                    .json::<Validation>()
                    .map_err(UpstreamError::into_provider_error)
            });
        match &verdict {
            Ok(validation) if validation.is_valid => {
                self.checked_photos.keep(content_hash(&person.bytes), photo);
            }
            // A photo that cannot be used, or was not judged, is not kept.
            _ => photo.delete_now().await,
        }
        Ok(person_check(verdict?))
    }
}

/// Vtryon's example ids are numbers; send them back as numbers.
fn numeric(id: &str) -> serde_json::Value {
    id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))
}

/// No duration is documented; a guess until tasks have been observed.
const ASSUMED_DURATION: Duration = Duration::from_secs(20);

#[async_trait]
impl Provider for Vtryon {
    fn share_through(&self, store: &std::sync::Arc<dyn crate::store::Store>) {
        self.api.share_rate_limit(store);
        self.person_checks
            .share_through(store.clone(), "check:vtryon:person", SHARED_CHECK_TTL);
        if let Some((_, inbox)) = &self.webhooks {
            inbox.share_through(store);
        }
    }

    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "vtryon",
            categories: vec![
                Category::Upper,
                Category::Lower,
                Category::Full,
                Category::Combo,
            ],
            checks: ChecksAvailable {
                person: true,
                garment: false,
            },
        }
    }

    /// Vtryon's document names no input or processing size: the sizes we have always sent.
    fn processed_sizes(&self) -> ProcessedSizes {
        ProcessedSizes::UNDOCUMENTED
    }

    async fn run(
        &self,
        job: TryOnJob,
        sink: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let progress = Progress::new(sink, ProgressKind::Estimated);
        progress.span(0.0, 100.0).report(0.0, "uploading_photo");
        let person_image = self.person_image(&job.person, Some(sink)).await?;
        let person_id = person_image.id().to_owned();
        // A restart before the task exists must still find (and delete) this photo.
        record_in_flight(
            sink,
            &InFlight {
                person_image_id: person_id.clone(),
                task_id: None,
            },
        );
        let outcome = self.try_on(&job, &person_id, &progress, sink).await;
        self.finish(person_image, outcome, &progress).await
    }

    /// Issue 7: picks up the person image an earlier process uploaded and, if it was created,
    /// its task (polled, never created again); the photo is deleted at the end all the same.
    async fn resume(
        &self,
        job: TryOnJob,
        state: serde_json::Value,
        sink: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let in_flight: InFlight = read_in_flight(state, "Vtryon")?;
        let progress = Progress::new(sink, ProgressKind::Estimated);
        let person_id = in_flight.person_image_id;
        let person_image = PersonImage::new(self.api.clone(), person_id.clone());
        // The earlier process may have died between sending the create and recording it.
        let task_id = match in_flight.task_id {
            Some(task_id) => Some(task_id),
            None => self.find_task(&person_id).await?,
        };
        let outcome = match task_id {
            Some(task_id) => self.follow(&job, &task_id, &progress, None).await,
            None => self.try_on(&job, &person_id, &progress, sink).await,
        };
        self.finish(person_image, outcome, &progress).await
    }

    async fn check_person(&self, person: &PreparedImage) -> Result<PersonCheck, ProviderError> {
        self.person_checks
            .get_or_try_fetch(content_hash(&person.bytes), || self.validate(person))
            .await
    }

    fn accepts_webhooks(&self) -> bool {
        self.webhooks.is_some()
    }

    async fn webhook(
        &self,
        vendor: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        let (key, inbox) = self
            .webhooks
            .as_ref()
            .filter(|_| vendor == "vtryon")
            .ok_or(WebhookError::NotConfigured)?;
        key.verify(signature, body)?;
        // Unknown tasks (finished already, or another account's) and repeats are ignored.
        inbox.deliver(&webhook::task_id(body)?, body).await;
        Ok(())
    }
}

impl Vtryon {
    /// Deletes the shopper's photo, then downloads the result if there is one.
    async fn finish(
        &self,
        person_image: PersonImage,
        outcome: Result<String, ProviderError>,
        progress: &Progress<'_>,
    ) -> Result<TryOnOutput, ProviderError> {
        // The photo is not needed once the vendor has finished with it, success or not.
        person_image.delete_now().await;
        let url = outcome?;
        progress.span(0.0, 100.0).report(0.95, "downloading_result");
        self.results.fetch(&url).await
    }
}

/// What a restart needs: the shopper's photo at Vtryon (to use it and then delete it) and
/// the task, once created. Persisted as `{"person_image_id": "185", "task_id": "42"}`.
#[derive(Debug, Serialize, Deserialize)]
struct InFlight {
    person_image_id: String,
    task_id: Option<String>,
}

#[derive(Deserialize)]
struct Task {
    id: serde_json::Value,
    status: String,
    result_url: Option<String>,
    error: Option<serde_json::Value>,
    detail: Option<serde_json::Value>,
}

/// A page of `GET /v2/tryon/tasks/`.
#[derive(Deserialize)]
struct TaskList {
    results: Vec<ListedTask>,
}

#[derive(Deserialize)]
struct ListedTask {
    id: serde_json::Value,
    tryon_person_image: Option<serde_json::Value>,
}
