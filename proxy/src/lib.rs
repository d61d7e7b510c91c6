//! `tryon-proxy`: the server between the `<try-on-button>` widget and the paid try-on APIs.
//!
//! Without the default `server` feature only [`wire`] compiles: the contract types the widget
//! shares. See ARCHITECTURE.md for the map.

pub mod wire;

#[cfg(feature = "server")]
pub mod providers;
