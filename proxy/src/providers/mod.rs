//! Try-on providers behind one trait.
//!
//! The task registry drives every task through [`Provider::run`]; it never knows which vendor is
//! behind it. Each adapter lives in its own file and translates the v1 contract (categories,
//! qualities, progress, errors) to and from its vendor's API. `local` is the built-in compositor
//! used when no vendor key is configured.
//!
//! The vendor adapters (`fitroom`, `tryiton`, `vtryon`, `fitinview`) share the machinery in
//! [`upstream`]: one rate limiter per key, retries that never double-charge, estimated progress
//! and immediate result download. [`build_vendor`] picks one from [`VendorSettings`].

pub mod checks;
pub mod failover;
pub mod fitinview;
pub mod fitroom;
pub mod local;
pub mod routes;
mod settings;
pub mod standing;
pub mod tryiton;
pub mod upstream;
pub mod vtryon;

pub use crate::job::{PreparedImage, TryOnJob, TryOnOutput};
pub use settings::{
    FitInViewSettings, FitroomSettings, ProviderKind, SettingsError, TryItOnSettings, TryItOnStyle,
    UpstreamTuning, VTRYON_CHECKED_PHOTO_KEPT_FOR, VendorKind, VendorSettings, VtryonSettings,
};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::wire::{
    Category, ChecksAvailable, ErrorCode, GarmentCheck, PersonCheck, ProgressKind, TaskError,
};

/// A progress report from a running provider. The registry clamps it so the progress a
/// shopper sees never goes backwards and never reaches 100 before success.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressUpdate {
    pub progress: u8,
    pub kind: ProgressKind,
    /// Machine-readable stage name, e.g. `fitting_garment`.
    pub stage: Option<String>,
}

/// Where a running provider reports progress; implemented by the task registry.
pub trait ProgressSink: Send + Sync {
    fn report(&self, update: ProgressUpdate);

    /// The task waits for the provider's shared request budget with `ahead` calls before it
    /// (`queue_position`); `None` once it has its turn. Sinks that do not show a line ignore it.
    fn queued(&self, _ahead: Option<u32>) {}

    /// The upstream task exists: `state` (e.g. the vendor's task id) is what
    /// [`Provider::resume`] needs to poll it again after a restart instead of creating (and
    /// paying for) it a second time. The registry persists it; other sinks ignore it.
    fn upstream_started(&self, _state: serde_json::Value) {}
}

/// What a provider is and offers, for `GET /v1/config`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderInfo {
    pub name: &'static str,
    pub categories: Vec<Category>,
    /// Which checks the vendor itself performs. Not whether the check routes answer: they
    /// always do, with the proxy's local checks where this is `false` (`/v1/config` reports
    /// that as `check_sources`).
    pub checks: ChecksAvailable,
}

/// The largest images a provider actually works with, long edge in pixels: anything bigger is
/// bytes on the shopper's uplink that the vendor throws away. `GET /v1/config` publishes them
/// (capped by the operator's `--person-max-edge` and `--garment-max-edge`) and the widget
/// prepares photos to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessedSizes {
    pub person_max_edge: u32,
    pub garment_max_edge: u32,
}

impl ProcessedSizes {
    /// For a vendor whose document does not say: the sizes the widget has always prepared to.
    pub const UNDOCUMENTED: ProcessedSizes = ProcessedSizes {
        person_max_edge: 2048,
        garment_max_edge: 1024,
    };

    /// The larger of each size: what a chain of providers needs so that any of them gets
    /// all it uses.
    pub fn max(self, other: ProcessedSizes) -> ProcessedSizes {
        ProcessedSizes {
            person_max_edge: self.person_max_edge.max(other.person_max_edge),
            garment_max_edge: self.garment_max_edge.max(other.garment_max_edge),
        }
    }

