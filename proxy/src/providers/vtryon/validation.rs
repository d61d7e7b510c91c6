//! Vtryon's person validation (`POST /v2/tryon/person-validations/`) as the proxy's
//! [`PersonCheck`]: `is_valid` and its `issues`, which come as strings or as objects.

use serde::Deserialize;

use crate::providers::checks::issue;
use crate::providers::upstream::client::sanitize;
use crate::wire::{CheckSource, PersonCheck, Severity};

/// `is_valid` and its `issues`: strings, or objects with a code and a message.
pub(super) fn person_check(validation: Validation) -> PersonCheck {
    let severity = if validation.is_valid {
        Severity::Warning
    } else {
        Severity::Error
    };
    let mut issues: Vec<_> = validation
        .issues
        .iter()
        .map(|item| match item {
            serde_json::Value::String(text) => issue("person_unsuitable", severity, sanitize(text)),
            other => {
                let code = other["code"]
                    .as_str()
                    .map(slug)
                    .unwrap_or_else(|| "person_unsuitable".into());
                let message = ["message", "detail", "description"]
                    .iter()
                    .find_map(|f| other[f].as_str())
                    .map_or_else(|| sanitize(&other.to_string()), sanitize);
                issue(&code, severity, message)
            }
        })
        .collect();
    if !validation.is_valid && issues.is_empty() {
        issues.push(issue(
            "person_unsuitable",
            Severity::Error,
            "the photo cannot be used for a try-on".into(),
        ));
    }
    PersonCheck {
        ok: validation.is_valid,
        issues,
        garment_kinds: None,
        source: CheckSource::Provider,
    }
}

/// A vendor code as a stable snake_case word.
fn slug(code: &str) -> String {
    let mut slug: String = code
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if slug.is_empty() {
        slug = "person_unsuitable".into();
    }
    slug
}

#[derive(Deserialize)]
pub(super) struct Validation {
    pub(super) is_valid: bool,
    #[serde(default)]
    pub(super) issues: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_issues_become_check_issues() {
        let check = |json: &str| person_check(serde_json::from_str(json).unwrap());
        let ok = check(r#"{"tryon_person_image_id": 185, "is_valid": true, "issues": []}"#);
        assert!(ok.ok && ok.issues.is_empty());
        let bad = check(
            r#"{"is_valid": false, "issues": [{"code": "Low-Light", "message": "too dark"}, "cropped"]}"#,
        );
        assert!(!bad.ok);
        assert_eq!(
            (bad.issues[0].code.as_str(), bad.issues[0].message.as_str()),
            ("low_light", "too dark")
        );
        assert_eq!(
            (bad.issues[1].code.as_str(), bad.issues[1].severity),
            ("person_unsuitable", Severity::Error)
        );
        let warned = check(r#"{"is_valid": true, "issues": ["slightly blurry"]}"#);
        assert!(warned.ok);
        assert_eq!(warned.issues[0].severity, Severity::Warning);
        let bare = check(r#"{"is_valid": false, "issues": []}"#);
        assert_eq!(bare.issues.len(), 1);
    }
}
