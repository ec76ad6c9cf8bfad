//! audit-core: archive format, auth vocabulary, chain vectors, context propagation, test capture.
//!
//! One test binary for the tests that need no process of their own (fewer link steps).
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod archive_format;
mod auth_events;
mod chain_vectors;
mod context_completion;
mod context_propagation;
mod tenant_proofs;
mod testing_capture;
mod tlog_vectors;
