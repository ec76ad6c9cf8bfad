//! The PostgreSQL store against a real server: append-only, archival, conformance, export, outbox, store.
//!
//! One test binary for the tests that need no process of their own (fewer link steps).
#![cfg(feature = "postgres")]
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
#[macro_use]
mod common;
mod append_only;
mod archive;
mod conformance;
mod export;
mod outbox;
mod store;
mod tlog;
mod tree_guards;
