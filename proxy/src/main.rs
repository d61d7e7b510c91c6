//! The `tryon-proxy` binary: configuration, logging, the provider, and serving until a signal.

use std::process::ExitCode;
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tryon_proxy::app::{AppState, app};
use tryon_proxy::config::Settings;
use tryon_proxy::providers::local::LocalProvider;
use tryon_proxy::providers::{Provider, failover};

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("tryon-proxy: {error}");
            return ExitCode::from(2);
        }
    };
    init_logging();
    match serve(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "tryon-proxy stopped");
            eprintln!("tryon-proxy: {error}");
            ExitCode::FAILURE
        }
    }
}

/// JSON lines on stderr, `info` unless `RUST_LOG` says otherwise. Log lines describe requests
/// and tasks, never keys or photo bytes.
fn init_logging() {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
}

async fn serve(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    // Issue 3: a vendor reads its key and base URL from the environment; with a failover
    // list, each of them does.
    let provider: Arc<dyn Provider> = match settings.provider.vendor() {
        None => Arc::new(LocalProvider::new(settings.local_duration)),
        Some(first) => {
            failover::from_lookup(first, &settings.failover, |name| std::env::var(name).ok())?
        }
    };
    // Issue 5: a half Shopify configuration stops the start rather than serving unverified.
    let shopify = settings.shopify()?.map(Arc::new);
    let listener = tryon_proxy::serving::bind(settings.listen)?;
    let address = listener.local_addr()?;
    let demo = settings.demo;
    // Issue 7: the embedded store in the data directory (or Redis with TRYON_STORE), so a
    // restart resumes every task.
    // Issue 13: one process per data directory; held until the process ends.
    let _data_dir_lock = match settings.store {
        None => Some(tryon_proxy::store::lock_data_dir(&settings.data_dir)?),
        Some(_) => None,
    };
    let store = tryon_proxy::store::open(
        settings.store.as_deref(),
        settings.result_retention,
        &settings.data_dir,
    )?;
    let state = AppState::with_store(settings, provider, store)?.with_shopify(shopify);
    if let Some(shopify) = &state.shopify {
        tracing::info!(shops = ?shopify.shops, direct_streams = shopify.public_url.is_some(),
            "Shopify App Proxy requests served under /shopify");
    }
    tracing::info!(%address, demo, provider = state.provider.info().name, "tryon-proxy listening");
    println!("tryon-proxy listening on http://{address}/");
    if demo {
        println!("demo storefront: http://{address}/");
    }
    let (signalled, drain_started) = tokio::sync::oneshot::channel();
    let shutdown = {
        let state = state.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("draining: no new creates, event streams told to reconnect");
            state.begin_shutdown();
            let _ = signalled.send(());
        }
    };
    // Issue 7: a drain that outlasts this is cut short, so the process exits within 10 s of
    // the signal; unfinished tasks are in the store and the next start resumes them.
    let drain_limit = async {
        match drain_started.await {
            Ok(()) => tokio::time::sleep(DRAIN_LIMIT).await,
            Err(_) => std::future::pending().await,
        }
    };
    // Issue 6: hyper with a header-read timeout and a connection cap (see `serving`).
    let serve_options = state.settings.serve.clone();
    // Issue 13: the operator's figures on an address of their own, if configured.
    if let Some(metrics_address) = state.settings.metrics_listen {
        let listener = tryon_proxy::serving::bind(metrics_address)?;
        tracing::info!(address = %listener.local_addr()?, "metrics served on their own address");
        let router = tryon_proxy::metrics_endpoint::router(state.clone());
        let stop = state.shutting_down();
        let metrics_options = serve_options.clone();
        tokio::spawn(async move {
            if let Err(error) =
                tryon_proxy::serving::serve(listener, router, metrics_options, stop).await
            {
                tracing::error!(%error, "the metrics listener stopped");
            }
        });
    }
    let serving =
        tryon_proxy::serving::serve(listener, app(state.clone()), serve_options, shutdown);
    tokio::select! {
        served = serving => served?,
        () = drain_limit => tracing::warn!("drain limit reached; exiting with requests open"),
    }
    // Issue 7: with several instances on Redis, another one takes this one's tasks over now,
    // not when their leases would have run out.
    state.registry.hand_over().await;
    let registry = state.registry.clone();
    tryon_proxy::store::off_runtime(move || registry.flush()).await?;
    tracing::info!("state flushed; exiting");
    Ok(())
}

/// How long a SIGTERM drain may take before the process exits anyway.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(8);

/// SIGINT (Ctrl-C) or SIGTERM (service managers, containers).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler cannot fail on Unix");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
