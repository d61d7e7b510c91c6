//! The try-on flow as a plain state machine, free of any browser type.
//!
//! Everything the shopper sees (which step, which line of text, how full the bar is) is derived
//! from [`Flow`], and every browser callback (worker answer, upload progress, SSE status, failure)
//! is fed into it as a method call. Keeping it free of `web-sys` means the rules that matter most
//! to the shopper (progress never goes backwards, stale callbacks are ignored, "Try again" goes
//! back to the right step) are unit-tested natively with `cargo test -p tryon-widget`.

use tryon_proxy::wire::{ErrorCode, PersonCheck, ResultInfo, Severity, TaskStatus, TryOnView};

/// Where each phase of a try-on sits on the one 0–100 bar the shopper sees.
///
/// Preparing the photo is quick, the upload depends on the network, generation takes longest;
/// the shares roughly follow what a shopper on a phone waits for.
pub mod scale {
    /// A photo was chosen: the bar moves at once, so a slow phone never shows 0 % while it works.
    pub const CHOSEN: u8 = 2;
    /// The photo's bytes are read and handed to the worker, which decodes and resizes them.
    pub const DECODING: u8 = 5;
    /// Preparation runs from 0 up to here.
    pub const PREPARED: u8 = 10;
    /// The upload fills the bar from [`PREPARED`] up to here.
    pub const UPLOADED: u8 = 40;
    /// Generation fills the rest, up to 100.
    pub const COMPLETE: u8 = 100;

    /// Maps `part / whole` of a phase onto `[from, to]`.
    pub fn within(from: u8, to: u8, part: u64, whole: u64) -> u8 {
        if whole == 0 {
            return from;
        }
        let part = part.min(whole);
        let span = u64::from(to - from);
        from + u8::try_from(span * part / whole).unwrap_or(to - from)
    }
}

/// A value on the bar that can only go up within one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress(u8);

impl Progress {
    pub fn value(self) -> u8 {
        self.0
    }

    /// Moves the bar to `to` unless it already shows more: late or reordered reports never pull
    /// it back.
    fn raise(&mut self, to: u8) {
        self.0 = self.0.max(to.min(scale::COMPLETE));
    }
}

/// What the prepared photo is: shown before upload, so the shopper sees what leaves the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoFacts {
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
}

impl PhotoFacts {
    /// Size in kilobytes as a shopper reads it: rounded, and never "0 KB" for a real file.
    pub fn kilobytes(self) -> u64 {
        ((self.bytes + 512) / 1024).max(1)
    }
}

/// How long the proxy keeps an uploaded photo, as the shopper reads it: whole minutes rounded
/// up (90 s is "2 min", never less than she is told), the proxy's default of 30 if it did not say.
pub fn kept_minutes(ttl_s: Option<u64>) -> u64 {
    ttl_s.map_or(30, |ttl| ttl.div_ceil(60).max(1))
}

/// Why an attempt failed. Every variant has its own sentence in every locale (see `i18n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A code of the contract, said by the proxy or by the photo worker (which throws the same
    /// spellings: `invalid_image`, `unsupported_type`, `image_too_large`).
    Code(ErrorCode),
    /// The proxy could not be reached at all: offline, DNS, refused connection, CORS refusal.
    Network,
    /// The connection broke while the photo was being sent.
    UploadFailed,
    /// The proxy answered something that is not the v1 contract.
    UnexpectedAnswer,
    /// The task succeeded but its image could not be downloaded.
    ResultUnavailable,
    /// The photo worker (its script or its wasm) could not be started.
    PreparerUnavailable,
    /// The page names no garment: no `garment` attribute and no `og:image`.
    NoGarment,
    /// The proxy's person check found a problem that would waste the try-on; nothing was sent.
    PhotoRejected(PhotoIssue),
}

/// A finding of the person check (`POST /v1/checks/person`), one sentence each in every locale.
///
/// Vendors and the proxy's local checks report stable codes; a code the widget does not know
/// still gets a sentence, by its severity. `low_resolution` is two findings, because "too few
/// pixels to try on" and "may look soft" ask different things of the shopper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoIssue {
    NoPerson,
    MultiplePeople,
    NotFacingForward,
    PersonTooSmall,
    PersonSlightlySmall,
    PoseUnclear,
    PoseUnsupported,
    /// `low_resolution` as an error.
    TooFewPixels,
    /// `low_resolution` as a warning.
    SoftPhoto,
    LandscapePhoto,
    /// An error under a code the widget does not know (e.g. `person_unsuitable`).
    Unsuitable,
    /// A warning under a code the widget does not know (e.g. `photo_warning`).
    MayDisappoint,
}

impl PhotoIssue {
    pub const ALL: [PhotoIssue; 12] = [
        Self::NoPerson,
        Self::MultiplePeople,
        Self::NotFacingForward,
        Self::PersonTooSmall,
        Self::PersonSlightlySmall,
        Self::PoseUnclear,
        Self::PoseUnsupported,
        Self::TooFewPixels,
        Self::SoftPhoto,
        Self::LandscapePhoto,
        Self::Unsuitable,
        Self::MayDisappoint,
    ];

    /// Reads one issue of the check's answer.
    pub fn from_check(code: &str, severity: Severity) -> Self {
        match (code, severity) {
            ("no_person", _) => Self::NoPerson,
            ("multiple_people", _) => Self::MultiplePeople,
            ("not_facing_forward", _) => Self::NotFacingForward,
            ("person_too_small", _) => Self::PersonTooSmall,
            ("person_slightly_small", _) => Self::PersonSlightlySmall,
            ("pose_unclear", _) => Self::PoseUnclear,
            ("pose_unsupported", _) => Self::PoseUnsupported,
            ("low_resolution", Severity::Error) => Self::TooFewPixels,
            ("low_resolution", Severity::Warning) => Self::SoftPhoto,
            ("landscape_photo", _) => Self::LandscapePhoto,
            (_, Severity::Error) => Self::Unsuitable,
            (_, Severity::Warning) => Self::MayDisappoint,
        }
    }

    /// A stable name, for `tryon:failed`'s `detail.error`.
    pub fn name(self) -> &'static str {
        match self {
            Self::NoPerson => "no_person",
            Self::MultiplePeople => "multiple_people",
            Self::NotFacingForward => "not_facing_forward",
            Self::PersonTooSmall => "person_too_small",
            Self::PersonSlightlySmall => "person_slightly_small",
            Self::PoseUnclear => "pose_unclear",
            Self::PoseUnsupported => "pose_unsupported",
            Self::TooFewPixels => "low_resolution",
            Self::SoftPhoto => "soft_photo",
            Self::LandscapePhoto => "landscape_photo",
            Self::Unsuitable => "photo_unsuitable",
            Self::MayDisappoint => "photo_warning",
        }
    }
}

/// Where "Try again" leads after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryFrom {
    /// The photo itself was the problem: pick another one.
    ChoosePhoto,
    /// Something else failed: send the same prepared photo again.
    SamePhoto,
}

impl Failure {
    pub fn retry_from(self) -> RetryFrom {
        match self {
            Self::Code(
                ErrorCode::InvalidImage
                | ErrorCode::UnsupportedType
                | ErrorCode::ImageTooLarge
                | ErrorCode::ContentRejected
                | ErrorCode::PoseNotDetected,
            )
            | Self::PreparerUnavailable
            | Self::PhotoRejected(_) => RetryFrom::ChoosePhoto,
            _ => RetryFrom::SamePhoto,
        }
    }

