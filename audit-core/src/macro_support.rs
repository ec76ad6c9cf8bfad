//! Items used by `#[audited]`'s generated code. PLACEHOLDER: owned by the macro work.
pub use crate::dispatch::record;
pub use crate::event::AuditEvent;
