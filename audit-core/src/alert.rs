//! Alert rules evaluated in the pipeline. PLACEHOLDER: owned by the web work.
