//! Content sniffing: the only way a file's type is decided.
//!
//! File names and `Content-Type` headers are chosen by whoever sends the file, so they are
//! never consulted. Only the three formats every browser and every provider handle are accepted.

/// An accepted source format, recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    Jpeg,
    Png,
    WebP,
}

impl SourceFormat {
    /// The media type of this format, e.g. `image/jpeg`.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::WebP => "image/webp",
        }
    }

    pub(crate) fn image_format(self) -> image::ImageFormat {
        match self {
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::Png => image::ImageFormat::Png,
            Self::WebP => image::ImageFormat::WebP,
        }
    }
}

const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The format of `bytes` from their first bytes, or `None` if it is not JPEG, PNG or WebP.
pub fn sniff(bytes: &[u8]) -> Option<SourceFormat> {
    if bytes.starts_with(JPEG_MAGIC) {
        Some(SourceFormat::Jpeg)
    } else if bytes.starts_with(PNG_MAGIC) {
        Some(SourceFormat::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(SourceFormat::WebP)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_three_formats_by_magic_bytes() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some(SourceFormat::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(SourceFormat::Png));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(SourceFormat::WebP));
    }

    #[test]
    fn refuses_everything_else() {
        for bytes in [
            &b""[..],
            b"\xFF\xD8",
            b"GIF89a\x01\0\x01\0",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"<!DOCTYPE html><html>",
            b"PK\x03\x04",
            b"RIFF\x10\0\0\0WAVEfmt ",
            b"BM\x36\0\0\0",
            b"\0\0\0\x18ftypheic",
        ] {
            assert_eq!(sniff(bytes), None, "{bytes:?}");
        }
    }
}
