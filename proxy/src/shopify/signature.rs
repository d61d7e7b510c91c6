//! Verification of requests that reach the proxy through a Shopify App Proxy.
//!
//! Shopify forwards `https://SHOP/apps/<subpath>/…` to our `/shopify/…` and appends `shop`,
//! `logged_in_customer_id`, `path_prefix`, `timestamp` and a `signature` to the query. The
//! signature is the only thing that tells a request relayed by Shopify from one anybody could
//! send to our public URL, so it is checked exactly as Shopify computes it (see "Authenticate
//! app proxies" on shopify.dev and `hmac-validator.ts` in Shopify/shopify-app-js):
//!
//! 1. decode the query; refuse repeated `signature`, `shop`, `timestamp` or `hmac`;
//! 2. join the values of any other repeated key with `,` in arrival order; drop `signature`;
//! 3. build `key=value` strings, sort them, concatenate them with no separator;
//! 4. lowercase hex HMAC-SHA256 with the app's shared secret, compared in constant time;
//! 5. a `timestamp` more than [`MAX_CLOCK_SKEW_SECS`] from now is stale (replay window);
//! 6. only shops on the configured list are served.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::ShopifyConfig;

/// How far `timestamp` may be from the proxy's clock, either way: the window Shopify's own
/// library allows, which bounds how long a captured signed URL can be replayed.
pub const MAX_CLOCK_SKEW_SECS: u64 = 90;

/// Keys Shopify's validator refuses to see twice: a second value could smuggle a different
/// shop or time past code that reads the first one.
const SINGLE_VALUED: [&str; 4] = ["signature", "shop", "timestamp", "hmac"];

/// Why a request was not accepted as coming from Shopify's App Proxy. The messages name the
/// failed check only; they never echo the secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request carries no App Proxy `{0}` parameter")]
    Missing(&'static str),
    #[error("the App Proxy parameter `{0}` appears more than once")]
    Duplicated(String),
    #[error("the App Proxy signature does not match the query")]
    Mismatch,
    #[error("the App Proxy timestamp is not a number of seconds")]
    MalformedTimestamp,
    #[error(
        "the App Proxy timestamp is more than {MAX_CLOCK_SKEW_SECS} s away from the proxy's clock"
    )]
    Stale,
    #[error("the shop `{0}` is not configured for this proxy")]
    UnknownShop(String),
}

/// What a verified App Proxy request tells us about where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAppProxy {
    /// The shop's `*.myshopify.com` domain, lowercase, as Shopify signed it.
    pub shop: String,
    /// Empty when no customer is logged in. Signed, but it proves nothing about who may see
    /// which data (Shopify's caution), so the proxy only ever uses it for attribution.
    pub logged_in_customer_id: Option<String>,
    /// The storefront path the request was sent to, e.g. `/apps/tryon`.
    pub path_prefix: Option<String>,
}

/// Checks `raw_query` (the part after `?`, still percent-encoded) against the configured secret
/// and shop list, with `now_unix` as the current time in seconds since the Unix epoch.
pub fn verify_app_proxy_query(
    config: &ShopifyConfig,
    raw_query: &str,
    now_unix: u64,
) -> Result<VerifiedAppProxy, SignatureError> {
    let params = collect_params(raw_query)?;
    let signature = single(&params, "signature")?;
    let expected = sign_canonical(config, &canonical_message(&params));
    if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        return Err(SignatureError::Mismatch);
    }
    check_fresh(single(&params, "timestamp")?, now_unix)?;
    let shop = single(&params, "shop")?.to_ascii_lowercase();
    if !config.serves_shop(&shop) {
        return Err(SignatureError::UnknownShop(shop));
    }
    Ok(VerifiedAppProxy {
        shop,
        logged_in_customer_id: optional(&params, "logged_in_customer_id"),
        path_prefix: optional(&params, "path_prefix"),
    })
}

