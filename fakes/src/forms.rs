//! Multipart forms as the fakes read and judge them.

use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;

use axum::http::StatusCode;
use axum::response::Response;

use crate::Recorder;

/// One multipart field as the fake received it.
#[derive(Debug)]
pub struct Field {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: bytes::Bytes,
}

/// Reads a whole multipart body and checks it against the document (see [`check_form`]);
/// any deviation is recorded and answered with the vendor's 400.
pub async fn read_form(
    recorder: &Recorder,
    endpoint: &str,
    form: Result<Multipart, MultipartRejection>,
    files: &[&str],
    texts: &[&str],
) -> Result<Vec<Field>, Response> {
    let mut form = form
        .map_err(|e| recorder.bad_request(format!("{endpoint}: not multipart/form-data: {e}")))?;
    let mut fields = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| recorder.bad_request(format!("{endpoint}: broken multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.unwrap_or_default();
        fields.push(Field {
            name,
            file_name,
            content_type,
            bytes,
        });
    }
    if check_form(recorder, endpoint, &fields, files, texts) {
        Ok(fields)
    } else {
        Err(recorder.error(
            StatusCode::BAD_REQUEST,
            None,
            "ValidationError",
            "Bad request",
        ))
    }
}

/// Checks that a form has exactly the allowed fields, each at most once, files where files
/// belong (JPEG bytes with an image media type) and text elsewhere.
fn check_form(
    recorder: &Recorder,
    endpoint: &str,
    fields: &[Field],
    files: &[&str],
    texts: &[&str],
) -> bool {
    let before = recorder.violations().len();
    for (i, field) in fields.iter().enumerate() {
        if fields[..i].iter().any(|f| f.name == field.name) {
            recorder.violation(format!("{endpoint}: field {:?} sent twice", field.name));
        }
        if files.contains(&field.name.as_str()) {
            if field.file_name.is_none() {
                recorder.violation(format!("{endpoint}: {:?} must be a file part", field.name));
            }
            if !field
                .content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("image/"))
            {
                recorder.violation(format!(
                    "{endpoint}: {:?} has media type {:?}",
                    field.name, field.content_type
                ));
            }
            if !is_jpeg(&field.bytes) {
                recorder.violation(format!("{endpoint}: {:?} is not a JPEG", field.name));
            }
        } else if texts.contains(&field.name.as_str()) {
            if field.file_name.is_some() {
                recorder.violation(format!("{endpoint}: {:?} must be a text field", field.name));
            }
        } else {
            recorder.violation(format!("{endpoint}: undocumented field {:?}", field.name));
        }
    }
    recorder.violations().len() == before
}

pub fn text<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| std::str::from_utf8(&f.bytes).ok())
}

pub fn has(fields: &[Field], name: &str) -> bool {
    fields.iter().any(|f| f.name == name)
}

pub fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}
