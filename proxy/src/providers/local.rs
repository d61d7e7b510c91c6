//! The built-in `local` provider: a compositor, not AI.
//!
//! It exists so the whole product (widget, proxy, progress, result) runs on a fresh machine
//! with no vendor account, and so tests exercise a real provider that returns a real picture.
//! It cuts the garment off its plain backdrop, finds the person's silhouette, and lays the
//! garment over the torso, the legs or the whole body (see [`compose`]). The work takes
//! milliseconds; the configured duration is spread over named stages so the widget's progress
//! display behaves as it will with a real vendor.

pub mod compose;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use tokio::sync::Semaphore;

use self::compose::{Body, Cutout, Matte, Placement, Region, Shading};
use super::{
    PreparedImage, ProcessedSizes, ProgressSink, ProgressUpdate, Provider, ProviderError,
    ProviderInfo, TryOnJob, TryOnOutput,
};
use crate::wire::{Category, ChecksAvailable, ErrorCode, ProgressKind};

/// The built-in compositor provider.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    duration: Duration,
    /// Pixel work of all its try-ons at once, at most [`pixel_workers`] jobs.
    pixel_work: Arc<Semaphore>,
}

impl LocalProvider {
    /// A provider whose try-ons take about `duration` from start to result.
    pub fn new(duration: Duration) -> Self {
        Self {
            duration,
            pixel_work: Arc::new(Semaphore::new(pixel_workers())),
        }
    }
}

/// One less than the machine's cores, at least one. The compositor stands in for a vendor's
/// servers, so try-ons that reach a stage together must not take every core from the event
/// loop that delivers progress (issue 7: on 2 cores, the second in which 20 try-ons composed
/// their results had a delivery p99 of 171 ms against about 50 in the seconds around it).
fn pixel_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get().saturating_sub(1).max(1))
}

/// The stages a try-on passes through, with the progress each starts and ends at. Progress
/// stops short of 100: the registry reports 100 with the result.
const STAGES: [Stage; 4] = [
    Stage {
        name: "analyzing_photo",
        from: 2,
        to: 25,
    },
    Stage {
        name: "removing_background",
        from: 25,
        to: 50,
    },
    Stage {
        name: "fitting_garment",
        from: 50,
        to: 75,
    },
    Stage {
        name: "blending",
        from: 75,
        to: 96,
    },
];

#[derive(Debug, Clone, Copy)]
struct Stage {
    name: &'static str,
    from: u8,
    to: u8,
}

/// How often progress moves within a stage: the cadence of the vendor adapters' estimated bar
/// (`upstream::poll`), which the widget's 0.3 s width transition shows as a smooth movement.
/// Each move is an event sent to every watcher of the task, so a faster tick would cost the
/// proxy a write per watcher for a change nobody can see (issue 7: at 100 ms, 10,000 watchers
/// of 20 tasks took about 80,000 frames a second).
const TICK: Duration = Duration::from_millis(250);

/// JPEG quality of the result: the shopper looks at it closely.
const RESULT_QUALITY: u8 = 90;

#[async_trait]
impl Provider for LocalProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "local",
            categories: vec![
                Category::Upper,
                Category::Lower,
                Category::Full,
                Category::Combo,
            ],
            checks: ChecksAvailable::default(),
        }
    }

    /// The compositor works on whatever it gets; the operator's limits decide.
    fn processed_sizes(&self) -> ProcessedSizes {
        ProcessedSizes::UNDOCUMENTED
    }

    async fn run(
        &self,
        job: TryOnJob,
        progress: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let pacer = Pacer {
            started: Instant::now(),
            stage_length: self.duration / STAGES.len() as u32,
            progress,
        };
        let [analyzing, removing, fitting, blending] = STAGES;
        let pixels = &self.pixel_work;

        let person = job.person.clone();
        let scene = pacer
            .run(
                analyzing,
                0,
                off_thread(pixels, move || analyze_person(&person)),
            )
            .await?;

        let garments = garments_of(&job);
        let cutouts = pacer
            .run(
                removing,
                1,
                off_thread(pixels, move || cut_out_all(&garments)),
            )
            .await?;

        let fit_all = async {
            let fitted: Vec<(Cutout, Placement, Region)> = cutouts
                .into_iter()
                .map(|(cutout, region)| {
                    let placement = compose::fit(&scene.body, &cutout, region);
                    (cutout, placement, region)
                })
                .collect();
            Ok::<_, ProviderError>(fitted)
        };
        let fitted = pacer.run(fitting, 2, fit_all).await?;

        let output = pacer
            .run(
                blending,
                3,
                off_thread(pixels, move || dress(scene, &fitted)),
            )
            .await?;
        Ok(output)
    }
}

