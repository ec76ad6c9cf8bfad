//! Request context. PLACEHOLDER: owned by the pipeline work.

/// Who is acting, from where, in which request.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {}
