//! Vtryon's webhooks: set in Vtryon's dashboard (one URL per account, so any instance may
//! receive any task's event), signed with a `whsec_` secret in `x-vtryon-signature` over the
//! raw body.
//!
//! The document says no more than that, so the scheme is the common one for `whsec_`
//! secrets: the key is the base64-decoded part after `whsec_`, the signature the
//! HMAC-SHA256 of the raw body, sent as `v1,<base64>`; several may be listed, separated by
//! spaces (while a secret is rotated), and a hex (`sha256=<hex>`) encoding is taken as well.
//! Every candidate is compared in constant time. The event's body is not documented either:
//! only the task's id is read from it (`id` or `task_id`, at the top or under `data` or
//! `task`), and the task's status is then read from the API, as a poll would.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;

use crate::providers::WebhookError;
use crate::providers::settings::SettingsError;
use crate::providers::upstream::client::vendor_id;

/// The HMAC key behind a `whsec_` secret.
pub struct SigningKey(SecretBox<Vec<u8>>);

impl SigningKey {
    pub fn from_secret(secret: &SecretString) -> Result<Self, SettingsError> {
        let bad = || SettingsError::BadWebhookSecret("VTRYON_WEBHOOK_SECRET");
        let encoded = secret
            .expose_secret()
            .trim()
            .strip_prefix("whsec_")
            .ok_or_else(bad)?;
        let key = BASE64.decode(encoded).map_err(|_| bad())?;
        if key.is_empty() {
            return Err(bad());
        }
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// Whether `header` carries a valid signature of `body`.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), WebhookError> {
        let header = header.ok_or(WebhookError::BadSignature)?;
        let valid = header.split_whitespace().any(|candidate| {
            let Some(claimed) = decode(candidate) else {
                return false;
            };
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.0.expose_secret()) else {
                return false;
            };
            mac.update(body);
            // `verify_slice` compares in constant time.
            mac.verify_slice(&claimed).is_ok()
        });
        if valid {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }
}

/// One listed signature's bytes: `v1,<base64>`, `sha256=<hex>`, or either bare.
fn decode(candidate: &str) -> Option<Vec<u8>> {
    let value = candidate
        .strip_prefix("v1,")
        .or_else(|| candidate.strip_prefix("sha256="))
        .unwrap_or(candidate);
    let hex = value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        hex::decode(value).ok()
    } else {
        BASE64.decode(value).ok()
    }
}

/// The task an event is about.
pub fn task_id(body: &[u8]) -> Result<String, WebhookError> {
    let event: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| WebhookError::Malformed)?;
    let id = [&event, &event["data"], &event["task"]]
        .into_iter()
        .flat_map(|object| [&object["id"], &object["task_id"]])
        .find(|id| id.is_number() || id.is_string())
        .ok_or(WebhookError::Malformed)?;
    vendor_id(id.clone()).map_err(|_| WebhookError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plainly fake key; the secret is built from it, as the vendor's dashboard shows one.
    const KEY: &[u8] = b"unit-test-webhook-key";

    fn secret() -> String {
        format!("whsec_{}", BASE64.encode(KEY))
    }

    fn sign(body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
        mac.update(body);
        BASE64.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn signatures_are_checked_against_the_raw_body_with_the_decoded_secret() {
        let key = SigningKey::from_secret(&SecretString::from(secret())).unwrap();
        let body = br#"{"data":{"id":200,"status":"completed"}}"#;
        let signature = sign(body);
        assert!(key.verify(Some(&format!("v1,{signature}")), body).is_ok());
        assert!(
            key.verify(Some(&format!("v1,AAAA v1,{signature}")), body)
                .is_ok(),
            "one of several listed signatures may match"
        );
        let raw = BASE64.decode(&signature).unwrap();
        assert!(
            key.verify(Some(&format!("sha256={}", hex::encode(raw))), body)
                .is_ok()
        );
        assert!(key.verify(Some(&format!("v1,{signature}")), b"{}").is_err());
        assert!(key.verify(Some("v1,AAAA"), body).is_err());
        assert!(key.verify(Some(""), body).is_err());
        assert!(key.verify(None, body).is_err());
        // Keyed with the secret's text instead of its decoded bytes: refused.
        let mut wrong = Hmac::<Sha256>::new_from_slice(secret().as_bytes()).unwrap();
        wrong.update(body);
        let wrong = BASE64.encode(wrong.finalize().into_bytes());
        assert!(key.verify(Some(&format!("v1,{wrong}")), body).is_err());
    }

    #[test]
    fn secrets_must_be_whsec_base64() {
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_***"] {
            assert!(
                SigningKey::from_secret(&SecretString::from(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_task_id_is_found_where_vendors_put_it() {
        for body in [
            r#"{"id": 200, "status": "completed"}"#,
            r#"{"event": "task.completed", "data": {"id": 200}}"#,
            r#"{"task": {"task_id": "200"}}"#,
        ] {
            assert_eq!(task_id(body.as_bytes()).as_deref(), Ok("200"), "{body}");
        }
        for body in [
            r#"{"status": "completed"}"#,
            r#"{"id": "../x"}"#,
            "not json",
        ] {
            assert_eq!(
                task_id(body.as_bytes()),
                Err(WebhookError::Malformed),
                "{body}"
            );
        }
    }
}
