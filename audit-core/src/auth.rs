//! Ready-made authentication and authorization events. PLACEHOLDER: owned by the web work.
