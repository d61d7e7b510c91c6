//! Where a `garment_url` is read from: the demo storefront's own files, or the network.
//!
//! In `--demo` mode the sample garments are this server's `/demo/...` files; a URL naming them
//! on the host the request came to is read from `<www-dir>/demo/` on disk rather than fetched,
//! so the demo needs no network and no allowed-host configuration. Every other URL goes to
//! [`GarmentFetcher`], which owns the URL policy, the address checks, the transfer limits and
//! the cache. This module only decides between the two and maps their errors onto the contract.

use std::path::PathBuf;

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use url::Url;

use crate::error::ApiError;
use crate::garment_fetch::{GarmentFetchError, GarmentFetcher, UrlPolicy};
use crate::shopify::AppProxyRequest;
use crate::wire::ErrorCode;

/// The demo files a garment URL may name, relative to the site root.
const DEMO_PREFIX: &str = "/demo/";

/// What about a request (a create or a garment check) decides where its garment URLs may point.
#[derive(Debug, Default)]
pub struct Requester {
    /// The `Host` the request came to (demo garments are this server's own files).
    pub host: Option<String>,
    /// Issue 5: a request relayed by Shopify's App Proxy may also name its shop's product
    /// images, `https://{shop}/cdn/shop/…` (on the `myshopify.com` domain or the storefront
    /// domain Shopify forwarded), without the merchant listing them in `TRYON_GARMENT_HOSTS`.
    pub shop_images: Option<UrlPolicy>,
}

impl Requester {
    /// Where a request's garment URLs may point: this server's demo files (by its `Host`),
    /// and for a request relayed by Shopify's App Proxy, its shop's product images (issue 5).
    pub fn of_request(headers: &HeaderMap, relayed: Option<&AppProxyRequest>) -> Self {
        let requester = Self {
            host: headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned),
            shop_images: None,
        };
        match relayed {
            Some(relayed) => requester.with_shop_domains(
                std::iter::once(relayed.proxy.shop.as_str()).chain(
                    relayed
                        .storefront_origin
                        .as_deref()
                        .and_then(|origin| origin.strip_prefix("https://")),
                ),
            ),
            None => requester,
        }
    }

    /// Where product images of a verified shop live: `/cdn/shop/` on each of its domains.
    /// A domain that makes no valid prefix (an IP address) is left out.
    pub fn with_shop_domains<'a>(mut self, domains: impl IntoIterator<Item = &'a str>) -> Self {
        let prefixes: Vec<String> = domains
            .into_iter()
            .map(|domain| format!("https://{domain}{SHOP_IMAGES_PATH}"))
            .filter(|prefix| UrlPolicy::new(std::slice::from_ref(prefix)).is_ok())
            .collect();
        self.shop_images = UrlPolicy::new(&prefixes).ok().filter(|p| !p.is_empty());
        self
    }
}

/// Where Shopify serves a shop's product images on the shop's own domains.
const SHOP_IMAGES_PATH: &str = "/cdn/shop/";

pub struct GarmentSource {
    fetcher: GarmentFetcher,
    /// `<www-dir>/demo` when demo mode is on.
    demo_dir: Option<PathBuf>,
    max_bytes: u64,
}

impl GarmentSource {
    pub fn new(fetcher: GarmentFetcher, demo_dir: Option<PathBuf>, max_bytes: u64) -> Self {
        Self {
            fetcher,
            demo_dir,
            max_bytes,
        }
    }

    /// The bytes behind `raw_url`, for a request from `requester`.
    pub async fn load(&self, raw_url: &str, requester: &Requester) -> Result<Bytes, ApiError> {
        if let Some(path) = self.demo_path(raw_url, requester.host.as_deref())? {
            return self.read_demo(path).await;
        }
        self.fetcher
            .fetch_also_under(raw_url, requester.shop_images.as_ref())
            .await
            .map_err(fetch_error)
    }

    /// `Some(path)` if `raw_url` names one of this server's demo files.
    fn demo_path(
        &self,
        raw_url: &str,
        request_host: Option<&str>,
    ) -> Result<Option<PathBuf>, ApiError> {
        let (Some(dir), Some(host)) = (&self.demo_dir, request_host) else {
            return Ok(None);
        };
        let Ok(url) = Url::parse(raw_url) else {
            return Ok(None);
        };
        let Some(rest) = url.path().strip_prefix(DEMO_PREFIX) else {
            return Ok(None);
        };
        if !same_authority(&url, host) {
            return Ok(None);
        }
        let relative = safe_relative_path(rest)
            .ok_or_else(|| ApiError::GarmentUrlNotAllowed("not a demo file name".into()))?;
        Ok(Some(dir.join(relative)))
    }