    /// The smaller of each size: the provider's sizes within the operator's limits.
    pub fn min(self, other: ProcessedSizes) -> ProcessedSizes {
        ProcessedSizes {
            person_max_edge: self.person_max_edge.min(other.person_max_edge),
            garment_max_edge: self.garment_max_edge.min(other.garment_max_edge),
        }
    }
}

/// Why a provider could not finish a task. Each variant knows its contract code and whether
/// retrying can help; the HTTP/problem mapping happens once, at the edge.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The shopper's input cannot be used (vendor 4xx about the images or their content).
    #[error("input rejected ({code:?}): {message}")]
    InputRejected { code: ErrorCode, message: String },
    /// The vendor ran the model, then refused the input, and charged for it (FitInView's
    /// `content_blocked`, "credits are not refunded"). The shopper hears what `InputRejected`
    /// would tell her; budgets count it as a spent try-on.
    #[error("input rejected after billing ({code:?}): {message}")]
    RejectedBilled { code: ErrorCode, message: String },
    /// The vendor cannot take work now (5xx, 429 after retries, connection refused).
    #[error("provider unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The vendor did not answer in time, or the answer to a create was lost (then the
    /// duration is zero): the task's fate upstream is unknown and it may have been billed.
    #[error("provider timed out after {0:?}")]
    Timeout(Duration),
    /// The vendor accepted the task and then failed it.
    #[error("provider failed the task: {0}")]
    Failed(String),
    /// The merchant's account has no credit left (vendor 402). Never the shopper's fault.
    #[error("provider account is out of credit: {0}")]
    OutOfCredit(String),
    /// The vendor refused the merchant's key (401/403): a configuration error to log loudly.
    #[error("provider refused the API key: {0}")]
    Auth(String),
}

impl ProviderError {
    /// The task error the widget receives: the code and a fixed sentence for it. The vendor's
    /// own words (this error's `Display`) may quote the shopper's upload, the merchant's
    /// account or the vendor's internals, so they go to the log only (issue 13).
    pub fn to_task_error(&self) -> TaskError {
        let (code, retryable) = match self {
            Self::InputRejected { code, .. } | Self::RejectedBilled { code, .. } => (*code, false),
            Self::Unavailable { .. } | Self::Timeout(_) => (ErrorCode::ProviderUnavailable, true),
            Self::Failed(_) => (ErrorCode::ProviderFailed, true),
            // Retrying cannot help until the merchant acts: buys credit or fixes the key.
            Self::OutOfCredit(_) => (ErrorCode::ProviderOutOfCredit, false),
            Self::Auth(_) => (ErrorCode::ProviderAuth, false),
        };
        TaskError {
            code,
            message: fixed_message(code).to_owned(),
            retryable,
        }
    }

    /// Whether the vendor may have billed the call that failed so, which keeps its daily-quota
    /// reservation (`abuse`). Refusals before any work (bad input, vendor unavailable, no
    /// credit, bad key) are free; a task accepted and then failed, or whose fate is unknown
    /// after a timeout, is assumed billed. So is a refusal the vendor documents as charged
    /// ([`ProviderError::RejectedBilled`], e.g. FitInView's `content_blocked`, not refunded).
    pub fn may_be_billed(&self) -> bool {
        match self {
            // A refusal is free unless the vendor documents it as charged (`RejectedBilled`).
            Self::InputRejected { .. }
            | Self::Unavailable { .. }
            | Self::OutOfCredit(_)
            | Self::Auth(_) => false,
            Self::Failed(_) | Self::Timeout(_) | Self::RejectedBilled { .. } => true,
        }
    }

    /// Whether new tasks should go to the next provider of a failover list: the provider,
    /// not the shopper's input, is the problem.
    pub fn fails_over(&self) -> bool {
        matches!(
            self,
            Self::OutOfCredit(_) | Self::Unavailable { .. } | Self::Timeout(_) | Self::Auth(_)
        )
    }
}

