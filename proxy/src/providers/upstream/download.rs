//! Fetches a finished picture from the vendor's signed URL the moment the task succeeds.
//!
//! Signed URLs expire (Fitroom: "temporary"; FitInView: 24 h), so the proxy keeps the bytes
//! itself and serves them for its own retention time. The storage host is not the API: the
//! request carries no key and does not count against the API's rate limit. The URL comes from
//! the vendor, so it must be `https` (plain `http` only when the API itself is plain HTTP, as a
//! local test double is), the body is capped, and the bytes must be an image we can measure.

use std::io::Cursor;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use image::ImageFormat;

use super::client::full_jitter;
use crate::providers::settings::{SettingsError, UpstreamTuning};
use crate::providers::{ProviderError, TryOnOutput};

#[derive(Debug)]
pub struct Downloader {
    http: reqwest::Client,
    allow_plain_http: bool,
    tuning: UpstreamTuning,
}

impl Downloader {
    pub fn new(api_base: &url::Url, tuning: UpstreamTuning) -> Result<Self, SettingsError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| SettingsError::Client(e.to_string()))?;
        Ok(Self {
            http,
            allow_plain_http: api_base.scheme() == "http",
            tuning,
        })
    }

    /// Downloads and measures the result at `url`, retrying transient failures.
    pub async fn fetch(&self, url: &str) -> Result<TryOnOutput, ProviderError> {
        let parsed = url::Url::parse(url)
            .map_err(|_| ProviderError::Failed("the result URL is not a URL".into()))?;
        let scheme_ok =
            parsed.scheme() == "https" || (self.allow_plain_http && parsed.scheme() == "http");
        if !scheme_ok {
            return Err(ProviderError::Failed("the result URL is not https".into()));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.fetch_once(parsed.clone()).await {
                Ok(bytes) => return measure(bytes),
                Err(Fetch::Permanent(e)) => return Err(e),
                Err(Fetch::Transient(e)) if attempt >= self.tuning.max_attempts => return Err(e),
                Err(Fetch::Transient(_)) => {
                    tokio::time::sleep(full_jitter(
                        self.tuning.backoff_base,
                        self.tuning.backoff_cap,
                        attempt,
                    ))
                    .await
                }
            }
        }
    }

    async fn fetch_once(&self, url: url::Url) -> Result<Bytes, Fetch> {
        let unavailable = |message: &str| ProviderError::Unavailable {
            message: message.to_owned(),
            retry_after: None,
        };
        let mut response = self
            .http
            .get(url)
            .timeout(self.tuning.request_timeout)
            .send()
            .await
            .map_err(|e| {
                Fetch::Transient(if e.is_timeout() {
                    ProviderError::Timeout(self.tuning.request_timeout)
                } else {
                    unavailable("the result download failed")
                })
            })?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(Fetch::Transient(unavailable(&format!(
                "the result host answered {status}"
            ))));
        }
        if !status.is_success() {
            // 403/404 from object storage: the signed URL expired or the object is gone.
            return Err(Fetch::Permanent(ProviderError::Failed(format!(
                "the result URL answered {status}"
            ))));
        }
        let cap = self.tuning.max_result_bytes;
        if response.content_length().is_some_and(|len| len > cap) {
            return Err(Fetch::Permanent(ProviderError::Failed(
                "the result image is too large".into(),
            )));
        }
        let mut body = BytesMut::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > cap {
                        return Err(Fetch::Permanent(ProviderError::Failed(
                            "the result image is too large".into(),
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body.freeze()),
                Err(_) => {
                    return Err(Fetch::Transient(unavailable(
                        "the result download broke off",
                    )));
                }
            }
        }
    }
}

enum Fetch {
    Transient(ProviderError),
    Permanent(ProviderError),
}

/// Sniffs the format from the bytes (not the vendor's `Content-Type`) and reads the size.
pub fn measure(bytes: Bytes) -> Result<TryOnOutput, ProviderError> {
    let not_image = || ProviderError::Failed("the result is not a JPEG, PNG or WebP image".into());
    let format = image::guess_format(&bytes).map_err(|_| not_image())?;
    let content_type = match format {
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Png => "image/png",
        ImageFormat::WebP => "image/webp",
        _ => return Err(not_image()),
    };
    let (width, height) = image::ImageReader::with_format(Cursor::new(&bytes), format)
        .into_dimensions()
        .map_err(|_| not_image())?;
    Ok(TryOnOutput {
        bytes,
        width,
        height,
        content_type: content_type.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_measured_from_their_bytes() {
        let mut png = Vec::new();
        image::RgbImage::new(30, 20)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let output = measure(Bytes::from(png)).unwrap();
        assert_eq!(
            (output.width, output.height, output.content_type.as_str()),
            (30, 20, "image/png")
        );
        assert!(measure(Bytes::from_static(b"<html>expired</html>")).is_err());
    }

    #[tokio::test]
    async fn only_https_results_unless_the_api_is_plain_http() {
        let https_api = url::Url::parse("https://api.example").unwrap();
        let downloader = Downloader::new(
            &https_api,
            UpstreamTuning::for_vendor(crate::providers::VendorKind::Fitroom),
        )
        .unwrap();
        let err = downloader
            .fetch("http://127.0.0.1:1/result.png")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not https"), "{err}");
    }
}
