//! Async shapes: `async fn`, methods, native `async fn` in trait impls and `#[async_trait]`
//! impls; cancellation; and the `Send`-ness of the annotated futures.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use audit_core::testing::capture_async;
use audit_core::{Actor, AuditContext, Outcome, audited};

#[derive(Debug)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refused")
    }
}

#[audited("ASYNC_OK")]
async fn async_ok(x: u32) -> Result<u32, Refused> {
    tokio::task::yield_now().await;
    Ok(x + 1)
}

#[audited("ASYNC_ERR")]
async fn async_err() -> Result<u32, Refused> {
    tokio::task::yield_now().await;
    Err(Refused)
}

#[audited("ASYNC_UNIT")]
async fn async_unit() {
    tokio::task::yield_now().await;
}

#[audited("ASYNC_QUESTION_MARK")]
async fn async_question_mark(input: &str) -> Result<u32, std::num::ParseIntError> {
    tokio::task::yield_now().await;
    let n: u32 = input.parse()?;
    Ok(n)
}

#[audited("ASYNC_EARLY_RETURN")]
async fn async_early_return(n: i32) -> Result<i32, Refused> {
    if n < 0 {
        return Err(Refused);
    }
    tokio::task::yield_now().await;
    Ok(n)
}

#[audited("ASYNC_PENDING_FOREVER")]
async fn pending_forever() -> Result<(), Refused> {
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::test]
async fn async_ok_is_a_success() {
    let (value, captured) = capture_async(async_ok(1)).await;
    assert_eq!(value.ok(), Some(2));
    let event = captured.single();
    assert_eq!(event.action, "ASYNC_OK");
    assert_eq!(event.outcome, Outcome::Success);
}

#[tokio::test]
async fn async_err_is_a_failure_with_the_error_display_text() {
    let (_, captured) = capture_async(async_err()).await;
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.reason.as_deref(), Some("refused"));
}

#[tokio::test]
async fn async_unit_is_a_success() {
    let ((), captured) = capture_async(async_unit()).await;
    assert_eq!(captured.single().outcome, Outcome::Success);
}

#[tokio::test]
async fn async_question_mark_error_is_a_failure() {
    let (_, captured) = capture_async(async_question_mark("nope")).await;
    assert_eq!(captured.single().outcome, Outcome::Failure);
}

#[tokio::test]
async fn async_early_return_is_seen_by_the_audit() {
    let (_, captured) = capture_async(async_early_return(-1)).await;
    assert_eq!(captured.single().reason.as_deref(), Some("refused"));
}

#[tokio::test]
async fn dropped_future_records_a_cancelled_failure() {
    let (timed_out, captured) = capture_async(async {
        tokio::time::timeout(Duration::from_millis(10), pending_forever())
            .await
            .is_err()
    })
    .await;
    assert!(timed_out);
    let event = captured.single();
    assert_eq!(event.action, "ASYNC_PENDING_FOREVER");
    assert_eq!(event.outcome, Outcome::Failure);
    assert!(
        event
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("cancelled"))
    );
    assert_eq!(event.metadata["cancelled"], true);
}

#[tokio::test]
async fn future_dropped_before_its_first_poll_records_nothing() {
    let ((), captured) = capture_async(async {
        drop(pending_forever());
    })
    .await;
    assert!(captured.is_empty());
}

#[tokio::test]
async fn context_current_at_the_call_is_attached_to_the_event() {
    let context = AuditContext::new()
        .actor(Actor::user("alice"))
        .request_id("req-1")
        .ip("10.0.0.7".parse().unwrap());
    let (_, captured) = capture_async(context.scope(async_ok(1))).await;
    let event = captured.single();
    assert_eq!(event.actor, Some(Actor::user("alice")));
    assert_eq!(event.request_id.as_deref(), Some("req-1"));
    assert_eq!(event.ip, Some("10.0.0.7".parse().unwrap()));
}

struct Service {
    name: String,
}

