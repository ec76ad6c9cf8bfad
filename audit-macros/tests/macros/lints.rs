//! The expansion compiles cleanly under strict lints, for every shape and every option.
#![deny(
    warnings,
    unused_qualifications,
    unused_results,
    missing_debug_implementations
)]
#![deny(clippy::all)]

use async_trait::async_trait;
use audit_core::{Actor, audited};

/// Some request.
#[derive(Debug, serde::Serialize)]
pub struct Request {
    id: u64,
    user: String,
}

#[derive(Debug)]
struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

#[audited(
    "LINTS_ALL_OPTIONS",
    entity_type = "request",
    entity_id = req.id,
    actor = Actor::user(&req.user),
    description = "request {req.id} by {req.user}",
    category = business,
    severity = notice,
    metadata(request = req, id = req.id),
    crate = ::audit_core
)]
fn all_options(req: Request) -> Result<u64, Failed> {
    if req.id == 0 {
        return Err(Failed);
    }
    Ok(req.id)
}

#[audited("LINTS_CLOSURE", entity_id = |id| *id)]
fn closure_entity(mut n: u64) -> Result<u64, Failed> {
    n += 1;
    Ok(n)
}

#[audited("LINTS_UNIT")]
fn unit() {}

#[audited(
    "LINTS_RESULT_OPTIONS",
    entity_id = req.id,
    entity_id = |n| n + 1,
    outcome = |e| match e {
        Failed => audit_core::Outcome::Denied,
    },
    reason = |e| format!("refused: {e}"),
    metadata(user = req.user, doubled = |n| n * 2)
)]
fn result_options(req: Request) -> Result<u64, Failed> {
    if req.id == 0 {
        return Err(Failed);
    }
    Ok(req.id)
}

#[audited("LINTS_NAMED_OUTCOME", outcome = denied)]
async fn named_outcome(fail: bool) -> Result<(), Failed> {
    if fail { Err(Failed) } else { Ok(()) }
}

#[audited("LINTS_ASYNC", entity_id = |id| id)]
async fn async_fn(id: u64) -> u64 {
    id
}

#[audited("LINTS_GENERIC")]
fn generic<'a, T: AsRef<str> + ?Sized>(value: &'a T) -> impl std::fmt::Display + 'a {
    value.as_ref()
}

struct Thing {
    n: u64,
}

impl Thing {
    #[audited("LINTS_METHOD", metadata(n = self.n))]
    fn method(&mut self, by: u64) -> u64 {
        self.n += by;
        self.n
    }

    #[audited("LINTS_ASYNC_METHOD", description = "{self.n}")]
    async fn async_method(self) -> u64 {
        self.n
    }
}

#[async_trait]
trait Service {
    async fn call(&self, req: Request) -> Result<u64, Failed>;
}

#[async_trait]
impl Service for Thing {
    #[audited("LINTS_ASYNC_TRAIT", entity_id = req.id, metadata(n = self.n))]
    async fn call(&self, req: Request) -> Result<u64, Failed> {
        Ok(req.id + self.n)
    }
}

#[tokio::test]
async fn strict_lints_accept_every_expansion() {
    let req = || Request {
        id: 1,
        user: "u".into(),
    };
    let mut thing = Thing { n: 1 };
    let ((), captured) = audit_core::testing::capture_async(async {
        assert_eq!(all_options(req()).ok(), Some(1));
        assert_eq!(closure_entity(1).ok(), Some(2));
        assert_eq!(result_options(req()).ok(), Some(1));
        assert!(named_outcome(true).await.is_err());
        unit();
        assert_eq!(async_fn(3).await, 3);
        assert_eq!(generic("x").to_string(), "x");
        assert_eq!(thing.method(1), 2);
        assert_eq!(thing.call(req()).await.ok(), Some(3));
        assert_eq!(thing.async_method().await, 2);
    })
    .await;
    assert_eq!(captured.len(), 10);
    assert!(captured.invalid().is_empty());
}
