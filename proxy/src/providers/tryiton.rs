//! TryItOn (`tryiton.now`), per `tryiton-api.md`.
//!
//! `Authorization: Bearer`; `POST /api/v1/tryon/clothes` with JSON whose images are base64
//! data URLs carrying their `data:image/...;base64,` prefix (the document insists), `category`
//! (`auto|tops|bottoms|one-pieces`), `mode` (`performance|balanced|quality`) and
//! `output_format`. The status endpoint is not in the document ("see API Fundamentals"), so its
//! path is configurable (`TRYITON_STATUS_PATH`, default `/api/v1/status/{id}`). Runtime
//! failures come back as `status: failed` with a named error, which maps onto the contract:
//! `ContentModerationError` → `content_rejected`, `PoseError` → `pose_not_detected`,
//! `ImageLoadError` → `invalid_image`. TryItOn has no combo: the adapter chains two tasks
//! (the top first, then the bottoms on its result) under one progress bar. Progress is
//! estimated from the documented 6 / 9 / 12-18 s per mode, then from observed durations.
//! After a restart ([`Provider::resume`]) the vendor job in flight is polled again, never
//! created again; a combo whose top job was in flight goes on to create its bottoms job,
//! one whose bottoms job was in flight only polls that.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use super::settings::{SettingsError, TryItOnSettings};
use super::upstream::client::{sanitize, vendor_id};
use super::upstream::{
    Downloader, DurationBook, KeyHeader, PollPlan, Polled, Priority, Progress, Replay, Span,
    Upstream, UpstreamError, read_in_flight, record_in_flight, until_done,
};
use super::{
    PreparedImage, ProcessedSizes, ProgressSink, Provider, ProviderError, ProviderInfo, TryOnJob,
    TryOnOutput,
};
use crate::wire::{Category, ChecksAvailable, ErrorCode, ProgressKind, Quality};

const CREATE_PATH: &str = "/api/v1/tryon/clothes";

pub struct TryItOn {
    api: Upstream,
    results: Downloader,
    status_path: String,
    durations: DurationBook,
}

/// One vendor task: an image on a model image.
struct Step<'a> {
    model: DataImage<'a>,
    garment: DataImage<'a>,
    category: &'static str,
}

/// Bytes and their media type, for a data URL.
#[derive(Clone, Copy)]
struct DataImage<'a> {
    bytes: &'a [u8],
    content_type: &'a str,
}

impl DataImage<'_> {
    fn data_url(&self) -> String {
        format!(
            "data:{};base64,{}",
            self.content_type,
            BASE64.encode(self.bytes)
        )
    }
}

impl TryItOn {
    pub fn new(settings: TryItOnSettings) -> Result<Self, SettingsError> {
        if !settings.status_path.starts_with('/') || !settings.status_path.contains("{id}") {
            return Err(SettingsError::BadUrl {
                name: "TRYITON_STATUS_PATH".into(),
                value: settings.status_path,
            });
        }
        let key = KeyHeader::new("authorization", "Bearer ", &settings.api_key)?;
        Ok(Self {
            api: Upstream::new(&settings.base_url, key, settings.tuning.clone())?,
            results: Downloader::new(&settings.base_url, settings.tuning)?,
            status_path: settings.status_path,
            durations: DurationBook::default(),
        })
    }

    /// Runs one vendor task to its downloaded result, filling `span` of the bar; once the
    /// vendor has accepted it, `stage` is recorded so that a restart polls it again.
    async fn step(
        &self,
        step: Step<'_>,
        stage: Stage,
        quality: Quality,
        span: Span<'_>,
        sink: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        span.report(0.0, "submitting");
        let body = json!({
            "model_image": step.model.data_url(),
            "garment_image": step.garment.data_url(),
            "category": step.category,
            "mode": mode(quality),
            // JPEG is smaller and faster, and a chained step sends it back as its model image.
            "output_format": "jpeg",
        });
        let reply = self
            .api
            .call(Replay::CreateOnce, Priority::Create, Some(sink), |http| {
                http.post(self.api.url(CREATE_PATH)).json(&body)
            })
            .await
            .map_err(UpstreamError::into_provider_error)?;
        let created: Created = reply.json().map_err(UpstreamError::into_provider_error)?;
        if let Some(error) = created.error {
            return Err(runtime_error(&error));
        }
        let id = vendor_id(created.id)?;
        // Issue 7: from here on a restart polls this job instead of paying for another.
        record_in_flight(
            sink,
            &InFlight {
                stage,
                id: id.clone(),
            },
        );
        self.follow(&id, quality, span, Some(Instant::now())).await
    }

