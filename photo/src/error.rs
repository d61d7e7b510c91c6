//! Why a photo cannot be prepared, with the contract's error code for each reason.

/// A file that cannot become a prepared photo. Each variant maps to one error code of the
/// v1 contract ([`PhotoError::code`]), which the widget turns into a sentence for the shopper.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// Not a JPEG, PNG or WebP by its bytes.
    #[error("not a JPEG, PNG or WebP image")]
    UnsupportedType,
    /// The bytes claim an accepted format but do not decode (corrupt, truncated, 0×0).
    #[error("the image cannot be decoded: {0}")]
    InvalidImage(String),
    /// The header announces more pixels (or memory) than the limits allow.
    #[error("the image is too large ({width}×{height})")]
    TooLarge { width: u32, height: u32 },
}

impl PhotoError {
    /// The v1 contract's error code, e.g. `image_too_large`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedType => "unsupported_type",
            Self::InvalidImage(_) => "invalid_image",
            Self::TooLarge { .. } => "image_too_large",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_contract_spellings() {
        assert_eq!(PhotoError::UnsupportedType.code(), "unsupported_type");
        assert_eq!(PhotoError::InvalidImage("x".into()).code(), "invalid_image");
        assert_eq!(
            PhotoError::TooLarge {
                width: 1,
                height: 2
            }
            .code(),
            "image_too_large"
        );
    }
}
