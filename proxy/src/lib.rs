//! `tryon-proxy`: the server between the `<try-on-button>` widget and the paid try-on APIs.
//!
//! Without the default `server` feature only [`wire`] compiles: the contract types the widget
//! shares. See ARCHITECTURE.md for the map.

pub mod wire;

#[cfg(feature = "server")]
pub mod providers;

#[cfg(feature = "server")]
pub mod shopify;

#[cfg(feature = "server")]
pub mod cors;

#[cfg(feature = "server")]
pub mod garment_fetch;

#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
pub mod app;
#[cfg(feature = "server")]
pub mod assets;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod create;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod events;
#[cfg(feature = "server")]
pub mod garments;
#[cfg(feature = "server")]
pub mod idempotency;
#[cfg(feature = "server")]
pub mod images;
#[cfg(feature = "server")]
pub mod job;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod metrics_endpoint;
#[cfg(feature = "server")]
pub mod openapi;
#[cfg(feature = "server")]
pub mod photos;
#[cfg(feature = "server")]
pub mod registry;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod upload;

#[cfg(feature = "server")]
pub mod abuse;
#[cfg(feature = "server")]
pub mod access_log;
#[cfg(feature = "server")]
pub mod decode_gate;
#[cfg(feature = "server")]
pub mod kept_photos;
#[cfg(feature = "server")]
pub mod recent;
#[cfg(feature = "server")]
pub mod serving;
#[cfg(feature = "server")]
pub mod sse;
#[cfg(feature = "server")]
pub mod state;