    /// Polls a created job to its end and downloads the result. `created` is when this process
    /// created it; `None` after a restart, when the job may already be done and its age is
    /// unknown (so it is polled at once and its duration is not learned).
    async fn follow(
        &self,
        id: &str,
        quality: Quality,
        span: Span<'_>,
        created: Option<Instant>,
    ) -> Result<TryOnOutput, ProviderError> {
        let tuning = self.api.tuning();
        let documented = tuning
            .expected_duration
            .unwrap_or_else(|| documented_duration(quality));
        let expected = self.durations.expected(quality, documented);
        let plan =
            PollPlan::estimated(tuning.poll_interval, expected, tuning.task_timeout, created);
        let url = until_done(
            &plan,
            span.sub(0.05, 0.92),
            ProgressKind::Estimated,
            None,
            || self.poll(id),
        )
        .await?;
        if let Some(created) = created {
            self.durations.record(quality, created.elapsed());
        }
        span.report(0.92, "downloading_result");
        self.results.fetch(&url).await
    }

    async fn poll(&self, id: &str) -> Result<Polled, ProviderError> {
        let path = self.status_path.replace("{id}", id);
        let reply = self
            .api
            .call(Replay::Safe, Priority::Poll, None, |http| {
                http.get(self.api.url(&path))
            })
            .await
            .map_err(UpstreamError::into_provider_error)?;
        let status: Status = reply.json().map_err(UpstreamError::into_provider_error)?;
        Ok(match status.status.as_str() {
            "completed" => match status.output.into_iter().flatten().next() {
                Some(url) => Polled::Succeeded(url),
                None => Polled::Failed(ProviderError::Failed(
                    "completed without an output URL".into(),
                )),
            },
            "failed" => Polled::Failed(status.error.as_ref().map_or_else(
                || ProviderError::Failed("the task failed without an error object".into()),
                runtime_error,
            )),
            _ => Polled::Pending { reported: None },
        })
    }
}

#[async_trait]
impl Provider for TryItOn {
    fn share_through(&self, store: &std::sync::Arc<dyn crate::store::Store>) {
        self.api.share_rate_limit(store);
    }

    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "tryiton",
            categories: vec![
                Category::Upper,
                Category::Lower,
                Category::Full,
                Category::Combo,
            ],
            checks: ChecksAvailable {
                person: false,
                garment: false,
            },
        }
    }

    /// TryItOn's document gives its model's processing resolution as 864×1296 pixels, for the
    /// person and the garment alike: a long edge of 1296 is all it uses.
    fn processed_sizes(&self) -> ProcessedSizes {
        ProcessedSizes {
            person_max_edge: 1296,
            garment_max_edge: 1296,
        }
    }

    async fn run(
        &self,
        job: TryOnJob,
        sink: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let progress = Progress::new(sink, ProgressKind::Estimated);
        let bar = progress.span(0.0, 100.0);
        let person = DataImage {
            bytes: &job.person.bytes,
            content_type: job.person.content_type,
        };
        let garment = DataImage {
            bytes: &job.garment.bytes,
            content_type: job.garment.content_type,
        };
        let category = match job.category {
            Category::Upper => "tops",
            Category::Lower => "bottoms",
            Category::Full => "one-pieces",
            Category::Auto => "auto",
            Category::Combo => return self.combo(&job, bar, sink).await,
        };
        self.step(
            Step {
                model: person,
                garment,
                category,
            },
            Stage::Single,
            job.quality,
            bar,
            sink,
        )
        .await
    }

    /// Issue 7: the job an earlier process created is polled again, never created again.
    async fn resume(
        &self,
        job: TryOnJob,
        state: serde_json::Value,
        sink: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let in_flight: InFlight = read_in_flight(state, "TryItOn")?;
        let progress = Progress::new(sink, ProgressKind::Estimated);
        let bar = progress.span(0.0, 100.0);
        let id = in_flight.id.as_str();
        match in_flight.stage {
            Stage::Single => self.follow(id, job.quality, bar, None).await,
            Stage::ComboBottoms => self.follow(id, job.quality, bar.sub(0.5, 1.0), None).await,
            Stage::ComboTop => {
                let dressed = self
                    .follow(id, job.quality, bar.sub(0.0, 0.5), None)
                    .await?;
                self.bottoms(&job, &dressed, bar, sink).await
            }
        }
    }
}

