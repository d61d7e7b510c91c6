//! The vendor adapters against strict fakes of each vendor's documented API.
//!
//! Each fake (the workspace's `fakes/` crate, `tryon-fakes`) is a real axum server on 127.0.0.1 that enforces its
//! vendor's document (header names, auth scheme, field names, paths, status sequence, error
//! shapes, rate limit), answers any deviation with a 4xx and records it; every test ends by
//! asserting the fake saw no violation. Tests drive the adapters through the `Provider` trait,
//! exactly as the task registry does.

mod util;

#[path = "../durability/redis_server.rs"]
#[allow(dead_code)] // pause and resume are the durability tests'
mod redis_server;

mod budget;
mod fitinview;
mod fitroom;
mod paid_calls;
mod photo_id;
mod rate_signals;
mod resume;
mod routes;
mod shared_webhooks;
mod through_v1;
mod tryiton;
mod tryiton_2026;
mod vtryon;
