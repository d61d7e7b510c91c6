//! Reading the `POST /v1/tryons` (and `POST /v1/photos`) multipart body within its byte
//! limits, and checking the form.
//!
//! Limits are enforced while streaming, never after buffering: the whole body is capped by
//! axum's body limit (set on the route), and each file field by [`read_field`], which stops at
//! the first chunk past the cap. The form's fingerprint (a hash of every known field) is what
//! `Idempotency-Key` compares, so it is computed here from the bytes as received.

use std::collections::BTreeMap;

use axum::extract::Multipart;
use axum::extract::multipart::{Field, MultipartError};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::job::PreparedImage;
use crate::wire::{Category, Quality, fields};

/// Text fields are short words or a URL.
const MAX_TEXT_BYTES: u64 = 8 * 1024;
/// A URL part is cut off at the fetcher's own cap, while streaming.
const MAX_URL_BYTES: u64 = crate::garment_fetch::policy::MAX_URL_BYTES as u64;

const FILE_FIELDS: [&str; 3] = [fields::PERSON, fields::GARMENT, fields::LOWER_GARMENT];
const TEXT_FIELDS: [&str; 5] = [
    fields::PHOTO_ID,
    fields::GARMENT_URL,
    fields::LOWER_GARMENT_URL,
    fields::CATEGORY,
    fields::QUALITY,
];

/// A garment as the client gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum GarmentInput {
    Upload(Bytes),
    Url(String),
}

/// The person photo as the client gave it: its bytes, or the id of a photo uploaded before.
#[derive(Debug, Clone)]
pub enum PersonInput {
    Upload(Bytes),
    /// A `photo_id`, until the create looks it up.
    Uploaded(String),
    /// The proxy's kept copy of an uploaded photo, already re-encoded.
    Prepared(PreparedImage),
}

/// A well-formed create request, before any image is decoded.
#[derive(Debug, Clone)]
pub struct TryOnForm {
    pub person: PersonInput,
    pub garment: GarmentInput,
    /// Present exactly when `category` is `combo`.
    pub lower_garment: Option<GarmentInput>,
    pub category: Category,
    pub quality: Quality,
    /// SHA-256 over every known field, for idempotency. For a `photo_id` the caller folds
    /// in the photo's content hash ([`TryOnForm::with_photo_hash`]), since the id alone would
    /// not recognise a re-upload of the same photo.
    pub fingerprint: [u8; 32],
}

/// Reads every part of the body, each file within `max_image_bytes`.
pub async fn read_form(multipart: Multipart, max_image_bytes: u64) -> Result<TryOnForm, ApiError> {
    let parts = read_parts(multipart, max_image_bytes).await?;
    // Issue 13: hashing up to the whole body for the fingerprint is CPU work; on an async
    // worker it would stall every other request that worker serves.
    tokio::task::spawn_blocking(move || TryOnForm::from_parts(parts))
        .await
        .map_err(|error| ApiError::Internal(format!("fingerprinting the form failed: {error}")))?
}

/// Reads the body of `POST /v1/photos`: its `person` part, and the fingerprint of the form.
pub async fn read_photo_form(
    multipart: Multipart,
    max_image_bytes: u64,
) -> Result<(Bytes, [u8; 32]), ApiError> {
    let parts = read_parts(multipart, max_image_bytes).await?;
    // Off the async workers, as for a create's form.
    let (fingerprint, mut parts) =
        tokio::task::spawn_blocking(move || (fingerprint(&parts), parts))
            .await
            .map_err(|error| {
                ApiError::Internal(format!("fingerprinting the photo failed: {error}"))
            })?;
    let person = parts
        .remove(fields::PERSON)
        .ok_or(ApiError::MissingField(fields::PERSON))?;
    Ok((person, fingerprint))
}

