//! Sinks that ship with the core. PLACEHOLDER: filled by the pipeline and chain work.

pub mod memory;
pub use memory::MemorySink;
