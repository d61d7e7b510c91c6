//! Fetches a finished picture from the vendor's signed URL the moment the task succeeds.
//!
//! Signed URLs expire (Fitroom: "temporary"; FitInView: 24 h), so the proxy keeps the bytes
//! itself and serves them for its own retention time. The storage host is not the API: the
//! request carries no key and does not count against the API's rate limit. The URL comes from
//! the vendor, so it is treated like a garment URL (issue 13): `https` only (plain `http` only
//! when the API itself is plain HTTP, as a local test double is), every address the host
//! resolves to must be public (the garment fetcher's checks; loopback too is allowed only for
//! a local double), the connection is pinned to the checked addresses, and each redirect
//! (at most [`MAX_REDIRECTS`]) passes the same checks before it is followed. The body is
//! capped, and the bytes must be an image we can measure.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use image::ImageFormat;
use url::{Host, Url};

use super::client::full_jitter;
use crate::garment_fetch::address;
use crate::garment_fetch::resolve::PinnedDns;
use crate::garment_fetch::{HostResolver, SystemResolver};
use crate::providers::settings::{SettingsError, UpstreamTuning};
use crate::providers::{ProviderError, TryOnOutput};

/// Object stores redirect to a regional host now and then; more hops than this is a loop.
const MAX_REDIRECTS: usize = 3;

pub struct Downloader {
    http: reqwest::Client,
    /// The API is plain HTTP: a local test double, whose results are on loopback too.
    local_double: bool,
    resolver: Arc<dyn HostResolver>,
    pins: PinnedDns,
    tuning: UpstreamTuning,
}

impl std::fmt::Debug for Downloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloader")
            .field("local_double", &self.local_double)
            .finish_non_exhaustive()
    }
}

impl Downloader {
    pub fn new(api_base: &url::Url, tuning: UpstreamTuning) -> Result<Self, SettingsError> {
        Self::with_resolver(api_base, tuning, Arc::new(SystemResolver))
    }

    /// Like [`Downloader::new`], resolving result hosts through `resolver` (tests: no DNS).
    pub fn with_resolver(
        api_base: &url::Url,
        tuning: UpstreamTuning,
        resolver: Arc<dyn HostResolver>,
    ) -> Result<Self, SettingsError> {
        let pins = PinnedDns::default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Followed by hand, each hop checked like the first URL.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve names itself, past the checks.
            .no_proxy()
            .dns_resolver(Arc::new(pins.clone()))
            .build()
            .map_err(|e| SettingsError::Client(e.to_string()))?;
        Ok(Self {
            http,
            local_double: api_base.scheme() == "http",
            resolver,
            pins,
            tuning,
        })
    }

    /// Downloads and measures the result at `url`, retrying transient failures.
    pub async fn fetch(&self, url: &str) -> Result<TryOnOutput, ProviderError> {
        let parsed = url::Url::parse(url)
            .map_err(|_| ProviderError::Failed("the result URL is not a URL".into()))?;
        self.check_scheme(&parsed)?;
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

    fn check_scheme(&self, url: &Url) -> Result<(), ProviderError> {
        let scheme_ok = url.scheme() == "https" || (self.local_double && url.scheme() == "http");
        if scheme_ok {
            Ok(())
        } else {
            Err(ProviderError::Failed(
                "the result URL (or a redirect) is not https".into(),
            ))
        }
    }

    /// The garment fetcher's rules for one hop: the scheme, then every address of the host
    /// public (one bad address refuses the host), then the checked addresses pinned, so the
    /// connection goes to them and nowhere else.
    async fn admit(&self, url: &Url) -> Result<(), Fetch> {
        self.check_scheme(url).map_err(Fetch::Permanent)?;
        let port = url.port_or_known_default().unwrap_or(443);
        let (host, ips): (String, Vec<IpAddr>) = match url.host() {
            Some(Host::Ipv4(ip)) => (ip.to_string(), vec![ip.into()]),
            Some(Host::Ipv6(ip)) => (ip.to_string(), vec![ip.into()]),
            Some(Host::Domain(name)) => {
                let ips = self.resolver.lookup(name, port).await.map_err(|_| {
                    Fetch::Transient(ProviderError::Unavailable {
                        message: "the result host does not resolve".into(),
                        retry_after: None,
                    })
                })?;
                (name.to_owned(), ips)
            }
            None => {
                return Err(Fetch::Permanent(ProviderError::Failed(
                    "the result URL has no host".into(),
                )));
            }
        };
        if ips.is_empty() {
            return Err(Fetch::Permanent(ProviderError::Failed(
                "the result host resolves to nothing".into(),
            )));
        }
        for &ip in &ips {
            let allowed_here = self.local_double && ip.is_loopback();
            if let Some(why) = address::forbidden(ip).filter(|_| !allowed_here) {
                tracing::warn!(%host, %ip, reason = why.as_str(), "result download refused");
                return Err(Fetch::Permanent(ProviderError::Failed(format!(
                    "the result host resolves to a {}",
                    why.as_str()
                ))));
            }
        }
        if matches!(url.host(), Some(Host::Domain(_))) {
            self.pins.pin(
                &host,
                ips.into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect(),
            );
        }
        Ok(())
    }

    /// The first answer that is not a redirect, each hop admitted first.
    async fn follow(&self, mut url: Url) -> Result<reqwest::Response, Fetch> {
        for _ in 0..=MAX_REDIRECTS {
            self.admit(&url).await?;
            let response = self
                .http
                .get(url.clone())
                .timeout(self.tuning.request_timeout)
                .send()
                .await
                .map_err(|e| {
                    Fetch::Transient(if e.is_timeout() {
                        ProviderError::Timeout(self.tuning.request_timeout)
                    } else {
                        ProviderError::Unavailable {
                            message: "the result download failed".into(),
                            retry_after: None,
                        }
                    })
                })?;
            if !response.status().is_redirection() {
                return Ok(response);
            }
            url = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|location| location.to_str().ok())
                .and_then(|location| url.join(location).ok())
                .ok_or_else(|| {
                    Fetch::Permanent(ProviderError::Failed(
                        "the result host redirected without a usable Location".into(),
                    ))
                })?;
        }
        Err(Fetch::Permanent(ProviderError::Failed(format!(
            "the result host redirected more than {MAX_REDIRECTS} times"
        ))))
    }

