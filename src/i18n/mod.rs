//! Every sentence the shopper reads, one table per locale.
//!
//! A [`Key`] names a sentence; each locale is one file with one exhaustive `match` over the keys,
//! so adding a key (or an error code of the contract, through [`failure_key`]) does not compile
//! until every locale has its sentence. Placeholders are `{name}` and are filled by [`fill`].
//! The language comes from the `locale` attribute, else the page's `<html lang>`, else English.
//!
//! Only English is compiled into the browser's wasm. `cargo xtask dist` writes every other table
//! (from these same files, through `examples/locale_tables.rs`) as a small JSON file beside it,
//! and the loader fetches the page's one together with the wasm and hands it to
//! [`mount`](crate::mount), which [`register`]s it: six tables in the wasm would be a fifth of
//! what a shopper downloads before the dialog opens, for one language she reads.

#[cfg(not(target_arch = "wasm32"))]
mod de;
mod en;
#[cfg(not(target_arch = "wasm32"))]
mod es;
#[cfg(not(target_arch = "wasm32"))]
mod fr;
#[cfg(not(target_arch = "wasm32"))]
mod ja;
#[cfg(not(target_arch = "wasm32"))]
mod pt_br;
mod registered;

pub use registered::register;

use tryon_proxy::wire::ErrorCode;

use crate::state::{Failure, PhotoIssue, StatusLine};

/// The locales the widget speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    En,
    De,
    Fr,
    Es,
    Ja,
    PtBr,
}

impl Locale {
    pub const ALL: [Locale; 6] = [Self::En, Self::De, Self::Fr, Self::Es, Self::Ja, Self::PtBr];

    /// The BCP 47 tag, for the dialog's `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
            Self::Fr => "fr",
            Self::Es => "es",
            Self::Ja => "ja",
            Self::PtBr => "pt-BR",
        }
    }

    /// Matches a language tag by its primary language (`de-AT` → German, `pt` → Brazilian
    /// Portuguese, the only Portuguese we have); `None` for languages we do not speak.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Some(match primary.as_str() {
            "en" => Self::En,
            "de" => Self::De,
            "fr" => Self::Fr,
            "es" => Self::Es,
            "ja" => Self::Ja,
            "pt" => Self::PtBr,
            _ => return None,
        })
    }

    /// The `locale` attribute if we speak it, else the page's language, else English.
    pub fn resolve(attribute: Option<&str>, page_lang: Option<&str>) -> Self {
        attribute
            .and_then(Self::from_tag)
            .or_else(|| page_lang.and_then(Self::from_tag))
            .unwrap_or_default()
    }

    /// The sentence for `key`, placeholders unfilled: from the table registered for this
    /// locale, else the compiled-in one, else English.
    pub fn text(self, key: Key) -> &'static str {
        registered::text(self, key)
            .or_else(|| self.compiled_in(key))
            .unwrap_or_else(|| en::text(key))
    }

    /// Natively (tests, the table files' generator) every table is compiled in.
    #[cfg(not(target_arch = "wasm32"))]
    fn compiled_in(self, key: Key) -> Option<&'static str> {
        Some(match self {
            Self::En => en::text(key),
            Self::De => de::text(key),
            Self::Fr => fr::text(key),
            Self::Es => es::text(key),
            Self::Ja => ja::text(key),
            Self::PtBr => pt_br::text(key),
        })
    }

    /// In the browser only English is compiled in; another locale's sentences are the table the
    /// loader fetched and [`mount`](crate::mount) registered.
    #[cfg(target_arch = "wasm32")]
    fn compiled_in(self, key: Key) -> Option<&'static str> {
        (self == Self::En).then(|| en::text(key))
    }

    /// Every sentence in [`Key::ALL`]'s order: the file `cargo xtask dist` ships for this locale.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn table(self) -> Vec<&'static str> {
        Key::ALL.into_iter().map(|key| self.text(key)).collect()
    }

    /// The line under the progress bar, filled in.
    pub fn status_line(self, line: StatusLine) -> String {
        match line {
            StatusLine::Preparing => self.text(Key::Preparing).to_owned(),
            StatusLine::Checking => self.text(Key::CheckingPhoto).to_owned(),
            StatusLine::Uploading { percent } => {
                fill(self.text(Key::Uploading), &[("percent", percent.into())])
            }
            StatusLine::Starting => self.text(Key::Starting).to_owned(),
            StatusLine::InLine { ahead } => {
                fill(self.text(Key::InLine), &[("ahead", ahead.into())])
            }
            StatusLine::Next => self.text(Key::Next).to_owned(),
            StatusLine::Creating { percent } => {
                fill(self.text(Key::Creating), &[("percent", percent.into())])
            }
            StatusLine::Done => self.text(Key::Done).to_owned(),
        }
    }

    pub fn failure(self, failure: Failure) -> &'static str {
        self.text(failure_key(failure))
    }

    /// The sentence for a finding of the person check (a refusal or a warning).
    pub fn photo_issue(self, issue: PhotoIssue) -> &'static str {
        self.text(photo_issue_key(issue))
    }
}

