//! The real `audit` binary against a real SQLite file, the test PostgreSQL and the test
//! MariaDB: every
//! command, exit codes, JSON output, tampering, wrong keys, and interrupted exports.
//!
//! One test binary for the crate (fewer link steps).
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;
mod interrupt;
mod mysql;
mod postgres;
mod serve;
mod sqlite;
mod tenant;
mod tlog;
