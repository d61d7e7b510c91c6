//! Vtryon, per `vtryon-api.md`.
//!
//! `x-api-key`; images are uploaded first (`POST /v2/tryon/person-images/` and
//! `/v2/tryon/garment-images/`, multipart `image`; every path ends with `/`), then a task
//! names them (`POST /v2/tryon/tasks/` with `tryon_person_image_id` and `garment_image_ids`,
//! several for a combo) and is polled at `GET /v2/tryon/tasks/{id}/` every 3-5 s. A garment's
//! uploaded id is remembered per image content, so a product image is uploaded once. The
//! shopper's photo is deleted from Vtryon (`DELETE /v2/tryon/person-images/{id}/`) as soon as
//! the task ends, whatever the outcome — also when the task is abandoned mid-way. The person
//! check uploads the photo, asks `POST /v2/tryon/person-validations/`, and deletes it again.
//! The document names no host (so `VTRYON_BASE_URL` is required) and no durations; progress is
//! estimated from an assumed 20 s until durations are observed. The document has no quality
//! setting, so every quality runs the same way (durations are still learned per quality).
//! After a restart ([`Provider::resume`]) the stored person image and the task, if it was
//! created, are picked up again (the task polled, never created twice), and the person image
//! is still deleted at the end.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use super::checks::issue;
use super::settings::{SettingsError, VtryonSettings};
use super::upstream::client::{sanitize, vendor_id};
use super::upstream::{
    ContentCache, ContentHash, Downloader, DurationBook, KeyHeader, PollPlan, Polled, Priority,
    Progress, Replay, Upstream, UpstreamError, content_hash, read_in_flight, record_in_flight,
    until_done,
};
use super::{
    PreparedImage, ProcessedSizes, ProgressSink, Provider, ProviderError, ProviderInfo, TryOnJob,
    TryOnOutput,
};
use crate::wire::{
    Category, CheckSource, ChecksAvailable, ErrorCode, PersonCheck, ProgressKind, Severity,
};

const PERSON_IMAGES_PATH: &str = "/v2/tryon/person-images/";
const GARMENT_IMAGES_PATH: &str = "/v2/tryon/garment-images/";
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
}

