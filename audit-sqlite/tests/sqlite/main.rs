//! The SQLite store: appends, archival, conformance, export, opening, queries, tampering.
//!
//! One test binary for the tests that need no process of their own (fewer link steps).
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
#[macro_use]
mod common;
mod append;
mod archive;
mod broad_pages;
mod conformance;
mod export;
mod lookups;
mod open;
mod queries;
mod striped;
mod tamper;
mod tlog;