/// The one sentence a browser may read for `code` (task errors, check problems): never the
/// vendor's text. Exhaustive, so a new code cannot fall back to vendor words.
pub fn fixed_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidImage => "the try-on service could not use this image",
        ErrorCode::UnsupportedType => "the try-on service does not take this image type",
        ErrorCode::ImageTooLarge => "the image is too large for the try-on service",
        ErrorCode::MissingField => "the try-on service was missing an input",
        ErrorCode::InvalidField => "the try-on service refused an input",
        ErrorCode::GarmentUrlNotAllowed => "the garment image could not be used",
        ErrorCode::NotFound => "the try-on service no longer knows this task",
        ErrorCode::NotReady => "the result is not ready yet",
        ErrorCode::PhotoNotFound => "the uploaded photo has expired; upload it again",
        ErrorCode::RateLimited => "the try-on service is busy; try again shortly",
        ErrorCode::ProviderUnavailable => "the try-on service is unavailable right now",
        ErrorCode::ProviderFailed => "the try-on service failed this try-on",
        ErrorCode::IdempotencyKeyReused | ErrorCode::IdempotencyKeyInUse => {
            "this request was already made"
        }
        ErrorCode::ProviderOutOfCredit | ErrorCode::ProviderAuth => {
            "try-on is unavailable right now"
        }
        ErrorCode::ContentRejected => "the try-on service refused the content of an image",
        ErrorCode::PoseNotDetected => "no usable body pose was found in the photo",
        ErrorCode::QuotaExhausted => "the daily try-on quota is used up",
        ErrorCode::OriginNotAllowed => "try-on is not available on this page",
        ErrorCode::Unauthorized => "the request was not signed correctly",
        ErrorCode::RequestTimeout => "the request was not received in time",
        ErrorCode::StoreUnavailable => "the try-on service cannot record tasks right now",
        ErrorCode::Internal => "something went wrong inside the try-on proxy",
    }
}

/// Whether a provider run (or check) with this outcome may have been billed, so its
/// daily-quota reservation is kept (see [`ProviderError::may_be_billed`]).
pub fn may_have_billed<T>(outcome: &Result<T, ProviderError>) -> bool {
    outcome
        .as_ref()
        .err()
        .is_none_or(ProviderError::may_be_billed)
}

/// A try-on service. One instance serves every task; implementations hold their own HTTP
/// client, key and rate limiter.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    fn info(&self) -> ProviderInfo;

    /// The image sizes this provider processes, from its vendor's document.
    fn processed_sizes(&self) -> ProcessedSizes {
        ProcessedSizes::UNDOCUMENTED
    }

    /// Runs one try-on to the end, reporting progress on the way. Called by exactly one driver
    /// per task, however many browsers watch it.
    async fn run(
        &self,
        job: TryOnJob,
        progress: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError>;

    /// Continues a task that an earlier process started upstream, from the `state` it gave
    /// [`ProgressSink::upstream_started`]: poll the vendor's task, never create it again.
    /// A task that never reported upstream state is simply `run` again (the local provider
    /// recomputes from the persisted photos). Adapters that cannot resume fail the task as
    /// retryable rather than risk a second charge.
    async fn resume(
        &self,
        job: TryOnJob,
        state: serde_json::Value,
        progress: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let _ = (job, state, progress);
        Err(ProviderError::Failed(format!(
            "the {} provider cannot resume a task after a restart",
            self.info().name
        )))
    }

    /// Is this person photo usable, before a credit is spent? Providers without a check of
    /// their own answer with the proxy's local checks (`source: local`).
    async fn check_person(&self, person: &PreparedImage) -> Result<PersonCheck, ProviderError> {
        Ok(checks::local_person_check(person))
    }

    /// What kind of garment is this, and is it usable? Local checks unless the provider has one.
    async fn check_garment(&self, garment: &PreparedImage) -> Result<GarmentCheck, ProviderError> {
        Ok(checks::local_garment_check(garment))
    }

    /// Issue 13: what one of this provider's own checks (those [`ProviderInfo::checks`] says
    /// it performs) costs the merchant, as a share of one of its try-ons (Fitroom: 0.5 credit
    /// against 1). Paid checks count against the daily quotas; free and local ones do not.
    fn check_cost(&self) -> f64 {
        0.0
    }

    /// Whether this provider waits for signed webhooks (FitInView with a webhook secret and
    /// `TRYON_PUBLIC_URL`, Vtryon with a webhook secret), so the proxy should route them here.
    fn accepts_webhooks(&self) -> bool {
        false
    }

    /// A webhook for `vendor` (the route's vendor name, as in [`ProviderInfo::name`]): its
    /// raw body and signature header, as received. Verified before anything in it is
    /// believed; duplicates and unknown tasks are accepted and ignored. A provider that is
    /// not `vendor`, or takes no webhooks, answers [`WebhookError::NotConfigured`].
    async fn webhook(
        &self,
        _vendor: &str,
        _signature: Option<&str>,
        _body: &[u8],
    ) -> Result<(), WebhookError> {
        Err(WebhookError::NotConfigured)
    }

    /// Several instances share `store` (issue 7): vendor adapters count their calls in it
    /// too, so the vendor's per-key limit holds across the instances, and keep their check
    /// answers there, so an image checked on one instance is not paid for on another, and
    /// hand vendor webhooks through it to the instance driving their task (issue 13).
    /// Nothing to share for a provider without a vendor.
    fn share_through(&self, _store: &Arc<dyn crate::store::Store>) {}

    /// The refusal every try-on would get now because of the merchant's account (out of
    /// credit, a refused key), if one stands; see [`standing::Standing`], the one provider
    /// that knows.
    fn refusing(&self) -> Option<ErrorCode> {
        None
    }
}

