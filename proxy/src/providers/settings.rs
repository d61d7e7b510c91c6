//! What each vendor adapter needs to start: its key, base URL and upstream tuning.
//!
//! Keys come from the environment only and are held as [`SecretString`], whose `Debug` prints
//! `[REDACTED]`; nothing here ever formats a key. Base URLs can be overridden for tests and
//! regional endpoints. [`VendorSettings::from_lookup`] takes the variable lookup as a function
//! so tests can configure a vendor without touching the process environment.

use std::time::Duration;

use clap::ValueEnum;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// The try-on services the proxy can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The built-in compositor: a demo and test stand-in, not AI. Needs no key.
    Local,
    // Vendors (issue 3): keys from the environment only, read by `providers::VendorSettings`.
    /// Fitroom: FITROOM_API_KEY; FITROOM_BASE_URL [default: https://platform.fitroom.app].
    Fitroom,
    /// TryItOn: TRYITON_API_KEY; TRYITON_BASE_URL [default: https://tryiton.now];
    /// TRYITON_STATUS_PATH [default: /api/v1/status/{id}].
    Tryiton,
    /// Vtryon: VTRYON_API_KEY and VTRYON_BASE_URL (required: its document names no host);
    /// VTRYON_WEBHOOK_SECRET for the dashboard's webhook.
    Vtryon,
    /// FitInView: FITINVIEW_API_KEY; FITINVIEW_BASE_URL [default: https://api.fitinview.com];
    /// FITINVIEW_WEBHOOK_SECRET with TRYON_PUBLIC_URL for webhooks.
    Fitinview,
}

impl ProviderKind {
    /// The vendor adapter this names; `None` for the built-in compositor.
    pub fn vendor(self) -> Option<VendorKind> {
        match self {
            Self::Local => None,
            Self::Fitroom => Some(VendorKind::Fitroom),
            Self::Tryiton => Some(VendorKind::TryItOn),
            Self::Vtryon => Some(VendorKind::Vtryon),
            Self::Fitinview => Some(VendorKind::FitInView),
        }
    }
}

/// The vendors the proxy can drive (the built-in `local` compositor is not one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VendorKind {
    Fitroom,
    TryItOn,
    Vtryon,
    FitInView,
}

impl VendorKind {
    pub const ALL: [VendorKind; 4] = [Self::Fitroom, Self::TryItOn, Self::Vtryon, Self::FitInView];

    /// The name `/v1/config` reports and `TRYON_PROVIDER` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fitroom => "fitroom",
            Self::TryItOn => "tryiton",
            Self::Vtryon => "vtryon",
            Self::FitInView => "fitinview",
        }
    }

    /// The vendor `name` names (as in `TRYON_PROVIDER`), if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Prefix of the vendor's environment variables, e.g. `FITROOM` in `FITROOM_API_KEY`.
    pub fn env_prefix(self) -> &'static str {
        match self {
            Self::Fitroom => "FITROOM",
            Self::TryItOn => "TRYITON",
            Self::Vtryon => "VTRYON",
            Self::FitInView => "FITINVIEW",
        }
    }

    /// The documented API host; Vtryon's document names none, so it must be configured.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::Fitroom => Some("https://platform.fitroom.app"),
            Self::TryItOn => Some("https://tryiton.now"),
            Self::Vtryon => None,
            Self::FitInView => Some("https://api.fitinview.com"),
        }
    }
}

/// Why a vendor cannot be configured; printed at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is not set: the provider needs its API key in the environment")]
    MissingKey(String),
    #[error(
        "{0} is not set: this provider's document names no host, so its base URL must be configured"
    )]
    MissingBaseUrl(String),
    #[error("{name} is not a valid http(s) URL: {value:?}")]
    BadUrl { name: String, value: String },
    #[error("{name} must be a positive whole number, not {value:?}")]
    BadNumber { name: String, value: String },
    #[error("{name} must be one of {allowed}, not {value:?}")]
    BadChoice {
        name: String,
        value: String,
        allowed: &'static str,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("{0} must be `whsec_` followed by base64, as the vendor's dashboard shows it")]
    BadWebhookSecret(&'static str),
}

/// Knobs of the upstream discipline. Defaults follow each vendor's document; tests shrink the
/// windows and intervals so a minute of traffic takes a second.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamTuning {
    /// Calls the vendor allows per `rate_window` and key, counting every call.
    pub rate_limit: u32,
    pub rate_window: Duration,
    /// Pause between two status polls of one task.
    pub poll_interval: Duration,
    /// One HTTP exchange, upload included.
    pub request_timeout: Duration,
    /// A whole task, from create to downloaded result.
    pub task_timeout: Duration,
    /// Replaces the documented task duration (every quality) that progress is estimated
    /// from, until durations have been observed.
    pub expected_duration: Option<Duration>,
    /// Attempts per call when the vendor answers 429/503 (or 5xx to a safe call).
    pub max_attempts: u32,
    /// Full-jitter backoff: the n-th retry sleeps `rand(0, min(cap, base * 2^n))`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// A `Retry-After` longer than this is not waited out: the call fails as unavailable.
    pub max_retry_after: Duration,
    /// Largest result image the proxy downloads.
    pub max_result_bytes: u64,
}