/// The signature Shopify would send for `params` (already decoded, in arrival order). Tests and
/// the end-to-end App Proxy stand-in use it to sign requests the way Shopify does.
pub fn sign_app_proxy_params(config: &ShopifyConfig, params: &[(&str, &str)]) -> String {
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in params {
        grouped
            .entry((*key).to_owned())
            .or_default()
            .push((*value).to_owned());
    }
    sign_canonical(config, &canonical_message(&grouped))
}

/// Decoded parameters grouped by key, values in arrival order; refuses repeated
/// [`SINGLE_VALUED`] keys.
fn collect_params(raw_query: &str) -> Result<BTreeMap<String, Vec<String>>, SignatureError> {
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        let values = params.entry(key.into_owned()).or_default();
        values.push(value.into_owned());
    }
    for key in SINGLE_VALUED {
        if params.get(key).is_some_and(|values| values.len() > 1) {
            return Err(SignatureError::Duplicated(key.to_owned()));
        }
    }
    Ok(params)
}

/// The string Shopify signs: every parameter but `signature` as `key=v1,v2`, sorted, joined
/// with nothing. Shopify's documentation sorts the `key=value` strings (not the bare keys);
/// the two orders only differ for keys holding characters below `=`, which Shopify never sends.
fn canonical_message(params: &BTreeMap<String, Vec<String>>) -> String {
    let mut pairs: Vec<String> = params
        .iter()
        .filter(|(key, _)| key.as_str() != "signature")
        .map(|(key, values)| format!("{key}={}", values.join(",")))
        .collect();
    pairs.sort_unstable();
    pairs.concat()
}

