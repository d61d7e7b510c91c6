//! Shopify App Proxy signatures (`shopify::signature`). Two properties over arbitrary input:
//! verifying any query string never panics; and for any parameters, a query Shopify would send
//! (signed with `sign_app_proxy_params`, percent-encoded) verifies with the same shop, while
//! changing any byte of its signature makes it fail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tryon_proxy::shopify::signature::sign_app_proxy_params;
use tryon_proxy::shopify::{ShopifyConfig, verify_app_proxy_query};

const SHOP: &str = "fuzz-shop.myshopify.com";
const NOW: u64 = 1_700_000_000;

fuzz_target!(|raw: &[u8]| {
    let config = ShopifyConfig::new("hush", [SHOP]).expect("config");
    let text = String::from_utf8_lossy(raw);
    let _ = verify_app_proxy_query(&config, &text, NOW);

    // The same bytes as `key=value` lines of extra parameters around the signed ones.
    let extra: Vec<(String, String)> = text
        .split('\n')
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .filter(|(k, _)| !["signature", "shop", "timestamp", "hmac"].contains(&k.as_str()))
        .take(8)
        .collect();
    let timestamp = NOW.to_string();
    let mut params: Vec<(&str, &str)> = vec![("shop", SHOP), ("timestamp", &timestamp)];
    params.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let signature = sign_app_proxy_params(&config, &params);
    let signed = encode(&params, &signature);
    let verified = verify_app_proxy_query(&config, &signed, NOW)
        .unwrap_or_else(|e| panic!("a correctly signed query was refused ({e}): {signed}"));
    assert_eq!(verified.shop, SHOP);

    let mut forged = signature.into_bytes();
    forged[0] = if forged[0] == b'0' { b'1' } else { b'0' };
    let forged = encode(&params, std::str::from_utf8(&forged).expect("hex"));
    assert!(
        verify_app_proxy_query(&config, &forged, NOW).is_err(),
        "a forged signature verified: {forged}"
    );
});

/// The query string Shopify would send: every parameter percent-encoded, then `signature`.
fn encode(params: &[(&str, &str)], signature: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in params {
        query.append_pair(key, value);
    }
    query.append_pair("signature", signature).finish()
}