impl UpstreamTuning {
    /// Defaults for `kind`, from its document where it says.
    pub fn for_vendor(kind: VendorKind) -> Self {
        let base = Self {
            rate_limit: 60,
            rate_window: Duration::from_secs(60),
            poll_interval: Duration::from_millis(1500),
            request_timeout: Duration::from_secs(60),
            task_timeout: Duration::from_secs(180),
            expected_duration: None,
            max_attempts: 3,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(30),
            max_result_bytes: 25_000_000,
        };
        match kind {
            // "60 requests per minute per API key"; "poll every 1-2 seconds".
            VendorKind::Fitroom => base,
            // Neither limit nor interval documented: 60/min and 1.5 s until told otherwise.
            VendorKind::TryItOn => base,
            // "poll the server (e.g. every 3-5 seconds)"; no limit documented.
            VendorKind::Vtryon => Self {
                poll_interval: Duration::from_secs(3),
                ..base
            },
            // The example account reports 20/min; the real figure is read from
            // `GET /api/v1/account` at first use. Sync mode may block 90 s.
            VendorKind::FitInView => Self {
                rate_limit: 20,
                poll_interval: Duration::from_secs(3),
                ..base
            },
        }
    }
}

/// Fitroom: `X-API-KEY`, multipart creates, reported progress, model and clothes checks.
#[derive(Debug, Clone)]
pub struct FitroomSettings {
    pub api_key: SecretString,
    pub base_url: Url,
    pub tuning: UpstreamTuning,
}

/// TryItOn: bearer key, JSON with data URLs, status polling on a configurable path.
#[derive(Debug, Clone)]
pub struct TryItOnSettings {
    pub api_key: SecretString,
    pub base_url: Url,
    /// The status path is not in TryItOn's document; `{id}` is replaced by the job id.
    pub status_path: String,
    /// Which request form creates send (`TRYITON_API_STYLE`); answers of either form are
    /// understood whatever this says.
    pub style: TryItOnStyle,
    pub tuning: UpstreamTuning,
}

/// TryItOn's two request forms. `Documented` is our copy of its document:
/// `POST /api/v1/tryon/clothes` with `category` `auto|tops|bottoms|one-pieces` and a `seed`.
/// `Sdk2026` is what its 2026 SDKs send: `POST /api/v1/tryon/fashion` with
/// `category: "clothing"` and a `subcategory` (`tops|bottoms|dresses`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TryItOnStyle {
    #[default]
    Documented,
    Sdk2026,
}

impl TryItOnStyle {
    pub const ALLOWED: &'static str = "documented | sdk-2026";

    /// The value `TRYITON_API_STYLE` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Documented => "documented",
            Self::Sdk2026 => "sdk-2026",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Documented, Self::Sdk2026]
            .into_iter()
            .find(|style| style.name() == value)
    }
}

/// The status path used when `TRYITON_STATUS_PATH` is not set.
pub const TRYITON_DEFAULT_STATUS_PATH: &str = "/api/v1/status/{id}";

/// Vtryon: `x-api-key`, uploads first, tasks by image ids, optional webhooks.
#[derive(Debug, Clone)]
pub struct VtryonSettings {
    pub api_key: SecretString,
    pub base_url: Url,
    /// `whsec_…` (`VTRYON_WEBHOOK_SECRET`): the secret of the webhook set in Vtryon's
    /// dashboard to `<public URL>/v1/webhooks/vtryon`; tasks then end as soon as it arrives.
    pub webhook_secret: Option<SecretString>,
    /// How long a photo uploaded for a person check stays at Vtryon for the try-on that
    /// usually follows, before it is deleted unused.
    pub checked_photo_kept_for: Duration,
    pub tuning: UpstreamTuning,
}