    async fn read_demo(&self, path: PathBuf) -> Result<Bytes, ApiError> {
        let missing = || ApiError::GarmentUrlNotAllowed("no such demo garment".into());
        let metadata = tokio::fs::metadata(&path).await.map_err(|_| missing())?;
        if !metadata.is_file() {
            return Err(missing());
        }
        if metadata.len() > self.max_bytes {
            return Err(ApiError::ImageTooLarge(format!(
                "the garment image is over {} bytes",
                self.max_bytes
            )));
        }
        let bytes = tokio::fs::read(&path).await.map_err(|error| {
            ApiError::Internal(format!("reading demo garment {}: {error}", path.display()))
        })?;
        Ok(Bytes::from(bytes))
    }
}

fn fetch_error(error: GarmentFetchError) -> ApiError {
    match error.code() {
        ErrorCode::GarmentUrlNotAllowed => ApiError::GarmentUrlNotAllowed(error.to_string()),
        ErrorCode::ImageTooLarge => ApiError::ImageTooLarge(error.to_string()),
        _ => ApiError::InvalidField(error.to_string()),
    }
}

/// Whether `url` points at the host and port named by a request's `Host` header.
fn same_authority(url: &Url, host_header: &str) -> bool {
    let (host, port) = match host_header.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, port.parse().ok())
        }
        _ => (host_header, None),
    };
    let default_port = match url.scheme() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    url.host_str().is_some_and(|h| h.eq_ignore_ascii_case(host))
        && url.port_or_known_default() == port.or(default_port)
}

/// Accepts only plain names separated by `/` (letters, digits, `.`, `-`, `_`), none of them
/// `.` or `..`, so the path cannot leave the demo folder. Percent-escapes are refused too.
pub fn safe_relative_path(rest: &str) -> Option<PathBuf> {
    let segments: Vec<&str> = rest.split('/').collect();
    let plain = |s: &&str| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    segments
        .iter()
        .all(plain)
        .then(|| segments.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_inside_the_folder_pass() {
        assert_eq!(
            safe_relative_path("garment.jpg"),
            Some(PathBuf::from("garment.jpg"))
        );
        assert_eq!(
            safe_relative_path("img/shirt-1_a.png"),
            Some(PathBuf::from("img/shirt-1_a.png"))
        );
        for bad in [
            "",
            "../secret",
            "a/../../b",
            "%2e%2e/x",
            "a//b",
            "./a",
            "a\\b",
            "dir/",
        ] {
            assert_eq!(safe_relative_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_shop_may_name_images_under_cdn_shop_on_its_own_domains_only() {
        let requester = Requester::default().with_shop_domains([
            "shop-name.myshopify.com",
            "www.shop.example",
            "127.0.0.1",
        ]);
        let policy = requester.shop_images.expect("two valid domains");
        for allowed in [
            "https://shop-name.myshopify.com/cdn/shop/files/shirt.jpg?v=1&width=1024",
            "https://www.shop.example/cdn/shop/products/shirt.png",
        ] {
            assert!(policy.check(allowed).is_ok(), "{allowed}");
        }
        for refused in [
            "https://shop-name.myshopify.com/admin/shirt.jpg",
            "https://other.myshopify.com/cdn/shop/files/shirt.jpg",
            "https://127.0.0.1/cdn/shop/files/shirt.jpg",
            "http://www.shop.example/cdn/shop/files/shirt.jpg",
        ] {
            assert!(policy.check(refused).is_err(), "{refused}");
        }
        assert!(
            Requester::default()
                .with_shop_domains([])
                .shop_images
                .is_none()
        );
    }

    #[test]
    fn authority_compares_host_and_port() {
        let url = Url::parse("http://127.0.0.1:8080/demo/garment.jpg").unwrap();
        assert!(same_authority(&url, "127.0.0.1:8080"));
        assert!(!same_authority(&url, "127.0.0.1:9090"));
        assert!(!same_authority(&url, "localhost:8080"));
        let default_port = Url::parse("https://shop.example/demo/g.jpg").unwrap();
        assert!(same_authority(&default_port, "SHOP.example"));
        assert!(same_authority(&default_port, "shop.example:443"));
    }
}
