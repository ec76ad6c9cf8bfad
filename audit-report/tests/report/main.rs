//! The reports read back with independent readers: the workbook with calamine, the PDF with
//! Debian's poppler-utils.
//!
//! One test binary for the crate (fewer link steps).
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;
mod pdf;
mod xlsx;
