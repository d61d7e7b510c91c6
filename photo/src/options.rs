//! How big a photo may be going in, and what comes out.

/// Decoding budget, checked against the header before any pixel is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted width × height of the stored image.
    pub max_pixels: u64,
    /// Largest allocation the decoder may make, in bytes (`image::Limits::max_alloc`).
    pub max_alloc: u64,
}

impl Limits {
    /// The proxy: 25 MP is more than any provider uses, and each decode holds at most
    /// 128 MiB (25 MP of 8-bit RGBA is 100 MB), so a few concurrent decodes fit in memory.
    pub fn server() -> Self {
        Self {
            max_pixels: 25_000_000,
            max_alloc: 128 * 1024 * 1024,
        }
    }

    /// The shopper's own device: phones take 48, 64 and 108 MP pictures, and refusing them
    /// would make the shopper hunt for a smaller file. 512 MiB holds 110 MP of 8-bit RGB.
    pub fn browser() -> Self {
        Self {
            max_pixels: 110_000_000,
            max_alloc: 512 * 1024 * 1024,
        }
    }
}

/// What [`crate::prepare`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareOptions {
    /// Longest edge of the output, in pixels; smaller images are never upscaled.
    pub max_edge: u32,
    /// JPEG quality, 1..=100.
    pub jpeg_quality: u8,
    pub limits: Limits,
}

/// Quality 90 keeps skin and fabric texture that providers need at about a quarter of the
/// bytes of quality 98.
const DEFAULT_QUALITY: u8 = 90;

impl PrepareOptions {
    /// A shopper's photo of themselves (the contract's default `person_max_edge` is 2048).
    pub fn person(max_edge: u32) -> Self {
        Self {
            max_edge,
            jpeg_quality: DEFAULT_QUALITY,
            limits: Limits::server(),
        }
    }

    /// A garment photo a shopper uploads (the contract's default `garment_max_edge` is 1024).
    pub fn garment(max_edge: u32) -> Self {
        Self {
            max_edge,
            jpeg_quality: DEFAULT_QUALITY,
            limits: Limits::server(),
        }
    }

    /// The same options with other limits, e.g. [`Limits::browser`] in the worker.
    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }
}