/// Every known part of the body, by name, each within its cap and sent once.
async fn read_parts(
    mut multipart: Multipart,
    max_image_bytes: u64,
) -> Result<BTreeMap<&'static str, Bytes>, ApiError> {
    let mut parts: BTreeMap<&'static str, Bytes> = BTreeMap::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        // Unknown parts are skipped (multer discards their bytes, still under the body limit),
        // so a newer widget can add optional fields.
        let Some(name) = field.name().and_then(known_field) else {
            continue;
        };
        let cap = if FILE_FIELDS.contains(&name) {
            max_image_bytes
        } else if name == fields::GARMENT_URL || name == fields::LOWER_GARMENT_URL {
            MAX_URL_BYTES
        } else {
            MAX_TEXT_BYTES
        };
        let declared = field.content_type().map(str::to_owned);
        let bytes = read_field(field, name, cap).await?;
        refuse_contradicting_type(name, declared.as_deref(), &bytes)?;
        if parts.insert(name, bytes).is_some() {
            return Err(ApiError::InvalidField(format!(
                "the field `{name}` was sent more than once"
            )));
        }
    }
    Ok(parts)
}

/// Issue 6 (OWASP): a part declared as one image type whose bytes are another (a PNG sent as
/// `image/jpeg`) is refused with 415: something on the way lied about it. Undeclared and
/// generic types (`application/octet-stream`) are judged by the bytes alone.
pub(crate) fn refuse_contradicting_type(
    name: &'static str,
    declared: Option<&str>,
    bytes: &[u8],
) -> Result<(), ApiError> {
    let Some(declared) = declared else {
        return Ok(());
    };
    let essence = declared
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let claimed = match essence.as_str() {
        "image/jpeg" | "image/jpg" | "image/pjpeg" => tryon_photo::SourceFormat::Jpeg,
        "image/png" => tryon_photo::SourceFormat::Png,
        "image/webp" => tryon_photo::SourceFormat::WebP,
        _ => return Ok(()),
    };
    match tryon_photo::sniff(bytes) {
        Some(actual) if actual != claimed => Err(ApiError::UnsupportedType { field: name }),
        _ => Ok(()),
    }
}

fn known_field(name: &str) -> Option<&'static str> {
    FILE_FIELDS
        .into_iter()
        .chain(TEXT_FIELDS)
        .find(|known| *known == name)
}

/// A garment URL part (`garment_url`) read within [`MAX_URL_BYTES`], as text.
pub(crate) async fn read_url_field(
    field: Field<'_>,
    name: &'static str,
) -> Result<String, ApiError> {
    let bytes = read_field(field, name, MAX_URL_BYTES).await?;
    String::from_utf8(bytes.into())
        .map_err(|_| ApiError::InvalidField(format!("`{name}` is not UTF-8 text")))
}