impl Service {
    #[audited("ASYNC_REF_SELF")]
    async fn name(&self) -> &str {
        tokio::task::yield_now().await;
        &self.name
    }

    #[audited("ASYNC_MUT_SELF")]
    async fn rename(&mut self, name: String) -> Result<(), Refused> {
        tokio::task::yield_now().await;
        self.name = name;
        Ok(())
    }

    #[audited("ASYNC_SELF")]
    async fn into_name(self) -> String {
        self.name
    }

    #[audited("ASYNC_GENERIC")]
    async fn generic<T>(&self, value: T) -> Result<T, Refused>
    where
        T: Send,
    {
        Ok(value)
    }
}

#[tokio::test]
async fn async_method_with_ref_self_returning_a_borrow_works() {
    let service = Service { name: "s".into() };
    let (name, captured) = capture_async(service.name()).await;
    assert_eq!(name, "s");
    assert_eq!(captured.single().action, "ASYNC_REF_SELF");
}

#[tokio::test]
async fn async_method_with_mut_self_works() {
    let mut service = Service { name: "s".into() };
    let (result, captured) = capture_async(service.rename("t".into())).await;
    assert!(result.is_ok());
    assert_eq!(service.name, "t");
    assert_eq!(captured.single().action, "ASYNC_MUT_SELF");
}

#[tokio::test]
async fn async_method_with_self_by_value_works() {
    let service = Service { name: "s".into() };
    let (name, captured) = capture_async(service.into_name()).await;
    assert_eq!(name, "s");
    assert_eq!(captured.single().action, "ASYNC_SELF");
}

#[tokio::test]
async fn async_generic_method_works() {
    let service = Service { name: "s".into() };
    let (value, captured) = capture_async(service.generic(5_u8)).await;
    assert_eq!(value.ok(), Some(5));
    assert_eq!(captured.single().action, "ASYNC_GENERIC");
}

trait Repository {
    fn save(&self, id: u32) -> impl Future<Output = Result<u32, Refused>> + Send;
    async fn load(&self, id: u32) -> Result<String, Refused>;
}

impl Repository for Service {
    #[audited("NATIVE_TRAIT_SAVE", entity_type = "record", entity_id = id)]
    async fn save(&self, id: u32) -> Result<u32, Refused> {
        tokio::task::yield_now().await;
        Ok(id)
    }

    #[audited("NATIVE_TRAIT_LOAD")]
    async fn load(&self, id: u32) -> Result<String, Refused> {
        if id == 0 {
            return Err(Refused);
        }
        Ok(format!("{}-{id}", self.name))
    }
}

#[tokio::test]
async fn native_async_fn_in_trait_impl_works() {
    let service = Service { name: "s".into() };
    let (value, captured) = capture_async(service.save(3)).await;
    assert_eq!(value.ok(), Some(3));
    let event = captured.single();
    assert_eq!(event.action, "NATIVE_TRAIT_SAVE");
    assert_eq!(event.entity_type.as_deref(), Some("record"));
    assert_eq!(event.entity_id.as_deref(), Some("3"));
}

#[tokio::test]
async fn native_async_fn_in_trait_impl_records_failures() {
    let service = Service { name: "s".into() };
    let (_, captured) = capture_async(service.load(0)).await;
    assert_eq!(captured.single().outcome, Outcome::Failure);
}

#[async_trait]
trait Store {
    async fn put(&self, key: &str, value: u32) -> Result<u32, Refused>;
    async fn touch(&mut self);
    async fn describe(&self) -> String {
        String::new()
    }
}

#[async_trait]
impl Store for Service {
    #[audited("ASYNC_TRAIT_PUT", entity_type = "key", entity_id = key, metadata(value = value))]
    async fn put(&self, key: &str, value: u32) -> Result<u32, Refused> {
        tokio::task::yield_now().await;
        if value == 0 {
            return Err(Refused);
        }
        Ok(value + self.name.len() as u32)
    }

