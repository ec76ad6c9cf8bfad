//! The Auditor pipeline: delivery, events, failures, overflow, runtimes, sinks.
//!
//! One test binary for the tests that need no process of their own (fewer link steps).
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod delivery;
mod events;
mod failures;
mod faults;
mod overflow;
mod runtimes;
mod several_apps;
mod sinks;
#[path = "../pipeline_support/mod.rs"]
mod support;
mod through_audited;