    /// The wire spelling for contract codes, a stable client-side name otherwise: what
    /// `tryon:failed` events carry, so merchants can count failures by kind.
    pub fn name(self) -> &'static str {
        match self {
            Self::Code(code) => code.as_str(),
            Self::Network => "network",
            Self::UploadFailed => "upload_failed",
            Self::UnexpectedAnswer => "unexpected_answer",
            Self::ResultUnavailable => "result_unavailable",
            Self::PreparerUnavailable => "preparer_unavailable",
            Self::NoGarment => "no_garment",
            Self::PhotoRejected(issue) => issue.name(),
        }
    }

    /// Reads a failed HTTP answer: the problem+json `code` when the body had a known one, else
    /// a code guessed from the status so an older or newer proxy still yields a useful sentence.
    pub fn from_response(status: u16, code: Option<ErrorCode>) -> Self {
        if let Some(code) = code {
            return Self::Code(code);
        }
        match status {
            0 => Self::Network,
            401 => Self::Code(ErrorCode::Unauthorized),
            403 => Self::Code(ErrorCode::OriginNotAllowed),
            404 => Self::Code(ErrorCode::NotFound),
            413 => Self::Code(ErrorCode::ImageTooLarge),
            415 => Self::Code(ErrorCode::UnsupportedType),
            429 => Self::Code(ErrorCode::RateLimited),
            502..=504 => Self::Code(ErrorCode::ProviderUnavailable),
            500..=599 => Self::Code(ErrorCode::Internal),
            _ => Self::UnexpectedAnswer,
        }
    }

    /// The code of a refusal that is about the merchant's setup or budget, not the shopper's
    /// photo or network: try-on cannot work on this page now, whatever she does. Such a refusal
    /// puts the flow into [`Step::Unavailable`]. Another refusal of this kind (say, a proxy
    /// paused by its operator) is one more code here and one more line in [`merchant_hint`].
    pub fn unavailable(self) -> Option<ErrorCode> {
        match self {
            Self::Code(
                code @ (ErrorCode::OriginNotAllowed
                | ErrorCode::QuotaExhausted
                | ErrorCode::ProviderOutOfCredit
                | ErrorCode::ProviderAuth),
            ) => Some(code),
            _ => None,
        }
    }

    /// The step a failure leads to: [`Step::Unavailable`] for the merchant's refusals, else
    /// [`Step::Failed`].
    fn step(self) -> Step {
        self.unavailable()
            .map_or(Step::Failed(self), Step::Unavailable)
    }

    /// The worker reports failures by name; codes of the contract keep their sentence, anything
    /// else means the worker itself broke.
    pub fn from_worker(name: &str) -> Self {
        match name {
            "invalid_image" => Self::Code(ErrorCode::InvalidImage),
            "unsupported_type" => Self::Code(ErrorCode::UnsupportedType),
            "image_too_large" => Self::Code(ErrorCode::ImageTooLarge),
            _ => Self::PreparerUnavailable,
        }
    }
}

/// The step the dialog shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Tips and the file picker.
    Choosing,
    /// The worker is preparing the chosen photo.
    Preparing,
    /// The prepared photo is uploaded to the proxy (`POST /v1/photos`) while the shopper reads
    /// its facts; the check and every try-on then name it by id. **Try it on** is enabled
    /// already: pressed now, the try-on waits for the photo (see [`Flow::can_submit`]).
    Sending {
        sent: u64,
        total: u64,
    },
    /// The proxy's person check is judging the uploaded photo; a try-on pressed for meanwhile
    /// starts only after a clean verdict.
    Checking,
    /// The prepared photo is shown with its facts; **Try it on** is enabled.
    Ready,
    /// Bytes are leaving the device.
    Uploading {
        sent: u64,
        total: u64,
    },
    /// The proxy accepted the task; `ahead` is its place in line once known.
    Queued {
        ahead: Option<u32>,
    },
    /// The provider is generating; `percent` is the task's own progress.
    Generating {
        percent: u8,
    },
    /// The result is ready at `result.url` (relative to the proxy).
    Done {
        result: ResultInfo,
    },
    Failed(Failure),
    /// The proxy refused for a reason only the merchant can fix (the code says which, see
    /// [`Failure::unavailable`]): a neutral sentence, no photo step, no **Try again**.
    Unavailable(ErrorCode),
}

/// The line the browser console gets when the flow becomes [`Step::Unavailable`]: for the
/// merchant setting the widget up, in English, naming what to change. `page_origin` is the
/// origin the proxy saw (`location.origin`).
pub fn merchant_hint(code: ErrorCode, page_origin: &str) -> String {
    let what = match code {
        ErrorCode::OriginNotAllowed => {
            return format!(
                "try-on: the proxy refuses this page's origin {page_origin}; add it to the proxy's TRYON_ALLOWED_ORIGINS (comma-separated)."
            );
        }
        ErrorCode::QuotaExhausted => {
            "today's try-on budget is used up (TRYON_DAILY_BUDGET, TRYON_SHOP_DAILY_QUOTA)"
        }
        ErrorCode::ProviderOutOfCredit => "the try-on provider's account has no credit left",
        _ => "the try-on provider refused the proxy's API key",
    };
    format!("try-on: unavailable on {page_origin}: {what}.")
}

/// The line of text under the bar. Each variant is one i18n key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusLine {
    Preparing,
    Checking,
    Uploading { percent: u8 },
    Starting,
    InLine { ahead: u32 },
    Next,
    Creating { percent: u8 },
    Done,
}

/// A change worth telling the page about (dispatched as `tryon:*` events).
#[derive(Debug, Clone, PartialEq)]
pub enum Milestone {
    /// The prepared photo is shown and can be sent.
    PhotoReady,
    /// The proxy accepted the task.
    Started {
        task_id: String,
    },
    /// The bar moved.
    Progress {
        value: u8,
    },
    Completed {
        task_id: String,
    },
    Failed {
        failure: Failure,
    },
}

/// A callback that arrived for a step the flow has already left, or a call the current step
/// does not allow (a double click, a late upload event after a failure, a status of an older
/// task). Callers drop it; it is an `Err` so it cannot be mistaken for a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale;

/// The whole flow of one dialog: the step, the prepared photo, the task, the bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    step: Step,
    photo: Option<PhotoFacts>,
    /// What the person check warned about the photo; it stays with the photo.
    warning: Option<PhotoIssue>,
    /// The theme editor's canned result: no try-on happened, so the page is told nothing.
    example: bool,
    task_id: Option<String>,
    progress: Progress,
    /// The prepared photo's id at the proxy, once uploaded; kept for every try-on of it.
    photo_id: Option<String>,
    /// **Try it on** was pressed while the photo was still being uploaded or checked: the
    /// try-on starts the moment the photo is settled, with no second upload.
    waiting: bool,
}

impl Default for Flow {
    fn default() -> Self {
        Self {
            step: Step::Choosing,
            photo_id: None,
            waiting: false,
            photo: None,
            warning: None,
            example: false,
            task_id: None,
            progress: Progress::default(),
        }
    }
}

impl Flow {
    pub fn step(&self) -> &Step {
        &self.step
    }

    pub fn photo(&self) -> Option<PhotoFacts> {
        self.photo
    }

    pub fn task_id(&self) -> Option<&str> {
        self.task_id.as_deref()
    }

    pub fn photo_id(&self) -> Option<&str> {
        self.photo_id.as_deref()
    }

    /// The person check's warning about the prepared photo, shown beside it.
    pub fn warning(&self) -> Option<PhotoIssue> {
        self.warning
    }

    /// Whether the result shown is the theme editor's example.
    pub fn is_example(&self) -> bool {
        self.example
    }

    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// While busy the picker and the submit button are disabled.
    pub fn is_busy(&self) -> bool {
        matches!(
            self.step,
            Step::Preparing
                | Step::Sending { .. }
                | Step::Checking
                | Step::Uploading { .. }
                | Step::Queued { .. }
                | Step::Generating { .. }
        )
    }

    /// The bar is shown from the moment a photo is being prepared until the result is shown.
    pub fn shows_progress(&self) -> bool {
        self.status_line().is_some()
    }

    /// Whether **Try it on** is enabled: from the moment the photo is prepared, while its upload
    /// and check still run (the shopper reads its facts meanwhile), until it is pressed.
    pub fn can_submit(&self) -> bool {
        self.photo.is_some()
            && match self.step {
                Step::Ready => true,
                Step::Sending { .. } | Step::Checking => !self.waiting,
                _ => false,
            }
    }

    /// The picker, tips and preview are shown until the try-on is sent.
    pub fn shows_picker(&self) -> bool {
        matches!(
            self.step,
            Step::Choosing | Step::Preparing | Step::Sending { .. } | Step::Checking | Step::Ready
        )
    }

    pub fn status_line(&self) -> Option<StatusLine> {
        Some(match self.step {
            Step::Preparing => StatusLine::Preparing,
            Step::Checking => StatusLine::Checking,
            Step::Sending { sent, total } | Step::Uploading { sent, total } => {
                StatusLine::Uploading {
                    percent: scale::within(0, 100, sent, total),
                }
            }
            Step::Queued { ahead: None } => StatusLine::Starting,
            Step::Queued { ahead: Some(0) } => StatusLine::Next,
            Step::Queued { ahead: Some(ahead) } => StatusLine::InLine { ahead },
            Step::Generating { percent } => StatusLine::Creating { percent },
            Step::Done { .. } => StatusLine::Done,
            Step::Choosing | Step::Ready | Step::Failed(_) | Step::Unavailable(_) => return None,
        })
    }