impl Vtryon {
    pub fn new(settings: VtryonSettings) -> Result<Self, SettingsError> {
        let key = KeyHeader::new("x-api-key", "", &settings.api_key)?;
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
        })
    }

    /// Uploads an image; its Vtryon id. An upload whose answer is lost is not repeated: the
    /// copy it may have left cannot be found again, and a second one would be another copy.
    async fn upload(
        &self,
        path: &str,
        image: &PreparedImage,
        waiting: Option<&dyn ProgressSink>,
    ) -> Result<String, ProviderError> {
        let reply = self
            .api
            .call(Replay::CreateOnce, Priority::Create, waiting, |http| {
                let part = Part::stream_with_length(
                    reqwest::Body::from(image.bytes.clone()),
                    image.bytes.len() as u64,
                )
                .file_name("image.jpg")
                .mime_str(image.content_type)
                .expect("prepared images carry a valid media type");
                http.post(self.api.url(path))
                    .multipart(Form::new().part("image", part))
            })
            .await
            .map_err(UpstreamError::into_provider_error)?;
        let uploaded: Uploaded = reply.json().map_err(UpstreamError::into_provider_error)?;
        vendor_id(uploaded.id)
    }

    /// The garment's Vtryon id, uploading it only the first time its content is seen.
    async fn garment_id(
        &self,
        garment: &PreparedImage,
        waiting: &dyn ProgressSink,
    ) -> Result<(ContentHash, String), ProviderError> {
        let hash = content_hash(&garment.bytes);
        let id = self
            .garment_ids
            .get_or_try_fetch(hash, || {
                self.upload(GARMENT_IMAGES_PATH, garment, Some(waiting))
            })
            .await?;
        Ok((hash, id))
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
        progress.span(0.0, 100.0).report(0.04, "submitting");
        let ids: Vec<serde_json::Value> = garments.iter().map(|(_, id)| numeric(id)).collect();
        let body = json!({"tryon_person_image_id": numeric(person_id), "garment_image_ids": ids});
        let created = self
            .api
            .call(Replay::CreateOnce, Priority::Create, Some(sink), |http| {
                http.post(self.api.url(TASKS_PATH)).json(&body)
            })
            .await;
        let created = match created {
            Ok(reply) => reply,
            Err(error) => {
                // A garment id the vendor no longer knows would fail every later task too.
                if matches!(
                    error,
                    UpstreamError::Status {
                        status: 400 | 404,
                        ..
                    }
                ) {
                    garments
                        .iter()
                        .for_each(|(hash, _)| self.garment_ids.remove(hash));
                }
                return Err(error.into_provider_error());
            }
        };
        let task: Task = created.json().map_err(UpstreamError::into_provider_error)?;
        let task_id = vendor_id(task.id)?;
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
        let url = until_done(
            &plan,
            progress.span(5.0, 95.0),
            ProgressKind::Estimated,
            None,
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

    async fn validate(&self, person: &PreparedImage) -> Result<PersonCheck, ProviderError> {
        let person_id = self.upload(PERSON_IMAGES_PATH, person, None).await?;
        let deletion = PersonImage::new(self.api.clone(), person_id.clone());
        let body = json!({"tryon_person_image_id": numeric(&person_id)});
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
        deletion.delete_now().await;
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
        let person_id = self
            .upload(PERSON_IMAGES_PATH, &job.person, Some(sink))
            .await?;
        // A restart before the task exists must still find (and delete) this photo.
        record_in_flight(
            sink,
            &InFlight {
                person_image_id: person_id.clone(),
                task_id: None,
            },
        );
        let person_image = PersonImage::new(self.api.clone(), person_id.clone());
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
        let outcome = match in_flight.task_id {
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

/// A shopper's photo stored at Vtryon. Deleted by [`PersonImage::delete_now`], or, if the
/// task is abandoned first (its future dropped), by a background task.
struct PersonImage {
    api: Arc<Upstream>,
    id: Option<String>,
}

impl PersonImage {
    fn new(api: Arc<Upstream>, id: String) -> Self {
        Self { api, id: Some(id) }
    }

    async fn delete_now(mut self) {
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

/// `is_valid` and its `issues`: strings, or objects with a code and a message.
fn person_check(validation: Validation) -> PersonCheck {
    let severity = if validation.is_valid {
        Severity::Warning
    } else {
        Severity::Error
    };
    let mut issues: Vec<_> = validation
        .issues
        .iter()
        .map(|item| match item {
            serde_json::Value::String(text) => issue("person_unsuitable", severity, sanitize(text)),
            other => {
                let code = other["code"]
                    .as_str()
                    .map(slug)
                    .unwrap_or_else(|| "person_unsuitable".into());
                let message = ["message", "detail", "description"]
                    .iter()
                    .find_map(|f| other[f].as_str())
                    .map_or_else(|| sanitize(&other.to_string()), sanitize);
                issue(&code, severity, message)
            }
        })
        .collect();
    if !validation.is_valid && issues.is_empty() {
        issues.push(issue(
            "person_unsuitable",
            Severity::Error,
            "the photo cannot be used for a try-on".into(),
        ));
    }
    PersonCheck {
        ok: validation.is_valid,
        issues,
        garment_kinds: None,
        source: CheckSource::Provider,
    }
}

/// A vendor code as a stable snake_case word.
fn slug(code: &str) -> String {
    let mut slug: String = code
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if slug.is_empty() {
        slug = "person_unsuitable".into();
    }
    slug
}

#[derive(Deserialize)]
struct Uploaded {
    id: serde_json::Value,
}

#[derive(Deserialize)]
struct Task {
    id: serde_json::Value,
    status: String,
    result_url: Option<String>,
    error: Option<serde_json::Value>,
    detail: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Validation {
    is_valid: bool,
    #[serde(default)]
    issues: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_issues_become_check_issues() {
        let check = |json: &str| person_check(serde_json::from_str(json).unwrap());
        let ok = check(r#"{"tryon_person_image_id": 185, "is_valid": true, "issues": []}"#);
        assert!(ok.ok && ok.issues.is_empty());
        let bad = check(
            r#"{"is_valid": false, "issues": [{"code": "Low-Light", "message": "too dark"}, "cropped"]}"#,
        );
        assert!(!bad.ok);
        assert_eq!(
            (bad.issues[0].code.as_str(), bad.issues[0].message.as_str()),
            ("low_light", "too dark")
        );
        assert_eq!(
            (bad.issues[1].code.as_str(), bad.issues[1].severity),
            ("person_unsuitable", Severity::Error)
        );
        let warned = check(r#"{"is_valid": true, "issues": ["slightly blurry"]}"#);
        assert!(warned.ok);
        assert_eq!(warned.issues[0].severity, Severity::Warning);
        let bare = check(r#"{"is_valid": false, "issues": []}"#);
        assert_eq!(bare.issues.len(), 1);
    }
}
