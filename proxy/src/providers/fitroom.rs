//! Fitroom (`platform.fitroom.app`), per `fitroom-api.md`.
//!
//! `X-API-KEY` header; a multipart create (`model_image`, `cloth_image`, `lower_cloth_image`,
//! `cloth_type` = `upper|lower|full_set|combo`, `hd_mode`), then `GET /api/tryon/v2/tasks/:id`
//! through `CREATED → PROCESSING → COMPLETED|FAILED` with a reported `progress`, which passes
//! through to the shopper (`progress_kind: reported`). The two input checks (0.5 credit each)
//! back `POST /v1/checks/*` and the `auto` category: the clothes check learns a garment's type
//! once per image content. 402 means the merchant is out of credit; 60 requests per minute per
//! key cover every call.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use tokio::time::Instant;

use super::checks::{has_error, issue};
use super::settings::{FitroomSettings, SettingsError};
use super::upstream::client::{sanitize, vendor_id};
use super::upstream::{
    ContentCache, Downloader, FIRST_POLL_SHARE, KeyHeader, PollPlan, Polled, Priority, Progress,
    Replay, Span, Upstream, UpstreamError, content_hash, until_done,
};
use super::{
    PreparedImage, ProcessedSizes, ProgressSink, Provider, ProviderError, ProviderInfo, TryOnJob,
    TryOnOutput,
};
use crate::wire::{
    Category, CheckSource, ChecksAvailable, ErrorCode, GarmentCheck, GarmentKind, PersonCheck,
    ProgressKind, Quality, Severity,
};

const CREATE_PATH: &str = "/api/tryon/v2/tasks";
const CHECK_MODEL_PATH: &str = "/api/tryon/input_check/v1/model";
const CHECK_CLOTHES_PATH: &str = "/api/tryon/input_check/v1/clothes";
/// Distinct images whose check verdicts are remembered.
const CHECK_CACHE_SIZE: usize = 4096;
/// How long other instances reuse a check verdict (a content hash's verdict does not change).
const SHARED_CHECK_TTL: Duration = Duration::from_secs(86_400);

pub struct Fitroom {
    api: Upstream,
    results: Downloader,
    garment_checks: ContentCache<GarmentCheck>,
    person_checks: ContentCache<PersonCheck>,
}

impl Fitroom {
    /// Polls the vendor's task to its end and downloads the result (after a create, or after
    /// a restart).
    async fn follow(
        &self,
        job: &TryOnJob,
        task_id: &str,
        started: Instant,
        bar: Span<'_>,
    ) -> Result<TryOnOutput, ProviderError> {
        let tuning = self.api.tuning();
        let expected = tuning
            .expected_duration
            .unwrap_or_else(|| documented_duration(job.quality));
        // Polls feed the reported bar, but while the key's budget is contended an early poll
        // only delays other shoppers' creates: then the first poll waits for the likely end.
        let first_poll = if self.api.limiter().is_busy() {
            expected.mul_f64(FIRST_POLL_SHARE)
        } else {
            tuning.poll_interval
        };
        let plan = PollPlan {
            interval: tuning.poll_interval,
            first_poll,
            expected,
            deadline: started + tuning.task_timeout,
        };
        let url = until_done(
            &plan,
            bar.sub(0.05, 0.95),
            ProgressKind::Reported,
            None,
            || self.poll(task_id),
        )
        .await?;
        bar.report(0.95, "downloading_result");
        self.results.fetch(&url).await
    }

    pub fn new(settings: FitroomSettings) -> Result<Self, SettingsError> {
        let key = KeyHeader::new("x-api-key", "", &settings.api_key)?;
        Ok(Self {
            api: Upstream::new(&settings.base_url, key, settings.tuning.clone())?,
            results: Downloader::new(&settings.base_url, settings.tuning)?,
            garment_checks: ContentCache::new(CHECK_CACHE_SIZE),
            person_checks: ContentCache::new(CHECK_CACHE_SIZE),
        })
    }