/// Spreads a try-on over the configured duration: each stage has an equal share of it, and
/// progress moves with the clock whether the pixels take longer or far less than that share.
struct Pacer<'a> {
    started: Instant,
    stage_length: Duration,
    progress: &'a dyn ProgressSink,
}

impl Pacer<'_> {
    /// Runs stage number `index`: reports its start, moves its progress with the clock while
    /// `work` runs, and returns once both the work is done and the stage's time is up.
    async fn run<T>(&self, stage: Stage, index: u32, work: impl Future<Output = T>) -> T {
        let end = self.stage_length * (index + 1);
        self.report(stage, stage.from);
        let mut work = std::pin::pin!(work);
        let output = loop {
            tokio::select! {
                output = &mut work => break output,
                () = tokio::time::sleep(TICK) => self.report(stage, self.progress_within(stage, index)),
            }
        };
        while let Some(left) = end
            .checked_sub(self.started.elapsed())
            .filter(|left| !left.is_zero())
        {
            tokio::time::sleep(TICK.min(left)).await;
            self.report(stage, self.progress_within(stage, index));
        }
        output
    }

    /// Progress through `stage` by the clock, from its `from` to its `to`.
    fn progress_within(&self, stage: Stage, index: u32) -> u8 {
        let start = self.stage_length * index;
        let elapsed = self.started.elapsed().saturating_sub(start).as_secs_f32();
        let done = if self.stage_length.is_zero() {
            1.0
        } else {
            elapsed / self.stage_length.as_secs_f32()
        };
        (f32::from(stage.from) + done.clamp(0.0, 1.0) * f32::from(stage.to - stage.from)) as u8
    }

    fn report(&self, stage: Stage, progress: u8) {
        self.progress.report(ProgressUpdate {
            progress,
            kind: ProgressKind::Reported,
            stage: Some(stage.name.to_owned()),
        });
    }
}

/// Runs pixel work on the blocking pool, so it never stalls the server's event loop, once one
/// of `limit`'s permits is free. The permit goes with the work: a try-on cancelled meanwhile
/// stops waiting for it, but the job already running still holds its place until it ends.
async fn off_thread<T: Send + 'static>(
    limit: &Arc<Semaphore>,
    work: impl FnOnce() -> Result<T, ProviderError> + Send + 'static,
) -> Result<T, ProviderError> {
    let permit = limit
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|err| ProviderError::Failed(format!("the compositor stopped: {err}")))?
}

/// The person photo and what was read from it.
struct Scene {
    photo: RgbImage,
    figure: Matte,
    body: Body,
}

fn analyze_person(person: &PreparedImage) -> Result<Scene, ProviderError> {
    let photo = decode(person)?;
    let figure = compose::matte_from_border(&photo);
    let body = compose::measure_body(&figure).ok_or_else(|| ProviderError::InputRejected {
        code: ErrorCode::PoseNotDetected,
        message: "no figure stands out from the background of the person photo".into(),
    })?;
    Ok(Scene {
        photo,
        figure,
        body,
    })
}

/// The garments of a job with the body region each covers, in drawing order: for a combo the
/// trousers first, so the top hangs over their waistband as an untucked top does.
fn garments_of(job: &TryOnJob) -> Vec<(PreparedImage, Region)> {
    match (job.category, &job.lower_garment) {
        (Category::Lower, _) => vec![(job.garment.clone(), Region::Legs)],
        (Category::Full, _) => vec![(job.garment.clone(), Region::Body)],
        (Category::Combo, Some(lower)) => vec![
            (lower.clone(), Region::Legs),
            (job.garment.clone(), Region::Torso),
        ],
        // `auto` on the compositor means a top: by far the most common product.
        _ => vec![(job.garment.clone(), Region::Torso)],
    }
}

fn cut_out_all(
    garments: &[(PreparedImage, Region)],
) -> Result<Vec<(Cutout, Region)>, ProviderError> {
    garments
        .iter()
        .map(|(garment, region)| {
            let cutout = Cutout::from_photo(&decode(garment)?).ok_or_else(|| {
                ProviderError::InputRejected {
                    code: ErrorCode::InvalidImage,
                    message: "the garment photo shows nothing but its background".into(),
                }
            })?;
            Ok((cutout, *region))
        })
        .collect()
}

fn dress(
    scene: Scene,
    fitted: &[(Cutout, Placement, Region)],
) -> Result<TryOnOutput, ProviderError> {
    let Scene {
        mut photo,
        figure,
        body,
    } = scene;
    // Clothes sit a little outside the skin line.
    let clip = figure.grown((body.height() / 120).max(1));
    let shading = Shading::of(&photo, &figure);
    for (cutout, placement, region) in fitted {
        let keep_clear = (*region != Region::Legs).then(|| body.neck_zone());
        compose::blend(&mut photo, &clip, &shading, cutout, *placement, keep_clear);
    }
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, RESULT_QUALITY)
        .encode_image(&photo)
        .map_err(|err| ProviderError::Failed(format!("encoding the result failed: {err}")))?;
    Ok(TryOnOutput {
        bytes: Bytes::from(jpeg),
        width: photo.width(),
        height: photo.height(),
        content_type: crate::wire::media::JPEG.to_owned(),
    })
}