    #[allow(clippy::unused_async)]
    #[audited("ASYNC_TRAIT_TOUCH")]
    async fn touch(&mut self) {
        self.name.push('!');
    }

    #[audited("ASYNC_TRAIT_DESCRIBE", description = "service {self.name}")]
    #[allow(clippy::unused_async)]
    async fn describe(&self) -> String {
        self.name.clone()
    }
}

#[tokio::test]
async fn async_trait_method_records_success_with_options() {
    let service = Service { name: "s".into() };
    let (value, captured) = capture_async(service.put("k1", 2)).await;
    assert_eq!(value.ok(), Some(3));
    let event = captured.single();
    assert_eq!(event.action, "ASYNC_TRAIT_PUT");
    assert_eq!(event.outcome, Outcome::Success);
    assert_eq!(event.entity_id.as_deref(), Some("k1"));
    assert_eq!(event.metadata["value"], 2);
}

#[tokio::test]
async fn async_trait_method_records_failure() {
    let service = Service { name: "s".into() };
    let (_, captured) = capture_async(service.put("k1", 0)).await;
    assert_eq!(captured.single().reason.as_deref(), Some("refused"));
}

#[tokio::test]
async fn async_trait_method_with_mut_self_works() {
    let mut service = Service { name: "s".into() };
    let ((), captured) = capture_async(service.touch()).await;
    assert_eq!(service.name, "s!");
    assert_eq!(captured.single().action, "ASYNC_TRAIT_TOUCH");
}

#[tokio::test]
async fn async_trait_method_description_interpolates_self_fields() {
    let service = Service { name: "s".into() };
    let (text, captured) = capture_async(service.describe()).await;
    assert_eq!(text, "s");
    assert_eq!(captured.single().description.as_deref(), Some("service s"));
}

#[tokio::test]
async fn async_trait_future_dropped_early_records_a_cancelled_failure() {
    struct Slow;
    #[async_trait]
    impl Store for Slow {
        #[audited("ASYNC_TRAIT_SLOW")]
        async fn put(&self, _key: &str, _value: u32) -> Result<u32, Refused> {
            std::future::pending::<()>().await;
            Ok(0)
        }
        async fn touch(&mut self) {}
    }
    let (_, captured) = capture_async(async {
        let _ = tokio::time::timeout(Duration::from_millis(5), Slow.put("k", 1)).await;
    })
    .await;
    assert!(
        captured
            .single()
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("cancelled"))
    );
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[test]
fn annotated_async_fn_future_is_still_send() {
    let service = Service { name: "s".into() };
    drop(assert_send(async_ok(1)));
    drop(assert_send(service.name()));
    drop(assert_send(service.generic(1_u8)));
    drop(assert_send(service.put("k", 1)));
}

#[audited("NOT_SEND_INSIDE")]
async fn holds_an_rc_across_await() -> usize {
    let rc = std::rc::Rc::new(1);
    tokio::task::yield_now().await;
    *rc
}

#[tokio::test]
async fn annotated_non_send_future_still_runs_locally() {
    let (value, captured) = capture_async(holds_an_rc_across_await()).await;
    assert_eq!(value, 1);
    assert_eq!(captured.single().outcome, Outcome::Success);
}

#[async_trait(?Send)]
trait LocalStore {
    async fn get(&self, key: &str) -> Result<usize, Refused>;
}

#[async_trait(?Send)]
impl LocalStore for Service {
    #[audited("ASYNC_TRAIT_NOT_SEND", entity_id = key)]
    async fn get(&self, key: &str) -> Result<usize, Refused> {
        let rc = std::rc::Rc::new(key.len());
        tokio::task::yield_now().await;
        Ok(*rc + self.name.len())
    }
}

#[tokio::test]
async fn async_trait_without_send_works() {
    let service = Service { name: "s".into() };
    let (value, captured) = capture_async(service.get("abc")).await;
    assert_eq!(value.ok(), Some(4));
    assert_eq!(captured.single().entity_id.as_deref(), Some("abc"));
}