    /// The `cloth_type` for a job; `auto` asks the (cached) clothes check.
    async fn cloth_type(
        &self,
        job: &TryOnJob,
        waiting: &dyn ProgressSink,
    ) -> Result<&'static str, ProviderError> {
        Ok(match job.category {
            Category::Upper => "upper",
            Category::Lower => "lower",
            Category::Full => "full_set",
            Category::Combo => "combo",
            Category::Auto => match self.garment_check(&job.garment, Some(waiting)).await?.kind {
                Some(GarmentKind::Lower) => "lower",
                Some(GarmentKind::Full) => "full_set",
                // Fitroom needs a type; tops are what shops try on most.
                Some(GarmentKind::Upper) | None => "upper",
            },
        })
    }

    async fn create(
        &self,
        job: &TryOnJob,
        cloth_type: &'static str,
        waiting: &dyn ProgressSink,
    ) -> Result<String, ProviderError> {
        let lower = match (job.category, &job.lower_garment) {
            (Category::Combo, Some(lower)) => Some(lower),
            (Category::Combo, None) => {
                return Err(ProviderError::InputRejected {
                    code: ErrorCode::MissingField,
                    message: "combo needs a lower garment".into(),
                });
            }
            _ => None,
        };
        let hd = job.quality == Quality::Best;
        let reply = self
            .api
            .call(
                Replay::CreateOnce,
                Priority::Create,
                Some(waiting),
                |http| {
                    let mut form = Form::new()
                        .part("model_image", image_part(&job.person, "model.jpg"))
                        .part("cloth_image", image_part(&job.garment, "cloth.jpg"))
                        .text("cloth_type", cloth_type);
                    if let Some(lower) = lower {
                        form = form.part("lower_cloth_image", image_part(lower, "lower_cloth.jpg"));
                    }
                    if hd {
                        form = form.text("hd_mode", "true");
                    }
                    http.post(self.api.url(CREATE_PATH)).multipart(form)
                },
            )
            .await
            .map_err(UpstreamError::into_provider_error)?;
        let created: Created = reply.json().map_err(UpstreamError::into_provider_error)?;
        vendor_id(created.task_id)
    }

    async fn poll(&self, task_id: &str) -> Result<Polled, ProviderError> {
        let reply = self
            .api
            .call(Replay::Safe, Priority::Poll, None, |http| {
                http.get(self.api.url(&format!("{CREATE_PATH}/{task_id}")))
            })
            .await
            .map_err(UpstreamError::into_provider_error)?;
        let status: TaskStatus = reply.json().map_err(UpstreamError::into_provider_error)?;
        Ok(match status.status.as_str() {
            "COMPLETED" => match status.download_signed_url {
                Some(url) => Polled::Succeeded(url),
                None => Polled::Failed(ProviderError::Failed(
                    "completed without a download_signed_url".into(),
                )),
            },
            "FAILED" => Polled::Failed(ProviderError::Failed(sanitize(
                status.error.as_deref().unwrap_or("the task failed"),
            ))),
            // CREATED (0 %), PROCESSING (1-99 %), and anything newer: keep following.
            _ => Polled::Pending {
                reported: Some(status.progress.unwrap_or(0.0).clamp(0.0, 100.0) as u8),
            },
        })
    }

    async fn garment_check(
        &self,
        garment: &PreparedImage,
        waiting: Option<&dyn ProgressSink>,
    ) -> Result<GarmentCheck, ProviderError> {
        self.garment_checks
            .get_or_try_fetch(content_hash(&garment.bytes), || async {
                let verdict: ClothesVerdict = self
                    .input_check(CHECK_CLOTHES_PATH, garment, waiting)
                    .await?;
                Ok(GarmentCheck {
                    ok: verdict.is_clothes,
                    kind: verdict.clothes_type.as_deref().and_then(garment_kind),
                    source: CheckSource::Provider,
                })
            })
            .await
    }

    async fn input_check<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        image: &PreparedImage,
        waiting: Option<&dyn ProgressSink>,
    ) -> Result<T, ProviderError> {
        // Issue 13: a check costs 0.5 credit, so it is never re-sent after an ambiguous
        // failure. One a try-on waits for (`auto`) goes with its create; one a shopper asked
        // for through the check routes goes after creates.
        let priority = waiting.map_or(Priority::Check, |_| Priority::Create);
        let reply = self
            .api
            .call(Replay::CreateOnce, priority, waiting, |http| {
                http.post(self.api.url(path))
                    .multipart(Form::new().part("input_image", image_part(image, "input.jpg")))
            })
            .await
            .map_err(UpstreamError::into_provider_error)?;
        reply.json().map_err(UpstreamError::into_provider_error)
    }
}

