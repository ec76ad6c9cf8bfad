//! JSON Lines and CSV export encoders. PLACEHOLDER: owned by the chain work.