/// Why a webhook was refused; the route answers 404, 401 and 400 respectively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("this provider takes no webhooks")]
    NotConfigured,
    #[error("the webhook signature is missing or wrong")]
    BadSignature,
    #[error("the webhook body is not an event we know")]
    Malformed,
}

/// Builds the vendor adapter its settings describe; the caller builds `local` itself
/// (`failover::from_lookup` reads the settings and calls this for each configured vendor).
pub fn build_vendor(settings: VendorSettings) -> Result<Arc<dyn Provider>, SettingsError> {
    Ok(match settings {
        VendorSettings::Fitroom(s) => Arc::new(fitroom::Fitroom::new(s)?),
        VendorSettings::FitInView(s) => Arc::new(fitinview::FitInView::new(s)?),
        VendorSettings::TryItOn(s) => Arc::new(tryiton::TryItOn::new(s)?),
        VendorSettings::Vtryon(s) => Arc::new(vtryon::Vtryon::new(s)?),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn provider_outcomes_that_are_billed() {
        let rejected: Result<(), _> = Err(ProviderError::RejectedBilled {
            code: ErrorCode::ContentRejected,
            message: "nsfw".into(),
        });
        let refused_unbilled: Result<(), _> = Err(ProviderError::InputRejected {
            code: ErrorCode::ContentRejected,
            message: "nsfw".into(),
        });
        let unavailable: Result<(), _> = Err(ProviderError::Unavailable {
            message: "503".into(),
            retry_after: None,
        });
        let bad_photo: Result<(), _> = Err(ProviderError::InputRejected {
            code: ErrorCode::InvalidImage,
            message: "400".into(),
        });
        assert!(
            may_have_billed(&rejected),
            "issue 13: content the vendor's model refused was billed (FitInView: not refunded)"
        );
        assert!(
            !may_have_billed(&refused_unbilled),
            "a refusal no vendor documents as charged is free"
        );
        assert!(!may_have_billed(&bad_photo));
        assert!(!may_have_billed(&unavailable));
        assert!(may_have_billed(&Ok::<_, ProviderError>(())));
        assert!(may_have_billed(&Err::<(), _>(ProviderError::Failed(
            "x".into()
        ))));
        assert!(may_have_billed(&Err::<(), _>(ProviderError::Timeout(
            Duration::from_secs(1)
        ))));
    }
}
