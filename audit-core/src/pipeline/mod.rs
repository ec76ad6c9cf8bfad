//! The `Auditor` pipeline. PLACEHOLDER: owned by the pipeline work.

/// The pipeline handle.
#[derive(Debug, Clone)]
pub struct Auditor {}
