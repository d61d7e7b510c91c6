//! Every image bound upstream is decoded and re-encoded here, never passed through.
//!
//! The proxy cannot trust that the browser prepared the photo (or that a garment URL serves
//! what it claims), so it runs `tryon_photo::prepare` on each one: type from the bytes,
//! dimensions checked before pixels are allocated, EXIF orientation applied, metadata and any
//! trailing payload dropped. Decoding is CPU-bound, so it runs on the blocking pool, at most
//! two per core at a time, leaving the async workers free to serve progress events.

use std::sync::Arc;

use bytes::Bytes;
use tryon_photo::{Limits, PhotoError, PrepareOptions, SourceFormat};

use crate::decode_gate::DecodeGate;

use crate::error::ApiError;
use crate::job::{PreparedImage, TryOnOutput};

/// Which limit an image is prepared for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRole {
    Person,
    Garment,
}

/// Prepares uploaded images within the configured edge limits and decode concurrency.
#[derive(Clone)]
pub struct ImagePreparer {
    decodes: Arc<DecodeGate>,
    person_max_edge: u32,
    garment_max_edge: u32,
    limits: Limits,
}

impl ImagePreparer {
    pub fn new(person_max_edge: u32, garment_max_edge: u32) -> Self {
        let decodes = Arc::new(DecodeGate::for_this_machine());
        Self {
            decodes,
            person_max_edge,
            garment_max_edge,
            limits: Limits::server(),
        }
    }

    /// The same preparer decoding at most `max_pixels` (`TRYON_MAX_MEGAPIXELS`); the decoder's
    /// allocation cap scales with it (RGBA at 4 B/px plus room for the decoder's own buffers).
    pub fn with_max_pixels(self, max_pixels: u64) -> Self {
        let max_alloc = max_pixels
            .saturating_mul(4)
            .saturating_add(16 * 1024 * 1024);
        Self {
            limits: Limits {
                max_pixels,
                max_alloc,
            },
            ..self
        }
    }

    /// Validates and re-encodes the bytes the client sent as `field`, logging what it sent.
    pub async fn prepare(
        &self,
        field: &'static str,
        role: ImageRole,
        bytes: Bytes,
    ) -> Result<PreparedImage, ApiError> {
        // Sniffing is cheap and needs no decode slot; most junk stops here.
        if tryon_photo::sniff(&bytes).is_none() {
            return Err(ApiError::UnsupportedType { field });
        }
        let options = match role {
            ImageRole::Person => PrepareOptions::person(self.person_max_edge),
            ImageRole::Garment => PrepareOptions::garment(self.garment_max_edge),
        }
        .with_limits(self.limits);
        let sent_bytes = bytes.len();
        let prepared = self
            .decodes
            .run(move || tryon_photo::prepare(&bytes, &options))
            .await
            // The decoders and their waiting line are full: refuse now rather than queue.
            .map_err(|_| ApiError::RateLimited {
                retry_after: std::time::Duration::from_secs(1),
            })?
            .map_err(|join| {
                ApiError::Internal(format!("image preparation of `{field}` panicked: {join}"))
            })?
            .map_err(|error| photo_error(field, error))?;
        let source = prepared.source;
        tracing::info!(
            field,
            format = format_name(source.format),
            width = source.width,
            height = source.height,
            bytes = sent_bytes,
            "upload received"
        );
        Ok(PreparedImage {
            bytes: Bytes::from(prepared.jpeg),
            width: prepared.width,
            height: prepared.height,
            content_type: crate::wire::media::JPEG,
        })
    }
}

impl ImagePreparer {
    /// The finished result no wider than `width`, as a JPEG: a phone on a slow downlink gets
    /// the pixels it shows (its display width × `devicePixelRatio`), not the provider's full size,
    /// which stays at the plain result link for downloads. A result already that narrow, or one
    /// met while every decoder is busy, is served as it is: a result is never refused for load.
    pub async fn fit_result(
        &self,
        output: TryOnOutput,
        width: u32,
    ) -> Result<TryOnOutput, ApiError> {
        if width >= output.width || output.width == 0 {
            return Ok(output);
        }
        // The long edge that makes the short or long side `width`, rounded up so the fitted
        // width is never below what was asked for.
        let scale = |edge: u32| {
            u32::try_from((u64::from(edge) * u64::from(width)).div_ceil(u64::from(output.width)))
                .unwrap_or(edge)
        };
        let options = PrepareOptions {
            max_edge: scale(output.width.max(output.height)),
            jpeg_quality: SHOWN_RESULT_QUALITY,
            limits: self.limits,
        };
        let bytes = output.bytes.clone();
        let fitted = match self
            .decodes
            .run(move || tryon_photo::prepare_for_display(&bytes, &options))
            .await
        {
            Err(_busy) => return Ok(output),
            Ok(joined) => joined
                .map_err(|join| ApiError::Internal(format!("fitting a result panicked: {join}")))?
                .map_err(|error| ApiError::Internal(format!("fitting a result failed: {error}")))?,
        };
        Ok(TryOnOutput {
            bytes: Bytes::from(fitted.jpeg),
            width: fitted.width,
            height: fitted.height,
            content_type: crate::wire::media::JPEG.to_owned(),
        })
    }
}

/// The highest JPEG quality of a result fitted to a screen (the full result's, 90); the one
/// used is the lowest that keeps it looking the same (`tryon_photo::prepare_for_display`).
const SHOWN_RESULT_QUALITY: u8 = 90;

fn format_name(format: SourceFormat) -> &'static str {
    match format {
        SourceFormat::Jpeg => "jpeg",
        SourceFormat::Png => "png",
        SourceFormat::WebP => "webp",
    }
}

fn photo_error(field: &'static str, error: PhotoError) -> ApiError {
    match error {
        PhotoError::UnsupportedType => ApiError::UnsupportedType { field },
        PhotoError::InvalidImage(reason) => ApiError::InvalidImage { field, reason },
        PhotoError::TooLarge { width, height } => ApiError::ImageTooLarge(format!(
            "`{field}` is {width}×{height} pixels, more than this proxy decodes"
        )),
    }
}
