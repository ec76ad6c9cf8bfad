//! The outcome and reason of a failed call, chosen per error type (`AuditOutcome`) or per
//! function (`outcome = ..`, `reason = ..`), and the entity of a failed call.

use audit_core::testing::capture;
use audit_core::{AuditOutcome, Outcome, audited};

/// A domain error whose client-facing text says little: what a real API returns.
#[derive(Debug)]
enum ApiError {
    Forbidden,
    Conflict(&'static str),
    NotFound,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Forbidden => "forbidden",
            Self::Conflict(_) => "error in the request body",
            Self::NotFound => "not found",
        })
    }
}

impl AuditOutcome for ApiError {
    fn audit_outcome(&self) -> Outcome {
        match self {
            Self::Forbidden => Outcome::Denied,
            _ => Outcome::Failure,
        }
    }

    fn audit_reason(&self) -> String {
        match self {
            Self::Conflict(what) => format!("conflict: {what}"),
            other => other.to_string(),
        }
    }
}

#[audited("ARTICLE_DELETED")]
fn delete(error: Option<ApiError>) -> Result<(), ApiError> {
    error.map_or(Ok(()), Err)
}

#[test]
fn an_error_type_that_says_denied_is_recorded_as_denied_everywhere() {
    let (_, captured) = capture(|| delete(Some(ApiError::Forbidden)));
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.reason.as_deref(), Some("forbidden"));
}

#[test]
fn an_error_type_gives_each_conflict_its_own_reason() {
    let (_, captured) = capture(|| {
        let _ = delete(Some(ApiError::Conflict("slug taken")));
        let _ = delete(Some(ApiError::Conflict("title empty")));
    });
    let reasons: Vec<_> = captured
        .events()
        .iter()
        .map(|e| e.reason.as_deref())
        .collect();
    assert_eq!(
        reasons,
        [Some("conflict: slug taken"), Some("conflict: title empty")]
    );
}

#[test]
fn an_error_type_with_the_defaults_is_a_failure_with_its_display_text() {
    #[derive(Debug)]
    struct Plain;
    impl std::fmt::Display for Plain {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("plain")
        }
    }
    impl AuditOutcome for Plain {}
    #[audited("PLAIN")]
    fn plain() -> Result<(), Plain> {
        Err(Plain)
    }
    let (_, captured) = capture(plain);
    assert_eq!(captured.single().outcome, Outcome::Failure);
    assert_eq!(captured.single().reason.as_deref(), Some("plain"));
}

#[test]
fn an_error_type_that_says_success_records_a_success_without_reason() {
    #[derive(Debug)]
    struct NothingToDo;
    impl std::fmt::Display for NothingToDo {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("nothing to do")
        }
    }
    impl AuditOutcome for NothingToDo {
        fn audit_outcome(&self) -> Outcome {
            Outcome::Success
        }
    }
    #[audited("NOOP")]
    fn noop() -> Result<(), NothingToDo> {
        Err(NothingToDo)
    }
    let (_, captured) = capture(noop);
    assert_eq!(captured.single().outcome, Outcome::Success);
    assert_eq!(captured.single().reason, None);
}

#[test]
fn the_error_type_reason_is_length_capped() {
    #[derive(Debug)]
    struct Long;
    impl std::fmt::Display for Long {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("long")
        }
    }
    impl AuditOutcome for Long {
        fn audit_reason(&self) -> String {
            "y".repeat(10_000)
        }
    }
    #[audited("LONG")]
    fn long() -> Result<(), Long> {
        Err(Long)
    }
    let (_, captured) = capture(long);
    let reason = captured.single().reason.clone().unwrap_or_default();
    assert!(reason.len() <= audit_core::validate::MAX_TEXT_LEN);
}

/// An error type that knows nothing of auditing (a library's).
#[derive(Debug)]
enum StoreError {
    Unauthorized,
    Duplicate { key: String },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("store error")
    }
}

#[audited(
    "FOLLOW_ADDED",
    outcome = |e| match e {
        StoreError::Unauthorized => Outcome::Denied,
        _ => Outcome::Failure,
    },
    reason = |e| match e {
        StoreError::Unauthorized => "not allowed to follow".to_owned(),
        StoreError::Duplicate { key } => format!("already following {key}"),
    }
)]
fn follow(error: StoreError) -> Result<(), StoreError> {
    Err(error)
}

#[test]
fn an_outcome_closure_chooses_the_outcome_for_one_function() {
    let (_, captured) = capture(|| follow(StoreError::Unauthorized));
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.reason.as_deref(), Some("not allowed to follow"));
}

#[test]
fn a_reason_closure_reads_the_fields_of_the_error() {
    let (_, captured) = capture(|| follow(StoreError::Duplicate { key: "jake".into() }));
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.reason.as_deref(), Some("already following jake"));
}

#[audited("ARTICLE_DELETED", outcome = denied)]
fn delete_as_denied(error: Option<ApiError>) -> Result<(), ApiError> {
    error.map_or(Ok(()), Err)
}

#[test]
fn a_named_outcome_applies_to_every_error_and_wins_over_the_error_type() {
    let (_, captured) = capture(|| delete_as_denied(Some(ApiError::NotFound)));
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.reason.as_deref(), Some("not found"));
}

#[test]
fn a_named_outcome_leaves_a_success_a_success() {
    let (_, captured) = capture(|| delete_as_denied(None));
    assert_eq!(captured.single().outcome, Outcome::Success);
    assert_eq!(captured.single().reason, None);
}

#[audited("ARTICLE_DELETED", reason = |e| format!("delete refused: {e}"))]
fn delete_with_reason(error: ApiError) -> Result<(), ApiError> {
    Err(error)
}

#[test]
fn a_reason_closure_keeps_the_outcome_of_the_error_type() {
    let (_, captured) = capture(|| delete_with_reason(ApiError::Forbidden));
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.reason.as_deref(), Some("delete refused: forbidden"));
}

#[audited(
    "COMMENT_ADDED",
    entity_type = "article",
    entity_id = slug,
    entity_id = |comment_id| format!("{slug_copy}/{comment_id}", slug_copy = "c")
)]
fn add_comment(slug: &str, fail: bool) -> Result<u64, ApiError> {
    if fail {
        return Err(ApiError::NotFound);
    }
    let _ = slug;
    Ok(7)
}

#[test]
fn a_failed_call_is_named_by_the_expression_over_the_arguments() {
    let (_, captured) = capture(|| add_comment("dragons", true));
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.entity_id.as_deref(), Some("dragons"));
}

#[test]
fn a_successful_call_is_named_by_the_closure_over_the_success_value() {
    let (_, captured) = capture(|| add_comment("dragons", false));
    assert_eq!(captured.single().entity_id.as_deref(), Some("c/7"));
}

#[audited("COMMENT_ADDED", entity_id = |id| id, entity_id = slug)]
async fn add_comment_closure_first(slug: String) -> Result<u64, ApiError> {
    let _ = slug;
    Err(ApiError::Forbidden)
}

#[tokio::test]
async fn both_entity_forms_may_come_in_either_order_on_an_async_fn() {
    let (_, captured) =
        audit_core::testing::capture_async(add_comment_closure_first("dragons".into())).await;
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.entity_id.as_deref(), Some("dragons"));
}

#[test]
fn a_panic_is_still_a_failure_whatever_the_outcome_option_says() {
    #[audited("PANICS", outcome = denied)]
    fn panics() -> Result<(), ApiError> {
        panic!("boom")
    }
    let (_, captured) = capture(|| std::panic::catch_unwind(panics));
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.reason.as_deref(), Some("panicked: boom"));
}
