//! TryItOn (`tryiton.now`), per `tryiton-api.md` and, where it has moved on, its 2026 docs
//! and SDKs (issue 13; the two forms are in [`shapes`]).
//!
//! `Authorization: Bearer`; `POST /api/v1/tryon/clothes` with JSON whose images are base64
//! data URLs carrying their `data:image/...;base64,` prefix (the document insists), `category`
//! (`auto|tops|bottoms|one-pieces`), `mode` (`performance|balanced|quality`), a fresh `seed`
//! (the documented default is a fixed 42, which would make a shopper's retry a paid copy of
//! the same picture) and `output_format`; with `TRYITON_API_STYLE=sdk-2026`,
//! `POST /api/v1/tryon/fashion` with `category: "clothing"` and a `subcategory` instead.
//! Answers of either form are read whatever was sent. An empty balance (402, or 429
//! `OutOfCredits`) is out of credit at once: never retried, and the failover moves on. The
//! balance (`GET /api/v1/credits`) is read in the background for `/metrics`. Results may be
//! WebP; a chained step re-encodes one as JPEG before sending it back (the document's data
//! URLs are JPEG or PNG). The status endpoint is not in the document ("see API Fundamentals"), so its
//! path is configurable (`TRYITON_STATUS_PATH`, default `/api/v1/status/{id}`). Runtime
//! failures come back as `status: failed` with a named error, which maps onto the contract:
//! `ContentModerationError` → `content_rejected`, `PoseError` → `pose_not_detected`,
//! `ImageLoadError` → `invalid_image`. TryItOn has no combo: the adapter chains two tasks
//! (the top first, then the bottoms on its result) under one progress bar. Progress is
//! estimated from the documented 6 / 9 / 12-18 s per mode, then from observed durations.
//! After a restart ([`Provider::resume`]) the vendor job in flight is polled again, never
//! created again; a combo whose top job was in flight goes on to create its bottoms job,
//! one whose bottoms job was in flight only polls that.

mod shapes;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::settings::{SettingsError, TryItOnSettings, TryItOnStyle};
use super::upstream::{
    Balance, Downloader, DurationBook, KeyHeader, PollPlan, Polled, Priority, Progress, Replay,
    Span, Upstream, read_in_flight, record_in_flight, until_done,
};
use super::{
    PreparedImage, ProcessedSizes, ProgressSink, Provider, ProviderError, ProviderInfo, TryOnJob,
    TryOnOutput,
};
use crate::wire::{Category, ChecksAvailable, ErrorCode, ProgressKind, Quality};
use shapes::Garment;

const CREDITS_PATH: &str = "/api/v1/credits";

pub struct TryItOn {
    api: Arc<Upstream>,
    results: Downloader,
    status_path: String,
    style: TryItOnStyle,
    durations: DurationBook,
    balance: Balance,
}

/// One vendor task: an image on a model image.
struct Step<'a> {
    model: DataImage<'a>,
    garment: DataImage<'a>,
    kind: Garment,
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
        let api = Upstream::new(&settings.base_url, key, settings.tuning.clone())?
            .with_final_answers(shapes::is_final);
        Ok(Self {
            api: Arc::new(api),
            results: Downloader::new(&settings.base_url, settings.tuning)?,
            status_path: settings.status_path,
            style: settings.style,
            durations: DurationBook::default(),
            balance: Balance::new("tryiton", CREDITS_PATH, shapes::credits),
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
        // A fresh seed per create: a shopper's retry is a new picture, not a paid copy.
        let (path, body) = shapes::create_request(
            self.style,
            step.model.data_url(),
            step.garment.data_url(),
            step.kind,
            quality,
            rand::random(),
        );
        let reply = self
            .api
            .call(Replay::CreateOnce, Priority::Create, Some(sink), |http| {
                http.post(self.api.url(path)).json(&body)
            })
            .await
            .map_err(shapes::http_error)?;
        let id = shapes::created(&reply.body)?;
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
            .map_err(shapes::http_error)?;
        shapes::polled(&reply.body)
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
        self.balance.refresh(&self.api);
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
        let kind = match job.category {
            Category::Upper => Garment::Tops,
            Category::Lower => Garment::Bottoms,
            Category::Full => Garment::Full,
            Category::Auto => Garment::Auto,
            Category::Combo => return self.combo(&job, bar, sink).await,
        };
        self.step(
            Step {
                model: person,
                garment,
                kind,
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
                    kind: Garment::Tops,
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
        let dressed = as_data_url_image(dressed).await?;
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
                kind: Garment::Bottoms,
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

/// "Performance: 6 seconds, Balanced: 9 seconds, Quality: 12–18 seconds".
fn documented_duration(quality: Quality) -> Duration {
    match quality {
        Quality::Fast => Duration::from_secs(6),
        Quality::Balanced => Duration::from_secs(9),
        Quality::Best => Duration::from_secs(15),
    }
}

/// The first step's result as the second step's model image: the document's data URLs are
/// JPEG or PNG, so a WebP result (TryItOn's 2026 outputs) is re-encoded as JPEG, off the
/// async threads.
async fn as_data_url_image(result: &TryOnOutput) -> Result<TryOnOutput, ProviderError> {
    if matches!(result.content_type.as_str(), "image/jpeg" | "image/png") {
        return Ok(result.clone());
    }
    let source = result.bytes.clone();
    tokio::task::spawn_blocking(move || {
        let unusable =
            || ProviderError::Failed("the first step's result could not be re-encoded".into());
        let image = image::load_from_memory(&source).map_err(|_| unusable())?;
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(image.to_rgb8())
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .map_err(|_| unusable())?;
        Ok(TryOnOutput {
            bytes: jpeg.into(),
            width: image.width(),
            height: image.height(),
            content_type: "image/jpeg".to_owned(),
        })
    })
    .await
    .map_err(|_| ProviderError::Failed("re-encoding the first step's result panicked".into()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_carry_their_prefix() {
        let image = DataImage {
            bytes: b"abc",
            content_type: "image/jpeg",
        };
        assert_eq!(image.data_url(), "data:image/jpeg;base64,YWJj");
    }
}
