//! audit-axum. PLACEHOLDER: owned by its own work.
#![deny(missing_docs)]