/// Names of every shopper-facing sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// The button on the product page. The loader (`www/widget.js`) draws it before the wasm
    /// arrives and carries a copy of this key's text per locale; a test keeps them equal.
    ButtonLabel,
    DialogTitle,
    Close,
    TipsHeading,
    TipFullBody,
    TipFacingForward,
    TipPlainBackground,
    ChoosePhoto,
    ChooseAnother,
    PreviewAlt,
    /// `{kb}`, `{width}`, `{height}`.
    PhotoFacts,
    MetadataRemoved,
    /// How long the proxy keeps the uploaded photo (`photo_ttl_s`), `{min}` minutes.
    PhotoKept,
    Submit,
    ProgressLabel,
    Preparing,
    /// `{percent}`.
    Uploading,
    Starting,
    /// `{ahead}`.
    InLine,
    Next,
    /// `{percent}`.
    Creating,
    Done,
    ResultAlt,
    TryAnother,
    TryAgain,
    AiGenerated,
    /// The before/after divider (a range input).
    CompareLabel,
    BeforeAlt,
    Download,
    Share,
    AddToCart,
    /// The opt-in checkbox; the photo stays in this browser's IndexedDB.
    RememberPhoto,
    RememberHint,
    PhotoRemembered,
    ForgetPhoto,
    PhotoForgotten,
    DeletePhoto,
    PhotoDeleted,
    DeleteFailed,
    Cancel,
    ErrorHeading,
    ErrInvalidImage,
    ErrUnsupportedType,
    ErrImageTooLarge,
    ErrMissingField,
    ErrInvalidField,
    ErrGarmentUrlNotAllowed,
    ErrNotFound,
    ErrNotReady,
    ErrRateLimited,
    ErrProviderUnavailable,
    ErrProviderFailed,
    ErrIdempotencyKeyReused,
    ErrIdempotencyKeyInUse,
    ErrContentRejected,
    ErrPoseNotDetected,
    ErrUnauthorized,
    ErrRequestTimeout,
    ErrStoreUnavailable,
    ErrInternal,
    /// Shown only if uploading the photo again failed too: an expired id is re-sent silently.
    ErrPhotoNotFound,
    ErrNetwork,
    ErrUploadFailed,
    ErrUnexpectedAnswer,
    ErrResultUnavailable,
    ErrPreparerUnavailable,
    ErrNoGarment,
    /// The status line while the person check judges the photo.
    CheckingPhoto,
    /// Under the theme editor's canned result.
    ExampleNotice,
    IssueNoPerson,
    IssueMultiplePeople,
    IssueNotFacingForward,
    IssuePersonTooSmall,
    IssuePersonSlightlySmall,
    IssuePoseUnclear,
    IssuePoseUnsupported,
    IssueTooFewPixels,
    IssueSoftPhoto,
    IssueLandscapePhoto,
    IssueUnsuitable,
    IssueMayDisappoint,
    /// The neutral sentence of [`Step::Unavailable`](crate::state::Step::Unavailable): try-on
    /// cannot work here for a reason that is the merchant's, not the shopper's.
    Unavailable,
}

