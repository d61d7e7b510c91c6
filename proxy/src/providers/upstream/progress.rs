//! One progress bar per task, whatever the vendor tells us.
//!
//! Fitroom reports a percentage; the others report only "running", so the proxy estimates from
//! how long a task usually takes: first the vendor's documented duration, then the durations it
//! has observed for that vendor and quality. The estimate follows `1 - e^(-k·t/T)` with `k`
//! chosen so it shows 90 % at the expected duration `T`, and it only creeps after that: a task
//! that runs long slows down near the end instead of sitting at 100. A task's bar is split into
//! spans (submit, vendor work, download; or one span per chained vendor task) and the bar never
//! moves backwards and never shows 100 before the registry marks the task succeeded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::wire::{ProgressKind, Quality};

use super::super::{ProgressSink, ProgressUpdate};

/// The highest value a running task may show.
const MAX_RUNNING: f64 = 99.0;

/// Expected fraction of the work done after `elapsed` of a task expected to take `expected`.
pub fn estimated_fraction(elapsed: Duration, expected: Duration) -> f64 {
    let expected = expected.as_secs_f64().max(0.001);
    // ln(10): 90 % at the expected duration.
    1.0 - (-std::f64::consts::LN_10 * elapsed.as_secs_f64() / expected).exp()
}

/// A task's bar: monotonic, capped below 100, of one kind.
pub struct Progress<'a> {
    sink: &'a dyn ProgressSink,
    kind: ProgressKind,
    last: Mutex<(u8, Option<String>)>,
}

impl<'a> Progress<'a> {
    pub fn new(sink: &'a dyn ProgressSink, kind: ProgressKind) -> Self {
        Self {
            sink,
            kind,
            last: Mutex::new((0, None)),
        }
    }

    /// A part of the bar, from `lo` to `hi` percent.
    pub fn span(&self, lo: f64, hi: f64) -> Span<'_> {
        Span {
            progress: self,
            lo,
            hi,
        }
    }

    /// Reports `percent` of the whole bar with `stage`, if it moves the bar or names a new stage.
    fn report(&self, percent: f64, stage: &str) {
        let value = percent.clamp(0.0, MAX_RUNNING).floor() as u8;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let value = value.max(last.0);
        let stage_changed = last.1.as_deref() != Some(stage);
        if value == last.0 && !stage_changed {
            return;
        }
        *last = (value, Some(stage.to_owned()));
        drop(last);
        self.sink.report(ProgressUpdate {
            progress: value,
            kind: self.kind,
            stage: Some(stage.to_owned()),
        });
    }

    /// Passes a waiting position on to the sink.
    pub fn queued(&self, ahead: Option<u32>) {
        self.sink.queued(ahead);
    }
}

/// A stretch of a task's bar that one step of the work fills.
#[derive(Clone, Copy)]
pub struct Span<'p> {
    progress: &'p Progress<'p>,
    lo: f64,
    hi: f64,
}

impl<'p> Span<'p> {
    /// Reports `fraction` (0..=1) of this span done.
    pub fn report(&self, fraction: f64, stage: &str) {
        self.progress.report(
            self.lo + (self.hi - self.lo) * fraction.clamp(0.0, 1.0),
            stage,
        );
    }

    /// A part of this span, in fractions of it.
    pub fn sub(&self, from: f64, to: f64) -> Span<'p> {
        let width = self.hi - self.lo;
        Span {
            progress: self.progress,
            lo: self.lo + width * from,
            hi: self.lo + width * to,
        }
    }

    pub fn progress(&self) -> &'p Progress<'p> {
        self.progress
    }
}

/// How long a vendor's tasks take, per quality: documented first, then observed.
#[derive(Debug, Default)]
pub struct DurationBook {
    observed: Mutex<HashMap<Quality, Duration>>,
}

impl DurationBook {
    /// Weight of the newest observation in the moving average.
    const WEIGHT: f64 = 0.3;

    /// The duration to expect for `quality`; `documented` until something was observed.
    pub fn expected(&self, quality: Quality, documented: Duration) -> Duration {
        self.lock().get(&quality).copied().unwrap_or(documented)
    }

    /// Folds in how long a successful task took.
    pub fn record(&self, quality: Quality, took: Duration) {
        let mut observed = self.lock();
        let next = match observed.get(&quality) {
            Some(old) => old.mul_f64(1.0 - Self::WEIGHT) + took.mul_f64(Self::WEIGHT),
            None => took,
        };
        observed.insert(quality, next);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Quality, Duration>> {
        self.observed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<ProgressUpdate>>);

    impl ProgressSink for Recorder {
        fn report(&self, update: ProgressUpdate) {
            self.0.lock().unwrap().push(update);
        }
    }

    #[test]
    fn the_estimate_shows_ninety_at_the_expected_duration_and_stays_below_one() {
        let expected = Duration::from_secs(9);
        assert!((estimated_fraction(expected, expected) - 0.9).abs() < 1e-9);
        assert_eq!(estimated_fraction(Duration::ZERO, expected), 0.0);
        assert!(estimated_fraction(Duration::from_secs(90), expected) < 1.0);
        let mut previous = 0.0;
        for tenth in 1..300 {
            let now = estimated_fraction(Duration::from_millis(tenth * 100), expected);
            assert!(now > previous, "the estimate must rise");
            previous = now;
        }
    }

    #[test]
    fn the_bar_never_goes_back_and_never_shows_100() {
        let recorder = Recorder::default();
        let progress = Progress::new(&recorder, ProgressKind::Reported);
        let span = progress.span(10.0, 100.0);
        span.report(0.5, "fitting_garment");
        span.report(0.2, "fitting_garment");
        span.report(1.0, "fitting_garment");
        span.report(1.0, "downloading_result");
        let values: Vec<u8> = recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|u| u.progress)
            .collect();
        assert_eq!(values, [55, 99, 99]);
        assert!(
            recorder
                .0
                .lock()
                .unwrap()
                .iter()
                .all(|u| u.kind == ProgressKind::Reported)
        );
    }

    #[test]
    fn sub_spans_share_one_bar() {
        let recorder = Recorder::default();
        let progress = Progress::new(&recorder, ProgressKind::Estimated);
        let whole = progress.span(0.0, 100.0);
        whole.sub(0.0, 0.5).report(1.0, "first");
        whole.sub(0.5, 1.0).report(0.5, "second");
        let values: Vec<u8> = recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|u| u.progress)
            .collect();
        assert_eq!(values, [50, 75]);
    }

    #[test]
    fn observed_durations_replace_the_documented_one() {
        let book = DurationBook::default();
        let documented = Duration::from_secs(9);
        assert_eq!(book.expected(Quality::Fast, documented), documented);
        book.record(Quality::Fast, Duration::from_secs(4));
        assert_eq!(
            book.expected(Quality::Fast, documented),
            Duration::from_secs(4)
        );
        book.record(Quality::Fast, Duration::from_secs(14));
        assert_eq!(
            book.expected(Quality::Fast, documented),
            Duration::from_secs(7)
        );
        assert_eq!(book.expected(Quality::Best, documented), documented);
    }
}
