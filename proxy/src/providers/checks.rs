//! The proxy's own pre-flight checks, for providers that have none (`"source": "local"`).
//!
//! They cost nothing and catch what a prepared photo's shape alone can tell: too few pixels to
//! be worth a credit, or a landscape frame that rarely holds a standing full body. The format
//! is already settled (every prepared image is a JPEG the proxy re-encoded).

use crate::wire::{CheckIssue, CheckSource, GarmentCheck, PersonCheck, Severity};

use super::PreparedImage;

/// Below this short edge, vendors fail or return a smudge: stop before paying.
const PERSON_MIN_SHORT_EDGE: u32 = 256;
/// Below this short edge the result is visibly soft: warn.
const PERSON_SOFT_SHORT_EDGE: u32 = 512;
/// Garments below this short edge lose their print and texture.
const GARMENT_MIN_SHORT_EDGE: u32 = 128;

/// Resolution and aspect checks of a person photo.
pub fn local_person_check(person: &PreparedImage) -> PersonCheck {
    let short_edge = person.width.min(person.height);
    let mut issues = Vec::new();
    if short_edge < PERSON_MIN_SHORT_EDGE {
        issues.push(issue(
            "low_resolution",
            Severity::Error,
            format!("the photo is {}x{} pixels; at least {PERSON_MIN_SHORT_EDGE} on the short edge are needed", person.width, person.height),
        ));
    } else if short_edge < PERSON_SOFT_SHORT_EDGE {
        issues.push(issue(
            "low_resolution",
            Severity::Warning,
            format!(
                "the photo is {}x{} pixels; the result may look soft",
                person.width, person.height
            ),
        ));
    }
    if person.width > person.height {
        issues.push(issue(
            "landscape_photo",
            Severity::Warning,
            "a portrait photo showing the whole body works best".to_owned(),
        ));
    }
    PersonCheck {
        ok: !has_error(&issues),
        issues,
        garment_kinds: None,
        source: CheckSource::Local,
    }
}

/// A garment image can only be judged by size locally; its kind stays unknown.
pub fn local_garment_check(garment: &PreparedImage) -> GarmentCheck {
    let ok = garment.width.min(garment.height) >= GARMENT_MIN_SHORT_EDGE;
    GarmentCheck {
        ok,
        kind: None,
        source: CheckSource::Local,
    }
}

/// Whether any issue stops the try-on.
pub fn has_error(issues: &[CheckIssue]) -> bool {
    issues.iter().any(|i| i.severity == Severity::Error)
}

pub(crate) fn issue(code: &str, severity: Severity, message: String) -> CheckIssue {
    CheckIssue {
        code: code.to_owned(),
        severity,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: u32, height: u32) -> PreparedImage {
        PreparedImage {
            bytes: bytes::Bytes::new(),
            width,
            height,
            content_type: "image/jpeg",
        }
    }

    #[test]
    fn a_large_portrait_photo_passes_without_issues() {
        let check = local_person_check(&image(1200, 2048));
        assert!(check.ok);
        assert!(check.issues.is_empty(), "{:?}", check.issues);
        assert_eq!(check.source, CheckSource::Local);
    }

    #[test]
    fn a_tiny_photo_is_an_error_and_a_small_one_a_warning() {
        let tiny = local_person_check(&image(200, 300));
        assert!(!tiny.ok);
        assert_eq!(tiny.issues[0].severity, Severity::Error);
        let small = local_person_check(&image(400, 600));
        assert!(small.ok);
        assert_eq!(small.issues[0].code, "low_resolution");
        assert_eq!(small.issues[0].severity, Severity::Warning);
    }

    #[test]
    fn a_landscape_photo_is_only_a_warning() {
        let check = local_person_check(&image(2048, 1536));
        assert!(check.ok);
        assert_eq!(check.issues.len(), 1);
        assert_eq!(check.issues[0].code, "landscape_photo");
    }

    #[test]
    fn garment_checks_judge_size_and_leave_the_kind_open() {
        assert!(local_garment_check(&image(1024, 1024)).ok);
        assert!(!local_garment_check(&image(64, 1024)).ok);
        assert_eq!(local_garment_check(&image(1024, 1024)).kind, None);
    }
}
