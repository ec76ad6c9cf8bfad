//! audit-axum: the layer end to end on axum routers, driven in-process with `oneshot`.
//!
//! One test binary for the crate (fewer link steps).

mod handlers;
mod layer;