/// [`VtryonSettings::checked_photo_kept_for`] by default: time to read the check and press
/// the button.
pub const VTRYON_CHECKED_PHOTO_KEPT_FOR: Duration = Duration::from_secs(300);

/// FitInView: bearer `fiv_…` key, JSON with raw base64, idempotent creates, optional webhooks.
#[derive(Debug, Clone)]
pub struct FitInViewSettings {
    pub api_key: SecretString,
    pub base_url: Url,
    /// `whsec_…`; with `public_url`, tasks ask for a webhook instead of relying on polls alone.
    pub webhook_secret: Option<SecretString>,
    /// The proxy's public base URL (`TRYON_PUBLIC_URL`), where FitInView posts webhooks.
    pub public_url: Option<Url>,
    pub tuning: UpstreamTuning,
}

/// One configured vendor, ready for [`super::build_vendor`].
#[derive(Debug, Clone)]
pub enum VendorSettings {
    Fitroom(FitroomSettings),
    TryItOn(TryItOnSettings),
    Vtryon(VtryonSettings),
    FitInView(FitInViewSettings),
}

impl VendorSettings {
    /// Reads `<PREFIX>_API_KEY`, `<PREFIX>_BASE_URL`, `<PREFIX>_RATE_LIMIT_PER_MIN` and the
    /// vendor's own extras (`TRYITON_STATUS_PATH`, `TRYITON_API_STYLE`, `FITINVIEW_WEBHOOK_SECRET`,
    /// `TRYON_PUBLIC_URL`, `VTRYON_WEBHOOK_SECRET`) through `lookup`.
    pub fn from_lookup(
        kind: VendorKind,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let prefix = kind.env_prefix();
        let var = |suffix: &str| format!("{prefix}_{suffix}");
        let present = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let key_var = var("API_KEY");
        let api_key =
            SecretString::from(present(&key_var).ok_or(SettingsError::MissingKey(key_var))?);
        let url_var = var("BASE_URL");
        let base_url = match present(&url_var) {
            Some(value) => parse_url(&url_var, &value)?,
            None => match kind.default_base_url() {
                Some(default) => parse_url(&url_var, default)?,
                None => return Err(SettingsError::MissingBaseUrl(url_var)),
            },
        };
        let mut tuning = UpstreamTuning::for_vendor(kind);
        let limit_var = var("RATE_LIMIT_PER_MIN");
        if let Some(value) = present(&limit_var) {
            tuning.rate_limit =
                value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(SettingsError::BadNumber {
                        name: limit_var,
                        value,
                    })?;
            tuning.rate_window = Duration::from_secs(60);
        }
        Ok(match kind {
            VendorKind::Fitroom => Self::Fitroom(FitroomSettings {
                api_key,
                base_url,
                tuning,
            }),
            VendorKind::TryItOn => Self::TryItOn(TryItOnSettings {
                api_key,
                base_url,
                status_path: present(&var("STATUS_PATH"))
                    .unwrap_or_else(|| TRYITON_DEFAULT_STATUS_PATH.to_owned()),
                style: match present(&var("API_STYLE")) {
                    None => TryItOnStyle::default(),
                    Some(value) => {
                        TryItOnStyle::parse(&value).ok_or_else(|| SettingsError::BadChoice {
                            name: var("API_STYLE"),
                            value,
                            allowed: TryItOnStyle::ALLOWED,
                        })?
                    }
                },
                tuning,
            }),
            VendorKind::Vtryon => Self::Vtryon(VtryonSettings {
                api_key,
                base_url,
                webhook_secret: present(&var("WEBHOOK_SECRET")).map(SecretString::from),
                checked_photo_kept_for: VTRYON_CHECKED_PHOTO_KEPT_FOR,
                tuning,
            }),
            VendorKind::FitInView => Self::FitInView(FitInViewSettings {
                api_key,
                base_url,
                webhook_secret: present(&var("WEBHOOK_SECRET")).map(SecretString::from),
                public_url: present("TRYON_PUBLIC_URL")
                    .map(|v| parse_url("TRYON_PUBLIC_URL", &v))
                    .transpose()?,
                tuning,
            }),
        })
    }

