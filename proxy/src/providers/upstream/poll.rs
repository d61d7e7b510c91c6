//! Following one vendor task to its end: when to poll, what to show meanwhile, when to stop.
//!
//! Every poll is a call against the key's shared budget, so polls are spent where they tell
//! something: a vendor that reports progress (Fitroom) is polled at its recommended interval
//! from the start, while a vendor that only says "running" is first polled when the task is
//! likely near its end (`first_poll`, a share of the expected duration) and the bar is moved by
//! the estimate in between. A poll that fails transiently is tried again later, with the pause
//! doubling; a terminal answer, a non-transient error or the task deadline ends the loop.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::progress::{Span, estimated_fraction};
use crate::providers::ProviderError;
use crate::wire::ProgressKind;

/// What one status poll said.
#[derive(Debug)]
pub enum Polled {
    /// Still queued or running; `reported` is the vendor's own percentage if it gives one.
    Pending {
        reported: Option<u8>,
    },
    /// Done; the signed URL of the result.
    Succeeded(String),
    Failed(ProviderError),
}

/// When and how long to poll one task.
#[derive(Debug, Clone)]
pub struct PollPlan {
    pub interval: Duration,
    /// Pause before the first poll.
    pub first_poll: Duration,
    /// How long the task is expected to take, for the estimate.
    pub expected: Duration,
    pub deadline: Instant,
}

impl PollPlan {
    /// The plan for a vendor that reports no progress: the first poll near the likely end of
    /// a task this process created at `created`. A task resumed after a restart (`created` is
    /// `None`) may be done already and its age is unknown: it is polled after one interval and
    /// given the whole task timeout from now.
    pub fn estimated(
        interval: Duration,
        expected: Duration,
        task_timeout: Duration,
        created: Option<Instant>,
    ) -> Self {
        Self {
            interval,
            first_poll: match created {
                Some(_) => expected.mul_f64(FIRST_POLL_SHARE),
                None => interval,
            },
            expected,
            deadline: created.unwrap_or_else(Instant::now) + task_timeout,
        }
    }
}

/// Consecutive failed polls tolerated before the task is given up.
const MAX_POLL_FAILURES: u32 = 3;
/// How often an estimated bar moves between polls.
const ESTIMATE_TICK: Duration = Duration::from_millis(250);
/// For vendors that report no progress, the first poll comes at this share of the expected
/// duration: polls earlier than that would almost always hear "running", and a task that
/// finishes early is noticed at most one interval late.
pub const FIRST_POLL_SHARE: f64 = 0.8;
/// The stage name shown while the vendor works.
pub const STAGE_WORKING: &str = "fitting_garment";

/// Polls with `poll_once` until the task ends; reports progress into `span` meanwhile.
/// `wake` ends a pause early (a webhook arrived), so the next poll comes at once.
pub async fn until_done<F, Fut>(
    plan: &PollPlan,
    span: Span<'_>,
    kind: ProgressKind,
    wake: Option<&tokio::sync::Notify>,
    mut poll_once: F,
) -> Result<String, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Polled, ProviderError>>,
{
    let started = Instant::now();
    let mut next_poll = started + plan.first_poll;
    let mut failures = 0;
    loop {
        pause_until(next_poll, plan, span, kind, started, wake).await?;
        let polled = poll_once().await;
        let now = Instant::now();
        match polled {
            Ok(Polled::Pending { reported }) => {
                failures = 0;
                match (kind, reported) {
                    (ProgressKind::Reported, Some(percent)) => {
                        span.report(f64::from(percent) / 100.0, STAGE_WORKING)
                    }
                    _ => span.report(
                        estimated_fraction(now - started, plan.expected),
                        STAGE_WORKING,
                    ),
                }
                next_poll = now + plan.interval;
            }
            Ok(Polled::Succeeded(url)) => return Ok(url),
            Ok(Polled::Failed(error)) => return Err(error),
            Err(error) if is_transient(&error) && failures < MAX_POLL_FAILURES => {
                failures += 1;
                next_poll = now + plan.interval * 2u32.pow(failures);
            }
            Err(error) => return Err(error),
        }
        if now >= plan.deadline {
            return Err(ProviderError::Timeout(plan.deadline - started));
        }
    }
}