    /// A new photo was chosen: a fresh attempt starts, whatever came before.
    pub fn choose_photo(&mut self) -> Result<(), Stale> {
        // Another photo may replace one still being prepared, sent or checked.
        if self.is_busy()
            && !matches!(
                self.step,
                Step::Preparing | Step::Sending { .. } | Step::Checking
            )
            || self.is_unavailable()
        {
            return Err(Stale);
        }
        *self = Self {
            step: Step::Preparing,
            ..Self::default()
        };
        self.progress.raise(scale::CHOSEN);
        Ok(())
    }

    /// The chosen file's bytes are read and the worker has them.
    pub fn photo_handed_over(&mut self) -> Result<(), Stale> {
        self.expect(matches!(self.step, Step::Preparing))?;
        self.progress.raise(scale::DECODING);
        Ok(())
    }

    pub fn photo_prepared(&mut self, facts: PhotoFacts) -> Result<(), Stale> {
        self.expect(matches!(self.step, Step::Preparing))?;
        self.photo = Some(facts);
        self.step = Step::Ready;
        self.progress.raise(scale::PREPARED);
        Ok(())
    }

    /// The prepared photo is uploaded once, before **Try it on** is enabled.
    pub fn send_photo(&mut self) -> Result<(), Stale> {
        self.expect(matches!(self.step, Step::Ready) && self.photo.is_some())?;
        self.step = Step::Sending {
            sent: 0,
            total: self.photo.map_or(0, |p| p.bytes),
        };
        Ok(())
    }

    /// `201` from `POST /v1/photos`: the photo has its id. After the first upload it goes on to
    /// the person check (`check`) or is ready; an upload again (its id had expired) while
    /// checking or sending a try-on only replaces the id.
    pub fn photo_stored(&mut self, id: String, check: bool) -> Result<(), Stale> {
        self.expect(matches!(
            self.step,
            Step::Sending { .. } | Step::Checking | Step::Uploading { .. }
        ))?;
        self.photo_id = Some(id);
        if matches!(self.step, Step::Sending { .. }) {
            if check {
                self.step = Step::Checking;
            } else {
                self.settle();
            }
        }
        Ok(())
    }

    /// The photo is uploaded and judged: **Try it on** is enabled, or, when the shopper pressed
    /// it meanwhile, the try-on goes ahead at once ([`Step::Uploading`]; the controller creates it).
    fn settle(&mut self) {
        self.step = Step::Ready;
        if std::mem::take(&mut self.waiting) {
            self.start_try_on();
        }
    }

    /// The person check's verdict: an error stops here, before any credit is spent (the shopper
    /// chooses another photo); warnings are kept beside the photo and **Try it on** is enabled.
    pub fn person_checked(&mut self, check: &PersonCheck) -> Result<(), Stale> {
        self.expect(matches!(self.step, Step::Checking))?;
        let first = |severity| {
            check
                .issues
                .iter()
                .find(|issue| issue.severity == severity)
                .map(|issue| PhotoIssue::from_check(&issue.code, issue.severity))
        };
        // `ok: false` without an error issue is still a refusal.
        let refusal = first(Severity::Error).or((!check.ok).then_some(PhotoIssue::Unsuitable));
        match refusal {
            Some(issue) => self.step = Step::Failed(Failure::PhotoRejected(issue)),
            None => {
                self.warning = first(Severity::Warning);
                self.settle();
            }
        }
        Ok(())
    }

    /// The photo upload or the person check could not give a verdict. When the photo itself
    /// was refused (not an image, too large) the try-on would be refused the same way, so that
    /// stops here; anything else (check service down, rate limit, network) lets the shopper go
    /// on without a check (and **Try it on** sends the photo when it has no id yet).
    pub fn check_failed(&mut self, failure: Failure) -> Result<(), Stale> {
        self.expect(matches!(self.step, Step::Sending { .. } | Step::Checking))?;
        match failure.retry_from() {
            _ if failure.unavailable().is_some() => self.step = failure.step(),
            RetryFrom::ChoosePhoto => self.step = Step::Failed(failure),
            RetryFrom::SamePhoto => self.settle(),
        }
        Ok(())
    }

    /// The theme editor's canned result, instead of a try-on (no photo, no task, no proxy).
    pub fn show_example(&mut self, result: ResultInfo) -> Result<(), Stale> {
        self.expect(!self.is_busy())?;
        *self = Self {
            step: Step::Done { result },
            example: true,
            ..Self::default()
        };
        self.progress.raise(scale::COMPLETE);
        Ok(())
    }

    /// **Try it on** was pressed. With the photo settled the try-on is sent at once
    /// ([`Step::Uploading`]); while it is still being uploaded or checked the press is kept
    /// (the step stays, the bar shows the upload) and [`Self::settle`] acts on it.
    pub fn submit(&mut self) -> Result<(), Stale> {
        self.expect(self.can_submit())?;
        if matches!(self.step, Step::Ready) {
            self.start_try_on();
        } else {
            self.waiting = true;
        }
        Ok(())
    }

    fn start_try_on(&mut self) {
        self.step = Step::Uploading {
            sent: 0,
            total: self.photo.map_or(0, |p| p.bytes),
        };
        self.progress.raise(scale::PREPARED);
    }

    /// `XMLHttpRequest.upload.onprogress`: bytes sent over the request's total, of the photo
    /// or of the try-on.
    pub fn upload_progress(&mut self, sent: u64, total: u64) -> Result<(), Stale> {
        self.step = match self.step {
            Step::Sending { .. } => Step::Sending { sent, total },
            Step::Uploading { .. } => Step::Uploading { sent, total },
            _ => return Err(Stale),
        };
        self.progress
            .raise(scale::within(scale::PREPARED, scale::UPLOADED, sent, total));
        Ok(())
    }

    /// `202` from `POST /v1/tryons`.
    pub fn created(&mut self, task_id: String) -> Result<(), Stale> {
        self.expect(matches!(self.step, Step::Uploading { .. }))?;
        self.task_id = Some(task_id);
        self.step = Step::Queued { ahead: None };
        self.progress.raise(scale::UPLOADED);
        Ok(())
    }

    /// A status of the task, from the event stream or from polling.
    pub fn status(&mut self, view: &TryOnView) -> Result<(), Stale> {
        let following = matches!(self.step, Step::Queued { .. } | Step::Generating { .. });
        self.expect(following && self.task_id.as_deref() == Some(view.id.as_str()))?;
        match view.status {
            TaskStatus::Queued => {
                self.step = Step::Queued {
                    ahead: view.queue_position,
                };
            }
            TaskStatus::Running => {
                let percent = view.progress.min(100);
                self.step = Step::Generating { percent };
                self.progress.raise(generation_value(percent));
            }
            TaskStatus::Succeeded => match &view.result {
                Some(result) => {
                    self.step = Step::Done {
                        result: result.clone(),
                    };
                    self.progress.raise(scale::COMPLETE);
                }
                None => self.step = Step::Failed(Failure::UnexpectedAnswer),
            },
            TaskStatus::Failed => {
                let code = view
                    .error
                    .as_ref()
                    .map_or(ErrorCode::ProviderFailed, |e| e.code);
                self.step = Failure::Code(code).step();
            }
        }
        Ok(())
    }

    /// Anything that ends the attempt: a worker error, a failed upload, a lost stream, a result
    /// that cannot be downloaded. A failure after a failure keeps the first one, which is the cause.
    pub fn fail(&mut self, failure: Failure) -> Result<(), Stale> {
        self.expect(!matches!(
            self.step,
            Step::Choosing | Step::Failed(_) | Step::Unavailable(_)
        ))?;
        self.step = failure.step();
        Ok(())
    }

    /// `GET /v1/config` was refused when the dialog opened. A refusal only the merchant can fix
    /// ends the flow here, before any photo is chosen or sent. Anything else (no network) is
    /// [`Stale`]: the contract's default limits serve, and a later call reports the problem.
    pub fn refused(&mut self, failure: Failure) -> Result<(), Stale> {
        let code = failure.unavailable().ok_or(Stale)?;
        *self = Self {
            step: Step::Unavailable(code),
            ..Self::default()
        };
        Ok(())
    }

