//! Capturing events in tests. PLACEHOLDER: owned by the pipeline work.
