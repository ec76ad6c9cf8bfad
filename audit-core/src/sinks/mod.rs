//! Sinks that ship with the core: [`MemorySink`] (chained, queryable; for tests and
//! examples), [`JsonLinesSink`] (an append-only file) and [`TracingSink`] (`tracing` events,
//! alone or after another sink). Database backends live in `audit-sqlite` and `audit-sqlx`.

pub mod jsonl;
pub mod memory;
pub mod tracing;
pub use jsonl::{FsyncPolicy, JsonLinesContents, JsonLinesSink};
pub use memory::MemorySink;
pub use tracing::TracingSink;
