//! An ordered list of providers behind one [`Provider`]: when one is out of credit, refuses its
//! key, or stays unavailable after its retries, new tasks go to the next.
//!
//! A task is moved to the next provider at once only when the failed one certainly did not take
//! (and bill) it: out of credit or a refused key, both answered before anything was created.
//! After any other provider failure (unavailable, timed out) the task fails as it is, because
//! the first vendor may still finish and charge it, and only later tasks go elsewhere. A
//! provider that failed is skipped for a cool-down and then tried again, so a short outage
//! does not move traffic for good. Checks follow the same order and the same rules.
//!
//! Configured with `TRYON_PROVIDER` (the first choice) and `TRYON_FAILOVER` (the rest, in
//! order); [`from_lookup`] builds the chain. The upstream state a task leaves for a restart is
//! tagged with its provider's name, so [`Provider::resume`] polls the vendor that has the task.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio::time::Instant;

use super::{
    PreparedImage, ProcessedSizes, ProgressSink, ProgressUpdate, Provider, ProviderError,
    ProviderInfo, SettingsError, TryOnJob, TryOnOutput, VendorKind, VendorSettings, WebhookError,
    build_vendor,
};
use crate::wire::{GarmentCheck, PersonCheck};

/// How long a provider that failed over is skipped before it is tried again.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(300);

