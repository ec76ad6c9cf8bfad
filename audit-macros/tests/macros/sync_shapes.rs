//! Every synchronous function shape `#[audited]` supports records exactly one event with the
//! right outcome, and behaves exactly like the unannotated function.

use std::fmt;
use std::io;

use audit_core::testing::capture;
use audit_core::{Outcome, audited};

#[derive(Debug)]
struct NotFound(u32);

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "booking {} not found", self.0)
    }
}

#[audited("PLAIN_VALUE")]
fn plain_value(x: u32) -> u32 {
    x * 2
}

#[audited("UNIT")]
fn unit() {}

#[audited("RESULT_OK")]
fn result(ok: bool) -> Result<u32, NotFound> {
    if ok { Ok(7) } else { Err(NotFound(7)) }
}

#[test]
fn plain_value_is_a_success_and_is_returned_unchanged() {
    let (value, captured) = capture(|| plain_value(21));
    assert_eq!(value, 42);
    let event = captured.single();
    assert_eq!(event.action, "PLAIN_VALUE");
    assert_eq!(event.outcome, Outcome::Success);
    assert_eq!(event.reason, None);
}

#[test]
fn unit_return_is_a_success() {
    let ((), captured) = capture(unit);
    assert_eq!(captured.single().outcome, Outcome::Success);
}

#[test]
fn ok_is_a_success() {
    let (value, captured) = capture(|| result(true));
    assert_eq!(value.ok(), Some(7));
    assert_eq!(captured.single().outcome, Outcome::Success);
}

#[test]
fn err_is_a_failure_with_the_error_display_text() {
    let (value, captured) = capture(|| result(false));
    assert!(value.is_err());
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.reason.as_deref(), Some("booking 7 not found"));
}

#[audited("IO_ALIAS")]
fn io_alias() -> io::Result<()> {
    Err(io::Error::other("disk full"))
}

#[test]
fn io_result_alias_counts_as_result() {
    let (_, captured) = capture(io_alias);
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.reason.as_deref(), Some("disk full"));
}

mod own_alias {
    pub type Result<T> = std::result::Result<T, super::NotFound>;
}

#[audited("OWN_ALIAS")]
fn own_alias() -> own_alias::Result<u8> {
    Err(NotFound(3))
}

#[test]
fn crate_own_result_alias_counts_as_result() {
    let (_, captured) = capture(own_alias);
    assert_eq!(
        captured.single().reason.as_deref(),
        Some("booking 3 not found")
    );
}

type Outcomeish = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[audited("BOXED_ERROR")]
fn boxed_error() -> Outcomeish {
    Err("boxed failure".into())
}

#[test]
fn boxed_dyn_error_alias_counts_as_result() {
    let (_, captured) = capture(boxed_error);
    assert_eq!(captured.single().reason.as_deref(), Some("boxed failure"));
}

#[derive(Debug)]
struct Opaque;

#[audited("OPAQUE_ERROR")]
fn opaque_error() -> Result<(), Opaque> {
    Err(Opaque)
}

#[test]
fn error_without_display_is_a_failure_naming_its_type() {
    let (_, captured) = capture(opaque_error);
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert!(
        event
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("Opaque"))
    );
}

#[audited("QUESTION_MARK")]
fn question_mark(input: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = input.parse()?;
    Ok(n + 1)
}

#[test]
fn question_mark_error_is_recorded_as_a_failure() {
    let (value, captured) = capture(|| question_mark("x"));
    assert!(value.is_err());
    assert_eq!(captured.single().outcome, Outcome::Failure);
    assert_eq!(
        captured.single().reason.as_deref(),
        Some("invalid digit found in string")
    );
}

#[test]
fn question_mark_success_path_returns_the_value() {
    let (value, captured) = capture(|| question_mark("41"));
    assert_eq!(value, Ok(42));
    assert_eq!(captured.single().outcome, Outcome::Success);
}

#[audited("EARLY_RETURN")]
fn early_return(n: i32) -> Result<i32, NotFound> {
    if n < 0 {
        return Err(NotFound(0));
    }
    Ok(n)
}

#[test]
fn early_return_is_seen_by_the_audit() {
    let (_, captured) = capture(|| early_return(-1));
    assert_eq!(captured.single().outcome, Outcome::Failure);
}

#[audited("GENERIC")]
fn generic<T, E>(value: Result<T, E>) -> Result<T, E>
where
    E: fmt::Display,
{
    value
}

#[test]
fn generic_result_with_display_bound_reports_the_error() {
    let (_, captured) = capture(|| generic::<u8, NotFound>(Err(NotFound(9))));
    assert_eq!(
        captured.single().reason.as_deref(),
        Some("booking 9 not found")
    );
}

#[audited("GENERIC_UNBOUNDED")]
fn generic_unbounded<T>(value: T) -> T {
    value
}

#[test]
fn generic_return_type_is_a_success() {
    let (value, captured) = capture(|| generic_unbounded(Err::<(), _>(NotFound(1))));
    assert!(value.is_err());
    assert_eq!(captured.single().outcome, Outcome::Success);
}

#[audited("IMPL_TRAIT")]
fn impl_trait(items: impl IntoIterator<Item = u32>) -> impl Iterator<Item = u32> {
    items.into_iter().map(|x| x + 1)
}

#[test]
fn impl_trait_in_argument_and_return_position_works() {
    let (values, captured) = capture(|| impl_trait(vec![1, 2]).collect::<Vec<_>>());
    assert_eq!(values, [2, 3]);
    assert_eq!(captured.single().action, "IMPL_TRAIT");
}

#[audited("ELIDED_LIFETIME")]
fn first_word(text: &str) -> &str {
    text.split(' ').next().unwrap_or(text)
}

