//! `#[audited]`: shapes, options, panics, lints and compile errors.
//!
//! One test binary for the tests that need no process of their own (fewer link steps).
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod async_shapes;
mod lints;
mod natural_forms;
mod options;
mod outcomes;
mod panics;
mod sync_shapes;
mod ui;