/// The provider for `first` followed by `rest`, each configured through `lookup` (the process
/// environment in the binary): the vendor itself when it is alone, a [`Failover`] otherwise.
pub fn from_lookup(
    first: VendorKind,
    rest: &[VendorKind],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Arc<dyn Provider>, SettingsError> {
    let mut providers = Vec::with_capacity(1 + rest.len());
    for &kind in std::iter::once(&first).chain(rest) {
        providers.push(build_vendor(VendorSettings::from_lookup(kind, &lookup)?)?);
    }
    if providers.len() == 1 {
        return Ok(providers.swap_remove(0));
    }
    let chain = Failover::new(providers, DEFAULT_COOL_DOWN).expect("the list holds `first`");
    Ok(Arc::new(chain))
}

pub struct Failover {
    providers: Vec<Arc<dyn Provider>>,
    /// When each provider last failed over; `None` while healthy.
    failed_at: Mutex<Vec<Option<Instant>>>,
    cool_down: Duration,
}

impl Failover {
    /// `providers` in order of preference; at least one.
    pub fn new(providers: Vec<Arc<dyn Provider>>, cool_down: Duration) -> Option<Self> {
        if providers.is_empty() {
            return None;
        }
        let failed_at = Mutex::new(vec![None; providers.len()]);
        Some(Self {
            providers,
            failed_at,
            cool_down,
        })
    }

    /// The first provider not cooling down; the first of all if every one is.
    fn current(&self) -> usize {
        let now = Instant::now();
        let failed_at = self.lock();
        failed_at
            .iter()
            .position(|t| t.is_none_or(|t| now.duration_since(t) >= self.cool_down))
            .unwrap_or(0)
    }

    fn mark_failed(&self, index: usize) {
        let name = self.providers[index].info().name;
        tracing::warn!(
            provider = name,
            "provider failed over; new tasks go to the next one"
        );
        self.lock()[index] = Some(Instant::now());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Instant>>> {
        self.failed_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the current provider, and the next ones while a refusal certainly cost nothing.
    async fn first_answer<'a, T>(
        &'a self,
        ask: impl Fn(&'a dyn Provider) -> BoxFuture<'a, Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        let mut index = self.current();
        loop {
            let error = match ask(self.providers[index].as_ref()).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            if !error.fails_over() {
                return Err(error);
            }
            self.mark_failed(index);
            let next = index + 1;
            if !refused_before_create(&error) || next >= self.providers.len() {
                return Err(error);
            }
            index = next;
        }
    }
}

/// Refusals that certainly created nothing upstream: the task may move on at once.
fn refused_before_create(error: &ProviderError) -> bool {
    matches!(
        error,
        ProviderError::OutOfCredit(_) | ProviderError::Auth(_)
    )
}

/// Passes progress through and tags the upstream state with the provider that has the task.
struct Tagged<'a> {
    sink: &'a dyn ProgressSink,
    provider: &'static str,
}

impl ProgressSink for Tagged<'_> {
    fn report(&self, update: ProgressUpdate) {
        self.sink.report(update);
    }

    fn queued(&self, ahead: Option<u32>) {
        self.sink.queued(ahead);
    }

    fn upstream_started(&self, state: serde_json::Value) {
        self.sink
            .upstream_started(serde_json::json!({ "provider": self.provider, "state": state }));
    }
}

#[async_trait]
impl Provider for Failover {
    fn share_through(&self, store: &Arc<dyn crate::store::Store>) {
        for provider in &self.providers {
            provider.share_through(store);
        }
    }

    /// The provider new tasks go to now.
    fn info(&self) -> ProviderInfo {
        self.providers[self.current()].info()
    }

    /// The most demanding provider's sizes, whichever is current: a photo prepared while the
    /// first is healthy may be sent to the next after it fails over.
    fn processed_sizes(&self) -> ProcessedSizes {
        self.providers
            .iter()
            .map(|provider| provider.processed_sizes())
            .reduce(ProcessedSizes::max)
            .expect("a failover list holds at least one provider")
    }

    async fn run(
        &self,
        job: TryOnJob,
        progress: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        self.first_answer(|provider| {
            let job = job.clone();
            Box::pin(async move {
                let tagged = Tagged {
                    sink: progress,
                    provider: provider.info().name,
                };
                provider.run(job, &tagged).await
            })
        })
        .await
    }

    /// The provider named in the tagged state polls its own task again. State without a tag
    /// was left while the first provider served alone (before failover was configured).
    async fn resume(
        &self,
        job: TryOnJob,
        state: serde_json::Value,
        progress: &dyn ProgressSink,
    ) -> Result<TryOnOutput, ProviderError> {
        let (provider, inner) = match state["provider"].as_str() {
            None => (&self.providers[0], state),
            Some(name) => {
                let provider = self
                    .providers
                    .iter()
                    .find(|p| p.info().name == name)
                    .ok_or_else(|| {
                        ProviderError::Failed(format!(
                            "the {name} provider that started this task is no longer configured"
                        ))
                    })?;
                (provider, state["state"].clone())
            }
        };
        let tagged = Tagged {
            sink: progress,
            provider: provider.info().name,
        };
        provider.resume(job, inner, &tagged).await
    }

    async fn check_person(&self, person: &PreparedImage) -> Result<PersonCheck, ProviderError> {
        self.first_answer(|provider| provider.check_person(person))
            .await
    }

    async fn check_garment(&self, garment: &PreparedImage) -> Result<GarmentCheck, ProviderError> {
        self.first_answer(|provider| provider.check_garment(garment))
            .await
    }

    /// The dearest of the list: a check may be answered by any of them.
    fn check_cost(&self) -> f64 {
        self.providers
            .iter()
            .map(|p| p.check_cost())
            .fold(0.0, f64::max)
    }

    fn accepts_webhooks(&self) -> bool {
        self.providers.iter().any(|p| p.accepts_webhooks())
    }

    async fn webhook(
        &self,
        vendor: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        let named = self
            .providers
            .iter()
            .find(|p| p.info().name == vendor && p.accepts_webhooks());
        match named {
            Some(provider) => provider.webhook(vendor, signature, body).await,
            None => Err(WebhookError::NotConfigured),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use bytes::Bytes;

    use super::*;
    use crate::wire::{Category, ChecksAvailable, Quality};

    /// A provider that answers each run with the next scripted outcome.
    struct Scripted {
        name: &'static str,
        fail_with: Mutex<Vec<fn() -> ProviderError>>,
        runs: AtomicU32,
    }

    impl Scripted {
        fn new(name: &'static str, fail_with: Vec<fn() -> ProviderError>) -> Arc<Self> {
            Arc::new(Self {
                name,
                fail_with: Mutex::new(fail_with),
                runs: AtomicU32::new(0),
            })
        }
    }

    #[async_trait]
    impl Provider for Scripted {
        fn info(&self) -> ProviderInfo {
            ProviderInfo {
                name: self.name,
                categories: vec![],
                checks: ChecksAvailable::default(),
            }
        }

        async fn run(
            &self,
            _job: TryOnJob,
            progress: &dyn ProgressSink,
        ) -> Result<TryOnOutput, ProviderError> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            self.next_outcome()?;
            progress.upstream_started(serde_json::json!({ "task": self.name }));
            Ok(output(self.name.to_owned()))
        }

        async fn resume(
            &self,
            _job: TryOnJob,
            state: serde_json::Value,
            _progress: &dyn ProgressSink,
        ) -> Result<TryOnOutput, ProviderError> {
            Ok(output(format!("{} resumed {state}", self.name)))
        }

        /// Names the provider that answered in its one issue.
        async fn check_person(&self, _: &PreparedImage) -> Result<PersonCheck, ProviderError> {
            self.next_outcome()?;
            Ok(PersonCheck {
                ok: true,
                issues: vec![crate::providers::checks::issue(
                    self.name,
                    crate::wire::Severity::Warning,
                    String::new(),
                )],
                garment_kinds: None,
                source: crate::wire::CheckSource::Provider,
            })
        }
    }

    impl Scripted {
        fn next_outcome(&self) -> Result<(), ProviderError> {
            match self.fail_with.lock().unwrap().pop() {
                Some(error) => Err(error()),
                None => Ok(()),
            }
        }
    }

    fn output(text: String) -> TryOnOutput {
        TryOnOutput {
            bytes: Bytes::from(text),
            width: 1,
            height: 1,
            content_type: "image/png".into(),
        }
    }

    /// Keeps the upstream state a run leaves for a restart.
    #[derive(Default)]
    struct Persisting(Mutex<Option<serde_json::Value>>);
    impl ProgressSink for Persisting {
        fn report(&self, _update: ProgressUpdate) {}
        fn upstream_started(&self, state: serde_json::Value) {
            *self.0.lock().unwrap() = Some(state);
        }
    }

    struct Quiet;
    impl ProgressSink for Quiet {
        fn report(&self, _update: ProgressUpdate) {}
    }

    fn job() -> TryOnJob {
        let image = PreparedImage {
            bytes: Bytes::new(),
            width: 1,
            height: 1,
            content_type: "image/jpeg",
        };
        TryOnJob {
            person: image.clone(),
            garment: image,
            lower_garment: None,
            category: Category::Upper,
            quality: Quality::Fast,
        }
    }

    fn out_of_credit() -> ProviderError {
        ProviderError::OutOfCredit("402".into())
    }

    fn unavailable() -> ProviderError {
        ProviderError::Unavailable {
            message: "503".into(),
            retry_after: None,
        }
    }

    fn rejected() -> ProviderError {
        ProviderError::InputRejected {
            code: crate::wire::ErrorCode::PoseNotDetected,
            message: "pose".into(),
        }
    }

    #[tokio::test]
    async fn out_of_credit_moves_the_same_task_to_the_next_provider() {
        let (first, second) = (
            Scripted::new("first", vec![out_of_credit]),
            Scripted::new("second", vec![]),
        );
        let failover =
            Failover::new(vec![first.clone(), second.clone()], DEFAULT_COOL_DOWN).unwrap();
        let output = failover.run(job(), &Quiet).await.unwrap();
        assert_eq!(&output.bytes[..], b"second");
        assert_eq!(
            failover.info().name,
            "second",
            "new tasks go to the next provider"
        );
        failover.run(job(), &Quiet).await.unwrap();
        assert_eq!(
            first.runs.load(Ordering::SeqCst),
            1,
            "the failed provider is skipped while it cools down"
        );
    }

    #[tokio::test]
    async fn an_unavailable_provider_fails_its_task_and_sends_the_next_ones_on() {
        let (first, second) = (
            Scripted::new("first", vec![unavailable]),
            Scripted::new("second", vec![]),
        );
        let failover =
            Failover::new(vec![first.clone(), second.clone()], DEFAULT_COOL_DOWN).unwrap();
        let error = failover.run(job(), &Quiet).await.unwrap_err();
        assert!(
            matches!(error, ProviderError::Unavailable { .. }),
            "the task may have been billed: no second try"
        );
        assert_eq!(second.runs.load(Ordering::SeqCst), 0);
        failover.run(job(), &Quiet).await.unwrap();
        assert_eq!(second.runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_chain_asks_for_the_largest_size_any_of_its_providers_processes() {
        let vars = |name: &str| match name {
            "FITROOM_API_KEY" | "TRYITON_API_KEY" | "VTRYON_API_KEY" => Some("k".to_owned()),
            "FITROOM_BASE_URL" | "TRYITON_BASE_URL" | "VTRYON_BASE_URL" => {
                Some("http://127.0.0.1:9/".to_owned())
            }
            _ => None,
        };
        let sizes = |first, rest: &[VendorKind]| {
            from_lookup(first, rest, vars)
                .expect("configured")
                .processed_sizes()
        };
        let tryiton = ProcessedSizes {
            person_max_edge: 1296,
            garment_max_edge: 1296,
        };
        assert_eq!(sizes(VendorKind::TryItOn, &[]), tryiton);
        // TryItOn first still needs Fitroom's 2048 px person in case it fails over to it;
        // TryItOn's 1296 px garment is larger than Fitroom's 1024.
        let chain = ProcessedSizes {
            person_max_edge: 2048,
            garment_max_edge: 1296,
        };
        assert_eq!(sizes(VendorKind::TryItOn, &[VendorKind::Fitroom]), chain);
        assert_eq!(sizes(VendorKind::Fitroom, &[VendorKind::TryItOn]), chain);
        assert_eq!(
            sizes(VendorKind::Vtryon, &[VendorKind::TryItOn]),
            ProcessedSizes::UNDOCUMENTED.max(tryiton)
        );
    }

    #[tokio::test]
    async fn the_shoppers_own_errors_never_fail_over() {
        let (first, second) = (
            Scripted::new("first", vec![rejected]),
            Scripted::new("second", vec![]),
        );
        let failover =
            Failover::new(vec![first.clone(), second.clone()], DEFAULT_COOL_DOWN).unwrap();
        assert!(failover.run(job(), &Quiet).await.is_err());
        assert_eq!(failover.info().name, "first");
        assert_eq!(second.runs.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_provider_is_tried_again_after_its_cool_down() {
        let (first, second) = (
            Scripted::new("first", vec![unavailable]),
            Scripted::new("second", vec![]),
        );
        let failover = Failover::new(vec![first.clone(), second], Duration::from_secs(60)).unwrap();
        let _ = failover.run(job(), &Quiet).await;
        assert_eq!(failover.info().name, "second");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(failover.info().name, "first");
        failover.run(job(), &Quiet).await.unwrap();
        assert_eq!(first.runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_last_provider_out_of_credit_ends_the_task() {
        let only = Scripted::new("only", vec![out_of_credit]);
        let failover = Failover::new(vec![only], DEFAULT_COOL_DOWN).unwrap();
        assert!(matches!(
            failover.run(job(), &Quiet).await,
            Err(ProviderError::OutOfCredit(_))
        ));
        assert!(Failover::new(vec![], DEFAULT_COOL_DOWN).is_none());
    }

    #[tokio::test]
    async fn checks_follow_the_same_order_and_rules() {
        let (first, second) = (
            Scripted::new("first", vec![out_of_credit]),
            Scripted::new("second", vec![]),
        );
        let failover = Failover::new(vec![first, second], DEFAULT_COOL_DOWN).unwrap();
        let check = failover.check_person(&job().person).await.unwrap();
        assert_eq!(
            check.issues[0].code, "second",
            "a check the first provider refused for credit is asked of the next"
        );
        assert_eq!(failover.info().name, "second");
    }

    #[tokio::test]
    async fn a_restart_resumes_the_task_at_the_provider_that_has_it() {
        let (first, second) = (
            Scripted::new("first", vec![out_of_credit]),
            Scripted::new("second", vec![]),
        );
        let failover = Failover::new(vec![first, second], DEFAULT_COOL_DOWN).unwrap();
        let sink = Persisting::default();
        failover.run(job(), &sink).await.unwrap();
        let state = sink.0.lock().unwrap().clone().expect("upstream state kept");
        assert_eq!(
            state,
            serde_json::json!({"provider": "second", "state": {"task": "second"}})
        );
        // A new process: nothing has failed yet, so `first` would take new tasks.
        let (first, second) = (
            Scripted::new("first", vec![]),
            Scripted::new("second", vec![]),
        );
        let restarted = Failover::new(vec![first, second], DEFAULT_COOL_DOWN).unwrap();
        let resumed = restarted.resume(job(), state, &Quiet).await.unwrap();
        assert_eq!(&resumed.bytes[..], br#"second resumed {"task":"second"}"#);
        let untagged = serde_json::json!({"task": "older"});
        let resumed = restarted.resume(job(), untagged, &Quiet).await.unwrap();
        assert_eq!(
            &resumed.bytes[..],
            br#"first resumed {"task":"older"}"#,
            "state from before failover was configured belongs to the first provider"
        );
        let gone = serde_json::json!({"provider": "vtryon", "state": {}});
        assert!(matches!(
            restarted.resume(job(), gone, &Quiet).await,
            Err(ProviderError::Failed(_))
        ));
    }
}