#[async_trait]
impl Provider for Fitroom {
    fn share_through(&self, store: &std::sync::Arc<dyn crate::store::Store>) {
        self.api.share_rate_limit(store);
        let ttl = SHARED_CHECK_TTL;
        self.garment_checks
            .share_through(store.clone(), "check:fitroom:garment", ttl);
        self.person_checks
            .share_through(store.clone(), "check:fitroom:person", ttl);
    }

    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "fitroom",
            categories: vec![
                Category::Upper,
                Category::Lower,
                Category::Full,
                Category::Combo,
            ],
            checks: ChecksAvailable {
                person: true,
                garment: true,
            },
        }
    }

    /// Fitroom's document recommends model images of 2048 px and clothing images of 1024 px
    /// ("Recommended Input Sizes"), and its output is at most 2048 px.
    fn processed_sizes(&self) -> ProcessedSizes {
        ProcessedSizes {
            person_max_edge: 2048,
            garment_max_edge: 1024,
        }
    }

    async fn run(
        &self,
        job: TryOnJob,
        sink: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let progress = Progress::new(sink, ProgressKind::Reported);
        let bar = progress.span(0.0, 100.0);
        bar.report(0.0, "submitting");
        let cloth_type = self.cloth_type(&job, sink).await?;
        let task_id = self.create(&job, cloth_type, sink).await?;
        // The task timeout and the learned durations count from the vendor's acceptance: a
        // create that waited for the key's budget must not eat into the time of a paid task.
        let started = Instant::now();
        // Issue 7: from here on a restart polls this task instead of paying for another.
        sink.upstream_started(serde_json::json!({ "task_id": task_id }));
        self.follow(&job, &task_id, started, bar).await
    }

    /// Issue 7: a task an earlier process created is polled again, never created again.
    async fn resume(
        &self,
        job: TryOnJob,
        state: serde_json::Value,
        sink: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let task_id = state["task_id"]
            .as_str()
            .ok_or_else(|| ProviderError::Failed("no Fitroom task id to resume".into()))?;
        let progress = Progress::new(sink, ProgressKind::Reported);
        let bar = progress.span(0.0, 100.0);
        self.follow(&job, task_id, Instant::now(), bar).await
    }

    async fn check_person(&self, person: &PreparedImage) -> Result<PersonCheck, ProviderError> {
        self.person_checks
            .get_or_try_fetch(content_hash(&person.bytes), || async {
                let verdict: ModelVerdict =
                    self.input_check(CHECK_MODEL_PATH, person, None).await?;
                Ok(person_check(verdict))
            })
            .await
    }

    async fn check_garment(&self, garment: &PreparedImage) -> Result<GarmentCheck, ProviderError> {
        self.garment_check(garment, None).await
    }

    /// "0.5 credits" per input check, "1 credit per image" per try-on.
    fn check_cost(&self) -> f64 {
        0.5
    }
}

/// "normal: ~9s → HD: ~30s".
fn documented_duration(quality: Quality) -> Duration {
    match quality {
        Quality::Best => Duration::from_secs(30),
        Quality::Fast | Quality::Balanced => Duration::from_secs(9),
    }
}

fn image_part(image: &PreparedImage, file_name: &str) -> Part {
    Part::stream_with_length(
        reqwest::Body::from(image.bytes.clone()),
        image.bytes.len() as u64,
    )
    .file_name(file_name.to_owned())
    .mime_str(image.content_type)
    .expect("prepared images carry a valid media type")
}

