//! Remembers that the provider refuses the merchant's account, so a shopper is told before
//! she uploads a photo (issue 13), not after.
//!
//! An empty balance or a refused key (with a failover list: on the last provider too) is a
//! state of the merchant's account, not of one try-on: every try-on after it would fail the
//! same way. [`Standing`] wraps the whole provider, notes such a refusal from any call, and
//! `GET /v1/config` answers with it, so the widget shows "not available here" when the dialog
//! opens. Any success clears it, and it lapses after a cool-down, so a topped-up account is
//! tried again without a restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{
    PreparedImage, ProcessedSizes, ProgressSink, Provider, ProviderError, ProviderInfo, TryOnJob,
    TryOnOutput, WebhookError,
};
use crate::wire::{ErrorCode, GarmentCheck, PersonCheck};

/// How long a refusal stands without another call confirming it.
pub const STANDS_FOR: Duration = super::failover::DEFAULT_COOL_DOWN;

/// `provider`, with the account refusal it last answered.
pub struct Standing {
    provider: Arc<dyn Provider>,
    refused: Mutex<Option<(ErrorCode, Instant)>>,
}

impl Standing {
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        Self {
            provider,
            refused: Mutex::default(),
        }
    }

    /// Notes what a call's outcome says about the account.
    fn note<T>(&self, outcome: &Result<T, ProviderError>) {
        let code = match outcome {
            Ok(_) => None,
            Err(ProviderError::OutOfCredit(_)) => Some(ErrorCode::ProviderOutOfCredit),
            Err(ProviderError::Auth(_)) => Some(ErrorCode::ProviderAuth),
            // Anything else says nothing about the account.
            Err(_) => return,
        };
        *self.lock() = code.map(|code| (code, Instant::now()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(ErrorCode, Instant)>> {
        self.refused.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Provider for Standing {
    fn info(&self) -> ProviderInfo {
        self.provider.info()
    }

    fn processed_sizes(&self) -> ProcessedSizes {
        self.provider.processed_sizes()
    }

    async fn run(
        &self,
        job: TryOnJob,
        progress: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let outcome = self.provider.run(job, progress).await;
        self.note(&outcome);
        outcome
    }

    async fn resume(
        &self,
        job: TryOnJob,
        state: serde_json::Value,
        progress: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let outcome = self.provider.resume(job, state, progress).await;
        self.note(&outcome);
        outcome
    }

    async fn check_person(&self, person: &PreparedImage) -> Result<PersonCheck, ProviderError> {
        let outcome = self.provider.check_person(person).await;
        self.note(&outcome);
        outcome
    }

    async fn check_garment(&self, garment: &PreparedImage) -> Result<GarmentCheck, ProviderError> {
        let outcome = self.provider.check_garment(garment).await;
        self.note(&outcome);
        outcome
    }

    fn check_cost(&self) -> f64 {
        self.provider.check_cost()
    }

    fn accepts_webhooks(&self) -> bool {
        self.provider.accepts_webhooks()
    }

    async fn webhook(
        &self,
        vendor: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        self.provider.webhook(vendor, signature, body).await
    }

    fn share_through(&self, store: &Arc<dyn crate::store::Store>) {
        self.provider.share_through(store);
    }

    fn refusing(&self) -> Option<ErrorCode> {
        let mut refused = self.lock();
        match *refused {
            Some((code, at)) if at.elapsed() < STANDS_FOR => Some(code),
            Some(_) => {
                *refused = None;
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::local::LocalProvider;

    /// A provider whose checks answer what the test sets.
    struct Answering(Mutex<Option<ProviderError>>);

    #[async_trait]
    impl Provider for Answering {
        fn info(&self) -> ProviderInfo {
            LocalProvider::new(Duration::ZERO).info()
        }
        async fn run(
            &self,
            _: TryOnJob,
            _: &dyn ProgressSink,
        ) -> Result<TryOnOutput, ProviderError> {
            Err(ProviderError::Failed("not run here".into()))
        }
        async fn check_person(&self, person: &PreparedImage) -> Result<PersonCheck, ProviderError> {
            match self.0.lock().unwrap().take() {
                Some(error) => Err(error),
                None => Ok(crate::providers::checks::local_person_check(person)),
            }
        }
    }

    fn photo() -> PreparedImage {
        let image = image::RgbImage::from_pixel(64, 96, image::Rgb([120, 90, 60]));
        let mut bytes = Vec::new();
        image
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        PreparedImage {
            bytes: bytes.into(),
            content_type: "image/jpeg",
            width: 64,
            height: 96,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_account_refusal_stands_until_a_success_or_the_cool_down() {
        let answering = Arc::new(Answering(Mutex::default()));
        let standing = Standing::new(answering.clone());
        let photo = photo();
        assert_eq!(
            standing.refusing(),
            None,
            "a fresh provider refuses nothing"
        );

        for (error, code) in [
            (
                ProviderError::OutOfCredit("balance 0".into()),
                ErrorCode::ProviderOutOfCredit,
            ),
            (
                ProviderError::Auth("key revoked".into()),
                ErrorCode::ProviderAuth,
            ),
        ] {
            *answering.0.lock().unwrap() = Some(error);
            let _ = standing.check_person(&photo).await;
            assert_eq!(standing.refusing(), Some(code));
            standing.check_person(&photo).await.unwrap();
            assert_eq!(standing.refusing(), None, "a success clears the refusal");
        }

        *answering.0.lock().unwrap() = Some(ProviderError::Auth("key revoked".into()));
        let _ = standing.check_person(&photo).await;
        *answering.0.lock().unwrap() = Some(ProviderError::Unavailable {
            message: "503".into(),
            retry_after: None,
        });
        let _ = standing.check_person(&photo).await;
        assert_eq!(
            standing.refusing(),
            Some(ErrorCode::ProviderAuth),
            "an outage says nothing about the account"
        );
        tokio::time::advance(STANDS_FOR).await;
        assert_eq!(standing.refusing(), None, "the refusal lapses");
    }
}