/// Which vendor job of a try-on is in flight: what a restart needs to pick up at the right
/// step of a chained combo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stage {
    Single,
    /// The top on the person; the bottoms job is still to be created.
    ComboTop,
    /// The bottoms on the dressed result: the last job.
    ComboBottoms,
}

/// The upstream state persisted for a restart: `{"stage": "combo_top", "id": "…"}`.
#[derive(Debug, Serialize, Deserialize)]
struct InFlight {
    stage: Stage,
    id: String,
}

impl TryItOn {
    /// The top on the person, then the bottoms on that result: two credits, one bar.
    async fn combo(
        &self,
        job: &TryOnJob,
        bar: Span<'_>,
        sink: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        lower_garment(job)?;
        let person = DataImage {
            bytes: &job.person.bytes,
            content_type: job.person.content_type,
        };
        let top = DataImage {
            bytes: &job.garment.bytes,
            content_type: job.garment.content_type,
        };
        let dressed = self
            .step(
                Step {
                    model: person,
                    garment: top,
                    category: "tops",
                },
                Stage::ComboTop,
                job.quality,
                bar.sub(0.0, 0.5),
                sink,
            )
            .await?;
        self.bottoms(job, &dressed, bar, sink).await
    }

    /// The second half of a combo: the bottoms on the `dressed` result of the first.
    async fn bottoms(
        &self,
        job: &TryOnJob,
        dressed: &TryOnOutput,
        bar: Span<'_>,
        sink: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let lower = lower_garment(job)?;
        let model = DataImage {
            bytes: &dressed.bytes,
            content_type: &dressed.content_type,
        };
        let bottoms = DataImage {
            bytes: &lower.bytes,
            content_type: lower.content_type,
        };
        self.step(
            Step {
                model,
                garment: bottoms,
                category: "bottoms",
            },
            Stage::ComboBottoms,
            job.quality,
            bar.sub(0.5, 1.0),
            sink,
        )
        .await
    }
}

fn lower_garment(job: &TryOnJob) -> Result<&PreparedImage, ProviderError> {
    job.lower_garment
        .as_ref()
        .ok_or_else(|| ProviderError::InputRejected {
            code: ErrorCode::MissingField,
            message: "combo needs a lower garment".into(),
        })
}

/// fast → performance, balanced → balanced, best → quality.
fn mode(quality: Quality) -> &'static str {
    match quality {
        Quality::Fast => "performance",
        Quality::Balanced => "balanced",
        Quality::Best => "quality",
    }
}

/// "Performance: 6 seconds, Balanced: 9 seconds, Quality: 12–18 seconds".
fn documented_duration(quality: Quality) -> Duration {
    match quality {
        Quality::Fast => Duration::from_secs(6),
        Quality::Balanced => Duration::from_secs(9),
        Quality::Best => Duration::from_secs(15),
    }
}

/// The named runtime errors of the document.
fn runtime_error(error: &VendorError) -> ProviderError {
    let message = sanitize(&format!(
        "{}: {}",
        error.name,
        error.message.as_deref().unwrap_or("no detail")
    ));
    let rejected = |code| ProviderError::InputRejected {
        code,
        message: message.clone(),
    };
    match error.name.as_str() {
        "ContentModerationError" => rejected(ErrorCode::ContentRejected),
        "PoseError" => rejected(ErrorCode::PoseNotDetected),
        "ImageLoadError" => rejected(ErrorCode::InvalidImage),
        // PipelineError ("retry the request"), ThirdPartyError and anything new.
        _ => ProviderError::Failed(message),
    }
}

#[derive(Deserialize)]
struct Created {
    id: serde_json::Value,
    error: Option<VendorError>,
}

#[derive(Deserialize)]
struct Status {
    status: String,
    /// `null` until the job completes.
    output: Option<Vec<String>>,
    error: Option<VendorError>,
}

#[derive(Deserialize)]
struct VendorError {
    name: String,
    message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_runtime_errors_map_onto_the_contract() {
        let map = |name: &str| {
            runtime_error(&VendorError {
                name: name.into(),
                message: Some("m".into()),
            })
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
    }

    #[test]
    fn data_urls_carry_their_prefix() {
        let image = DataImage {
            bytes: b"abc",
            content_type: "image/jpeg",
        };
        assert_eq!(image.data_url(), "data:image/jpeg;base64,YWJj");
    }
}