impl Key {
    /// Every key in declaration order, so a key's position here is `key as usize` (a test keeps
    /// it so): the shipped tables are lists in this order.
    pub const ALL: [Key; 82] = [
        Self::ButtonLabel,
        Self::DialogTitle,
        Self::Close,
        Self::TipsHeading,
        Self::TipFullBody,
        Self::TipFacingForward,
        Self::TipPlainBackground,
        Self::ChoosePhoto,
        Self::ChooseAnother,
        Self::PreviewAlt,
        Self::PhotoFacts,
        Self::MetadataRemoved,
        Self::PhotoKept,
        Self::Submit,
        Self::ProgressLabel,
        Self::Preparing,
        Self::Uploading,
        Self::Starting,
        Self::InLine,
        Self::Next,
        Self::Creating,
        Self::Done,
        Self::ResultAlt,
        Self::TryAnother,
        Self::TryAgain,
        Self::AiGenerated,
        Self::CompareLabel,
        Self::BeforeAlt,
        Self::Download,
        Self::Share,
        Self::AddToCart,
        Self::RememberPhoto,
        Self::RememberHint,
        Self::PhotoRemembered,
        Self::ForgetPhoto,
        Self::PhotoForgotten,
        Self::DeletePhoto,
        Self::PhotoDeleted,
        Self::DeleteFailed,
        Self::Cancel,
        Self::ErrorHeading,
        Self::ErrInvalidImage,
        Self::ErrUnsupportedType,
        Self::ErrImageTooLarge,
        Self::ErrMissingField,
        Self::ErrInvalidField,
        Self::ErrGarmentUrlNotAllowed,
        Self::ErrNotFound,
        Self::ErrNotReady,
        Self::ErrRateLimited,
        Self::ErrProviderUnavailable,
        Self::ErrProviderFailed,
        Self::ErrIdempotencyKeyReused,
        Self::ErrIdempotencyKeyInUse,
        Self::ErrContentRejected,
        Self::ErrPoseNotDetected,
        Self::ErrUnauthorized,
        Self::ErrRequestTimeout,
        Self::ErrStoreUnavailable,
        Self::ErrInternal,
        Self::ErrPhotoNotFound,
        Self::ErrNetwork,
        Self::ErrUploadFailed,
        Self::ErrUnexpectedAnswer,
        Self::ErrResultUnavailable,
        Self::ErrPreparerUnavailable,
        Self::ErrNoGarment,
        Self::CheckingPhoto,
        Self::ExampleNotice,
        Self::IssueNoPerson,
        Self::IssueMultiplePeople,
        Self::IssueNotFacingForward,
        Self::IssuePersonTooSmall,
        Self::IssuePersonSlightlySmall,
        Self::IssuePoseUnclear,
        Self::IssuePoseUnsupported,
        Self::IssueTooFewPixels,
        Self::IssueSoftPhoto,
        Self::IssueLandscapePhoto,
        Self::IssueUnsuitable,
        Self::IssueMayDisappoint,
        Self::Unavailable,
    ];
}

/// The sentence for a failure. Exhaustive over the contract's codes: a new code does not compile
/// until it has its sentence.
pub fn failure_key(failure: Failure) -> Key {
    match failure {
        Failure::Code(code) => match code {
            ErrorCode::InvalidImage => Key::ErrInvalidImage,
            ErrorCode::UnsupportedType => Key::ErrUnsupportedType,
            ErrorCode::ImageTooLarge => Key::ErrImageTooLarge,
            ErrorCode::MissingField => Key::ErrMissingField,
            ErrorCode::InvalidField => Key::ErrInvalidField,
            ErrorCode::GarmentUrlNotAllowed => Key::ErrGarmentUrlNotAllowed,
            ErrorCode::NotFound => Key::ErrNotFound,
            ErrorCode::NotReady => Key::ErrNotReady,
            ErrorCode::RateLimited => Key::ErrRateLimited,
            ErrorCode::ProviderUnavailable => Key::ErrProviderUnavailable,
            ErrorCode::ProviderFailed => Key::ErrProviderFailed,
            ErrorCode::IdempotencyKeyReused => Key::ErrIdempotencyKeyReused,
            ErrorCode::IdempotencyKeyInUse => Key::ErrIdempotencyKeyInUse,
            // Only the merchant can fix these: the shopper reads the neutral sentence of the
            // unavailable step, never a cause she cannot act on.
            ErrorCode::ProviderOutOfCredit
            | ErrorCode::ProviderAuth
            | ErrorCode::QuotaExhausted
            | ErrorCode::OriginNotAllowed => Key::Unavailable,
            ErrorCode::ContentRejected => Key::ErrContentRejected,
            ErrorCode::PoseNotDetected => Key::ErrPoseNotDetected,
            ErrorCode::Unauthorized => Key::ErrUnauthorized,
            ErrorCode::RequestTimeout => Key::ErrRequestTimeout,
            ErrorCode::StoreUnavailable => Key::ErrStoreUnavailable,
            ErrorCode::Internal => Key::ErrInternal,
            ErrorCode::PhotoNotFound => Key::ErrPhotoNotFound,
        },
        Failure::Network => Key::ErrNetwork,
        Failure::UploadFailed => Key::ErrUploadFailed,
        Failure::UnexpectedAnswer => Key::ErrUnexpectedAnswer,
        Failure::ResultUnavailable => Key::ErrResultUnavailable,
        Failure::PreparerUnavailable => Key::ErrPreparerUnavailable,
        Failure::NoGarment => Key::ErrNoGarment,
        Failure::PhotoRejected(issue) => photo_issue_key(issue),
    }
}