#[audited("NAMED_LIFETIMES")]
fn longest<'a, 'b: 'a>(a: &'a str, b: &'b str) -> &'a str {
    if a.len() >= b.len() { a } else { b }
}

#[test]
fn elided_lifetime_in_the_return_type_works() {
    let text = String::from("hello world");
    let (word, captured) = capture(|| first_word(&text));
    assert_eq!(word, "hello");
    assert_eq!(captured.single().action, "ELIDED_LIFETIME");
}

#[test]
fn named_lifetimes_work() {
    let (longest, captured) = capture(|| longest("ab", "abc"));
    assert_eq!(longest, "abc");
    assert_eq!(captured.single().action, "NAMED_LIFETIMES");
}

struct Account {
    balance: i64,
    name: String,
}

impl Account {
    #[audited("BY_REF")]
    fn balance(&self) -> i64 {
        self.balance
    }

    #[audited("BY_MUT_REF")]
    fn deposit(&mut self, amount: i64) -> Result<i64, NotFound> {
        if amount <= 0 {
            return Err(NotFound(0));
        }
        self.balance += amount;
        Ok(self.balance)
    }

    #[audited("BY_VALUE")]
    fn into_name(self) -> String {
        self.name
    }

    #[audited("BY_MUT_VALUE")]
    fn renamed(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    #[audited("RETURNS_MUT_BORROW")]
    fn name_mut(&mut self) -> &mut String {
        &mut self.name
    }

    #[audited("ASSOCIATED")]
    fn open(name: &str) -> Self {
        Account {
            balance: 0,
            name: name.to_owned(),
        }
    }
}

#[test]
fn method_with_ref_self_works() {
    let account = Account::open("a");
    let (balance, captured) = capture(|| account.balance());
    assert_eq!(balance, 0);
    assert_eq!(captured.single().action, "BY_REF");
}

#[test]
fn method_with_mut_ref_self_mutates_and_records() {
    let mut account = Account::open("a");
    let (balance, captured) = capture(|| account.deposit(5));
    assert_eq!(balance.ok(), Some(5));
    assert_eq!(account.balance, 5);
    assert_eq!(captured.single().outcome, Outcome::Success);
}

#[test]
fn method_with_self_by_value_works() {
    let (name, captured) = capture(|| Account::open("n").into_name());
    assert_eq!(name, "n");
    assert_eq!(captured.actions(), ["ASSOCIATED", "BY_VALUE"]);
}

#[test]
fn method_with_mut_self_by_value_works() {
    let (account, captured) = capture(|| Account::open("a").renamed("b"));
    assert_eq!(account.name, "b");
    assert_eq!(captured.actions(), ["ASSOCIATED", "BY_MUT_VALUE"]);
}

#[test]
fn method_returning_a_mutable_borrow_of_self_works() {
    let mut account = Account::open("a");
    let ((), captured) = capture(|| account.name_mut().push('!'));
    assert_eq!(account.name, "a!");
    assert_eq!(captured.single().action, "RETURNS_MUT_BORROW");
}

trait Greeter {
    fn greet(&self, name: &str) -> String;
}

impl Greeter for Account {
    #[audited("TRAIT_IMPL")]
    fn greet(&self, name: &str) -> String {
        format!("{} greets {name}", self.name)
    }
}

#[test]
fn sync_trait_impl_method_works() {
    let account = Account::open("a");
    let (text, captured) = capture(|| account.greet("b"));
    assert_eq!(text, "a greets b");
    assert_eq!(captured.single().action, "TRAIT_IMPL");
}

#[audited("PATTERN_ARGS", metadata(x = x, y = y))]
fn pattern_args((x, y): (i32, i32)) -> i32 {
    x + y
}

#[test]
fn pattern_arguments_are_usable_in_options() {
    let (sum, captured) = capture(|| pattern_args((1, 2)));
    assert_eq!(sum, 3);
    assert_eq!(captured.single().metadata["x"], 1);
}

trait Named {
    fn name(&self) -> String;

    #[audited("TRAIT_DEFAULT_METHOD")]
    fn hello(&self) -> String {
        format!("hello {}", self.name())
    }
}

impl Named for Account {
    fn name(&self) -> String {
        self.name.clone()
    }
}

#[test]
fn trait_default_method_works() {
    let account = Account::open("a");
    let (text, captured) = capture(|| account.hello());
    assert_eq!(text, "hello a");
    assert_eq!(captured.single().action, "TRAIT_DEFAULT_METHOD");
}

struct Boxed(u8);

impl Boxed {
    #[audited("BOXED_SELF")]
    fn unbox(self: Box<Self>) -> u8 {
        self.0
    }
}

#[test]
fn typed_self_receiver_works() {
    let (value, captured) = capture(|| Box::new(Boxed(3)).unbox());
    assert_eq!(value, 3);
    assert_eq!(captured.single().action, "BOXED_SELF");
}

#[audited("HYGIENE", metadata(guard = __audit_guard))]
fn hygiene(__audit_guard: u8, __audit_ret: u8) -> u8 {
    __audit_guard + __audit_ret
}

#[test]
fn argument_names_do_not_clash_with_generated_locals() {
    let (value, captured) = capture(|| hygiene(1, 2));
    assert_eq!(value, 3);
    assert_eq!(captured.single().metadata["guard"], 1);
}

#[audited("RECURSIVE", metadata(n = n))]
fn factorial(n: u64) -> u64 {
    if n <= 1 { 1 } else { n * factorial(n - 1) }
}

#[test]
fn recursive_calls_record_one_event_each() {
    let (value, captured) = capture(|| factorial(3));
    assert_eq!(value, 6);
    assert_eq!(captured.len(), 3);
}