fn sign_canonical(config: &ShopifyConfig, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(config.api_secret.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn check_fresh(timestamp: &str, now_unix: u64) -> Result<(), SignatureError> {
    let signed_at: u64 = timestamp
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    if signed_at.abs_diff(now_unix) > MAX_CLOCK_SKEW_SECS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

fn single<'a>(
    params: &'a BTreeMap<String, Vec<String>>,
    key: &'static str,
) -> Result<&'a str, SignatureError> {
    params
        .get(key)
        .and_then(|values| values.first())
        .map(String::as_str)
        .ok_or(SignatureError::Missing(key))
}

fn optional(params: &BTreeMap<String, Vec<String>>, key: &str) -> Option<String> {
    params
        .get(key)
        .map(|values| values.join(","))
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shopify's published example ("Authenticate app proxies"), secret `hush`.
    const EXAMPLE_QUERY: &str = "extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=1&path_prefix=/apps/awesome_reviews&timestamp=1317327555";
    const EXAMPLE_SIGNATURE: &str =
        "4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb";
    const EXAMPLE_TIME: u64 = 1_317_327_555;

    fn example_config() -> ShopifyConfig {
        ShopifyConfig::new("hush", ["shop-name.myshopify.com"]).expect("valid example config")
    }

    fn signed(query: &str) -> String {
        format!("{query}&signature={EXAMPLE_SIGNATURE}")
    }

    #[test]
    fn the_canonical_string_is_the_one_shopify_documents() {
        let params = collect_params(EXAMPLE_QUERY).unwrap();
        assert_eq!(
            canonical_message(&params),
            "extra=1,2logged_in_customer_id=1path_prefix=/apps/awesome_reviewsshop=shop-name.myshopify.comtimestamp=1317327555"
        );
    }

    #[test]
    fn shopifys_published_example_verifies() {
        let verified =
            verify_app_proxy_query(&example_config(), &signed(EXAMPLE_QUERY), EXAMPLE_TIME)
                .expect("Shopify's own example must verify");
        assert_eq!(verified.shop, "shop-name.myshopify.com");
        assert_eq!(verified.logged_in_customer_id.as_deref(), Some("1"));
        assert_eq!(
            verified.path_prefix.as_deref(),
            Some("/apps/awesome_reviews")
        );
    }

    #[test]
    fn signing_reproduces_the_published_signature() {
        let params = [
            ("extra", "1"),
            ("extra", "2"),
            ("shop", "shop-name.myshopify.com"),
            ("logged_in_customer_id", "1"),
            ("path_prefix", "/apps/awesome_reviews"),
            ("timestamp", "1317327555"),
        ];
        assert_eq!(
            sign_app_proxy_params(&example_config(), &params),
            EXAMPLE_SIGNATURE
        );
    }

    #[test]
    fn a_percent_encoded_path_prefix_is_decoded_before_signing() {
        let query = EXAMPLE_QUERY.replace("/apps/awesome_reviews", "%2Fapps%2Fawesome_reviews");
        let verified = verify_app_proxy_query(&example_config(), &signed(&query), EXAMPLE_TIME)
            .expect("an encoded path_prefix signs as its decoded form");
        assert_eq!(
            verified.path_prefix.as_deref(),
            Some("/apps/awesome_reviews")
        );
    }

    #[test]
    fn parameter_order_does_not_matter_but_repeated_value_order_does() {
        let reordered = "timestamp=1317327555&path_prefix=/apps/awesome_reviews&extra=1&logged_in_customer_id=1&shop=shop-name.myshopify.com&extra=2";
        assert!(
            verify_app_proxy_query(&example_config(), &signed(reordered), EXAMPLE_TIME).is_ok()
        );
        let swapped = EXAMPLE_QUERY.replace("extra=1&extra=2", "extra=2&extra=1");
        assert_eq!(
            verify_app_proxy_query(&example_config(), &signed(&swapped), EXAMPLE_TIME),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_tampered_value_fails() {
        for (from, to) in [
            ("logged_in_customer_id=1", "logged_in_customer_id=2"),
            ("shop-name.myshopify.com", "other-shop.myshopify.com"),
            ("timestamp=1317327555", "timestamp=1317327556"),
            ("extra=2", "extra=3"),
        ] {
            let query = EXAMPLE_QUERY.replace(from, to);
            assert_eq!(
                verify_app_proxy_query(&example_config(), &signed(&query), EXAMPLE_TIME),
                Err(SignatureError::Mismatch),
                "changing {from} to {to} must break the signature"
            );
        }
    }

    #[test]
    fn an_added_parameter_fails() {
        let query = format!("{EXAMPLE_QUERY}&garment=https://evil.example/x.png");
        assert_eq!(
            verify_app_proxy_query(&example_config(), &signed(&query), EXAMPLE_TIME),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_wrong_secret_or_altered_signature_fails() {
        let other = ShopifyConfig::new("not-hush", ["shop-name.myshopify.com"]).unwrap();
        assert_eq!(
            verify_app_proxy_query(&other, &signed(EXAMPLE_QUERY), EXAMPLE_TIME),
            Err(SignatureError::Mismatch)
        );
        let uppercase = format!(
            "{EXAMPLE_QUERY}&signature={}",
            EXAMPLE_SIGNATURE.to_uppercase()
        );
        assert_eq!(
            verify_app_proxy_query(&example_config(), &uppercase, EXAMPLE_TIME),
            Err(SignatureError::Mismatch),
            "Shopify sends lowercase hex; anything else is not its signature"
        );
        let truncated = format!("{EXAMPLE_QUERY}&signature={}", &EXAMPLE_SIGNATURE[..63]);
        assert_eq!(
            verify_app_proxy_query(&example_config(), &truncated, EXAMPLE_TIME),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_signature_or_fields_fail() {
        assert_eq!(
            verify_app_proxy_query(&example_config(), EXAMPLE_QUERY, EXAMPLE_TIME),
            Err(SignatureError::Missing("signature"))
        );
        assert_eq!(
            verify_app_proxy_query(&example_config(), "", EXAMPLE_TIME),
            Err(SignatureError::Missing("signature"))
        );
        let config = example_config();
        let no_timestamp = [("shop", "shop-name.myshopify.com")];
        let query = format!(
            "shop=shop-name.myshopify.com&signature={}",
            sign_app_proxy_params(&config, &no_timestamp)
        );
        assert_eq!(
            verify_app_proxy_query(&config, &query, EXAMPLE_TIME),
            Err(SignatureError::Missing("timestamp"))
        );
        let no_shop = [("timestamp", "1317327555")];
        let query = format!(
            "timestamp=1317327555&signature={}",
            sign_app_proxy_params(&config, &no_shop)
        );
        assert_eq!(
            verify_app_proxy_query(&config, &query, EXAMPLE_TIME),
            Err(SignatureError::Missing("shop"))
        );
    }

    #[test]
    fn duplicated_security_parameters_are_refused_before_anything_else() {
        for extra in [
            "shop=other.myshopify.com",
            "timestamp=1317327555",
            &format!("signature={EXAMPLE_SIGNATURE}"),
            "hmac=abc",
        ] {
            let key = extra.split('=').next().unwrap();
            let query = if key == "hmac" {
                format!("{}&hmac=def&{extra}", signed(EXAMPLE_QUERY))
            } else {
                format!("{}&{extra}", signed(EXAMPLE_QUERY))
            };
            assert_eq!(
                verify_app_proxy_query(&example_config(), &query, EXAMPLE_TIME),
                Err(SignatureError::Duplicated(key.to_owned())),
                "a second `{key}` must be refused"
            );
        }
    }

    #[test]
    fn a_stale_or_future_timestamp_fails_and_the_window_edge_passes() {
        let config = example_config();
        let query = signed(EXAMPLE_QUERY);
        for now in [
            EXAMPLE_TIME - MAX_CLOCK_SKEW_SECS,
            EXAMPLE_TIME + MAX_CLOCK_SKEW_SECS,
        ] {
            assert!(
                verify_app_proxy_query(&config, &query, now).is_ok(),
                "now = {now}"
            );
        }
        for now in [
            EXAMPLE_TIME - MAX_CLOCK_SKEW_SECS - 1,
            EXAMPLE_TIME + MAX_CLOCK_SKEW_SECS + 1,
            0,
        ] {
            assert_eq!(
                verify_app_proxy_query(&config, &query, now),
                Err(SignatureError::Stale),
                "now = {now}"
            );
        }
    }

    #[test]
    fn a_non_numeric_timestamp_fails() {
        let config = example_config();
        let params = [
            ("shop", "shop-name.myshopify.com"),
            ("timestamp", "yesterday"),
        ];
        let query = format!(
            "shop=shop-name.myshopify.com&timestamp=yesterday&signature={}",
            sign_app_proxy_params(&config, &params)
        );
        assert_eq!(
            verify_app_proxy_query(&config, &query, EXAMPLE_TIME),
            Err(SignatureError::MalformedTimestamp)
        );
    }

    #[test]
    fn a_correctly_signed_request_from_an_unlisted_shop_fails() {
        let config = ShopifyConfig::new("hush", ["another-shop.myshopify.com"]).unwrap();
        assert_eq!(
            verify_app_proxy_query(&config, &signed(EXAMPLE_QUERY), EXAMPLE_TIME),
            Err(SignatureError::UnknownShop(
                "shop-name.myshopify.com".into()
            ))
        );
    }

    #[test]
    fn an_empty_customer_id_means_nobody_is_logged_in() {
        let config = example_config();
        let params = [
            ("shop", "shop-name.myshopify.com"),
            ("logged_in_customer_id", ""),
            ("path_prefix", "/apps/tryon"),
            ("timestamp", "1317327555"),
        ];
        let query = format!(
            "shop=shop-name.myshopify.com&logged_in_customer_id=&path_prefix=%2Fapps%2Ftryon&timestamp=1317327555&signature={}",
            sign_app_proxy_params(&config, &params)
        );
        let verified = verify_app_proxy_query(&config, &query, EXAMPLE_TIME).unwrap();
        assert_eq!(verified.logged_in_customer_id, None);
        assert_eq!(verified.path_prefix.as_deref(), Some("/apps/tryon"));
    }
}
