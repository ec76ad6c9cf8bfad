//! Redaction of sensitive metadata. PLACEHOLDER: owned by the pipeline work.
