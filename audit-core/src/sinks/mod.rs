//! Sinks that ship with the core. PLACEHOLDER: filled by the pipeline and chain work.

pub mod jsonl;
pub mod memory;
pub mod tracing;
pub use jsonl::{FsyncPolicy, JsonLinesSink};
pub use memory::MemorySink;
pub use tracing::TracingSink;