    async fn fetch_once(&self, url: url::Url) -> Result<Bytes, Fetch> {
        let unavailable = |message: &str| ProviderError::Unavailable {
            message: message.to_owned(),
            retry_after: None,
        };
        let mut response = self.follow(url).await?;
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

    fn tuning() -> UpstreamTuning {
        UpstreamTuning::for_vendor(crate::providers::VendorKind::Fitroom)
    }

    #[tokio::test]
    async fn a_result_host_on_a_non_public_address_is_refused_before_connecting() {
        let https_api = url::Url::parse("https://api.example").unwrap();
        let resolver = crate::garment_fetch::StaticResolver::new([
            ("results.test", vec!["10.0.0.5".parse().unwrap()]),
            (
                "mixed.test",
                vec![
                    "93.184.216.34".parse().unwrap(),
                    "127.0.0.1".parse().unwrap(),
                ],
            ),
        ]);
        let downloader =
            Downloader::with_resolver(&https_api, tuning(), Arc::new(resolver)).unwrap();
        for (url, reason) in [
            ("https://results.test/r.png", "private address"),
            ("https://mixed.test/r.png", "loopback address"),
            (
                "https://169.254.169.254/latest/meta-data",
                "link-local address",
            ),
        ] {
            let err = downloader.fetch(url).await.unwrap_err();
            assert!(err.to_string().contains(reason), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn redirects_are_followed_only_to_where_the_first_url_could_go() {
        use axum::http::{StatusCode, header};
        use axum::routing::get;
        let mut png = Vec::new();
        image::RgbImage::new(4, 4)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let redirect = |to: &'static str| {
            get(move || async move { (StatusCode::FOUND, [(header::LOCATION, to)]) })
        };
        let router = axum::Router::new()
            .route("/real.png", get(move || async move { png.clone() }))
            .route("/moved.png", redirect("/real.png"))
            .route(
                "/metadata",
                redirect("http://169.254.169.254/latest/meta-data"),
            )
            .route("/private", redirect("http://10.1.2.3/r.png"))
            .route("/ftp", redirect("ftp://files.example/r.png"))
            .route("/loop", redirect("/loop"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        // A plain-HTTP API is a local test double: its loopback results are allowed, nothing
        // else that is not public.
        let local_api = url::Url::parse(&base).unwrap();
        let downloader = Downloader::new(&local_api, tuning()).unwrap();
        let output = downloader
            .fetch(&format!("{base}/moved.png"))
            .await
            .unwrap();
        assert_eq!((output.width, output.height), (4, 4));
        for (path, reason) in [
            ("/metadata", "link-local address"),
            ("/private", "private address"),
            ("/ftp", "not https"),
            ("/loop", "more than 3 times"),
        ] {
            let err = downloader
                .fetch(&format!("{base}{path}"))
                .await
                .unwrap_err();
            assert!(err.to_string().contains(reason), "{path}: {err}");
        }
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
