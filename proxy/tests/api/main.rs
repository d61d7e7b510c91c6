//! Integration tests of the proxy's HTTP API, in-process on a loopback port: one test binary
//! (linking is the slow part of a test build), one module per area of the contract.

#[path = "../util/mod.rs"]
mod util;

mod assets;
mod checks;
mod cors;
mod create;
mod events;
mod idempotency;
mod ids;
mod meta;
mod observed_store;
mod off_runtime;
mod photos;
mod tasks;
mod vendors;