async fn read_field(mut field: Field<'_>, name: &'static str, cap: u64) -> Result<Bytes, ApiError> {
    let mut buffer = BytesMut::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if (buffer.len() + chunk.len()) as u64 > cap {
            // A text part over its cap is a malformed form, not a large image.
            if !FILE_FIELDS.contains(&name) {
                return Err(ApiError::InvalidField(format!(
                    "`{name}` is longer than {cap} bytes"
                )));
            }
            return Err(ApiError::ImageTooLarge(format!(
                "the field `{name}` is over {cap} bytes"
            )));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

fn multipart_error(error: MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::ImageTooLarge("the request body is over the size limit".into())
    } else {
        ApiError::InvalidField(format!("malformed multipart body: {}", error.body_text()))
    }
}

impl TryOnForm {
    fn from_parts(mut parts: BTreeMap<&'static str, Bytes>) -> Result<Self, ApiError> {
        let photo_id = text(&parts, fields::PHOTO_ID)?.map(str::to_owned);
        // The id is left out: only the photo's content (folded in later) identifies it.
        parts.remove(fields::PHOTO_ID);
        let fingerprint = fingerprint(&parts);
        let person = match (parts.remove(fields::PERSON), photo_id) {
            (Some(_), Some(_)) => {
                return Err(ApiError::InvalidField(format!(
                    "send either `{}` or `{}`, not both",
                    fields::PERSON,
                    fields::PHOTO_ID
                )));
            }
            (Some(bytes), None) => PersonInput::Upload(bytes),
            (None, Some(id)) => PersonInput::Uploaded(id),
            (None, None) => return Err(ApiError::MissingField(fields::PERSON)),
        };
        let category = match text(&parts, fields::CATEGORY)? {
            None => Category::default(),
            Some(word) => Category::parse(word).ok_or_else(|| {
                invalid_word(
                    fields::CATEGORY,
                    word,
                    Category::ALL.map(Category::as_str).as_slice(),
                )
            })?,
        };
        let quality = match text(&parts, fields::QUALITY)? {
            None => Quality::default(),
            Some(word) => Quality::parse(word).ok_or_else(|| {
                invalid_word(
                    fields::QUALITY,
                    word,
                    Quality::ALL.map(Quality::as_str).as_slice(),
                )
            })?,
        };
        let garment = garment_input(&mut parts, fields::GARMENT, fields::GARMENT_URL)?
            .ok_or(ApiError::MissingField(fields::GARMENT))?;
        let lower_garment =
            garment_input(&mut parts, fields::LOWER_GARMENT, fields::LOWER_GARMENT_URL)?;
        match (category, &lower_garment) {
            (Category::Combo, None) => return Err(ApiError::MissingField(fields::LOWER_GARMENT)),
            (Category::Combo, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(ApiError::InvalidField(format!(
                    "`{}` is only used with category `combo`",
                    fields::LOWER_GARMENT
                )));
            }
        }
        Ok(Self {
            person,
            garment,
            lower_garment,
            category,
            quality,
            fingerprint,
        })
    }
}

impl TryOnForm {
    /// The form's fingerprint with the uploaded photo's content hash folded in, so the same
    /// photo uploaded twice (two ids) with the same garment and options is the same submission.
    pub fn with_photo_hash(mut self, content_hash: &[u8; 32]) -> Self {
        let mut hash = Sha256::new();
        hash.update(self.fingerprint);
        hash.update(b"photo");
        hash.update(content_hash);
        self.fingerprint = hash.finalize().into();
        self
    }
}

/// A text field as UTF-8, if present.
fn text<'a>(
    parts: &'a BTreeMap<&'static str, Bytes>,
    name: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    parts
        .get(name)
        .map(|bytes| {
            std::str::from_utf8(bytes)
                .map(str::trim)
                .map_err(|_| ApiError::InvalidField(format!("`{name}` is not UTF-8 text")))
        })
        .transpose()
}

fn invalid_word(name: &str, word: &str, allowed: &[&str]) -> ApiError {
    let word: String = word.chars().take(40).collect();
    ApiError::InvalidField(format!(
        "`{name}` must be one of {}, not {word:?}",
        allowed.join(", ")
    ))
}

/// The file or the URL form of a garment; both at once is ambiguous and refused.
fn garment_input(
    parts: &mut BTreeMap<&'static str, Bytes>,
    file: &'static str,
    url: &'static str,
) -> Result<Option<GarmentInput>, ApiError> {
    let link = text(parts, url)?.map(str::to_owned);
    match (parts.remove(file), link) {
        (Some(_), Some(_)) => Err(ApiError::InvalidField(format!(
            "send either `{file}` or `{url}`, not both"
        ))),
        (Some(bytes), None) => Ok(Some(GarmentInput::Upload(bytes))),
        (None, Some(link)) => Ok(Some(GarmentInput::Url(link))),
        (None, None) => Ok(None),
    }
}

/// Field names and values in name order, each length-prefixed so no two forms collide.
fn fingerprint(parts: &BTreeMap<&'static str, Bytes>) -> [u8; 32] {
    let mut hash = Sha256::new();
    for (name, value) in parts {
        hash.update((name.len() as u64).to_be_bytes());
        hash.update(name.as_bytes());
        hash.update((value.len() as u64).to_be_bytes());
        hash.update(value);
    }
    hash.finalize().into()
}

