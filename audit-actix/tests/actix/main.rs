//! audit-actix against a real actix-web server on 127.0.0.1, driven over HTTP, recording
//! through a real `Auditor` into a real SQLite file.
//!
//! One test binary for the crate (fewer link steps).

mod app;
mod middleware;
