//! Shopify storefronts: requests relayed by the App Proxy, and direct event streams for them.
//!
//! A Shopify theme talks to the proxy through the shop's own origin
//! (`https://SHOP/apps/tryon/…`, forwarded by Shopify to our `/shopify/…`), so no CORS is needed
//! and cookies never matter (Shopify strips them). Those requests must carry a valid App Proxy
//! signature ([`signature`]); the [`middleware`] enforces it on the `/shopify` nest.
//!
//! Whether the App Proxy passes Server-Sent Events through is undocumented, so the create
//! response relayed by it carries a short-lived [`stream_token`] with which the browser opens
//! the event stream directly on the proxy's own origin; the widget polls through the App Proxy
//! if that fails.

pub mod middleware;
pub mod signature;
pub mod stream_token;

use std::sync::Arc;

use axum::Router;
use secrecy::SecretString;

pub use crate::wire::DirectStream;
pub use middleware::{
    AppProxyAuth, AppProxyRequest, StreamAuth, grant_stream_by_token, require_app_proxy_signature,
};
pub use signature::{SignatureError, VerifiedAppProxy, verify_app_proxy_query};
pub use stream_token::{StreamGrant, StreamTokenError, StreamTokenKey};

/// Environment variable holding the app's shared secret (Partner Dashboard → API secret key).
pub const ENV_API_SECRET: &str = "SHOPIFY_API_SECRET";
/// Environment variable listing the shops served, comma-separated `*.myshopify.com` domains.
pub const ENV_SHOPS: &str = "TRYON_SHOPIFY_SHOPS";
/// Environment variable with the proxy's own public base URL (e.g. `https://tryon.example.com`),
/// where browsers on a shop open the event stream directly.
pub const ENV_PUBLIC_URL: &str = "TRYON_PUBLIC_URL";

const MYSHOPIFY_SUFFIX: &str = ".myshopify.com";

/// The App Proxy settings. The secret only ever leaves [`SecretString`] to key an HMAC.
#[derive(Debug, Clone)]
pub struct ShopifyConfig {
    pub api_secret: SecretString,
    /// Lowercase `*.myshopify.com` domains; requests signed for any other shop are refused.
    pub shops: Vec<String>,
    /// The proxy's own public base URL, without a trailing `/`. Without it the create response
    /// offers no direct stream and the widget polls through the App Proxy.
    pub public_url: Option<String>,
    /// Host names of the listed storefront origins (a shop's custom domain): with the shops,
    /// the only `X-Forwarded-Host` values taken as a relayed request's storefront.
    pub storefront_hosts: Vec<String>,
    /// The listed storefront origins themselves: one with a port (a storefront on a port of its
    /// own) is taken with that port only when listed exactly so.
    pub storefront_origins: Vec<String>,
}

/// A configuration the proxy must refuse to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShopifyConfigError {
    #[error("{ENV_API_SECRET} is empty")]
    EmptySecret,
    #[error(
        "{ENV_API_SECRET} is set but {ENV_SHOPS} lists no shop, so every request would be refused"
    )]
    NoShops,
    #[error(
        "{ENV_SHOPS} is set but {ENV_API_SECRET} is not, so no App Proxy request could be verified"
    )]
    MissingSecret,
    #[error("`{0}` in {ENV_SHOPS} is not a shop domain like `my-shop.myshopify.com`")]
    InvalidShop(String),
    #[error("{ENV_PUBLIC_URL} `{0}` is not an http(s) URL")]
    InvalidPublicUrl(String),
}