/// The proxy prepared these images itself; failing to decode them again is an input problem.
fn decode(image: &PreparedImage) -> Result<RgbImage, ProviderError> {
    tryon_photo::decode_upright(&image.bytes, &tryon_photo::Limits::server())
        .map(image::DynamicImage::into_rgb8)
        .map_err(|err| ProviderError::InputRejected {
            code: ErrorCode::InvalidImage,
            message: err.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use image::{Rgb, RgbImage};

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<ProgressUpdate>>);

    impl ProgressSink for Recorder {
        fn report(&self, update: ProgressUpdate) {
            self.0.lock().unwrap().push(update);
        }
    }

    fn jpeg(image: &RgbImage) -> PreparedImage {
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 95)
            .encode_image(image)
            .unwrap();
        PreparedImage {
            bytes: Bytes::from(bytes),
            width: image.width(),
            height: image.height(),
            content_type: "image/jpeg",
        }
    }

    fn rect(image: &mut RgbImage, x: u32, y: u32, width: u32, height: u32, colour: [u8; 3]) {
        for yy in y..y + height {
            for xx in x..x + width {
                image.put_pixel(xx, yy, Rgb(colour));
            }
        }
    }

    /// A blocky figure 360 px tall on a light backdrop.
    fn person() -> RgbImage {
        let mut image = RgbImage::from_pixel(240, 400, Rgb([235, 235, 232]));
        let skin = [196, 148, 118];
        rect(&mut image, 100, 20, 40, 44, skin);
        rect(&mut image, 110, 64, 20, 10, skin);
        rect(&mut image, 72, 74, 96, 130, skin);
        rect(&mut image, 52, 78, 16, 110, skin);
        rect(&mut image, 172, 78, 16, 110, skin);
        rect(&mut image, 52, 74, 20, 8, skin);
        rect(&mut image, 168, 74, 20, 8, skin);
        rect(&mut image, 76, 204, 36, 176, skin);
        rect(&mut image, 128, 204, 36, 176, skin);
        image
    }

    fn red_top() -> RgbImage {
        let mut image = RgbImage::from_pixel(300, 300, Rgb([245, 245, 245]));
        rect(&mut image, 90, 40, 120, 220, [200, 20, 30]);
        rect(&mut image, 40, 40, 50, 70, [200, 20, 30]);
        rect(&mut image, 210, 40, 50, 70, [200, 20, 30]);
        image
    }

    fn job(category: Category) -> TryOnJob {
        TryOnJob {
            person: jpeg(&person()),
            garment: jpeg(&red_top()),
            lower_garment: None,
            category,
            quality: crate::wire::Quality::Balanced,
        }
    }

    #[tokio::test]
    async fn a_top_lands_on_the_torso_and_nowhere_else() {
        let provider = LocalProvider::new(Duration::from_millis(40));
        let output = provider
            .run(job(Category::Upper), &Recorder::default())
            .await
            .expect("a result");
        assert_eq!(
            (output.width, output.height, output.content_type.as_str()),
            (240, 400, "image/jpeg")
        );
        let result = image::load_from_memory(&output.bytes).unwrap().into_rgb8();
        let chest = result.get_pixel(120, 130);
        assert!(
            chest[0] > 150 && chest[1] < 90,
            "the chest is red now: {chest:?}"
        );
        let face = result.get_pixel(120, 40);
        assert!(face[1] > 120, "the face is not covered: {face:?}");
        let backdrop = result.get_pixel(10, 130);
        assert!(backdrop[1] > 220, "the backdrop stays clear: {backdrop:?}");
        let shin = result.get_pixel(94, 340);
        assert!(shin[1] > 120, "the legs are not covered by a top: {shin:?}");
    }

    #[tokio::test]
    async fn trousers_cover_the_legs() {
        let provider = LocalProvider::new(Duration::from_millis(40));
        let mut trousers = RgbImage::from_pixel(200, 400, Rgb([245, 245, 245]));
        rect(&mut trousers, 40, 20, 120, 80, [30, 40, 110]);
        rect(&mut trousers, 40, 100, 52, 280, [30, 40, 110]);
        rect(&mut trousers, 108, 100, 52, 280, [30, 40, 110]);
        let job = TryOnJob {
            garment: jpeg(&trousers),
            category: Category::Lower,
            ..job(Category::Lower)
        };
        let output = provider.run(job, &Recorder::default()).await.unwrap();
        let result = image::load_from_memory(&output.bytes).unwrap().into_rgb8();
        let shin = result.get_pixel(94, 320);
        assert!(shin[2] > shin[0] + 40, "the shin is blue now: {shin:?}");
        let chest = result.get_pixel(120, 110);
        assert!(chest[0] > 150, "the chest keeps its skin tone: {chest:?}");
    }

    /// The demo storefront's own pictures, prepared as the proxy prepares uploads.
    fn demo_sample(name: &str, max_edge: u32) -> PreparedImage {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../www/demo")
            .join(name);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (cargo xtask samples)", path.display()));
        let prepared =
            tryon_photo::prepare(&bytes, &tryon_photo::PrepareOptions::person(max_edge)).unwrap();
        PreparedImage {
            bytes: Bytes::from(prepared.jpeg),
            width: prepared.width,
            height: prepared.height,
            content_type: "image/jpeg",
        }
    }

    #[tokio::test]
    async fn the_demo_outfit_lands_on_the_demo_person() {
        let job = TryOnJob {
            person: demo_sample("person.jpg", 2048),
            garment: demo_sample("garment.png", 1024),
            lower_garment: Some(demo_sample("trousers.png", 1024)),
            category: Category::Combo,
            quality: crate::wire::Quality::Balanced,
        };
        let output = LocalProvider::new(Duration::ZERO)
            .run(job, &Recorder::default())
            .await
            .unwrap();
        let result = image::load_from_memory(&output.bytes).unwrap().into_rgb8();
        // Landmarks of the drawn figure (1200x1800): chest, shin, face, backdrop.
        let chest = result.get_pixel(600, 560);
        assert!(
            chest[0] > chest[2] + 60,
            "the rust-red T-shirt is on the chest: {chest:?}"
        );
        let shin = result.get_pixel(468, 1450);
        assert!(
            shin[2] > shin[0] + 20,
            "the navy chinos are on the legs: {shin:?}"
        );
        let face = result.get_pixel(600, 250);
        assert!(
            face[0] > 150 && face[0] > face[2] + 40,
            "the face is untouched: {face:?}"
        );
        let backdrop = result.get_pixel(100, 900);
        assert!(
            backdrop.0.iter().all(|&c| c > 200),
            "the backdrop stays clear: {backdrop:?}"
        );
    }

    #[tokio::test]
    async fn progress_moves_through_named_stages_and_never_back() {
        let provider = LocalProvider::new(Duration::from_millis(1200));
        let recorder = Recorder::default();
        let started = Instant::now();
        provider.run(job(Category::Upper), &recorder).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(1200),
            "the configured duration is honoured"
        );

        let updates = recorder.0.into_inner().unwrap();
        assert!(updates.iter().all(|u| u.kind == ProgressKind::Reported));
        assert!(
            updates.windows(2).all(|w| w[0].progress <= w[1].progress),
            "{updates:?}"
        );
        assert!(updates.last().unwrap().progress < 100);
        let mut stages: Vec<&str> = updates.iter().filter_map(|u| u.stage.as_deref()).collect();
        stages.dedup();
        assert_eq!(
            stages,
            [
                "analyzing_photo",
                "removing_background",
                "fitting_garment",
                "blending"
            ]
        );
        let distinct: std::collections::BTreeSet<u8> = updates.iter().map(|u| u.progress).collect();
        assert!(
            distinct.len() >= 6,
            "progress moves within stages: {distinct:?}"
        );
    }

    #[tokio::test]
    async fn a_photo_without_a_figure_is_refused_as_such() {
        let provider = LocalProvider::new(Duration::ZERO);
        let blank = RgbImage::from_pixel(100, 100, Rgb([240, 240, 240]));
        let job = TryOnJob {
            person: jpeg(&blank),
            ..job(Category::Upper)
        };
        let err = provider.run(job, &Recorder::default()).await.unwrap_err();
        assert_eq!(
            err.to_task_error().code,
            ErrorCode::PoseNotDetected,
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pixel_work_runs_at_most_as_many_jobs_at_once_as_the_limit() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let limit = Arc::new(Semaphore::new(2));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs = (0..6).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            off_thread(&limit, move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
        });
        for finished in futures::future::join_all(jobs).await {
            finished.expect("the job ran");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "six jobs, two permits");
    }

    #[test]
    fn offers_the_four_categories_and_no_checks() {
        let info = LocalProvider::new(Duration::ZERO).info();
        assert_eq!(info.name, "local");
        assert_eq!(
            info.categories,
            [
                Category::Upper,
                Category::Lower,
                Category::Full,
                Category::Combo
            ]
        );
        assert_eq!(
            info.checks,
            ChecksAvailable {
                person: false,
                garment: false
            }
        );
    }
}