fn garment_kind(text: &str) -> Option<GarmentKind> {
    match text {
        "upper" => Some(GarmentKind::Upper),
        "lower" => Some(GarmentKind::Lower),
        "full" | "full_set" => Some(GarmentKind::Full),
        _ => None,
    }
}

fn person_check(verdict: ModelVerdict) -> PersonCheck {
    let code = verdict.error_code.as_ref().map(|c| match c {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let mut issues = Vec::new();
    if let Some(code) = code.as_deref() {
        issues.push(model_issue(code));
    }
    if !verdict.is_good && !has_error(&issues) {
        issues.push(issue(
            "person_unsuitable",
            Severity::Error,
            "the photo cannot be used for a try-on".into(),
        ));
    }
    let kinds: Vec<GarmentKind> = verdict
        .good_clothes_types
        .iter()
        .filter_map(|t| garment_kind(t))
        .collect();
    PersonCheck {
        ok: verdict.is_good && !has_error(&issues),
        issues,
        garment_kinds: Some(kinds),
        source: CheckSource::Provider,
    }
}

/// Fitroom's model-check codes: 400xxx stop the try-on, 410xxx are warnings.
fn model_issue(code: &str) -> crate::wire::CheckIssue {
    let (ours, message) = match code {
        "400001" => ("no_person", "no person was found in the photo"),
        "400002" => ("multiple_people", "more than one person is in the photo"),
        "400003" => ("not_facing_forward", "the person is not facing forward"),
        "400004" => ("person_too_small", "the person is too small in the photo"),
        "410001" => (
            "person_slightly_small",
            "the person is slightly small in the photo; cropping helps",
        ),
        "410002" => (
            "pose_unclear",
            "the pose is unclear; standing straight works best",
        ),
        "410003" => (
            "pose_unsupported",
            "the pose may not be supported; standing straight works best",
        ),
        other if other.starts_with("410") => ("photo_warning", "the result may not be optimal"),
        _ => ("person_unsuitable", "the photo cannot be used for a try-on"),
    };
    let severity = if code.starts_with("410") {
        Severity::Warning
    } else {
        Severity::Error
    };
    issue(ours, severity, message.to_owned())
}

#[derive(Deserialize)]
struct Created {
    task_id: serde_json::Value,
}

#[derive(Deserialize)]
struct TaskStatus {
    status: String,
    progress: Option<f64>,
    download_signed_url: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ModelVerdict {
    is_good: bool,
    error_code: Option<serde_json::Value>,
    #[serde(default)]
    good_clothes_types: Vec<String>,
}

#[derive(Deserialize)]
struct ClothesVerdict {
    clothes_type: Option<String>,
    is_clothes: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_check_codes_map_to_stable_issue_codes_and_severities() {
        let check = |json: &str| person_check(serde_json::from_str(json).unwrap());
        let ok = check(r#"{"is_good": true, "good_clothes_types": ["upper", "lower", "full"]}"#);
        assert!(ok.ok && ok.issues.is_empty());
        assert_eq!(
            ok.garment_kinds,
            Some(vec![
                GarmentKind::Upper,
                GarmentKind::Lower,
                GarmentKind::Full
            ])
        );
        let warned =
            check(r#"{"is_good": true, "error_code": "410002", "good_clothes_types": ["upper"]}"#);
        assert!(warned.ok);
        assert_eq!(
            (warned.issues[0].code.as_str(), warned.issues[0].severity),
            ("pose_unclear", Severity::Warning)
        );
        for (code, ours) in [
            ("400001", "no_person"),
            ("400002", "multiple_people"),
            ("400003", "not_facing_forward"),
            ("400004", "person_too_small"),
        ] {
            let failed = check(&format!(
                r#"{{"is_good": false, "error_code": "{code}", "good_clothes_types": []}}"#
            ));
            assert!(!failed.ok);
            assert_eq!(
                (failed.issues[0].code.as_str(), failed.issues[0].severity),
                (ours, Severity::Error)
            );
        }
        let numeric = check(r#"{"is_good": true, "error_code": 410001, "good_clothes_types": []}"#);
        assert_eq!(numeric.issues[0].code, "person_slightly_small");
    }
}
