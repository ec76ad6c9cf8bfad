//! Conformance suite. PLACEHOLDER: owned by the chain work.
