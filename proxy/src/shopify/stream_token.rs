//! Short-lived tokens that let a shop's storefront open a task's event stream directly on the
//! proxy's own origin.
//!
//! Shopify does not document whether its App Proxy passes Server-Sent Events through, so the
//! create response relayed by it carries a token bound to one task, one shop and an expiry.
//! Presented as `?stream_token=` on `GET /v1/tryons/{id}/events`, it makes the proxy answer that
//! stream with CORS for the shop's origins only, without putting every shop on the global
//! allow-list. The token is `base64url(claims JSON) "." base64url(HMAC-SHA256)`, keyed by a key
//! derived from the app secret, so every proxy instance sharing the secret accepts it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::ShopifyConfig;
use crate::wire::DirectStream;

/// How long a token opens streams: longer than a slow vendor's task so that `EventSource`'s
/// automatic reconnects keep working, short enough that a leaked URL soon goes stale.
pub const STREAM_TOKEN_TTL_SECS: u64 = 600;

/// The query parameter carrying the token on the events route.
pub const STREAM_TOKEN_PARAM: &str = "stream_token";

/// Separates this key's uses from every other HMAC the app secret keys (App Proxy signatures).
const KEY_DERIVATION_LABEL: &[u8] = b"tryon-proxy/stream-token/v1";

/// Why a stream token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamTokenError {
    #[error("the stream token is not in the expected form")]
    Malformed,
    #[error("the stream token's signature is wrong")]
    BadSignature,
    #[error("the stream token has expired")]
    Expired,
    #[error("the stream token was issued for another task")]
    WrongTask,
}

/// What a valid token allows: watching `task_id` from the shop's origins until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamGrant {
    #[serde(rename = "t")]
    pub task_id: String,
    /// The `*.myshopify.com` domain the create request was signed for.
    #[serde(rename = "s")]
    pub shop: String,
    /// The storefront's public origin (e.g. a custom domain) the App Proxy reported, if any.
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub storefront_origin: Option<String>,
    /// Seconds since the Unix epoch.
    #[serde(rename = "e")]
    pub expires_at: u64,
}

impl StreamGrant {
    /// Whether a browser on `origin` may read the stream: the shop's `myshopify.com` origin or
    /// the storefront origin the token was minted for.
    pub fn allows_origin(&self, origin: &str) -> bool {
        origin.strip_prefix("https://") == Some(self.shop.as_str())
            || self.storefront_origin.as_deref() == Some(origin)
    }
}

/// The HMAC key for stream tokens.
pub struct StreamTokenKey {
    key: SecretSlice<u8>,
}

impl std::fmt::Debug for StreamTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamTokenKey(..)")
    }
}

impl StreamTokenKey {
    /// Derives the key from the app secret (HMAC of a fixed label), so instances sharing the
    /// secret agree without a second secret to distribute.
    pub fn derive(config: &ShopifyConfig) -> Self {
        let derived = hmac_sha256(
            config.api_secret.expose_secret().as_bytes(),
            KEY_DERIVATION_LABEL,
        );
        Self {
            key: SecretSlice::from(derived),
        }
    }

    /// Signs `grant` into a token.
    pub fn mint(&self, grant: &StreamGrant) -> String {
        let claims = serde_json::to_vec(grant).expect("a grant is plain strings and numbers");
        let payload = URL_SAFE_NO_PAD.encode(claims);
        let tag = URL_SAFE_NO_PAD.encode(self.tag(payload.as_bytes()));
        format!("{payload}.{tag}")
    }