    pub fn kind(&self) -> VendorKind {
        match self {
            Self::Fitroom(_) => VendorKind::Fitroom,
            Self::TryItOn(_) => VendorKind::TryItOn,
            Self::Vtryon(_) => VendorKind::Vtryon,
            Self::FitInView(_) => VendorKind::FitInView,
        }
    }
}

fn parse_url(name: &str, value: &str) -> Result<Url, SettingsError> {
    let bad = || SettingsError::BadUrl {
        name: name.to_owned(),
        value: value.to_owned(),
    };
    let url = Url::parse(value).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn documented_hosts_are_the_defaults() {
        let s =
            VendorSettings::from_lookup(VendorKind::Fitroom, lookup(&[("FITROOM_API_KEY", "k")]))
                .unwrap();
        let VendorSettings::Fitroom(s) = s else {
            panic!("wrong kind")
        };
        assert_eq!(s.base_url.as_str(), "https://platform.fitroom.app/");
        assert_eq!(s.api_key.expose_secret(), "k");
        let s =
            VendorSettings::from_lookup(VendorKind::TryItOn, lookup(&[("TRYITON_API_KEY", "k")]))
                .unwrap();
        let VendorSettings::TryItOn(s) = s else {
            panic!("wrong kind")
        };
        assert_eq!(s.status_path, "/api/v1/status/{id}");
        assert_eq!(s.style, TryItOnStyle::Documented);
    }

    #[test]
    fn the_tryiton_style_is_read_and_checked() {
        let style = |value: &str| {
            VendorSettings::from_lookup(
                VendorKind::TryItOn,
                lookup(&[("TRYITON_API_KEY", "k"), ("TRYITON_API_STYLE", value)]),
            )
        };
        let Ok(VendorSettings::TryItOn(s)) = style("sdk-2026") else {
            panic!("sdk-2026 is a style")
        };
        assert_eq!(s.style, TryItOnStyle::Sdk2026);
        let err = style("newest").unwrap_err();
        assert!(err.to_string().contains("TRYITON_API_STYLE"), "{err}");
    }

    #[test]
    fn names_round_trip() {
        for kind in VendorKind::ALL {
            assert_eq!(VendorKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(VendorKind::parse("local"), None);
    }

    #[test]
    fn vtryon_requires_its_base_url_and_every_vendor_its_key() {
        let err =
            VendorSettings::from_lookup(VendorKind::Vtryon, lookup(&[("VTRYON_API_KEY", "k")]))
                .unwrap_err();
        assert!(err.to_string().contains("VTRYON_BASE_URL"), "{err}");
        for kind in VendorKind::ALL {
            let err = VendorSettings::from_lookup(kind, lookup(&[])).unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("{}_API_KEY", kind.env_prefix())),
                "{err}"
            );
        }
    }

    #[test]
    fn overrides_are_read_and_checked() {
        let s = VendorSettings::from_lookup(
            VendorKind::TryItOn,
            lookup(&[
                ("TRYITON_API_KEY", "k"),
                ("TRYITON_BASE_URL", "http://127.0.0.1:9/"),
                ("TRYITON_STATUS_PATH", "/api/v1/tryon/{id}"),
                ("TRYITON_RATE_LIMIT_PER_MIN", "30"),
            ]),
        )
        .unwrap();
        let VendorSettings::TryItOn(s) = s else {
            panic!("wrong kind")
        };
        assert_eq!(s.base_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(s.status_path, "/api/v1/tryon/{id}");
        assert_eq!(s.tuning.rate_limit, 30);
        let bad = VendorSettings::from_lookup(
            VendorKind::Fitroom,
            lookup(&[("FITROOM_API_KEY", "k"), ("FITROOM_BASE_URL", "ftp://x")]),
        );
        assert!(matches!(bad, Err(SettingsError::BadUrl { .. })));
    }

    #[test]
    fn debug_output_never_shows_a_key() {
        let s = VendorSettings::from_lookup(
            VendorKind::FitInView,
            lookup(&[
                ("FITINVIEW_API_KEY", "fiv_live_SECRETVALUE"),
                ("FITINVIEW_WEBHOOK_SECRET", "whsec_HUSH"),
            ]),
        )
        .unwrap();
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("SECRETVALUE") && !debug.contains("HUSH"),
            "{debug}"
        );
    }
}