/// Refuses a declared body over the limit before reading any of it.
pub fn check_declared_length(
    request_headers: &HeaderMap,
    max_request_bytes: u64,
) -> Result<(), ApiError> {
    let declared = request_headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    match declared {
        Some(length) if length > max_request_bytes => Err(ApiError::ImageTooLarge(format!(
            "the request body is {length} bytes, over the limit of {max_request_bytes}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(entries: &[(&'static str, &str)]) -> BTreeMap<&'static str, Bytes> {
        entries
            .iter()
            .map(|(name, value)| (*name, Bytes::from(value.to_string())))
            .collect()
    }

    #[test]
    fn defaults_are_auto_and_balanced() {
        let form = TryOnForm::from_parts(parts(&[("person", "p"), ("garment", "g")])).unwrap();
        assert_eq!(
            (form.category, form.quality),
            (Category::Auto, Quality::Balanced)
        );
        assert_eq!(form.garment, GarmentInput::Upload(Bytes::from("g")));
        assert!(matches!(&form.person, PersonInput::Upload(bytes) if bytes == "p"));
        assert_eq!(form.lower_garment, None);
    }

    #[test]
    fn missing_and_invalid_fields_are_named() {
        let cases: [(&[(&'static str, &str)], &str); 5] = [
            (&[("garment", "g")], "person"),
            (&[("person", "p")], "garment"),
            (
                &[("person", "p"), ("garment", "g"), ("category", "combo")],
                "lower_garment",
            ),
            (
                &[("person", "p"), ("garment", "g"), ("category", "hat")],
                "category",
            ),
            (
                &[
                    ("person", "p"),
                    ("garment", "g"),
                    ("garment_url", "https://x/"),
                ],
                "garment_url",
            ),
        ];
        for (entries, named) in cases {
            let error = TryOnForm::from_parts(parts(entries)).unwrap_err();
            assert!(error.to_string().contains(named), "{entries:?}: {error}");
        }
    }

    #[test]
    fn combo_takes_a_lower_garment_url() {
        let form = TryOnForm::from_parts(parts(&[
            ("person", "p"),
            ("garment", "g"),
            ("category", "combo"),
            ("lower_garment_url", "https://cdn.example/l.jpg"),
        ]))
        .unwrap();
        assert_eq!(
            form.lower_garment,
            Some(GarmentInput::Url("https://cdn.example/l.jpg".into()))
        );
    }

    #[test]
    fn a_photo_id_stands_for_the_person_and_its_content_identifies_the_submission() {
        let with_id =
            |id: &str| TryOnForm::from_parts(parts(&[("photo_id", id), ("garment", "g")])).unwrap();
        let (first, second) = (with_id("aaaa"), with_id("bbbb"));
        assert!(matches!(&first.person, PersonInput::Uploaded(id) if id == "aaaa"));
        let same = first.clone().with_photo_hash(&[7; 32]).fingerprint;
        assert_eq!(same, second.with_photo_hash(&[7; 32]).fingerprint);
        assert_ne!(same, first.with_photo_hash(&[8; 32]).fingerprint);
        let both = TryOnForm::from_parts(parts(&[
            ("person", "p"),
            ("photo_id", "aaaa"),
            ("garment", "g"),
        ]));
        assert!(both.unwrap_err().to_string().contains("photo_id"));
    }

    #[test]
    fn fingerprints_differ_when_any_field_differs() {
        let a = fingerprint(&parts(&[("person", "p"), ("garment", "g")]));
        let b = fingerprint(&parts(&[("person", "p"), ("garment", "h")]));
        let c = fingerprint(&parts(&[("person", "pg"), ("garment", "")]));
        assert_eq!(a, fingerprint(&parts(&[("garment", "g"), ("person", "p")])));
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