/// The sentence for a finding of the person check; exhaustive over [`PhotoIssue`].
pub fn photo_issue_key(issue: PhotoIssue) -> Key {
    match issue {
        PhotoIssue::NoPerson => Key::IssueNoPerson,
        PhotoIssue::MultiplePeople => Key::IssueMultiplePeople,
        PhotoIssue::NotFacingForward => Key::IssueNotFacingForward,
        PhotoIssue::PersonTooSmall => Key::IssuePersonTooSmall,
        PhotoIssue::PersonSlightlySmall => Key::IssuePersonSlightlySmall,
        PhotoIssue::PoseUnclear => Key::IssuePoseUnclear,
        PhotoIssue::PoseUnsupported => Key::IssuePoseUnsupported,
        PhotoIssue::TooFewPixels => Key::IssueTooFewPixels,
        PhotoIssue::SoftPhoto => Key::IssueSoftPhoto,
        PhotoIssue::LandscapePhoto => Key::IssueLandscapePhoto,
        PhotoIssue::Unsuitable => Key::IssueUnsuitable,
        PhotoIssue::MayDisappoint => Key::IssueMayDisappoint,
    }
}

/// Replaces each `{name}` in `template` with its argument; other braces stay as they are.
/// One pass with single-character searches: `str::replace` with a string pattern linked core's
/// substring searcher (about 1.5 KB of wasm) for this function alone.
pub fn fill(template: &str, args: &[(&str, u64)]) -> String {
    let mut text = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let argument = after.find('}').and_then(|close| {
            let name = &after[..close];
            let value = args.iter().find(|(n, _)| *n == name)?.1;
            Some((close, value))
        });
        match argument {
            Some((close, value)) => {
                text.push_str(&value.to_string());
                rest = &after[close + 1..];
            }
            None => {
                text.push('{');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;
    use crate::state::tests::CLIENT_FAILURES;

    fn placeholders(text: &str) -> BTreeSet<&str> {
        text.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect()
    }

    #[test]
    fn every_locale_has_a_sentence_for_every_key_with_the_same_placeholders() {
        for key in Key::ALL {
            let english = placeholders(Locale::En.text(key));
            for locale in Locale::ALL {
                let text = locale.text(key);
                assert!(
                    !text.trim().is_empty(),
                    "{locale:?} has an empty sentence for {key:?}"
                );
                assert_eq!(
                    placeholders(text),
                    english,
                    "{locale:?} {key:?} = {text:?} must use the same placeholders as English"
                );
            }
        }
    }

    #[test]
    fn key_list_is_in_declaration_order() {
        for (position, key) in Key::ALL.into_iter().enumerate() {
            assert_eq!(
                key as usize, position,
                "Key::ALL lists {key:?} out of order"
            );
        }
    }

    #[test]
    fn shipped_tables_hold_every_sentence_on_its_key_position() {
        for locale in Locale::ALL {
            let table = locale.table();
            assert_eq!(table.len(), Key::ALL.len());
            for key in Key::ALL {
                assert_eq!(table[key as usize], locale.text(key), "{locale:?} {key:?}");
            }
        }
    }

    #[test]
    fn key_list_is_complete_and_without_repeats() {
        let distinct: HashSet<Key> = Key::ALL.into_iter().collect();
        assert_eq!(distinct.len(), Key::ALL.len(), "Key::ALL repeats a key");
        // Every key reached through a failure or a status line must be listed, or the
        // locale test above would not look at it.
        let mut reached: Vec<Key> = ErrorCode::ALL
            .into_iter()
            .map(|c| failure_key(Failure::Code(c)))
            .collect();
        reached.extend(CLIENT_FAILURES.map(failure_key));
        for key in reached {
            assert!(distinct.contains(&key), "{key:?} is missing from Key::ALL");
        }
    }

    #[test]
    fn every_failure_has_its_own_sentence_in_every_locale() {
        let (unavailable, mut failures): (Vec<Failure>, Vec<Failure>) = ErrorCode::ALL
            .into_iter()
            .map(Failure::Code)
            .partition(|f| f.unavailable().is_some());
        // What only the merchant can fix is one neutral sentence, the unavailable step's.
        assert_eq!(unavailable.len(), 4);
        for failure in unavailable {
            assert_eq!(failure_key(failure), Key::Unavailable, "{failure:?}");
        }
        failures.extend(CLIENT_FAILURES);
        for locale in Locale::ALL {
            let sentences: HashSet<&str> = failures.iter().map(|f| locale.failure(*f)).collect();
            assert_eq!(
                sentences.len(),
                failures.len(),
                "{locale:?} says the same thing for two failures"
            );
        }
    }

    #[test]
    fn translations_are_translated() {
        for locale in Locale::ALL.into_iter().filter(|l| *l != Locale::En) {
            let same: Vec<Key> = Key::ALL
                .into_iter()
                .filter(|k| locale.text(*k) == Locale::En.text(*k))
                .collect();
            assert!(same.len() <= 1, "{locale:?} copies English for {same:?}");
        }
    }

    #[test]
    fn status_lines_read_as_the_issue_shows_them() {
        let en = Locale::En;
        assert_eq!(en.status_line(StatusLine::Preparing), "Preparing photo");
        assert_eq!(
            en.status_line(StatusLine::Uploading { percent: 42 }),
            "Uploading 42%"
        );
        assert_eq!(
            en.status_line(StatusLine::InLine { ahead: 2 }),
            "In line: 2 ahead of you"
        );
        assert_eq!(
            en.status_line(StatusLine::Creating { percent: 63 }),
            "Creating your look 63%"
        );
        assert_eq!(en.status_line(StatusLine::Done), "Done");
        assert_eq!(
            Locale::De.status_line(StatusLine::Uploading { percent: 7 }),
            "Wird hochgeladen: 7 %"
        );
    }

    #[test]
    fn locale_comes_from_the_attribute_then_the_page_then_english() {
        assert_eq!(Locale::resolve(Some("de"), Some("fr")), Locale::De);
        assert_eq!(Locale::resolve(Some("xx"), Some("fr-CA")), Locale::Fr);
        assert_eq!(Locale::resolve(None, Some("pt-BR")), Locale::PtBr);
        assert_eq!(Locale::resolve(None, Some("pt_PT")), Locale::PtBr);
        assert_eq!(Locale::resolve(None, Some("JA")), Locale::Ja);
        assert_eq!(Locale::resolve(Some(""), Some("")), Locale::En);
        assert_eq!(Locale::resolve(None, None), Locale::En);
        for locale in Locale::ALL {
            assert_eq!(Locale::from_tag(locale.tag()), Some(locale));
        }
    }

    #[test]
    fn fill_replaces_every_named_placeholder() {
        let text = fill(
            Locale::En.text(Key::PhotoFacts),
            &[("kb", 391), ("width", 1536), ("height", 2048)],
        );
        assert_eq!(text, "391 KB · 1536 × 2048 px");
    }

    #[test]
    fn fill_leaves_unknown_placeholders_and_stray_braces_alone() {
        assert_eq!(fill("{a}{a} {b} {} { {a", &[("a", 7)]), "77 {b} {} { {a");
    }

    /// The loader draws the button before the wasm arrives, so it carries the label per locale
    /// itself; this keeps its copy equal to the tables.
    #[test]
    fn the_loader_draws_the_same_button_label_as_the_tables() {
        let loader = include_str!("../../www/widget.js");
        for locale in Locale::ALL {
            let label = locale.text(Key::ButtonLabel);
            assert!(
                loader.contains(&format!("\"{label}\"")),
                "www/widget.js lacks {locale:?} label {label:?}"
            );
        }
    }
}