    /// Whether try-on cannot work on this page (see [`Step::Unavailable`]): nothing leaves it.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.step, Step::Unavailable(_))
    }

    /// **Try again**: back to the picker when the photo was the problem, else straight back to
    /// the prepared photo so one press of **Try it on** sends it again.
    pub fn retry(&mut self) -> Result<(), Stale> {
        let Step::Failed(failure) = self.step else {
            return Err(Stale);
        };
        let photo = self
            .photo
            .filter(|_| failure.retry_from() == RetryFrom::SamePhoto);
        let (warning, photo_id) = (self.warning, self.photo_id.take());
        *self = Self::default();
        if let Some(facts) = photo {
            self.photo = Some(facts);
            self.photo_id = photo_id;
            self.warning = warning;
            self.step = Step::Ready;
            self.progress.raise(scale::PREPARED);
        }
        Ok(())
    }

    /// **Cancel** while sending or generating: back to the prepared photo, as a new attempt.
    pub fn cancel(&mut self) -> Result<(), Stale> {
        self.expect(matches!(
            self.step,
            Step::Uploading { .. } | Step::Queued { .. } | Step::Generating { .. }
        ))?;
        let photo = self.photo;
        *self = Self {
            step: Step::Ready,
            photo,
            warning: self.warning,
            photo_id: self.photo_id.take(),
            ..Self::default()
        };
        self.progress.raise(scale::PREPARED);
        Ok(())
    }

    /// The same prepared photo for a new try-on (the product changed since the last result):
    /// back to **Try it on** without choosing again.
    pub fn reuse_photo(&mut self) -> Result<(), Stale> {
        self.expect(!self.is_busy() && !self.is_unavailable() && self.photo.is_some())?;
        let photo = self.photo;
        *self = Self {
            step: Step::Ready,
            photo,
            warning: self.warning,
            photo_id: self.photo_id.take(),
            ..Self::default()
        };
        self.progress.raise(scale::PREPARED);
        Ok(())
    }

    /// **Try another photo** after a result: the picker again, nothing kept.
    pub fn start_over(&mut self) -> Result<(), Stale> {
        self.expect(!self.is_busy() && !self.is_unavailable())?;
        *self = Self::default();
        Ok(())
    }

    fn expect(&self, allowed: bool) -> Result<(), Stale> {
        if allowed { Ok(()) } else { Err(Stale) }
    }
}

/// The task's own 0–100 mapped onto the generation share of the bar.
fn generation_value(percent: u8) -> u8 {
    scale::within(scale::UPLOADED, scale::COMPLETE, u64::from(percent), 100)
}