    /// Checks `token` for the stream of `task_id` at `now_unix`. The signature is checked first
    /// so nothing in an unauthenticated token is even parsed.
    pub fn verify(
        &self,
        token: &str,
        task_id: &str,
        now_unix: u64,
    ) -> Result<StreamGrant, StreamTokenError> {
        let (payload, tag) = token.split_once('.').ok_or(StreamTokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| StreamTokenError::Malformed)?;
        if !bool::from(self.tag(payload.as_bytes()).ct_eq(&tag)) {
            return Err(StreamTokenError::BadSignature);
        }
        let claims = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| StreamTokenError::Malformed)?;
        let grant: StreamGrant =
            serde_json::from_slice(&claims).map_err(|_| StreamTokenError::Malformed)?;
        if now_unix >= grant.expires_at {
            return Err(StreamTokenError::Expired);
        }
        if !bool::from(grant.task_id.as_bytes().ct_eq(task_id.as_bytes())) {
            return Err(StreamTokenError::WrongTask);
        }
        Ok(grant)
    }

    /// A token for `task_id` valid [`STREAM_TOKEN_TTL_SECS`] from `now_unix`, as the absolute
    /// events URL under `public_url` (the proxy's own base URL, no trailing `/`).
    pub fn direct_stream(
        &self,
        public_url: &str,
        task_id: &str,
        shop: &str,
        storefront_origin: Option<&str>,
        now_unix: u64,
    ) -> DirectStream {
        let expires_at = now_unix + STREAM_TOKEN_TTL_SECS;
        let token = self.mint(&StreamGrant {
            task_id: task_id.to_owned(),
            shop: shop.to_owned(),
            storefront_origin: storefront_origin.map(str::to_owned),
            expires_at,
        });
        let events = crate::wire::paths::tryon_events(task_id);
        DirectStream {
            url: format!("{public_url}{events}?{STREAM_TOKEN_PARAM}={token}"),
            expires_at,
        }
    }

    fn tag(&self, payload: &[u8]) -> Vec<u8> {
        hmac_sha256(self.key.expose_secret(), payload)
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn key(secret: &str) -> StreamTokenKey {
        StreamTokenKey::derive(&ShopifyConfig::new(secret, ["shop-name.myshopify.com"]).unwrap())
    }

    fn grant(task_id: &str) -> StreamGrant {
        StreamGrant {
            task_id: task_id.into(),
            shop: "shop-name.myshopify.com".into(),
            storefront_origin: Some("https://www.shop.example".into()),
            expires_at: NOW + 60,
        }
    }

    #[test]
    fn a_minted_token_verifies_for_its_task_until_it_expires() {
        let key = key("secret");
        let token = key.mint(&grant("task-1"));
        assert_eq!(key.verify(&token, "task-1", NOW), Ok(grant("task-1")));
        assert_eq!(key.verify(&token, "task-1", NOW + 59), Ok(grant("task-1")));
        assert_eq!(
            key.verify(&token, "task-1", NOW + 60),
            Err(StreamTokenError::Expired)
        );
    }

    #[test]
    fn a_token_for_another_task_is_refused() {
        let key = key("secret");
        let token = key.mint(&grant("task-1"));
        assert_eq!(
            key.verify(&token, "task-2", NOW),
            Err(StreamTokenError::WrongTask)
        );
    }

    #[test]
    fn tampered_claims_or_tags_are_refused() {
        let key = key("secret");
        let token = key.mint(&grant("task-1"));
        let (payload, tag) = token.split_once('.').unwrap();

        let mut longer = grant("task-1");
        longer.expires_at += 3600;
        let forged_payload = key.mint(&longer);
        let forged = format!("{}.{tag}", forged_payload.split_once('.').unwrap().0);
        assert_eq!(
            key.verify(&forged, "task-1", NOW),
            Err(StreamTokenError::BadSignature)
        );

        let mut tag_bytes = URL_SAFE_NO_PAD.decode(tag).unwrap();
        tag_bytes[0] ^= 1;
        let flipped = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag_bytes));
        assert_eq!(
            key.verify(&flipped, "task-1", NOW),
            Err(StreamTokenError::BadSignature)
        );
    }

    #[test]
    fn a_token_from_another_secret_is_refused() {
        let token = key("secret").mint(&grant("task-1"));
        assert_eq!(
            key("other").verify(&token, "task-1", NOW),
            Err(StreamTokenError::BadSignature)
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let key = key("secret");
        for garbage in ["", "abc", "a.b.c", "!!!.???", "."] {
            assert!(
                matches!(
                    key.verify(garbage, "task-1", NOW),
                    Err(StreamTokenError::Malformed | StreamTokenError::BadSignature)
                ),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn grants_allow_only_the_shops_origins() {
        let grant = grant("task-1");
        assert!(grant.allows_origin("https://shop-name.myshopify.com"));
        assert!(grant.allows_origin("https://www.shop.example"));
        assert!(!grant.allows_origin("http://shop-name.myshopify.com"));
        assert!(!grant.allows_origin("https://other.myshopify.com"));
        assert!(!grant.allows_origin("https://www.shop.example.evil.com"));
    }

    #[test]
    fn the_direct_stream_url_carries_a_token_for_that_task() {
        let key = key("secret");
        let stream = key.direct_stream(
            "https://tryon.example.com",
            "abc",
            "shop-name.myshopify.com",
            None,
            NOW,
        );
        assert_eq!(stream.expires_at, NOW + STREAM_TOKEN_TTL_SECS);
        let token = stream
            .url
            .strip_prefix("https://tryon.example.com/v1/tryons/abc/events?stream_token=")
            .expect("events URL on the proxy's origin");
        let verified = key.verify(token, "abc", NOW).unwrap();
        assert_eq!(verified.shop, "shop-name.myshopify.com");
        assert_eq!(verified.storefront_origin, None);
    }
}