/// Waits for the next poll, moving an estimated bar; errors once the deadline has passed.
async fn pause_until(
    until: Instant,
    plan: &PollPlan,
    span: Span<'_>,
    kind: ProgressKind,
    started: Instant,
    wake: Option<&tokio::sync::Notify>,
) -> Result<(), ProviderError> {
    loop {
        let now = Instant::now();
        if now >= plan.deadline {
            return Err(ProviderError::Timeout(plan.deadline - started));
        }
        if now >= until {
            return Ok(());
        }
        if kind == ProgressKind::Estimated {
            span.report(
                estimated_fraction(now - started, plan.expected),
                STAGE_WORKING,
            );
        }
        let step = (until - now).min(ESTIMATE_TICK);
        match wake {
            Some(notify) => {
                tokio::select! {
                    _ = notify.notified() => return Ok(()),
                    _ = tokio::time::sleep(step) => {}
                }
            }
            None => tokio::time::sleep(step).await,
        }
    }
}

fn is_transient(error: &ProviderError) -> bool {
    matches!(
        error,
        ProviderError::Unavailable { .. } | ProviderError::Timeout(_)
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::providers::upstream::progress::Progress;
    use crate::providers::{ProgressSink, ProgressUpdate};

    #[derive(Default)]
    struct Recorder(Mutex<Vec<u8>>);

    impl ProgressSink for Recorder {
        fn report(&self, update: ProgressUpdate) {
            self.0.lock().unwrap().push(update.progress);
        }
    }

    fn plan(deadline: Duration) -> PollPlan {
        PollPlan {
            interval: Duration::from_secs(1),
            first_poll: Duration::from_secs(5),
            expected: Duration::from_secs(9),
            deadline: Instant::now() + deadline,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_estimated_bar_moves_before_the_first_poll_and_transient_failures_are_survived() {
        let recorder = Recorder::default();
        let progress = Progress::new(&recorder, ProgressKind::Estimated);
        let mut answers = vec![
            Ok(Polled::Succeeded("https://r".into())),
            Err(ProviderError::Unavailable {
                message: "503".into(),
                retry_after: None,
            }),
            Ok(Polled::Pending { reported: None }),
        ];
        let started = Instant::now();
        let url = until_done(
            &plan(Duration::from_secs(60)),
            progress.span(0.0, 100.0),
            ProgressKind::Estimated,
            None,
            || {
                let answer = answers.pop().unwrap();
                async move { answer }
            },
        )
        .await
        .unwrap();
        assert_eq!(url, "https://r");
        // 5 s first pause, 1 s interval, then 2 s after the failure.
        assert_eq!(started.elapsed(), Duration::from_secs(8));
        let values = recorder.0.lock().unwrap().clone();
        assert!(
            values.len() > 10,
            "the bar should move between polls: {values:?}"
        );
        assert!(values.windows(2).all(|w| w[0] <= w[1]) && values.iter().all(|v| *v < 100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_never_ends_times_out() {
        let recorder = Recorder::default();
        let progress = Progress::new(&recorder, ProgressKind::Reported);
        let result = until_done(
            &plan(Duration::from_secs(20)),
            progress.span(0.0, 100.0),
            ProgressKind::Reported,
            None,
            || async { Ok(Polled::Pending { reported: Some(50) }) },
        )
        .await;
        assert!(
            matches!(result, Err(ProviderError::Timeout(_))),
            "{result:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_non_transient_error_ends_at_once() {
        let recorder = Recorder::default();
        let progress = Progress::new(&recorder, ProgressKind::Reported);
        let mut polls = 0;
        let result = until_done(
            &plan(Duration::from_secs(60)),
            progress.span(0.0, 100.0),
            ProgressKind::Reported,
            None,
            || {
                polls += 1;
                async { Err(ProviderError::Auth("401".into())) }
            },
        )
        .await;
        assert!(matches!(result, Err(ProviderError::Auth(_))));
        assert_eq!(polls, 1);
    }
}