impl ShopifyConfig {
    /// A configuration serving `shops` with `api_secret` and no direct event stream.
    pub fn new<S: AsRef<str>>(
        api_secret: &str,
        shops: impl IntoIterator<Item = S>,
    ) -> Result<Self, ShopifyConfigError> {
        if api_secret.is_empty() {
            return Err(ShopifyConfigError::EmptySecret);
        }
        let shops = shops
            .into_iter()
            .map(|shop| normalize_shop(shop.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if shops.is_empty() {
            return Err(ShopifyConfigError::NoShops);
        }
        Ok(Self {
            api_secret: SecretString::from(api_secret),
            shops,
            public_url: None,
            storefront_hosts: Vec::new(),
            storefront_origins: Vec::new(),
        })
    }

    /// Takes the hosts of `origins` (normalised storefront origins, `TRYON_ALLOWED_ORIGINS`) as
    /// known storefront domains.
    pub fn with_storefronts(mut self, origins: &[String]) -> Self {
        self.storefront_hosts = origins
            .iter()
            .filter_map(|origin| url::Url::parse(origin).ok()?.host_str().map(str::to_owned))
            .collect();
        self.storefront_origins = origins.to_vec();
        self
    }

    /// Whether `origin` (`https://host:port`, lowercase) is exactly a listed storefront origin.
    pub fn knows_origin(&self, origin: &str) -> bool {
        self.storefront_origins.iter().any(|known| known == origin)
    }

    /// Whether `host` (lowercase, no port) is a shop or storefront domain this proxy knows.
    pub fn knows_host(&self, host: &str) -> bool {
        self.serves_shop(host) || self.storefront_hosts.iter().any(|known| known == host)
    }

    /// Sets the proxy's public base URL used for direct event streams.
    pub fn with_public_url(mut self, url: &str) -> Result<Self, ShopifyConfigError> {
        let parsed =
            url::Url::parse(url).map_err(|_| ShopifyConfigError::InvalidPublicUrl(url.into()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ShopifyConfigError::InvalidPublicUrl(url.into()));
        }
        self.public_url = Some(parsed.as_str().trim_end_matches('/').to_owned());
        Ok(self)
    }

    /// Reads [`ENV_API_SECRET`], [`ENV_SHOPS`] and [`ENV_PUBLIC_URL`] through `lookup`
    /// (`Settings::shopify` merges the command line and file settings into it, and tests need
    /// not mutate the environment). `Ok(None)` when Shopify is not configured at all.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ShopifyConfigError> {
        let secret = lookup(ENV_API_SECRET);
        let shops = lookup(ENV_SHOPS).filter(|list| !list.trim().is_empty());
        let config = match (secret, shops) {
            (None, None) => return Ok(None),
            (None, Some(_)) => return Err(ShopifyConfigError::MissingSecret),
            (Some(_), None) => return Err(ShopifyConfigError::NoShops),
            (Some(secret), Some(shops)) => Self::new(
                &secret,
                shops
                    .split(',')
                    .map(str::trim)
                    .filter(|shop| !shop.is_empty()),
            )?,
        };
        match lookup(ENV_PUBLIC_URL).filter(|url| !url.trim().is_empty()) {
            Some(url) => config.with_public_url(url.trim()).map(Some),
            None => Ok(Some(config)),
        }
    }

    /// Whether `shop` (already lowercase) is one this proxy serves.
    pub fn serves_shop(&self, shop: &str) -> bool {
        self.shops.iter().any(|served| served == shop)
    }

    /// The direct event stream a create response relayed by the App Proxy offers for
    /// `task_id`, or `None` without [`ShopifyConfig::public_url`] (the widget then polls).
    pub fn direct_stream(
        &self,
        task_id: &str,
        request: &AppProxyRequest,
        now_unix: u64,
    ) -> Option<DirectStream> {
        let public_url = self.public_url.as_deref()?;
        let key = StreamTokenKey::derive(self);
        let origin = request.storefront_origin.as_deref();
        Some(key.direct_stream(public_url, task_id, &request.proxy.shop, origin, now_unix))
    }
}

/// Adds the Shopify surface to the proxy's finished router `app`: the same routes under
/// `/shopify` (the App Proxy's target), each behind [`require_app_proxy_signature`], and on the
/// plain routes [`grant_stream_by_token`], which acts only on requests carrying a stream token.
pub fn mount(app: Router, config: Arc<ShopifyConfig>) -> Router {
    let stream_key = Arc::new(StreamTokenKey::derive(&config));
    let signed = axum::middleware::from_fn_with_state(
        AppProxyAuth::new(config),
        require_app_proxy_signature,
    );
    let tokens =
        axum::middleware::from_fn_with_state(StreamAuth::new(stream_key), grant_stream_by_token);
    Router::new()
        .nest("/shopify", app.clone().layer(signed))
        .merge(app.layer(tokens))
}

/// Lowercases `shop` and checks it is `<name>.myshopify.com` with a DNS-label name: the only
/// form Shopify signs, and the form that makes `https://{shop}` a safe CORS origin.
fn normalize_shop(shop: &str) -> Result<String, ShopifyConfigError> {
    let lower = shop.trim().to_ascii_lowercase();
    let name = lower.strip_suffix(MYSHOPIFY_SUFFIX).unwrap_or_default();
    let is_label = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if is_label {
        Ok(lower)
    } else {
        Err(ShopifyConfigError::InvalidShop(shop.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn unset_environment_means_shopify_is_off() {
        assert!(ShopifyConfig::from_lookup(lookup(&[])).unwrap().is_none());
    }

    #[test]
    fn shops_are_trimmed_and_lowercased_and_the_public_url_loses_its_slash() {
        let vars = [
            (ENV_API_SECRET, "s3cret"),
            (ENV_SHOPS, " Shop-One.myshopify.com, shop2.MYSHOPIFY.com ,"),
            (ENV_PUBLIC_URL, "https://tryon.example.com/"),
        ];
        let config = ShopifyConfig::from_lookup(lookup(&vars))
            .unwrap()
            .expect("configured");
        assert_eq!(
            config.shops,
            ["shop-one.myshopify.com", "shop2.myshopify.com"]
        );
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://tryon.example.com")
        );
        assert!(config.serves_shop("shop2.myshopify.com"));
        assert!(!config.serves_shop("shop3.myshopify.com"));
    }

    #[test]
    fn half_configurations_are_refused() {
        assert_eq!(
            ShopifyConfig::from_lookup(lookup(&[(ENV_SHOPS, "a.myshopify.com")])).unwrap_err(),
            ShopifyConfigError::MissingSecret
        );
        assert_eq!(
            ShopifyConfig::from_lookup(lookup(&[(ENV_API_SECRET, "s")])).unwrap_err(),
            ShopifyConfigError::NoShops
        );
        assert_eq!(
            ShopifyConfig::from_lookup(lookup(&[
                (ENV_API_SECRET, ""),
                (ENV_SHOPS, "a.myshopify.com")
            ]))
            .unwrap_err(),
            ShopifyConfigError::EmptySecret
        );
    }

    #[test]
    fn only_myshopify_domains_are_accepted() {
        for bad in [
            "shop.example.com",
            "myshopify.com",
            ".myshopify.com",
            "-shop.myshopify.com",
            "a.b.myshopify.com",
            "https://shop.myshopify.com",
            "evil.com/.myshopify.com",
        ] {
            assert_eq!(
                ShopifyConfig::new("s", [bad]).unwrap_err(),
                ShopifyConfigError::InvalidShop(bad.into()),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_public_url_must_be_http() {
        let config = ShopifyConfig::new("s", ["a.myshopify.com"]).unwrap();
        assert!(config.clone().with_public_url("ftp://x").is_err());
        assert!(config.clone().with_public_url("not a url").is_err());
        assert!(config.with_public_url("http://127.0.0.1:8080").is_ok());
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let config = ShopifyConfig::new("do-not-print-me", ["a.myshopify.com"]).unwrap();
        assert!(!format!("{config:?}").contains("do-not-print-me"));
    }
}
