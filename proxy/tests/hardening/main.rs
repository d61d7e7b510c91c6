//! Issue 6: the proxy under attack, tested against the real server on 127.0.0.1.
//!
//! One test binary (like `tests/api`) so the server code is linked once. Every module starts
//! its own server through [`support::Server`], with a provider that counts what reached it.

mod abuse;
mod corpus;
mod hostile_inputs;
mod relay;
mod slow_clients;
mod support;
