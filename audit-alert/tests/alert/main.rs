//! Alert rules, alone and in the pipeline.
//!
//! One test binary for the tests that need no process of their own (fewer link steps).
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod alert_pipeline;
mod alert_rules;