/// What changed between two snapshots of the flow that the page should hear about.
pub fn milestones(before: &Flow, after: &Flow) -> Vec<Milestone> {
    let mut out = Vec::new();
    if after.example {
        return out;
    }
    let task_id = || after.task_id.clone().unwrap_or_default();
    // Announced when **Try it on** becomes usable for a newly prepared photo: while it is
    // still being uploaded and checked, not again once that is done.
    if matches!(
        before.step,
        Step::Preparing | Step::Sending { .. } | Step::Checking
    ) && !before.can_submit()
        && after.can_submit()
    {
        out.push(Milestone::PhotoReady);
    }
    if before.task_id.is_none() && after.task_id.is_some() {
        out.push(Milestone::Started { task_id: task_id() });
    }
    if before.progress != after.progress {
        out.push(Milestone::Progress {
            value: after.progress.value(),
        });
    }
    match (&before.step, &after.step) {
        (Step::Done { .. } | Step::Failed(_) | Step::Unavailable(_), _) => {}
        (_, Step::Done { .. }) => out.push(Milestone::Completed { task_id: task_id() }),
        (_, Step::Failed(failure)) => out.push(Milestone::Failed { failure: *failure }),
        (_, Step::Unavailable(code)) => out.push(Milestone::Failed {
            failure: Failure::Code(*code),
        }),
        _ => {}
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tryon_proxy::wire::{ProgressKind, TaskError};

    /// Whether the shopper pressed **Try it on** and waits for her photo's upload or check (the
    /// widget shows it as a disabled **Try it on**).
    fn is_waiting(flow: &Flow) -> bool {
        flow.waiting
    }

    /// Moves a ready photo to the person check, the state the widget reaches through the
    /// photo's upload.
    fn check_photo(flow: &mut Flow) -> Result<(), Stale> {
        flow.expect(matches!(flow.step, Step::Ready) && flow.photo.is_some())?;
        flow.step = Step::Checking;
        Ok(())
    }

    const PHOTO: PhotoFacts = PhotoFacts {
        bytes: 400_000,
        width: 1536,
        height: 2048,
    };

    fn view(id: &str, status: TaskStatus, progress: u8) -> TryOnView {
        TryOnView {
            id: id.into(),
            status,
            progress,
            progress_kind: ProgressKind::Estimated,
            stage: None,
            queue_position: None,
            result: None,
            error: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn succeeded(id: &str) -> TryOnView {
        TryOnView {
            result: Some(ResultInfo {
                url: format!("/v1/tryons/{id}/result"),
                width: 768,
                height: 1024,
                content_type: "image/jpeg".into(),
            }),
            ..view(id, TaskStatus::Succeeded, 100)
        }
    }

    /// A flow that has sent its photo and been given task `id`.
    fn following(id: &str) -> Flow {
        let mut flow = Flow::default();
        flow.choose_photo().unwrap();
        flow.photo_prepared(PHOTO).unwrap();
        flow.submit().unwrap();
        flow.created(id.into()).unwrap();
        flow
    }

    #[test]
    fn a_whole_try_on_walks_the_bar_up_through_every_line_of_text() {
        let mut flow = Flow::default();
        let mut seen = vec![(flow.status_line(), flow.progress().value())];
        let mut record = |flow: &Flow| seen.push((flow.status_line(), flow.progress().value()));

        flow.choose_photo().unwrap();
        record(&flow);
        flow.photo_prepared(PHOTO).unwrap();
        flow.submit().unwrap();
        flow.upload_progress(168_000, 400_000).unwrap();
        record(&flow);
        flow.created("t1".into()).unwrap();
        flow.status(&TryOnView {
            queue_position: Some(2),
            ..view("t1", TaskStatus::Queued, 0)
        })
        .unwrap();
        record(&flow);
        flow.status(&view("t1", TaskStatus::Running, 63)).unwrap();
        record(&flow);
        flow.status(&succeeded("t1")).unwrap();
        record(&flow);

        assert_eq!(
            seen,
            vec![
                (None, 0),
                (Some(StatusLine::Preparing), scale::CHOSEN),
                (Some(StatusLine::Uploading { percent: 42 }), 22),
                (Some(StatusLine::InLine { ahead: 2 }), 40),
                (Some(StatusLine::Creating { percent: 63 }), 77),
                (Some(StatusLine::Done), 100),
            ]
        );
    }

    #[test]
    fn the_bar_never_goes_backwards_when_reports_arrive_out_of_order() {
        let mut flow = following("t1");
        flow.status(&view("t1", TaskStatus::Running, 80)).unwrap();
        let high = flow.progress().value();
        flow.status(&view("t1", TaskStatus::Running, 30)).unwrap();
        assert_eq!(
            flow.progress().value(),
            high,
            "a late 30% must not pull the bar back"
        );
        assert_eq!(
            flow.step(),
            &Step::Generating { percent: 30 },
            "the text still says what the task said"
        );

        let mut uploading = Flow::default();
        uploading.choose_photo().unwrap();
        uploading.photo_prepared(PHOTO).unwrap();
        uploading.submit().unwrap();
        uploading.upload_progress(300, 400).unwrap();
        let after_big = uploading.progress().value();
        uploading.upload_progress(100, 400).unwrap();
        assert_eq!(uploading.progress().value(), after_big);
    }

    #[test]
    fn the_bar_stays_inside_each_phase_share() {
        let mut flow = Flow::default();
        flow.choose_photo().unwrap();
        flow.photo_prepared(PHOTO).unwrap();
        assert_eq!(flow.progress().value(), scale::PREPARED);
        flow.submit().unwrap();
        flow.upload_progress(400_000, 400_000).unwrap();
        assert_eq!(flow.progress().value(), scale::UPLOADED);
        flow.upload_progress(u64::MAX, 3).unwrap();
        assert_eq!(
            flow.progress().value(),
            scale::UPLOADED,
            "a bogus sent > total stays at the share's end"
        );
        flow.created("t".into()).unwrap();
        flow.status(&view("t", TaskStatus::Running, 99)).unwrap();
        assert!(flow.progress().value() < 100, "only success fills the bar");
    }

    #[test]
    fn upload_percent_is_bytes_sent_over_total_and_survives_an_unknown_total() {
        let mut flow = Flow::default();
        flow.choose_photo().unwrap();
        flow.photo_prepared(PhotoFacts { bytes: 0, ..PHOTO })
            .unwrap();
        flow.submit().unwrap();
        assert_eq!(
            flow.status_line(),
            Some(StatusLine::Uploading { percent: 0 })
        );
        flow.upload_progress(1, 3).unwrap();
        assert_eq!(
            flow.status_line(),
            Some(StatusLine::Uploading { percent: 33 })
        );
    }

    #[test]
    fn statuses_of_another_task_or_after_the_end_are_stale() {
        let mut flow = following("mine");
        assert_eq!(
            flow.status(&view("theirs", TaskStatus::Running, 50)),
            Err(Stale)
        );
        flow.status(&succeeded("mine")).unwrap();
        assert_eq!(
            flow.status(&view("mine", TaskStatus::Running, 50)),
            Err(Stale)
        );
        assert!(matches!(flow.step(), Step::Done { .. }));
    }

    #[test]
    fn double_submits_and_late_upload_events_are_stale() {
        let mut flow = Flow::default();
        assert_eq!(flow.submit(), Err(Stale), "nothing to send yet");
        flow.choose_photo().unwrap();
        flow.photo_prepared(PHOTO).unwrap();
        flow.submit().unwrap();
        assert_eq!(flow.submit(), Err(Stale));
        assert_eq!(
            flow.choose_photo(),
            Err(Stale),
            "the picker is locked while sending"
        );
        flow.fail(Failure::UploadFailed).unwrap();
        assert_eq!(flow.upload_progress(10, 20), Err(Stale));
        assert_eq!(flow.created("late".into()), Err(Stale));
    }

    #[test]
    fn a_failed_task_shows_its_code_and_a_missing_code_reads_as_provider_failed() {
        let mut flow = following("t");
        let mut failed = view("t", TaskStatus::Failed, 40);
        failed.error = Some(TaskError {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            retryable: true,
        });
        flow.status(&failed).unwrap();
        assert_eq!(
            flow.step(),
            &Step::Failed(Failure::Code(ErrorCode::RateLimited))
        );

        let mut flow = following("t");
        flow.status(&view("t", TaskStatus::Failed, 40)).unwrap();
        assert_eq!(
            flow.step(),
            &Step::Failed(Failure::Code(ErrorCode::ProviderFailed))
        );

        let mut flow = following("t");
        flow.status(&view("t", TaskStatus::Succeeded, 100)).unwrap();
        assert_eq!(
            flow.step(),
            &Step::Failed(Failure::UnexpectedAnswer),
            "success without a result"
        );
    }

    #[test]
    fn try_again_keeps_the_photo_unless_the_photo_was_the_problem() {
        let mut flow = following("t");
        flow.fail(Failure::Network).unwrap();
        flow.retry().unwrap();
        assert_eq!(flow.step(), &Step::Ready);
        assert_eq!(flow.photo(), Some(PHOTO));
        assert_eq!(flow.task_id(), None, "a retry is a new task");
        assert_eq!(flow.progress().value(), scale::PREPARED);
        flow.submit().unwrap();

        let mut flow = following("t");
        flow.fail(Failure::Code(ErrorCode::InvalidImage)).unwrap();
        flow.retry().unwrap();
        assert_eq!(flow, Flow::default());

        let mut flow = Flow::default();
        flow.choose_photo().unwrap();
        flow.fail(Failure::from_worker("unsupported_type")).unwrap();
        flow.retry().unwrap();
        assert_eq!(flow.step(), &Step::Choosing);
        assert_eq!(flow.retry(), Err(Stale), "nothing to retry");
    }

    #[test]
    fn the_first_failure_is_kept() {
        let mut flow = following("t");
        flow.fail(Failure::UploadFailed).unwrap();
        assert_eq!(flow.fail(Failure::Network), Err(Stale));
        assert_eq!(flow.step(), &Step::Failed(Failure::UploadFailed));
    }

    #[test]
    fn a_new_photo_starts_a_fresh_attempt_from_any_resting_step() {
        let mut flow = following("t");
        flow.status(&succeeded("t")).unwrap();
        flow.choose_photo().unwrap();
        assert_eq!(flow.progress().value(), scale::CHOSEN);
        assert_eq!(flow.task_id(), None);
        assert_eq!(flow.photo(), None);
        flow.choose_photo().unwrap();
        assert_eq!(
            flow.step(),
            &Step::Preparing,
            "choosing again while preparing replaces the photo"
        );
        flow.photo_prepared(PHOTO).unwrap();
        assert_eq!(flow.photo_prepared(PHOTO), Err(Stale));
    }

    #[test]
    fn milestones_name_exactly_what_changed() {
        let mut flow = Flow::default();
        flow.choose_photo().unwrap();
        flow.photo_prepared(PHOTO).unwrap();
        flow.submit().unwrap();
        let before = flow.clone();
        flow.created("t9".into()).unwrap();
        assert_eq!(
            milestones(&before, &flow),
            vec![
                Milestone::Started {
                    task_id: "t9".into()
                },
                Milestone::Progress { value: 40 }
            ]
        );
        let before = flow.clone();
        flow.status(&succeeded("t9")).unwrap();
        assert_eq!(
            milestones(&before, &flow),
            vec![
                Milestone::Progress { value: 100 },
                Milestone::Completed {
                    task_id: "t9".into()
                }
            ]
        );
        assert_eq!(milestones(&flow, &flow.clone()), vec![]);
        let before = flow.clone();
        flow.start_over().unwrap();
        assert_eq!(
            milestones(&before, &flow),
            vec![Milestone::Progress { value: 0 }]
        );
    }

    #[test]
    fn cancel_returns_to_the_prepared_photo_as_a_new_attempt() {
        let mut flow = following("t");
        flow.status(&view("t", TaskStatus::Running, 50)).unwrap();
        flow.cancel().unwrap();
        assert_eq!(flow.step(), &Step::Ready);
        assert_eq!(flow.photo(), Some(PHOTO));
        assert_eq!(flow.task_id(), None);
        assert_eq!(flow.progress().value(), scale::PREPARED);
        assert_eq!(
            flow.status(&view("t", TaskStatus::Running, 60)),
            Err(Stale),
            "the cancelled task is gone"
        );
        assert_eq!(flow.cancel(), Err(Stale), "nothing runs any more");
        flow.submit().unwrap();
    }

    #[test]
    fn the_bar_moves_while_the_photo_is_prepared_and_never_sits_at_zero() {
        let mut flow = Flow::default();
        flow.choose_photo().unwrap();
        let chosen = flow.progress().value();
        assert!(chosen > 0, "a chosen photo already moves the bar");
        flow.photo_handed_over().unwrap();
        let decoding = flow.progress().value();
        assert!(chosen < decoding && decoding < scale::PREPARED);
        assert_eq!(flow.status_line(), Some(StatusLine::Preparing));
        flow.photo_prepared(PHOTO).unwrap();
        assert_eq!(flow.progress().value(), scale::PREPARED);
        assert_eq!(
            flow.photo_handed_over(),
            Err(Stale),
            "a late hand-over after the photo is ready changes nothing"
        );
    }

    #[test]
    fn a_new_product_reuses_the_prepared_photo_without_choosing_again() {
        let mut flow = following("t");
        flow.status(&succeeded("t")).unwrap();
        flow.reuse_photo().unwrap();
        assert_eq!(flow.step(), &Step::Ready);
        assert_eq!(flow.photo(), Some(PHOTO));
        assert_eq!(
            flow.task_id(),
            None,
            "the old task is not the new product's"
        );
        assert_eq!(flow.progress().value(), scale::PREPARED);
        flow.submit().unwrap();
        assert_eq!(flow.reuse_photo(), Err(Stale), "not while sending");
        assert_eq!(
            Flow::default().reuse_photo(),
            Err(Stale),
            "no photo to reuse"
        );
    }

    #[test]
    fn a_prepared_photo_is_announced() {
        let mut flow = Flow::default();
        flow.choose_photo().unwrap();
        let before = flow.clone();
        flow.photo_prepared(PHOTO).unwrap();
        assert_eq!(
            milestones(&before, &flow),
            vec![
                Milestone::PhotoReady,
                Milestone::Progress {
                    value: scale::PREPARED
                }
            ]
        );
    }

    #[test]
    fn a_failure_is_announced_once() {
        let mut flow = following("t");
        let before = flow.clone();
        flow.fail(Failure::ResultUnavailable).unwrap();
        assert_eq!(
            milestones(&before, &flow),
            vec![Milestone::Failed {
                failure: Failure::ResultUnavailable
            }]
        );
        assert_eq!(milestones(&flow, &flow.clone()), vec![]);
    }

    #[test]
    fn http_failures_read_the_problem_code_first_then_the_status() {
        assert_eq!(
            Failure::from_response(429, Some(ErrorCode::QuotaExhausted)),
            Failure::Code(ErrorCode::QuotaExhausted)
        );
        assert_eq!(
            Failure::from_response(400, Some(ErrorCode::GarmentUrlNotAllowed)),
            Failure::Code(ErrorCode::GarmentUrlNotAllowed)
        );
        assert_eq!(
            Failure::from_response(503, None),
            Failure::Code(ErrorCode::ProviderUnavailable)
        );
        assert_eq!(
            Failure::from_response(413, None),
            Failure::Code(ErrorCode::ImageTooLarge)
        );
        assert_eq!(
            Failure::from_response(500, None),
            Failure::Code(ErrorCode::Internal)
        );
        assert_eq!(Failure::from_response(0, None), Failure::Network);
        assert_eq!(Failure::from_response(418, None), Failure::UnexpectedAnswer);
    }

    #[test]
    fn worker_errors_keep_contract_codes_and_anything_else_is_a_broken_worker() {
        assert_eq!(
            Failure::from_worker("image_too_large"),
            Failure::Code(ErrorCode::ImageTooLarge)
        );
        assert_eq!(
            Failure::from_worker("invalid_image"),
            Failure::Code(ErrorCode::InvalidImage)
        );
        assert_eq!(
            Failure::from_worker("RuntimeError: unreachable"),
            Failure::PreparerUnavailable
        );
    }

    #[test]
    fn failure_names_are_distinct() {
        let mut names: Vec<_> = ErrorCode::ALL
            .into_iter()
            .map(|c| Failure::Code(c).name())
            .collect();
        names.extend(CLIENT_FAILURES.map(Failure::name));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
    }

    #[test]
    fn the_photos_time_at_the_proxy_reads_in_minutes_rounded_up() {
        assert_eq!(kept_minutes(Some(1800)), 30);
        assert_eq!(kept_minutes(Some(90)), 2, "never less than the truth");
        assert_eq!(kept_minutes(Some(1)), 1);
        assert_eq!(kept_minutes(Some(0)), 1);
        assert_eq!(kept_minutes(None), 30, "the proxy's default");
    }

    #[test]
    fn kilobytes_round_and_never_show_zero() {
        assert_eq!(
            PhotoFacts {
                bytes: 10,
                width: 1,
                height: 1
            }
            .kilobytes(),
            1
        );
        assert_eq!(
            PhotoFacts {
                bytes: 1536,
                width: 1,
                height: 1
            }
            .kilobytes(),
            2
        );
        assert_eq!(PHOTO.kilobytes(), 391);
    }

    /// Every client-side failure, for tests that must cover them all.
    pub(crate) const CLIENT_FAILURES: [Failure; 18] = [
        Failure::Network,
        Failure::UploadFailed,
        Failure::UnexpectedAnswer,
        Failure::ResultUnavailable,
        Failure::PreparerUnavailable,
        Failure::NoGarment,
        Failure::PhotoRejected(PhotoIssue::NoPerson),
        Failure::PhotoRejected(PhotoIssue::MultiplePeople),
        Failure::PhotoRejected(PhotoIssue::NotFacingForward),
        Failure::PhotoRejected(PhotoIssue::PersonTooSmall),
        Failure::PhotoRejected(PhotoIssue::PersonSlightlySmall),
        Failure::PhotoRejected(PhotoIssue::PoseUnclear),
        Failure::PhotoRejected(PhotoIssue::PoseUnsupported),
        Failure::PhotoRejected(PhotoIssue::TooFewPixels),
        Failure::PhotoRejected(PhotoIssue::SoftPhoto),
        Failure::PhotoRejected(PhotoIssue::LandscapePhoto),
        Failure::PhotoRejected(PhotoIssue::Unsuitable),
        Failure::PhotoRejected(PhotoIssue::MayDisappoint),
    ];

    fn check(ok: bool, issues: &[(&str, Severity)]) -> PersonCheck {
        PersonCheck {
            ok,
            issues: issues
                .iter()
                .map(|(code, severity)| tryon_proxy::wire::CheckIssue {
                    code: (*code).into(),
                    severity: *severity,
                    message: "for logs".into(),
                })
                .collect(),
            garment_kinds: None,
            source: tryon_proxy::wire::CheckSource::Local,
        }
    }

    /// A prepared photo handed to the person check, as the controller does in one step.
    fn checking() -> Flow {
        let mut flow = Flow::default();
        flow.choose_photo().unwrap();
        flow.photo_prepared(PHOTO).unwrap();
        check_photo(&mut flow).unwrap();
        flow
    }

    #[test]
    fn a_press_while_the_photo_is_judged_waits_for_the_verdict() {
        let mut flow = checking();
        assert_eq!(flow.step(), &Step::Checking);
        assert!(flow.is_busy() && flow.shows_picker() && flow.can_submit());
        assert_eq!(flow.status_line(), Some(StatusLine::Checking));
        flow.submit().unwrap();
        assert_eq!(
            (flow.step(), is_waiting(&flow), flow.can_submit()),
            (&Step::Checking, true, false),
            "no try-on is sent while the photo is judged, and a second press is nothing"
        );
        assert_eq!(flow.submit(), Err(Stale));
        assert_eq!(flow.progress().value(), scale::PREPARED);
        flow.person_checked(&check(true, &[("landscape_photo", Severity::Warning)]))
            .unwrap();
        assert!(
            matches!(flow.step(), Step::Uploading { .. }) && !is_waiting(&flow),
            "a clean verdict sends the try-on at once: {:?}",
            flow.step()
        );
        assert_eq!(flow.warning(), Some(PhotoIssue::LandscapePhoto));
    }

    #[test]
    fn a_press_while_the_photo_is_judged_is_dropped_when_the_check_refuses_it() {
        let mut flow = checking();
        flow.submit().unwrap();
        let before = flow.clone();
        flow.person_checked(&check(false, &[("no_person", Severity::Error)]))
            .unwrap();
        let refused = Failure::PhotoRejected(PhotoIssue::NoPerson);
        assert_eq!(flow.step(), &Step::Failed(refused));
        assert_eq!(
            milestones(&before, &flow),
            vec![Milestone::Failed { failure: refused }]
        );
        assert_eq!(flow.task_id(), None, "no credit is spent on this photo");
        flow.retry().unwrap();
        assert_eq!((flow.step(), is_waiting(&flow)), (&Step::Choosing, false));
    }

    #[test]
    fn a_check_error_stops_before_any_try_on_and_asks_for_another_photo() {
        let mut flow = checking();
        flow.person_checked(&check(
            false,
            &[
                ("landscape_photo", Severity::Warning),
                ("multiple_people", Severity::Error),
            ],
        ))
        .unwrap();
        let refused = Failure::PhotoRejected(PhotoIssue::MultiplePeople);
        assert_eq!(flow.step(), &Step::Failed(refused));
        assert_eq!(flow.task_id(), None);
        assert_eq!(
            flow.submit(),
            Err(Stale),
            "no credit is spent on this photo"
        );
        assert_eq!(refused.name(), "multiple_people");
        flow.retry().unwrap();
        assert_eq!(flow.step(), &Step::Choosing, "the photo was the problem");
        assert_eq!(flow.photo(), None);
    }

    #[test]
    fn a_refusal_without_an_error_issue_is_still_a_refusal() {
        let mut flow = checking();
        flow.person_checked(&check(false, &[])).unwrap();
        assert_eq!(
            flow.step(),
            &Step::Failed(Failure::PhotoRejected(PhotoIssue::Unsuitable))
        );
    }

    #[test]
    fn warnings_are_kept_beside_the_photo_and_the_shopper_may_go_on() {
        let before = checking();
        let mut flow = before.clone();
        flow.person_checked(&check(true, &[("low_resolution", Severity::Warning)]))
            .unwrap();
        assert_eq!(flow.step(), &Step::Ready);
        assert_eq!(flow.warning(), Some(PhotoIssue::SoftPhoto));
        assert!(
            milestones(&before, &flow).is_empty(),
            "announced when Try it on was enabled, not again"
        );
        flow.submit().unwrap();
        flow.created("t".into()).unwrap();
        flow.fail(Failure::Network).unwrap();
        flow.retry().unwrap();
        assert_eq!(
            flow.warning(),
            Some(PhotoIssue::SoftPhoto),
            "the same photo keeps its warning"
        );
        flow.choose_photo().unwrap();
        assert_eq!(flow.warning(), None, "a new photo is judged anew");
    }

    #[test]
    fn a_clean_photo_is_ready_without_a_warning_and_ready_is_announced_once() {
        let mut flow = Flow::default();
        flow.choose_photo().unwrap();
        let preparing = flow.clone();
        flow.photo_prepared(PHOTO).unwrap();
        check_photo(&mut flow).unwrap();
        assert!(
            milestones(&preparing, &flow).contains(&Milestone::PhotoReady),
            "Try it on is usable while the photo is judged"
        );
        let judging = flow.clone();
        flow.person_checked(&check(true, &[])).unwrap();
        assert_eq!((flow.step(), flow.warning()), (&Step::Ready, None));
        assert!(milestones(&judging, &flow).is_empty(), "announced once");
    }

    #[test]
    fn without_a_verdict_only_a_refused_photo_stops_the_shopper() {
        let mut flow = checking();
        flow.check_failed(Failure::Code(ErrorCode::ProviderUnavailable))
            .unwrap();
        assert_eq!(
            flow.step(),
            &Step::Ready,
            "the check is down: go on without it"
        );
        let mut flow = checking();
        flow.check_failed(Failure::Network).unwrap();
        assert_eq!(flow.step(), &Step::Ready);
        let mut flow = checking();
        flow.check_failed(Failure::Code(ErrorCode::UnsupportedType))
            .unwrap();
        assert_eq!(
            flow.step(),
            &Step::Failed(Failure::Code(ErrorCode::UnsupportedType))
        );
    }

    #[test]
    fn a_late_verdict_for_a_replaced_photo_is_stale() {
        let mut flow = checking();
        flow.choose_photo().unwrap();
        assert_eq!(flow.person_checked(&check(true, &[])), Err(Stale));
        assert_eq!(flow.check_failed(Failure::Network), Err(Stale));
        assert_eq!(flow.step(), &Step::Preparing);
    }

    #[test]
    fn check_codes_map_to_issues_and_unknown_codes_by_severity() {
        assert_eq!(
            PhotoIssue::from_check("no_person", Severity::Error),
            PhotoIssue::NoPerson
        );
        assert_eq!(
            PhotoIssue::from_check("low_resolution", Severity::Error),
            PhotoIssue::TooFewPixels
        );
        assert_eq!(
            PhotoIssue::from_check("low_resolution", Severity::Warning),
            PhotoIssue::SoftPhoto
        );
        assert_eq!(
            PhotoIssue::from_check("person_unsuitable", Severity::Error),
            PhotoIssue::Unsuitable
        );
        assert_eq!(
            PhotoIssue::from_check("something_new", Severity::Warning),
            PhotoIssue::MayDisappoint
        );
        let mut names: Vec<_> = PhotoIssue::ALL.map(PhotoIssue::name).to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PhotoIssue::ALL.len());
    }

    /// The refusals only the merchant can fix (issue 13).
    const MERCHANT_REFUSALS: [ErrorCode; 4] = [
        ErrorCode::OriginNotAllowed,
        ErrorCode::QuotaExhausted,
        ErrorCode::ProviderOutOfCredit,
        ErrorCode::ProviderAuth,
    ];

    #[test]
    fn a_refused_config_makes_the_page_unavailable_before_any_photo() {
        for code in MERCHANT_REFUSALS {
            let before = Flow::default();
            let mut flow = before.clone();
            flow.refused(Failure::Code(code)).unwrap();
            assert_eq!(flow.step(), &Step::Unavailable(code));
            assert!(flow.is_unavailable());
            assert!(!flow.shows_picker(), "no photo step");
            assert!(!flow.is_busy() && !flow.shows_progress());
            assert_eq!(
                milestones(&before, &flow),
                vec![Milestone::Failed {
                    failure: Failure::Code(code)
                }],
                "the page hears why, once"
            );
            let settled = flow.clone();
            assert_eq!(flow.choose_photo(), Err(Stale), "no photo is taken");
            assert_eq!(flow.submit(), Err(Stale), "nothing is sent");
            assert_eq!(flow.retry(), Err(Stale), "there is nothing to retry");
            assert_eq!(flow.start_over(), Err(Stale));
            assert_eq!(flow.fail(Failure::Network), Err(Stale));
            flow.refused(Failure::Code(code)).unwrap();
            assert_eq!(milestones(&settled, &flow), vec![], "announced once");
        }
    }

    #[test]
    fn a_config_that_fails_for_any_other_reason_leaves_the_flow_alone() {
        for failure in [
            Failure::Network,
            Failure::UnexpectedAnswer,
            Failure::Code(ErrorCode::ProviderUnavailable),
            Failure::Code(ErrorCode::RateLimited),
        ] {
            let mut flow = Flow::default();
            assert_eq!(flow.refused(failure), Err(Stale), "{failure:?}");
            assert_eq!(flow.step(), &Step::Choosing);
        }
    }

    #[test]
    fn a_merchant_refusal_later_in_the_flow_is_unavailable_too_never_a_retry() {
        for code in MERCHANT_REFUSALS {
            // The create was refused.
            let mut flow = Flow::default();
            flow.choose_photo().unwrap();
            flow.photo_prepared(PHOTO).unwrap();
            flow.submit().unwrap();
            flow.fail(Failure::Code(code)).unwrap();
            assert_eq!(flow.step(), &Step::Unavailable(code), "create: {code:?}");
            assert_eq!(flow.retry(), Err(Stale));

            // The task failed with it (e.g. every provider refused its key).
            let mut flow = following("t");
            let mut failed = view("t", TaskStatus::Failed, 0);
            failed.error = Some(TaskError {
                code,
                message: "for logs".into(),
                retryable: false,
            });
            let before = flow.clone();
            flow.status(&failed).unwrap();
            assert_eq!(flow.step(), &Step::Unavailable(code), "task: {code:?}");
            assert_eq!(
                milestones(&before, &flow),
                vec![Milestone::Failed {
                    failure: Failure::Code(code)
                }]
            );

            // The person check was refused.
            let mut flow = checking();
            flow.check_failed(Failure::Code(code)).unwrap();
            assert_eq!(flow.step(), &Step::Unavailable(code), "check: {code:?}");
            assert_eq!(flow.submit(), Err(Stale));
        }
        let mut flow = following("t");
        flow.fail(Failure::Code(ErrorCode::RateLimited)).unwrap();
        assert_eq!(
            flow.step(),
            &Step::Failed(Failure::Code(ErrorCode::RateLimited)),
            "the shopper's own retryable failures keep their sentence and Try again"
        );
    }

    #[test]
    fn the_merchant_hint_names_the_pages_origin_and_what_to_change() {
        let origin = "https://shop.example:8443";
        let hint = merchant_hint(ErrorCode::OriginNotAllowed, origin);
        assert!(hint.contains(origin), "{hint}");
        assert!(hint.contains("TRYON_ALLOWED_ORIGINS"), "{hint}");
        assert!(merchant_hint(ErrorCode::QuotaExhausted, origin).contains("TRYON_DAILY_BUDGET"));
        let mut hints: Vec<String> = MERCHANT_REFUSALS
            .map(|code| merchant_hint(code, origin))
            .to_vec();
        assert!(
            hints
                .iter()
                .all(|h| h.contains(origin) && !h.contains('\n'))
        );
        hints.sort();
        hints.dedup();
        assert_eq!(hints.len(), MERCHANT_REFUSALS.len(), "one hint per refusal");
    }

    #[test]
    fn the_theme_editor_example_is_a_result_the_page_never_hears_about() {
        let before = Flow::default();
        let mut flow = before.clone();
        let result = ResultInfo {
            url: "example".into(),
            width: 600,
            height: 800,
            content_type: "image/svg+xml".into(),
        };
        flow.show_example(result.clone()).unwrap();
        assert_eq!(flow.step(), &Step::Done { result });
        assert!(flow.is_example());
        assert_eq!(flow.task_id(), None);
        assert_eq!(milestones(&before, &flow), vec![], "no try-on happened");
        flow.start_over().unwrap();
        assert!(!flow.is_example());

        let mut busy = following("t");
        assert!(
            busy.show_example(ResultInfo {
                url: String::new(),
                width: 1,
                height: 1,
                content_type: String::new(),
            })
            .is_err()
        );
    }

    /// A prepared photo being uploaded to the proxy, as the controller starts it in one step.
    fn sending() -> Flow {
        let mut flow = Flow::default();
        flow.choose_photo().unwrap();
        flow.photo_prepared(PHOTO).unwrap();
        flow.send_photo().unwrap();
        flow
    }

    #[test]
    fn try_it_on_is_enabled_while_the_photo_is_sent_once_with_progress() {
        let mut preparing = Flow::default();
        preparing.choose_photo().unwrap();
        let mut flow = preparing.clone();
        flow.photo_prepared(PHOTO).unwrap();
        flow.send_photo().unwrap();
        assert_eq!(flow, sending());
        assert_eq!(
            milestones(&preparing, &flow),
            vec![
                Milestone::PhotoReady,
                Milestone::Progress {
                    value: scale::PREPARED
                }
            ],
            "ready to press as soon as it is prepared, while it uploads"
        );
        assert!(
            flow.is_busy() && flow.shows_picker() && flow.can_submit(),
            "the facts stay readable and Try it on is enabled"
        );
        flow.upload_progress(100_000, 400_000).unwrap();
        assert_eq!(
            flow.status_line(),
            Some(StatusLine::Uploading { percent: 25 })
        );
        let during = flow.progress().value();
        assert!(
            during > scale::PREPARED,
            "the bar follows the photo's bytes: {during}"
        );
        let before = flow.clone();
        flow.photo_stored("p1".into(), false).unwrap();
        assert_eq!((flow.step(), flow.photo_id()), (&Step::Ready, Some("p1")));
        assert!(milestones(&before, &flow).is_empty(), "announced once");
        flow.submit().unwrap();
        flow.created("t1".into()).unwrap();
        assert_eq!(
            flow.photo_id(),
            Some("p1"),
            "the try-on names the uploaded photo"
        );
    }

    #[test]
    fn a_press_during_the_upload_sends_the_try_on_when_the_photo_is_stored() {
        let mut flow = sending();
        flow.upload_progress(100_000, 400_000).unwrap();
        let bar = flow.progress().value();
        flow.submit().unwrap();
        assert_eq!(
            (is_waiting(&flow), flow.can_submit(), flow.shows_picker()),
            (true, false, true),
            "the press is kept, the button disabled, the photo's upload goes on"
        );
        assert_eq!(flow.submit(), Err(Stale), "a double press is nothing");
        flow.upload_progress(300_000, 400_000).unwrap();
        assert_eq!(
            flow.status_line(),
            Some(StatusLine::Uploading { percent: 75 }),
            "the shopper sees the upload she waits for"
        );
        assert!(flow.progress().value() > bar);
        let bar = flow.progress().value();
        let before = flow.clone();
        flow.photo_stored("p1".into(), false).unwrap();
        assert!(matches!(flow.step(), Step::Uploading { .. }));
        assert_eq!(
            flow.photo_id(),
            Some("p1"),
            "the create names the stored photo"
        );
        assert!(!is_waiting(&flow));
        assert!(
            !milestones(&before, &flow).contains(&Milestone::PhotoReady),
            "no second announcement on the way to the try-on"
        );
        assert!(flow.progress().value() >= bar, "the bar never goes back");
        flow.created("t1".into()).unwrap();
        flow.status(&succeeded("t1")).unwrap();
        assert!(matches!(flow.step(), Step::Done { .. }));
    }

    #[test]
    fn a_press_during_an_upload_that_fails_goes_on_unless_the_photo_was_refused() {
        let mut flow = sending();
        flow.submit().unwrap();
        flow.check_failed(Failure::Network).unwrap();
        assert!(
            matches!(flow.step(), Step::Uploading { .. }) && flow.photo_id().is_none(),
            "the try-on goes ahead and sends the photo itself"
        );
        let mut flow = sending();
        flow.submit().unwrap();
        let refused = Failure::Code(ErrorCode::ImageTooLarge);
        flow.check_failed(refused).unwrap();
        assert_eq!(flow.step(), &Step::Failed(refused));
        let mut flow = sending();
        flow.submit().unwrap();
        flow.choose_photo().unwrap();
        assert_eq!(
            (flow.step(), is_waiting(&flow)),
            (&Step::Preparing, false),
            "another photo drops the press"
        );
    }

    #[test]
    fn with_a_check_the_stored_photo_is_judged_before_it_is_ready() {
        let mut flow = sending();
        let before = flow.clone();
        flow.photo_stored("p1".into(), true).unwrap();
        assert_eq!(flow.step(), &Step::Checking);
        assert!(
            milestones(&before, &flow).is_empty(),
            "not ready before it is judged"
        );
        // The id expired and the photo was sent again while checking: only the id changes.
        flow.photo_stored("p2".into(), true).unwrap();
        assert_eq!(
            (flow.step(), flow.photo_id()),
            (&Step::Checking, Some("p2"))
        );
        flow.person_checked(&check(true, &[])).unwrap();
        assert_eq!(flow.step(), &Step::Ready);
    }

    #[test]
    fn a_failed_photo_upload_stops_only_for_a_refused_photo() {
        let mut flow = sending();
        flow.check_failed(Failure::Network).unwrap();
        assert_eq!(
            (flow.step(), flow.photo_id()),
            (&Step::Ready, None),
            "Try it on sends it then"
        );
        let mut flow = sending();
        let refused = Failure::Code(ErrorCode::ImageTooLarge);
        flow.check_failed(refused).unwrap();
        assert_eq!(flow.step(), &Step::Failed(refused));
    }

    #[test]
    fn the_photo_id_is_kept_for_another_product_and_forgotten_with_the_photo() {
        let mut flow = sending();
        flow.photo_stored("p1".into(), false).unwrap();
        flow.submit().unwrap();
        // Sent again during the create (its id had expired): the step is unchanged.
        flow.photo_stored("p2".into(), false).unwrap();
        assert!(matches!(flow.step(), Step::Uploading { .. }));
        flow.created("t1".into()).unwrap();
        flow.status(&succeeded("t1")).unwrap();
        flow.reuse_photo().unwrap();
        assert_eq!(
            flow.photo_id(),
            Some("p2"),
            "a second product sends no photo"
        );
        flow.submit().unwrap();
        flow.fail(Failure::Network).unwrap();
        flow.retry().unwrap();
        assert_eq!(flow.photo_id(), Some("p2"));
        flow.submit().unwrap();
        flow.cancel().unwrap();
        assert_eq!(flow.photo_id(), Some("p2"));
        flow.start_over().unwrap();
        assert_eq!(flow.photo_id(), None);
        let mut flow = sending();
        flow.photo_stored("p1".into(), false).unwrap();
        flow.choose_photo().unwrap();
        assert_eq!(flow.photo_id(), None, "a new photo is a new upload");
    }

    #[test]
    fn a_stored_photo_outside_an_upload_is_stale() {
        let mut flow = Flow::default();
        assert_eq!(flow.photo_stored("p".into(), false), Err(Stale));
        flow.choose_photo().unwrap();
        assert_eq!(flow.photo_stored("p".into(), false), Err(Stale));
        assert_eq!(flow.send_photo(), Err(Stale), "nothing prepared yet");
    }
}
