//! Cross-crate integration tests: see `tests/`. This library is empty on purpose.
